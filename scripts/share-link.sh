#!/bin/sh
# Prints links that open one camera's pictures until they expire, and
# nothing else:
#
#   scripts/share-link.sh APP/NAME SECONDS
#
# prints three links, good for SECONDS from now: a page with the camera's
# live picture, for a browser; its latest.jpg and its live.mjpg (MJPEG),
# which take the endpoints' own parameters (?width=640&fps=5 ...).  nginx checks them with its
# secure_link module ("location ~ ^/share/" of the configuration): the
# MD5 of "EXPIRES/APP/NAME SECRET", the secret being the configuration's
# $chrys_share_secret.  Changing the secret ends every link given so far.
#
#   CHRYS_CONF  the configuration with the secret (default objs/run/nginx.conf
#               if "make run" made it, else nginx.conf.example)
#   CHRYS_URL   where clients reach the server (default https://127.0.0.1:8443)

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

usage() {
    echo "usage: $0 APP/NAME SECONDS" >&2
    exit 2
}

[ $# -eq 2 ] || usage
stream=$1
seconds=$2

case $seconds in
    ''|*[!0-9]*) usage ;;
esac

# names travel in the link's path as they are: keep to what needs no
# escaping there
case $stream in
    */*/*|/*|*/|*[!A-Za-z0-9._~/-]*|.*|*/.*)
        echo "$0: APP/NAME: two names of letters, digits and . _ ~ -," \
             "not starting with a dot" >&2
        exit 2 ;;
    */*) ;;
    *) usage ;;
esac

conf=${CHRYS_CONF:-}
if [ -z "$conf" ]; then
    conf=$top/nginx.conf.example
    [ -e "$top/objs/run/nginx.conf" ] && conf=$top/objs/run/nginx.conf
fi
url=${CHRYS_URL:-https://127.0.0.1:8443}

secret=$(sed -n 's/^[[:space:]]*set \$chrys_share_secret "\([^"]*\)";.*/\1/p' \
         "$conf" | head -n 1)
if [ -z "$secret" ]; then
    echo "$0: no \"set \$chrys_share_secret\" in $conf" >&2
    exit 1
fi

expires=$(( $(date +%s) + seconds ))
signature=$(printf '%s' "$expires/$stream $secret" \
            | openssl md5 -binary | openssl base64 -A | tr '+/' '-_' \
            | tr -d '=')

echo "$url/share/$expires/$signature/$stream/"
echo "$url/share/$expires/$signature/$stream/latest.jpg"
echo "$url/share/$expires/$signature/$stream/live.mjpg"
