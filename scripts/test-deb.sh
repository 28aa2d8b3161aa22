#!/bin/sh
# make test-deb: the package as a new user installs it.  A fresh Debian 12
# root (scripts/debroot.sh: debootstrap minbase, nothing else) gets the
# package with apt, which brings nginx, nginx-rtmp and FFmpeg's libraries
# from the Debian archive; nginx's own /etc/nginx/nginx.conf gets an rtmp
# block with "chrys on;" and a server with "chrys_api;", and nginx starts
# there (under chroot, on this machine's network).  An ffmpeg publisher
# on this machine streams to it, curl fetches a picture, which must be a
# 640x360 JPEG with its X-Chrys-* headers.  Then RTMPS and HTTPS as
# nginx.conf.example's header tells a user of the package: apt-get
# install libnginx-mod-stream openssl, the package's examples/tls-cert.sh
# makes a CA and a certificate in /etc/nginx/tls, and the example goes
# into Debian's nginx.conf (thread_pool, rtmp, stream) and conf.d (the
# inside of its http block); a publisher with a wrong key is refused
# over RTMPS, ffmpeg publishes over rtmps:// verifying the server with
# tls/ca.crt, and the picture comes over HTTPS with curl --cacert.  Then
# nginx stops, the package is removed and nginx must still start.
#
#   scripts/test-deb.sh objs/libnginx-mod-chrys_VERSION_ARCH.deb
#
# The root is objs/test-deb/root, new each run (removed when the test
# passes; the logs stay in objs/test-deb); what apt downloads stays in
# objs/debroot/archives for the next run.  Needs root (chroot, mount).

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/smoke.sh"

deb=$(readlink -f "$1")
name=$(basename "$deb")
work=$top/objs/test-deb
root=$work/root
cache=$top/objs/debroot/archives
start=$(date +%s)
publisher=""

in_root() {
    chroot "$root" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# the publisher, then nginx as a user stops it (nginx -s quit)
stop_all() {
    kill "$publisher"
    publisher=""

    in_root nginx -s quit 2>>"$work/signal.log"
    if ! root_wait "$root" 15; then
        echo "chrys: nginx did not stop within 15 s of nginx -s quit" >&2
        exit 1
    fi
    echo "chrys: nginx stopped"
}

cleanup() {
    rc=$?
    set +e
    [ -n "$publisher" ] && kill "$publisher" 2>/dev/null || true
    if [ -d "$root" ]; then
        root_kill "$root"
        root_wait "$root" 5 || true
        mountpoint -q "$root/var/cache/apt/archives" \
            && umount "$root/var/cache/apt/archives"
        root_umount "$root"
    fi
    if [ $rc = 0 ] && [ -z "$(root_mounts "$root")" ]; then
        rm -rf --one-file-system "${root:?}"
    else
        if [ -f "$root/var/log/nginx/error.log" ]; then
            echo "chrys: nginx's error log:" >&2
            tail -n 30 "$root/var/log/nginx/error.log" >&2
        fi
        echo "chrys: test-deb FAILED; the root stays in $root" >&2
    fi
    exit $rc
}

trap cleanup EXIT
trap 'exit 1' INT TERM

if [ "$(id -u)" != 0 ]; then
    echo "chrys: make test-deb needs root (chroot, mount)" >&2
    exit 1
fi

tar=$("$top/scripts/debroot.sh")

# a root left by a run that was killed
if [ -d "$root" ]; then
    root_kill "$root"
    mountpoint -q "$root/var/cache/apt/archives" \
        && umount "$root/var/cache/apt/archives"
    root_umount "$root"
fi
if [ -n "$(root_mounts "$work")" ]; then
    echo "chrys: still mounted in $work:" $(root_mounts "$work") >&2
    exit 1
fi
rm -rf --one-file-system "${work:?}"
mkdir -p "$root" "$cache/partial"
tar -xf "$tar" -C "$root"

root_mount "$root"
mount --bind "$cache" "$root/var/cache/apt/archives"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# as in any chroot: packages must not start services here
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp "$deb" "$root/tmp/$name"

echo "chrys: apt-get install ./$name in a fresh Debian 12 root ($root)"
if ! { in_root timeout 300 apt-get update -q \
       && in_root timeout 600 sh -c "cd /tmp && apt-get install -y -q ./$name"; } \
     >"$work/apt.log" 2>&1
then
    tail -n 30 "$work/apt.log" >&2
    exit 1
fi
grep -E '^(Need to get|After this operation|Setting up libnginx-mod)' \
    "$work/apt.log" | sed 's/^/chrys:   /'
ls "$root/etc/nginx/modules-enabled" | sed 's/^/chrys:   modules-enabled: /'

rtmp_port=$(free_port)
http_port=$(free_port)
while [ "$http_port" = "$rtmp_port" ]; do http_port=$(free_port); done

# what the README tells a user to add: an rtmp block, a location
cp "$root/etc/nginx/nginx.conf" "$work/nginx.conf.orig"
cat >>"$root/etc/nginx/nginx.conf" <<EOF

rtmp {
    server {
        listen 127.0.0.1:$rtmp_port;

        application live {
            live on;
            chrys on;
        }
    }
}
EOF
cat >"$root/etc/nginx/conf.d/chrys.conf" <<EOF
server {
    listen 127.0.0.1:$http_port;

    location /chrys/ {
        chrys_api;
    }
}
EOF
# Debian's default site listens on port 80 of this machine
rm -f "$root/etc/nginx/sites-enabled/default"

in_root nginx -t -q
in_root nginx
echo "chrys: nginx started: RTMP 127.0.0.1:$rtmp_port, HTTP 127.0.0.1:$http_port"

publish "rtmp://127.0.0.1:$rtmp_port/live/test" "$work/ffmpeg.log"
fetch_picture "http://127.0.0.1:$http_port/chrys/live/test/latest.jpg" "$work"

status=$(curl -sS -m 5 "http://127.0.0.1:$http_port/chrys/live/test/status")
case "$status" in
    *'"publishing":true'*'"width":640'*) ;;
    *) echo "chrys: unexpected status: $status" >&2; exit 1 ;;
