#!/bin/sh
# Publishes an ffmpeg test pattern (720p, 30 fps, H.264) to the server that
# "make run" started, then shows where to look.  The publish key and the
# API token are those of nginx.conf.example (or CHRYS_KEY, CHRYS_TOKEN).

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
conf=$top/nginx.conf.example

secret() {
    sed -n "s/.*if (\$$1 != \"\\([^\"]*\\)\").*/\\1/p" "$conf" | head -n 1
}

# the default publish key: that of cameras without their own
default_key() {
    sed -n '/map \$arg_name \$chrys_publish_key/,/}/s/.*default *"\([^"]*\)".*/\1/p' \
        "$conf" | head -n 1
}

key=${CHRYS_KEY:-$(default_key)}
token=${CHRYS_TOKEN:-$(secret chrys_token)}
url=${CHRYS_RTMP:-rtmps://127.0.0.1:1936/live/demo}

echo "chrys: publishing a test pattern to $url"
echo "chrys: open https://127.0.0.1:8443/chrys/live/demo/latest.jpg?token=$token"
echo "chrys: or the dashboard, https://127.0.0.1:8443/chrys/?token=$token"
echo "chrys: (the browser warns about the certificate unless it trusts"
echo "chrys: objs/run/tls/ca.crt; curl --cacert objs/run/tls/ca.crt)"

exec ffmpeg -hide_banner -loglevel warning -re \
    -f lavfi -i "testsrc2=size=1280x720:rate=30" \
    -c:v libx264 -preset veryfast -tune zerolatency -g 30 -pix_fmt yuv420p \
    -f flv "$url?key=$key"
