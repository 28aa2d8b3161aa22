#!/bin/sh
# make test-docker: docker/Dockerfile built with the package that "make
# deb" built (--build-arg CHRYS_DEB), then the image run as a user runs
# it: refused without its secrets; started with them (and the ports in
# CHRYS_RTMP_PORT, CHRYS_RTMPS_PORT, CHRYS_HTTP_PORT, CHRYS_HTTPS_PORT,
# CHRYS_RTMPS_PROXY_PORT); healthy; a publisher with a wrong key refused;
# a published test pattern's picture fetched and checked (a 640x360 JPEG,
# X-Chrys-* headers) with the token, 403 without it, the status with it as
# a bearer token; then the same over TLS: the CA the image made taken out
# of it, ffmpeg publishing over rtmps:// verifying the server against it
# (and refused with a wrong key, or without that CA), the picture fetched
# over HTTPS with curl --cacert, HTTP/2 and a Secure cookie, the RTMPS
# publisher's own address seen by nginx-rtmp (PROXY protocol); neither
# secret in its logs; stopped with SIGQUIT.  Started again with a
# certificate of another CA and a file of camera keys mounted, without
# CHRYS_PUBLISH_KEY: HTTPS and RTMPS with that certificate, a camera of
# the file publishing with its key, another refused; stopped with SIGTERM.
# Each stop within 10 s.  It prints the image's size, and fails over
# 500 MB.  CHRYS_TEST_IMAGE names the image (localhost/chrys:test).
#
#   scripts/test-docker.sh objs/libnginx-mod-chrys_VERSION_ARCH.deb
#   scripts/test-docker.sh --from-source    a plain build: the image's own
#                                           build stage makes the package
#
# The engine is docker where it runs, else podman and buildah (Debian
# packages; chroot isolation, cgroupfs).  The base images the Dockerfile
# names are pulled where a registry answers; where none does, they are
# made from scripts/debroot.sh's debootstrap of Debian 12, laid out as
# Docker's Debian images are (deb822 sources, policy-rc.d).  Where the
# engine cannot start a container (this sandbox: crun cannot set
# RLIMIT_NOFILE), the image's filesystem is mounted with buildah and its
# entrypoint, command and environment are started under chroot instead.
# Logs: objs/test-docker.  Needs root.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/smoke.sh"

cd "$top"
deb=$1
work=$top/objs/test-docker
image=${CHRYS_TEST_IMAGE:-localhost/chrys:test}
start=$(date +%s)
publisher=""
publishers=""
ctr=""
mnt=""
cid=""
pid=""

