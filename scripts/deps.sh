#!/bin/sh
# Installs the Debian 12 packages that chrys needs, only those missing.
#
#   scripts/deps.sh build   nginx, nginx-rtmp, FFmpeg and libjpeg-turbo dev files
#   scripts/deps.sh deb     build + debhelper and build-essential (make deb)
#   scripts/deps.sh test-deb    deb + debootstrap, curl, ss (make test-deb)
#   scripts/deps.sh test-docker test-deb + podman and buildah (make test-docker)
#   scripts/deps.sh test    build + what t/, examples/ and make bench drive
#                           (GStreamer's RTSP server: t/rtsp_server.py)
#   scripts/deps.sh fuzz    build + clang, its sanitizers and libFuzzer
#   scripts/deps.sh asan    test + gcc's ASan and UBSan runtimes (make test-asan)
#
# Idempotent: when everything is installed it touches nothing.

set -eu

build="nginx nginx-dev libnginx-mod-rtmp libnginx-mod-stream openssl ffmpeg
       pkg-config dpkg-dev xz-utils
       libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
       libturbojpeg0-dev make gcc"

test="python3-pytest python3-requests python3-numpy python3-pil curl wrk
      procps python3-opencv opencv-data chromium fonts-dejavu-core
      python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good
      gstreamer1.0-plugins-bad python3-venv python3-pip python3-setuptools"

fuzz="clang libclang-rt-14-dev llvm-14"

asan="libasan8 libubsan1"

deb="debhelper build-essential"

debroot="debootstrap curl iproute2"

containers="podman buildah"

case "${1:-build}" in
    build) want="$build" ;;
    test)  want="$build $test" ;;
    fuzz)  want="$build $fuzz" ;;
    asan)  want="$build $test $asan" ;;
    deb)   want="$build $deb" ;;
    test-deb)    want="$build $deb $debroot" ;;
    test-docker) want="$build $deb $debroot $containers" ;;
    *)     echo "usage: $0 build|test|fuzz|asan|deb|test-deb|test-docker" >&2
           exit 2 ;;
esac

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null \
         | grep -q "install ok installed"
    then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

echo "chrys: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# another apt (unattended upgrades, a second make) may hold the lock a while
$sudo apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=600 $missing
