#!/bin/sh
# Runs Debian's nginx in the foreground with nginx.conf.example and the
# module just built, from a local prefix (objs/run), where the example is
# copied as nginx.conf.  Makes what the example needs and is missing
# there: a certificate for HTTPS and RTMPS signed by a CA of its own
# (objs/run/tls, scripts/tls-cert.sh) and an empty file of camera keys
# (objs/run/chrys-keys.map).  Ctrl-C stops it.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
prefix=$top/objs/run

mkdir -p "$prefix/logs" "$prefix/modules"
ln -sf /usr/lib/nginx/modules/ngx_rtmp_module.so "$prefix/modules/"
ln -sf /usr/lib/nginx/modules/ngx_stream_module.so "$prefix/modules/"
ln -sf "$top/objs/ngx_chrys_module.so" "$prefix/modules/"
cp "$top/nginx.conf.example" "$prefix/nginx.conf"

"$top/scripts/tls-cert.sh" "$prefix/tls"

if [ ! -e "$prefix/chrys-keys.map" ]; then
    cat > "$prefix/chrys-keys.map" <<'KEYS'
# chrys: a publish key per camera, one camera a line, "NAME KEY;", e.g.
#   door  3b5d0c6f9a1e4f7b8c2d6e0a1b2c3d4e;
# (make a key with: openssl rand -hex 16).  Then reload nginx:
#   nginx -p objs/run -c objs/run/nginx.conf -s reload
# A camera not listed here publishes with the default key of nginx.conf.
KEYS
fi

echo "chrys: RTMPS in on rtmps://127.0.0.1:1936/live/<name>?key=<publish key>"
echo "chrys:   (and RTMP in clear text on rtmp://127.0.0.1:1935/live/...)"
echo "chrys: pictures on https://127.0.0.1:8443/chrys/live/<name>/latest.jpg"
echo "chrys:   with \"Authorization: Bearer <API token>\" or ?token=<API token>"
echo "chrys:   (and plain HTTP on 8080); the certificate is signed by a CA"
echo "chrys:   made for this server: verify with it, e.g."
echo "chrys:   curl --cacert $prefix/tls/ca.crt -H 'Authorization: Bearer <API token>' https://127.0.0.1:8443/chrys/streams"
echo "chrys: keys per camera in $prefix/chrys-keys.map, then"
echo "chrys:   nginx -p $prefix -c $prefix/nginx.conf -s reload"
echo "chrys: the default key, the token and the share-link secret are in"
echo "chrys:   nginx.conf.example (copied to $prefix/nginx.conf): change them"
echo "chrys: publish a test pattern with: make demo (over RTMPS)"

exec nginx -p "$prefix" -c "$prefix/nginx.conf" -g "daemon off;"