case "$deb" in
    objs/*.deb) ;;
    --from-source) deb="" ;;
    *) echo "chrys: give the package as objs/NAME.deb (in the build context)," \
            "or --from-source" >&2
       exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
    echo "chrys: make test-docker needs root (chroot, mount)" >&2
    exit 1
fi

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    engine=docker
    "$top/scripts/deps.sh" test-deb
else
    engine="podman --cgroup-manager=cgroupfs"
    "$top/scripts/deps.sh" test-docker
fi

cleanup() {
    rc=$?
    set +e
    for p in $publisher $publishers; do kill "$p" 2>/dev/null; done
    [ -n "$cid" ] && $engine rm -f "$cid" >/dev/null 2>&1
    if [ -n "$mnt" ]; then
        root_kill "$mnt"
        root_wait "$mnt" 5
        root_umount "$mnt"
    fi
    [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null
    [ $rc != 0 ] && echo "chrys: test-docker FAILED; logs in $work" >&2
    exit $rc
}

trap cleanup EXIT
trap 'exit 1' INT TERM

rm -rf --one-file-system "${work:?}"
mkdir -p "$work"

# --- the base images: local, pulled, or made from the debootstrap

# make_base: localhost/chrys-debian:bookworm and :bookworm-slim from the
# debootstrap, laid out as Docker's Debian images are: the archive in a
# deb822 .sources file, no apt lists, no host's resolv.conf, no services
# started by packages (policy-rc.d); -slim also without documentation,
# manual pages and translations, and dpkg told to leave them out, roughly
# as Docker's -slim images are
make_base() {
    tar=$("$top/scripts/debroot.sh")
    base=$work/base
    mkdir -p "$base"
    tar -xf "$tar" -C "$base"

    awk '$1 == "deb" { if (!($2 in s)) u[n++] = $2; s[$2] = s[$2] " " $3 }
         END { for (i = 0; i < n; i++)
                   printf "Types: deb\nURIs: %s\nSuites:%s\nComponents: main\n" \
                          "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n",
                          u[i], s[u[i]] }' \
        "$base/etc/apt/sources.list" >"$base/etc/apt/sources.list.d/debian.sources"
    rm -f "${base:?}/etc/apt/sources.list" "${base:?}/etc/resolv.conf"
    find "${base:?}/var/lib/apt/lists" "${base:?}/var/cache/apt" \
         -type f -delete
    printf '#!/bin/sh\nexit 101\n' >"$base/usr/sbin/policy-rc.d"
    chmod 755 "$base/usr/sbin/policy-rc.d"

    for variant in bookworm bookworm-slim; do
        if [ $variant = bookworm-slim ]; then
            printf '%s\n' 'path-exclude /usr/share/doc/*' \
                'path-include /usr/share/doc/*/copyright' \
                'path-exclude /usr/share/man/*' \
                'path-exclude /usr/share/info/*' \
                'path-exclude /usr/share/locale/*' \
                'path-include /usr/share/locale/locale.alias' \
                >"$base/etc/dpkg/dpkg.cfg.d/docker"
            find "${base:?}/usr/share/doc" ! -type d ! -name copyright -delete
            find "${base:?}/usr/share/man" "${base:?}/usr/share/info" \
                 ! -type d -delete
            find "${base:?}/usr/share/locale" ! -type d \
                 ! -name locale.alias -delete
        fi

        tar -C "$base" -cf - . | $engine import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["bash"]' - "localhost/chrys-debian:$variant" \
            >>"$work/import.log" 2>&1
    done

    rm -rf --one-file-system "${base:?}"
    base_made=1
}

base_made=""

for name in debian:bookworm debian:bookworm-slim; do
    if $engine image inspect "$name" >/dev/null 2>&1; then
        echo "chrys: base image $name: the local one"
    elif timeout 120 $engine pull -q "$name" >"$work/pull.log" 2>&1; then
        echo "chrys: base image $name: pulled"
    else
        [ -n "$base_made" ] || make_base
        $engine tag "localhost/chrys-debian:${name#debian:}" "$name"
        echo "chrys: base image $name: no registry answers" \
             "($(tail -n 1 "$work/pull.log" | cut -c 1-60)...);" \
             "made from a debootstrap of Debian 12"
    fi
done

# --- the image

# podman: no layer cache (--layers=false), so that no stage's image is
# left behind; the image this build replaces is removed below
case "$engine" in
    docker) build="docker build" ;;
    *) build="$engine build --isolation=chroot --pull=never --format docker"
       build="$build --layers=false" ;;
esac

old=$($engine image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)

# CHRYS_DEB empty: the build stage builds the package itself
echo "chrys: $build -f docker/Dockerfile --build-arg CHRYS_DEB=$deb -t $image ."
t0=$(date +%s)
if ! timeout 1200 $build -f docker/Dockerfile --build-arg "CHRYS_DEB=$deb" \
         -t "$image" . >"$work/build.log" 2>&1
then
    tail -n 30 "$work/build.log" >&2
    exit 1
fi

new=$($engine image inspect --format '{{.Id}}' "$image")
if [ -n "$old" ] && [ "$old" != "$new" ]; then
    $engine rmi "$old" >/dev/null 2>&1 || true
fi

bytes=$($engine image inspect --format '{{.Size}}' "$image")
mb=$(( (bytes + 500000) / 1000000 ))
echo "chrys: image built in $(( $(date +%s) - t0 )) s: $image, $mb MB"

if [ $mb -ge 500 ]; then
    echo "chrys: the image is $mb MB, over 500 MB" >&2
    exit 1
fi

inspect() {
    $engine image inspect --format "$1" "$image"
}

key=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
# five ports, all different
ports=""
for _ in 1 2 3 4 5; do
    p=$(free_port)
    while echo " $ports " | grep -q " $p "; do p=$(free_port); done
    ports="$ports $p"
done
set -- $ports
rtmp_port=$1 rtmps_port=$2 http_port=$3 https_port=$4 proxy_port=$5
set --
mounts=""

# --- starting it: a container, else its command under chroot

if timeout 60 $engine run --rm --name "chrys-test-$$" --entrypoint true \
       "$image" >"$work/run.log" 2>&1
then
    mode=container
else
    mode=chroot
    $engine rm -f "chrys-test-$$" >/dev/null 2>&1 || true
    echo "chrys: $engine run fails here: $(tail -n 1 "$work/run.log" | cut -c 1-120)"
    echo "chrys: so the image's entrypoint and command run under chroot in" \
         "its filesystem (buildah mount)"

    if [ -n "$(inspect '{{.Config.User}}')" ]; then
        echo "chrys: the image sets USER: not done under chroot here" >&2
        exit 1
    fi

    ctr=$(buildah from --pull=false "$image")
    mnt=$(buildah mount "$ctr")
    root_mount "$mnt"

    env=$(inspect '{{range .Config.Env}}{{println .}}{{end}}')
    cmd=$(inspect '{{range .Config.Entrypoint}}{{println .}}{{end}}{{range .Config.Cmd}}{{println .}}{{end}}')
fi

# image_start LOG [VAR=VALUE...]: starts the image with these variables
# (and the image's own), its output in LOG.out and LOG.err
image_start() {
    log=$1
    shift

    if [ $mode = container ]; then
        set -- $(for v in "$@"; do echo "-e $v"; done) \
            $(for m in $mounts; do echo "-v $m"; done)
        cid=$(docker run -d -p "127.0.0.1:$rtmp_port:$rtmp_port" \
                  -p "127.0.0.1:$rtmps_port:$rtmps_port" \
                  -p "127.0.0.1:$http_port:$http_port" \
                  -p "127.0.0.1:$https_port:$https_port" "$@" "$image")
        return
    fi

    # the mounts (HOST:PATH[:ro]): copies in the image's filesystem
    for m in $mounts; do
        src=${m%%:*}
        dst=${m#*:}
        dst=${dst%:ro}
        mkdir -p "$mnt$(dirname "$dst")"
        cp "$src" "$mnt$dst"
    done

    # the image's variables, then ours (no spaces in them), then its
    # entrypoint and command, one argument a line
    ours="$*"
    set --
    while IFS= read -r arg; do
        [ -n "$arg" ] && set -- "$@" "$arg"
    done <<EOF
$env
EOF
    set -- "$@" $ours
    while IFS= read -r arg; do
        [ -n "$arg" ] && set -- "$@" "$arg"
    done <<EOF
$cmd
EOF

    # signals as a container's first process gets them: a command sh
    # starts in the background would ignore SIGQUIT and SIGINT
    env --default-signal chroot "$mnt" /usr/bin/env -i "$@" \
        >"$log.out" 2>"$log.err" &
    pid=$!
}

# image_stop SIGNAL SECONDS: sends the signal, waits for the exit; the
# exit status is $status
image_stop() {
    if [ $mode = container ]; then
        docker kill -s "$1" "$cid" >/dev/null
        status=$(timeout "$2" docker wait "$cid") || return 1
        docker logs "$cid" >"$log.out" 2>"$log.err"
        docker rm "$cid" >/dev/null
        cid=""
        return
    fi

    kill -s "$1" "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        [ $i -le $(( $2 * 10 )) ] || return 1
        sleep 0.1
    done
    status=0
    wait "$pid" || status=$?
    pid=""
    root_wait "$mnt" 2
}

# image_exec COMMAND...: runs a command in the running image
image_exec() {
    if [ $mode = container ]; then
        docker exec "$cid" "$@"
    else
        words="$*"
        set --
        while IFS= read -r arg; do
            [ -n "$arg" ] && set -- "$@" "$arg"
        done <<EOF
$env
EOF
        chroot "$mnt" /usr/bin/env -i "$@" $vars $words
    fi
}

# --- no secrets, no start

if [ $mode = container ]; then
    rc=0
    timeout 30 docker run --rm "$image" >"$work/refused.out" \
        2>"$work/refused.err" || rc=$?
else
    vars=""
    image_start "$work/refused"
    rc=0
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        i=$((i + 1))
        sleep 0.1
    done
    wait "$pid" || rc=$?
    pid=""
fi

if [ $rc = 0 ] || ! grep -q CHRYS_PUBLISH_KEY "$work/refused.err"; then
    echo "chrys: the image started without its secrets (exit $rc)" >&2
    exit 1
fi
echo "chrys: without CHRYS_PUBLISH_KEY and CHRYS_API_TOKEN it refuses" \
     "to start (exit $rc): $(head -n 1 "$work/refused.err")"

# --- started with them

ports="CHRYS_RTMP_PORT=$rtmp_port CHRYS_RTMPS_PORT=$rtmps_port
       CHRYS_HTTP_PORT=$http_port CHRYS_HTTPS_PORT=$https_port
       CHRYS_RTMPS_PROXY_PORT=$proxy_port"
vars="CHRYS_PUBLISH_KEY=$key CHRYS_API_TOKEN=$token $ports"
image_start "$work/nginx" $vars
echo "chrys: started ($mode): RTMP $rtmp_port, RTMPS $rtmps_port," \
     "HTTP $http_port, HTTPS $https_port (RTMPS to RTMP on $proxy_port)"

# the image's HEALTHCHECK command (["CMD", COMMAND]), until it passes
health=$(inspect '{{range .Config.Healthcheck.Test}}{{println .}}{{end}}' \
         | sed -n 2p)

wait_healthy() {
    i=0
    until image_exec $health >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -ge 40 ]; then
            echo "chrys: the health check ($health) failed for 20 s" >&2
            cat "$log.err" >&2
            exit 1
        fi
        sleep 0.5
    done
}

wait_healthy
echo "chrys: healthy ($health)"

rtmp=rtmp://127.0.0.1:$rtmp_port/live
http=http://127.0.0.1:$http_port/chrys

if timeout 15 ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240 \
       -t 2 -c:v libx264 -f flv "$rtmp/nokey?key=wrong" \
       >"$work/nokey.log" 2>&1
then
    echo "chrys: a publisher with a wrong key was let in" >&2
    exit 1
fi
echo "chrys: a publisher with a wrong key is refused"

publish "$rtmp/test?key=$key" "$work/ffmpeg.log"
fetch_picture "$http/live/test/latest.jpg?token=$token" "$work"

code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$http/live/test/latest.jpg")
if [ "$code" != 403 ]; then
    echo "chrys: without the token: $code, not 403" >&2
    exit 1
fi
echo "chrys: without the token: 403"

code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' \
            -H "Authorization: Bearer $token" "$http/live/test/status")
if [ "$code" != 200 ]; then
    echo "chrys: with the token as a bearer token: $code, not 200" >&2
    exit 1
fi
echo "chrys: with the token as a bearer token: 200"

# --- the same over TLS: RTMPS and HTTPS with the certificate the image
# made, verified against its CA

if ! grep -q "signed by a CA made for this container" "$work/nginx.err"; then
    echo "chrys: the image did not say it made a CA:" >&2
    cat "$work/nginx.err" >&2
    exit 1
fi
image_exec cat /var/lib/chrys/tls/ca.crt >"$work/ca.crt"
echo "chrys: the CA the image made: $(openssl x509 -noout -subject \
     -in "$work/ca.crt"), taken out of /var/lib/chrys/tls/ca.crt"

rtmps=rtmps://127.0.0.1:$rtmps_port/live
https=https://127.0.0.1:$https_port/chrys
verify="-tls_verify 1 -ca_file $work/ca.crt"
mkdir -p "$work/tls"

if timeout 15 ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240 \
       -t 2 -c:v libx264 $verify -f flv "$rtmps/tlsnokey?key=wrong" \
       >"$work/tls/nokey.log" 2>&1
then
    echo "chrys: an RTMPS publisher with a wrong key was let in" >&2
    exit 1
fi
echo "chrys: an RTMPS publisher (ffmpeg verifying the server against the" \
     "CA) with a wrong key is refused"

# the verification is real: without the CA, ffmpeg does not publish
if timeout 15 ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240 \
       -t 2 -c:v libx264 -tls_verify 1 -f flv "$rtmps/noca?key=$key" \
       >"$work/tls/noca.log" 2>&1
then
    echo "chrys: ffmpeg published over RTMPS without the CA to verify with" >&2
    exit 1
fi
echo "chrys: ffmpeg verifying without that CA refuses the server:" \
     "$(head -n 1 "$work/tls/noca.log" | cut -c 1-80)"

plain_publisher=$publisher
publish "$rtmps/tls?key=$key" "$work/tls/ffmpeg.log" $verify
publishers="$plain_publisher $publisher"
fetch_picture "$https/live/tls/latest.jpg" "$work/tls" \
    --cacert "$work/ca.crt" -H "Authorization: Bearer $token"
echo "chrys: that picture published over RTMPS, fetched over HTTPS with" \
     "curl --cacert"

if curl -sS -m 5 -o /dev/null "$https/streams" 2>"$work/tls/nocacert.log"; then
    echo "chrys: curl trusted the image's certificate without --cacert" >&2
    exit 1
fi
echo "chrys: without --cacert curl refuses it:" \
     "$(head -n 1 "$work/tls/nocacert.log" | cut -c 1-80)"

out=$(curl -sS -m 5 --http2 --cacert "$work/ca.crt" -o /dev/null \
           -D "$work/tls/cookie.headers" -w '%{http_version} %{http_code}' \
           "$https/?token=$token")
cookie=$(tr -d '\r' <"$work/tls/cookie.headers" | sed -n 's/^set-cookie: *//Ip')
case "$out $cookie" in
    "2 200 chrys_token="*"; Secure") ;;
    *) echo "chrys: the dashboard over HTTPS: $out, cookie $cookie" >&2
       exit 1 ;;
