#!/bin/sh
# Makes a small certificate authority of its own and a server certificate
# it signs, for HTTPS and RTMPS when no real certificate is configured:
#
#   scripts/tls-cert.sh DIR [NAME ...]
#
# DIR/ca.crt      the CA's certificate: what clients verify with
#                 (curl --cacert DIR/ca.crt, requests verify=...)
# DIR/ca.key      the CA's key (only to sign another server certificate)
# DIR/chrys.crt   the server's certificate, for localhost, 127.0.0.1, ::1,
#                 this host's name and every NAME given (a host name or an
#                 IP address); the chain nginx sends (server, then CA)
# DIR/chrys.key   the server's key
#
# Keys are ECDSA P-256; the CA is good for 10 years, the server
# certificate for 397 days.  Existing files are left alone: remove DIR to
# make new ones.

set -eu

[ $# -ge 1 ] || { echo "usage: $0 DIR [NAME ...]" >&2; exit 2; }
dir=$1
shift

if [ -s "$dir/chrys.crt" ] && [ -s "$dir/chrys.key" ] \
   && [ -s "$dir/ca.crt" ]
then
    exit 0
fi

mkdir -p "$dir"
umask 077

san="DNS:localhost,IP:127.0.0.1,IP:::1"
host=$(hostname 2>/dev/null || true)
[ -n "$host" ] && [ "$host" != localhost ] && san="$san,DNS:$host"
for name in "$@"; do
    case $name in
        *:*)       san="$san,IP:$name" ;;
        *[!0-9.]*) san="$san,DNS:$name" ;;
        *)         san="$san,IP:$name" ;;
    esac
done

tmp=$dir/.tmp
mkdir -p "$tmp"
trap 'rm -f "$tmp"/*; rmdir "$tmp" 2>/dev/null || true' EXIT

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/ca.key" -out "$tmp/ca.crt" -days 3650 \
    -subj "/CN=chrys local CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/chrys.key" -out "$tmp/chrys.csr" \
    -subj "/CN=${host:-localhost}" 2>/dev/null

printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=$san" > "$tmp/ext"

openssl x509 -req -in "$tmp/chrys.csr" -CA "$tmp/ca.crt" \
    -CAkey "$tmp/ca.key" -CAcreateserial -days 397 -sha256 \
    -extfile "$tmp/ext" -out "$tmp/server.crt" 2>/dev/null

cat "$tmp/server.crt" "$tmp/ca.crt" > "$tmp/chrys.crt"
chmod 644 "$tmp/ca.crt" "$tmp/chrys.crt"

mv "$tmp/ca.key" "$tmp/chrys.key" "$dir/"
mv "$tmp/ca.crt" "$dir/"
mv "$tmp/chrys.crt" "$dir/"
