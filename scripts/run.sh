#!/bin/sh
# Runs Debian's nginx in the foreground with nginx.conf.example and the
# module just built, from a local prefix (objs/run).  Ctrl-C stops it.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
prefix=$top/objs/run

mkdir -p "$prefix/logs" "$prefix/modules"
ln -sf /usr/lib/nginx/modules/ngx_rtmp_module.so "$prefix/modules/"
ln -sf "$top/objs/ngx_chrys_module.so" "$prefix/modules/"

echo "chrys: RTMP in on rtmp://127.0.0.1:1935/live/<name>?key=<publish key>"
echo "chrys: pictures on http://127.0.0.1:8080/chrys/live/<name>/latest.jpg?token=<API token>"
echo "chrys: the key and the token are in nginx.conf.example: change them"
echo "chrys: publish a test pattern with: make demo"

exec nginx -p "$prefix" -c "$top/nginx.conf.example" -g "daemon off;"