esac
echo "chrys: the dashboard over HTTPS: HTTP/$out, its cookie Secure"

# the plain ports go on: the first stream, published over RTMP, over
# HTTP again
fetch_picture "$http/live/test/latest.jpg?token=$token" "$work"

# the RTMPS publisher's own address reaches nginx-rtmp (PROXY protocol):
# a publisher from 127.0.0.2 (t/rtmp.py); here, where the image shares
# the host's network, not through docker's port forwarding
if [ $mode = chroot ]; then
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 \
        -t 2 -c:v libx264 -g 25 -f flv "$work/tls/pattern.flv"
    sent=$(python3 - "$work/ca.crt" "$work/tls/pattern.flv" "$rtmps" \
                     "proxied?key=$key" <<'EOF'
import asyncio, ssl, sys
sys.path.insert(0, "t")
import rtmp
ca, flv, url, name = sys.argv[1:]
tags = rtmp.video_tags(flv)[:25]
context = ssl.create_default_context(cafile=ca)
print(asyncio.run(asyncio.wait_for(rtmp.publish(
    url, name, tags, ssl=context, local_addr=("127.0.0.2", 0)), 30)))
EOF
)
    echo "chrys: t/rtmp.py from 127.0.0.2 over RTMPS: $sent video messages"
fi

