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
#   CHRYS_PUBLISH_KEY  publishers give it: rtmp://HOST/live/NAME?key=...;
#                      the key of every camera not in /etc/chrys/keys
#                      (below); with that file, it may be left out (then
#                      only the cameras in the file publish)
#   CHRYS_API_TOKEN    HTTP clients give it: ...?token=...
#   CHRYS_RTMP_PORT    RTMP port in the container (1935)
#   CHRYS_RTMPS_PORT   RTMPS port in the container (1936)
#   CHRYS_HTTP_PORT    HTTP port in the container (8080)
#   CHRYS_HTTPS_PORT   HTTPS (and HTTP/2) port in the container (8443)
#   CHRYS_RTMPS_PROXY_PORT  where the RTMPS listener passes the RTMP on,
#                      on 127.0.0.1, with PROXY protocol (1937)
#   CHRYS_TLS_CERT     the certificate (chain) and its key, PEM, of both
#   CHRYS_TLS_KEY      RTMPS and HTTPS (/etc/chrys/tls/cert.pem, key.pem)
#   CHRYS_TLS_NAMES    the host names and addresses (separated by spaces)
#                      of the certificate made when there is none
#
# Without a certificate the first start makes a CA of its own and a
# certificate it signs (scripts/tls-cert.sh, installed as chrys-tls-cert)
# in /var/lib/chrys/tls, a volume, for localhost, 127.0.0.1 and
# CHRYS_TLS_NAMES; each start says how to get its ca.crt, which clients
# verify with.  /etc/chrys/keys, when mounted, is the file of camera keys,
# "NAME KEY;" a line; docker kill -s HUP reloads it.
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
tls=/var/lib/chrys/tls
keys=/etc/chrys/keys
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

# a file name that goes into nginx.conf as it is
path() {
    case "$2" in
        /*[!A-Za-z0-9._/+@-]*|[!/]*|'') bad=1 ;;
    esac
}

if [ ! -f "$conf" ]; then
    bad=0
    publish_key=${CHRYS_PUBLISH_KEY:-}
    if [ -n "$publish_key" ] || [ ! -e "$keys" ]; then
        secret CHRYS_PUBLISH_KEY "$publish_key"
    fi
    secret CHRYS_API_TOKEN "${CHRYS_API_TOKEN:-}"

    if [ $bad = 1 ]; then
        cat >&2 <<EOF
chrys: give the publish key and the API token, each 16 or more of
chrys: A-Z a-z 0-9 . _ ~ - (make them with: openssl rand -hex 16):
chrys:   docker run -e CHRYS_PUBLISH_KEY=... -e CHRYS_API_TOKEN=... IMAGE
chrys: (with a file of camera keys at $keys, CHRYS_PUBLISH_KEY may be
chrys: left out), or mount a configuration of your own at $conf
EOF
        exit 1
    fi

    rtmp=${CHRYS_RTMP_PORT:-1935}
    rtmps=${CHRYS_RTMPS_PORT:-1936}
    proxy=${CHRYS_RTMPS_PROXY_PORT:-1937}
    http=${CHRYS_HTTP_PORT:-8080}
    https=${CHRYS_HTTPS_PORT:-8443}
    for p in "$rtmp" "$rtmps" "$proxy" "$http" "$https"; do
        port "" "$p"
    done

    if [ $bad = 1 ]; then
        echo "chrys: CHRYS_RTMP_PORT, CHRYS_RTMPS_PORT, CHRYS_HTTP_PORT," \
             "CHRYS_HTTPS_PORT and CHRYS_RTMPS_PROXY_PORT are port numbers" >&2
        exit 1
    fi

    if [ -e "$keys" ] && { [ ! -f "$keys" ] || [ ! -r "$keys" ]; }; then
        echo "chrys: $keys is not a file to read (\"NAME KEY;\" lines)" >&2
        exit 1
    fi

    # the certificate: mounted (or named), else the one made here
    cert=${CHRYS_TLS_CERT:-/etc/chrys/tls/cert.pem}
    key=${CHRYS_TLS_KEY:-/etc/chrys/tls/key.pem}
    path "" "$cert"
    path "" "$key"

    if [ $bad = 1 ]; then
        echo "chrys: CHRYS_TLS_CERT and CHRYS_TLS_KEY are absolute paths" \
             "of A-Z a-z 0-9 . _ / + @ -" >&2
        exit 1
    fi

    if [ -e "$cert" ] || [ -e "$key" ] \
       || [ -n "${CHRYS_TLS_CERT:-}" ] || [ -n "${CHRYS_TLS_KEY:-}" ]
    then
        if [ ! -r "$cert" ] || [ ! -r "$key" ]; then
            echo "chrys: give both the certificate ($cert) and its key" \
                 "($key), or neither (then one is made)" >&2
            exit 1
        fi
        echo "chrys: RTMPS and HTTPS with the certificate $cert" >&2
    else
        # made once: the names are those of the first start; a new
        # volume, a new CA
        # shellcheck disable=SC2086
        chrys-tls-cert "$tls" ${CHRYS_TLS_NAMES:-}
        cert=$tls/chrys.crt
        key=$tls/chrys.key
        names=$(openssl x509 -noout -ext subjectAltName -in "$cert" \
                | sed -n 's/^ *//; s/DNS://g; s/IP Address://g; 2p')
        print=$(openssl x509 -noout -fingerprint -sha256 -in "$tls/ca.crt" \
                | sed 's/.*=//')
        cat >&2 <<EOF
chrys: no certificate mounted at /etc/chrys/tls/cert.pem and key.pem:
chrys: RTMPS and HTTPS use one made for $names,
chrys: signed by a CA made for this container, $tls/ca.crt
chrys: (SHA-256 fingerprint $print).
chrys: Clients verify with it, e.g.:
chrys:   docker cp CONTAINER:$tls/ca.crt chrys-ca.crt
chrys:   curl --cacert chrys-ca.crt -H "Authorization: Bearer TOKEN" https://HOST:$https/chrys/streams
chrys:   ffmpeg ... -tls_verify 1 -ca_file chrys-ca.crt -f flv "rtmps://HOST:$rtmps/live/NAME?key=KEY"
chrys: Other names for it: CHRYS_TLS_NAMES on the first start (of a new volume).
EOF
    fi

    # only root (nginx's master) reads it: it holds the secrets
    mkdir -p /run/chrys
    umask 077
    if [ ! -e "$keys" ]; then
        : >/run/chrys/keys
        keys=/run/chrys/keys
    fi
    sed -e "s/@CHRYS_PUBLISH_KEY@/$publish_key/g" \
        -e "s/@CHRYS_API_TOKEN@/$CHRYS_API_TOKEN/g" \
        -e "s/@CHRYS_RTMP_PORT@/$rtmp/g" \
        -e "s/@CHRYS_RTMPS_PORT@/$rtmps/g" \
        -e "s/@CHRYS_RTMPS_PROXY_PORT@/$proxy/g" \
        -e "s/@CHRYS_HTTP_PORT@/$http/g" \
        -e "s/@CHRYS_HTTPS_PORT@/$https/g" \
        -e "s|@CHRYS_TLS_CERT@|$cert|g" \
        -e "s|@CHRYS_TLS_KEY@|$key|g" \
        -e "s|@CHRYS_KEYS@|$keys|g" \
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
