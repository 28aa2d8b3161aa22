# Sourced by scripts/test-deb.sh and scripts/test-docker.sh, which start
# an installed chrys (in a root of its own, under chroot) and check it as
# a user would: an ffmpeg publisher, a picture fetched with curl.
#
# free_port: a TCP port nothing listens on (not 1935 or 8080, which other
# tests and "make run" use), below the ephemeral range.
# root_mount ROOT, root_umount ROOT: /proc and /dev in ROOT, for chroot.
# root_mounts DIR: what is still mounted below DIR (nothing, before an
# rm -rf of it).
# root_kill ROOT: kills every process whose root is ROOT (all of them
# started by the caller, in that root), by their ids.
# root_wait ROOT SECONDS: waits until no process runs in ROOT.
# publish URL LOG [OPTION...]: a 640x360 25 fps H.264 test pattern to
# URL, in the background, for at most 120 s, with ffmpeg's output options
# (-tls_verify 1 -ca_file FILE for rtmps://); its pid is $publisher.
# fetch_picture URL DIR [OPTION...]: waits up to 30 s for a 200 from URL
# (latest.jpg), fetched with curl and these options (--cacert FILE), then
# checks it as a 640x360 JPEG with the X-Chrys-* headers; the picture and
# its headers stay in DIR.

free_port() {
    while :; do
        # below the kernel's ephemeral ports (32768 up), which clients'
        # own connections take theirs from
        port=$(( 10000 + $(od -An -N2 -tu2 /dev/urandom) % 22000 ))
        if ! ss -Htln "( sport = :$port )" | grep -q .; then
            echo "$port"
            return
        fi
    done
}

root_mount() {
    mount -t proc proc "$1/proc"
    mount --bind /dev "$1/dev"
}

root_umount() {
    for m in "$1/dev" "$1/proc"; do
        if mountpoint -q "$m"; then
            umount "$m" || umount -l "$m"
        fi
    done
}

root_mounts() {
    awk -v dir="$(readlink -f "$1")/" 'index($2, dir) == 1 { print $2 }' \
        /proc/mounts
}

root_pids() {
    want=$(readlink -f "$1")
    for p in /proc/[0-9]*; do
        if [ "$(readlink "$p/root" 2>/dev/null)" = "$want" ]; then
            echo "${p#/proc/}"
        fi
    done
}

root_kill() {
    pids=$(root_pids "$1")
    if [ -n "$pids" ]; then
        echo "chrys: killing what still runs in $1:" $pids >&2
        kill -KILL $pids 2>/dev/null || true
    fi
}

root_wait() {
    i=0
    while [ -n "$(root_pids "$1")" ]; do
        i=$((i + 1))
        if [ $i -gt $(( $2 * 10 )) ]; then
            return 1
        fi
        sleep 0.1
    done
}

publish() {
    pub_url=$1
    pub_log=$2
    shift 2
    timeout 120 ffmpeg -nostdin -hide_banner -loglevel error -re \
        -f lavfi -i "testsrc2=size=640x360:rate=25" \
        -c:v libx264 -preset veryfast -tune zerolatency -g 25 \
        -pix_fmt yuv420p "$@" -f flv "$pub_url" >"$pub_log" 2>&1 &
    publisher=$!
}

header() {
    tr -d '\r' <"$2/headers" | sed -n "s/^$1: *//Ip" | tail -n 1
}

fetch_picture() {
    url=$1
    dir=$2
    shift 2
    i=0

    while :; do
        code=$(curl -sS -m 5 -D "$dir/headers" -o "$dir/picture.jpg" \
                    -w '%{http_code}' "$@" "$url" 2>"$dir/curl.log" || true)
        [ "$code" = 200 ] && break
        i=$((i + 1))
        if [ $i -ge 60 ]; then
            echo "chrys: no picture after 30 s (last status: $code)" >&2
            cat "$dir/curl.log" >&2
            return 1
        fi
        sleep 0.5
    done

    type=$(header Content-Type "$dir")
    seq=$(header X-Chrys-Seq "$dir")
    size="$(header X-Chrys-Width "$dir")x$(header X-Chrys-Height "$dir")"
    probed=$(ffprobe -v error -select_streams v:0 \
                 -show_entries stream=codec_name,width,height -of csv=p=0 \
                 "$dir/picture.jpg")
    bytes=$(wc -c <"$dir/picture.jpg")

    echo "chrys: picture: $bytes bytes, $type, X-Chrys-Seq $seq," \
         "X-Chrys-Width x Height $size, X-Chrys-Age $(header X-Chrys-Age "$dir")" \
         "ms; ffprobe: $probed"

    ok=1
    [ "$type" = image/jpeg ] || ok=0
    case "$seq" in ''|*[!0-9]*) ok=0 ;; esac
    [ "$size" = 640x360 ] || ok=0
    [ "$probed" = mjpeg,640,360 ] || ok=0
    # every byte decodes: -xerror stops at the first error
    ffmpeg -nostdin -v error -xerror -i "$dir/picture.jpg" -f null - \
        || ok=0

    if [ $ok = 0 ]; then
        echo "chrys: the picture is not a 640x360 JPEG with its headers:" >&2
        cat "$dir/headers" >&2
        return 1
    fi
}
