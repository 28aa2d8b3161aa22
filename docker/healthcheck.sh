#!/bin/bash
# The image's health check: chrys answers its list of streams,
# GET /chrys/streams, with 200 within 5 s.  The API token goes in the
# cookie, so that no log line shows it.  Without CHRYS_API_TOKEN (a
# configuration of your own), any HTTP answer from nginx will do.
# bash's /dev/tcp: no HTTP client in the image.

port=${CHRYS_HTTP_PORT:-8080}

exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1

printf 'GET /chrys/streams HTTP/1.0\r\nHost: localhost\r\nCookie: chrys_token=%s\r\n\r\n' \
       "${CHRYS_API_TOKEN:-}" >&3

read -r -t 5 proto status _ <&3 || exit 1

case "$proto $status" in
    HTTP/*" 200") exit 0 ;;
    HTTP/*) [ -z "${CHRYS_API_TOKEN:-}" ] && exit 0 ;;
esac

exit 1
