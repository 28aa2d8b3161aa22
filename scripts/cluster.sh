#!/bin/sh
# make cluster N=3: a chrys cluster on this machine, from the configs of
# examples/cluster/, changed only in their addresses: N nodes (node K:
# RTMP 127.0.0.1:19350+K, HTTP 127.0.0.1:18080+K) in the background and a
# front (RTMP 1935, HTTP 8080) in the foreground, each from a prefix of its
# own under objs/cluster.  Ctrl-C stops them all.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-3}
base=$top/objs/cluster
examples=$top/examples/cluster

case $n in
    ''|*[!0-9]*) echo "cluster: N must be a number, not \"$n\"" >&2; exit 1;;
esac

prefix() {
    mkdir -p "$1/logs" "$1/modules"
    ln -sf /usr/lib/nginx/modules/ngx_rtmp_module.so "$1/modules/"
    ln -sf "$top/objs/ngx_chrys_module.so" "$1/modules/"
}

pids=""

stop() {
    for pid in $pids; do
        kill "$pid" 2>/dev/null || true
    done
}

trap stop EXIT
trap 'exit 130' INT TERM

mkdir -p "$base"
: > "$base/cluster-nodes.conf"

k=1
while [ "$k" -le "$n" ]; do
    p=$base/node-$k
    prefix "$p"
    sed -e "s/listen 1935;/listen 127.0.0.1:$((19350 + k));/" \
        -e "s/listen 8080;/listen 127.0.0.1:$((18080 + k));/" \
        -e "s/\"127.0.0.1:1935\"/\"127.0.0.1:$((19350 + k))\"/" \
        "$examples/node.conf" > "$p/nginx.conf"
    echo "server 127.0.0.1:$((18080 + k)) max_fails=1 fail_timeout=10s;" \
        >> "$base/cluster-nodes.conf"
    nginx -p "$p" -c "$p/nginx.conf" -g "daemon off;" &
    pids="$pids $!"
    echo "chrys: node $k: RTMP 127.0.0.1:$((19350 + k))," \
         "HTTP 127.0.0.1:$((18080 + k))"
    k=$((k + 1))
done


p=$base/front
prefix "$p"
cp "$examples/front.conf" "$p/nginx.conf"
cp "$base/cluster-nodes.conf" "$p/cluster-nodes.conf"

echo "chrys: front: publish to rtmp://127.0.0.1:1935/live/<name>?key=..."
echo "chrys:   (CHRYS_RTMP=rtmp://127.0.0.1:1935/live/demo make demo),"
echo "chrys:   read http://127.0.0.1:8080/chrys/live/<name>/latest.jpg"
echo "chrys:   with \"Authorization: Bearer change-me-api-token\""

nginx -p "$p" -c "$p/nginx.conf" -g "daemon off;" &
pids="$pids $!"
wait