t0=$(date +%s)
if ! image_stop QUIT 10; then
    echo "chrys: still running 10 s after SIGQUIT" >&2
    exit 1
fi
echo "chrys: SIGQUIT with a publisher connected: stopped in" \
     "$(( $(date +%s) - t0 )) s, exit status $status"
if [ "$status" != 0 ]; then
    echo "chrys: exit status $status after SIGQUIT, not 0" >&2
    exit 1
fi
for p in $publishers; do kill "$p" 2>/dev/null || true; done
publisher=""
publishers=""

if ! grep -q '"GET /chrys/live/test/latest.jpg" 200' "$work/nginx.out" \
   || ! grep -q 'PUBLISH "live" "nokey"' "$work/nginx.out" \
   || ! grep -q '"GET /chrys/live/tls/latest.jpg" 200' "$work/nginx.out" \
   || ! grep -q 'PUBLISH "live" "tlsnokey"' "$work/nginx.out" \
   || ! grep -q 'PUBLISH "live" "tls"' "$work/nginx.out" \
   || ! grep -q 'gracefully shutting down' "$work/nginx.err"
then
    echo "chrys: the access (stdout) and error (stderr) logs lack lines:" >&2
    tail -n 5 "$work/nginx.out" "$work/nginx.err" >&2
    exit 1