esac
echo "chrys: status says publishing, 640 wide"

stop_all

# --- RTMPS and HTTPS: nginx.conf.example set up in Debian's layout as
# its header tells a user of the package

apt_tls="libnginx-mod-stream openssl"
echo "chrys: RTMPS and HTTPS: apt-get install $apt_tls, the package's" \
     "examples/tls-cert.sh, nginx.conf.example in Debian's nginx.conf"
if ! in_root timeout 600 apt-get install -y -q $apt_tls >>"$work/apt.log" 2>&1
then
    tail -n 30 "$work/apt.log" >&2
    exit 1
fi

examples=$root/usr/share/doc/libnginx-mod-chrys/examples
if [ ! -f "$examples/nginx.conf.example" ] \
   || [ ! -f "$examples/tls-cert.sh" ]; then
    echo "chrys: the package has no examples/nginx.conf.example or" \
         "examples/tls-cert.sh:" $(ls "$examples") >&2
    exit 1
fi
in_root sh /usr/share/doc/libnginx-mod-chrys/examples/tls-cert.sh /etc/nginx/tls
touch "$root/etc/nginx/chrys-keys.map"

rtmps_port=$(free_port)
https_port=$(free_port)
proxy_port=$(free_port)

# the top-level thread_pool, rtmp and stream to nginx.conf, the inside
# of http but its default_type to conf.d/chrys.conf, logs/ in
# /var/log/nginx; this machine's ports, on 127.0.0.1
python3 - "$examples/nginx.conf.example" "$work" "$rtmp_port" \
    "$rtmps_port" "$proxy_port" "$http_port" "$https_port" <<'EOF'
import re, sys
src, work, rtmp, rtmps, proxy, http, https = sys.argv[1:]
top, inner, block = [], [], None
for line in open(src).read().split("\n"):
    if block is None:
        m = re.match(r"(rtmp|stream|http|events) \{$", line)
        if m:
            block = m.group(1)
        if block in ("rtmp", "stream") or line.startswith("thread_pool "):
            top.append(line)
    elif line == "}":
        if block in ("rtmp", "stream"):
            top.append(line)
        block = None
    elif block in ("rtmp", "stream"):
        top.append(line)
    elif block == "http" and not line.startswith("    default_type "):
        inner.append(line)
