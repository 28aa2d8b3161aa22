#!/bin/sh
# The image's entrypoint: runs nginx with chrys in the foreground, logging
# to stdout and stderr, until SIGQUIT (docker stop: gracefully, at most
# CHRYS_STOP_TIMEOUT seconds, 5) or SIGTERM (at once).
#
# A configuration mounted at /etc/chrys/nginx.conf is used as it is (it
# must not say "daemon"; it should log to stderr).  Otherwise the
# configuration is made from /etc/chrys/nginx.conf.template and the
# environment, and no secret has a default:
#
#   CHRYS_PUBLISH_KEY  publishers give it: rtmp://HOST/live/NAME?key=...
#   CHRYS_API_TOKEN    HTTP clients give it: ...?token=...
#   CHRYS_RTMP_PORT    RTMP port in the container (1935)
#   CHRYS_HTTP_PORT    HTTP port in the container (8080)
#
# CHRYS_STOP_TIMEOUT (5): the seconds a graceful stop may take, see below.
#
# Without both secrets it refuses to start.  Arguments that start with
# "-" go to nginx (-T, -t); any other command runs instead of nginx.

set -eu

case "${1:-}" in
    ''|-*) ;;
    *) exec "$@" ;;
esac

conf=/etc/chrys/nginx.conf
stop=${CHRYS_STOP_TIMEOUT:-5}

case "$stop" in
    ''|*[!0-9]*)
        echo "chrys: CHRYS_STOP_TIMEOUT is a number of seconds" >&2
        exit 1 ;;
esac

secret() {
    case "$2" in
        ''|*[!A-Za-z0-9._~-]*|change-me*)
            bad=1 ;;
        *)
            [ ${#2} -ge 16 ] || bad=1 ;;
    esac
}

port() {
    case "$2" in
        ''|*[!0-9]*) bad=1 ;;
        *) [ "$2" -ge 1 ] && [ "$2" -le 65535 ] || bad=1 ;;
    esac
}

if [ ! -f "$conf" ]; then
    bad=0
    secret CHRYS_PUBLISH_KEY "${CHRYS_PUBLISH_KEY:-}"
    secret CHRYS_API_TOKEN "${CHRYS_API_TOKEN:-}"

    if [ $bad = 1 ]; then
        cat >&2 <<EOF
chrys: give the publish key and the API token, each 16 or more of
chrys: A-Z a-z 0-9 . _ ~ - (make them with: openssl rand -hex 16):
chrys:   docker run -e CHRYS_PUBLISH_KEY=... -e CHRYS_API_TOKEN=... IMAGE
chrys: or mount a configuration of your own at $conf
EOF
        exit 1
    fi

    rtmp=${CHRYS_RTMP_PORT:-1935}
    http=${CHRYS_HTTP_PORT:-8080}
    port CHRYS_RTMP_PORT "$rtmp"
    port CHRYS_HTTP_PORT "$http"

    if [ $bad = 1 ]; then
        echo "chrys: CHRYS_RTMP_PORT and CHRYS_HTTP_PORT are port numbers" >&2
        exit 1
    fi

    # only root (nginx's master) reads it: it holds the secrets
    mkdir -p /run/chrys
    umask 077
    sed -e "s/@CHRYS_PUBLISH_KEY@/$CHRYS_PUBLISH_KEY/g" \
        -e "s/@CHRYS_API_TOKEN@/$CHRYS_API_TOKEN/g" \
        -e "s/@CHRYS_RTMP_PORT@/$rtmp/g" \
        -e "s/@CHRYS_HTTP_PORT@/$http/g" \
        /etc/chrys/nginx.conf.template >/run/chrys/nginx.conf
    conf=/run/chrys/nginx.conf
fi

# nginx in the foreground, under this shell: on SIGQUIT nginx lets its
# HTTP clients finish, but an RTMP publisher (a camera: never) would keep
# its worker forever, so after CHRYS_STOP_TIMEOUT seconds (5) SIGTERM
# closes what is left.  SIGTERM stops it at once; SIGHUP (reload) and
# SIGUSR1 (reopen logs) go to nginx as they are.
nginx -c "$conf" -g "daemon off;" "$@" &
pid=$!
timer=""

quit() {
    kill -QUIT "$pid" 2>/dev/null || return 0
    [ -z "$timer" ] || return 0
    (
        trap 'kill "$s" 2>/dev/null; exit 0' TERM
        sleep "$stop" &
        s=$!
        wait "$s" && kill -TERM "$pid" 2>/dev/null
    ) &
    timer=$!
}

trap quit QUIT
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
trap 'kill -HUP "$pid" 2>/dev/null' HUP
trap 'kill -USR1 "$pid" 2>/dev/null' USR1

# wait returns early for each signal trapped; nginx is gone once it has
# been waited for
while :; do
    rc=0
    wait "$pid" || rc=$?
    kill -0 "$pid" 2>/dev/null || break
done

if [ -n "$timer" ]; then
    kill "$timer" 2>/dev/null || true
fi

exit $rc