fi
if grep -q -e "$key" -e "$token" "$work/nginx.out" "$work/nginx.err"; then
    echo "chrys: a secret is in the logs" >&2
    exit 1
fi
echo "chrys: logs: access lines on stdout, errors on stderr, no secret in them"
if grep -q '"noca"' "$work/nginx.out"; then
    echo "chrys: the publisher that could not verify the server got to RTMP" >&2
    exit 1
fi
if [ $mode = chroot ]; then
    if ! grep -q '^127\.0\.0\.2 .*PUBLISH "live" "proxied"' "$work/nginx.out"
    then
        echo "chrys: nginx-rtmp did not see the RTMPS publisher's address:" >&2
        grep '"proxied"' "$work/nginx.out" >&2
        exit 1
    fi
    echo "chrys: nginx-rtmp logged the RTMPS publisher's own address," \
         "127.0.0.2 (PROXY protocol)"
fi

# --- started again with a certificate of its own and a file of camera
# keys mounted, without CHRYS_PUBLISH_KEY: only the cameras of the file
# publish

"$top/scripts/tls-cert.sh" "$work/own-tls" >/dev/null
cp "$work/own-tls/chrys.crt" "$work/own-tls/cert.pem"
cp "$work/own-tls/chrys.key" "$work/own-tls/key.pem"
cam_key=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf 'door  %s;\n' "$cam_key" >"$work/keys"
mounts="$work/own-tls/cert.pem:/etc/chrys/tls/cert.pem:ro
        $work/own-tls/key.pem:/etc/chrys/tls/key.pem:ro
        $work/keys:/etc/chrys/keys:ro"