ports = [("listen 1935;", "listen 127.0.0.1:%s;" % rtmp),
         ("127.0.0.1:1937", "127.0.0.1:%s" % proxy),
         ("listen 1936 ssl;", "listen 127.0.0.1:%s ssl;" % rtmps),
         ("127.0.0.1:8080", "127.0.0.1:%s" % http),
         ("listen 8080;", "listen 127.0.0.1:%s;" % http),
         ("listen 8443 ssl", "listen 127.0.0.1:%s ssl" % https),
         ("logs/", "/var/log/nginx/")]
for name, lines in (("top.conf", top), ("chrys.conf", inner)):
    text = "\n".join(lines) + "\n"
    for a, b in ports:
        text = text.replace(a, b)
    open("%s/%s" % (work, name), "w").write(text)
EOF
# in place of the rtmp block and the server above
cp "$work/nginx.conf.orig" "$root/etc/nginx/nginx.conf"
cat "$work/top.conf" >>"$root/etc/nginx/nginx.conf"
cp "$work/chrys.conf" "$root/etc/nginx/conf.d/chrys.conf"

in_root nginx -t -q
in_root nginx
echo "chrys: nginx started: RTMPS 127.0.0.1:$rtmps_port, HTTPS" \
     "127.0.0.1:$https_port (and RTMP $rtmp_port, HTTP $http_port)"

ca=$root/etc/nginx/tls/ca.crt
key=change-me-publish-key
token=change-me-api-token
rtmps=rtmps://127.0.0.1:$rtmps_port/live

if timeout 15 ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240 \
       -t 2 -c:v libx264 -tls_verify 1 -ca_file "$ca" \
       -f flv "$rtmps/nokey?key=wrong" >"$work/tls-nokey.log" 2>&1
then
    echo "chrys: an RTMPS publisher with a wrong key was let in" >&2
    exit 1
fi
echo "chrys: an RTMPS publisher with a wrong key is refused"

mkdir -p "$work/tls"
publish "$rtmps/tls?key=$key" "$work/tls/ffmpeg.log" -tls_verify 1 -ca_file "$ca"
fetch_picture "https://127.0.0.1:$https_port/chrys/live/tls/latest.jpg" \
    "$work/tls" --cacert "$ca" -H "Authorization: Bearer $token"
echo "chrys: that picture published over RTMPS (ffmpeg verifying the" \
     "server against tls/ca.crt), fetched over HTTPS with curl --cacert"

stop_all
if ! grep -q 'PUBLISH "live" "nokey"' "$root/var/log/nginx/rtmp-access.log"
then
    echo "chrys: the RTMPS publisher with a wrong key did not get to" \
         "nginx-rtmp (no PUBLISH line in rtmp-access.log)" >&2
    exit 1
fi
if grep -q -e "$key" -e "$token" "$root/var/log/nginx/rtmp-access.log" \
        "$root/var/log/nginx/access.log"; then
    echo "chrys: a secret is in the access logs" >&2
    exit 1
fi
echo "chrys: the refused publisher's PUBLISH is in rtmp-access.log; no" \
     "secret in the access logs"

# the user takes chrys out of the configuration, then the package
cp "$work/nginx.conf.orig" "$root/etc/nginx/nginx.conf"
rm "$root/etc/nginx/conf.d/chrys.conf"

if ! in_root timeout 300 apt-get remove -y -q libnginx-mod-chrys >>"$work/apt.log" 2>&1
then
    tail -n 30 "$work/apt.log" >&2
    exit 1
fi

if [ -e "$root/etc/nginx/modules-enabled/60-mod-chrys.conf" ] \
   || [ -e "$root/usr/lib/nginx/modules/ngx_chrys_module.so" ]
then
    echo "chrys: the module is still there after apt-get remove" >&2
    exit 1
fi

cat >"$root/etc/nginx/conf.d/after.conf" <<EOF
server {
    listen 127.0.0.1:$http_port;
    location / { return 200 "nginx without chrys\n"; }
}
EOF
in_root nginx -t -q
in_root nginx
answer=$(curl -sS -m 5 "http://127.0.0.1:$http_port/")
in_root nginx -s quit 2>>"$work/signal.log"
root_wait "$root" 15

if [ "$answer" != "nginx without chrys" ]; then
    echo "chrys: nginx did not answer after the package was removed" >&2
    exit 1
fi
echo "chrys: package removed: nginx (with nginx-rtmp) starts and answers"

echo "chrys: test-deb passed in $(( $(date +%s) - start )) s"