vars="CHRYS_API_TOKEN=$token $ports"
image_start "$work/nginx-term" $vars
wait_healthy
if ! grep -q "with the certificate /etc/chrys/tls/cert.pem" \
        "$work/nginx-term.err"; then
    echo "chrys: the image did not take the certificate mounted:" >&2
    cat "$work/nginx-term.err" >&2
    exit 1
fi
echo "chrys: started again with a certificate of another CA at" \
     "/etc/chrys/tls/cert.pem, key.pem, and /etc/chrys/keys, without" \
     "CHRYS_PUBLISH_KEY"

if curl -sS -m 5 -o /dev/null --cacert "$work/ca.crt" "$https/streams" \
        2>/dev/null; then
    echo "chrys: HTTPS still has the certificate the image made" >&2
    exit 1
fi

if timeout 15 ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240 \
       -t 2 -c:v libx264 -tls_verify 1 -ca_file "$work/own-tls/ca.crt" \
       -f flv "$rtmps/garden?key=$key" >"$work/tls/garden.log" 2>&1
then
    echo "chrys: a camera not in /etc/chrys/keys published" >&2
    exit 1
fi
echo "chrys: a camera not in /etc/chrys/keys is refused (no default key)"

mkdir -p "$work/own"
publish "$rtmps/door?key=$cam_key" "$work/own/ffmpeg.log" \
    -tls_verify 1 -ca_file "$work/own-tls/ca.crt"
publishers=$publisher
fetch_picture "$https/live/door/latest.jpg" "$work/own" \
    --cacert "$work/own-tls/ca.crt" -H "Authorization: Bearer $token"
echo "chrys: that picture: live/door published over RTMPS with its key" \
     "from /etc/chrys/keys, both ways verified against the mounted" \
     "certificate's CA"

t0=$(date +%s)
if ! image_stop TERM 10; then
    echo "chrys: still running 10 s after SIGTERM" >&2
    exit 1
fi
echo "chrys: SIGTERM with a publisher connected: stopped in" \
     "$(( $(date +%s) - t0 )) s, exit status $status"
if [ "$status" != 0 ]; then
    echo "chrys: exit status $status after SIGTERM, not 0" >&2
    exit 1
fi
for p in $publishers; do kill "$p" 2>/dev/null || true; done
publishers=""
if grep -q -e "$cam_key" -e "$token" "$work/nginx-term.out" \
        "$work/nginx-term.err"; then
    echo "chrys: a secret is in the logs" >&2
    exit 1
fi
if ! grep -q 'PUBLISH "live" "garden"' "$work/nginx-term.out"; then
    echo "chrys: the camera not in /etc/chrys/keys did not get to nginx-rtmp" >&2
    exit 1
fi

echo "chrys: test-docker passed in $(( $(date +%s) - start )) s;" \
     "image $image: $mb MB"
