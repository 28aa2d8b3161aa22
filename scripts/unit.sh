#!/bin/sh
# Builds and runs the C unit tests of t/unit in objs/unit; exits non-zero
# when any test fails.
#
#   scripts/unit.sh
#   CHRYS_OBJS=objs/asan scripts/unit.sh   with the flags of that build
#                                          (make test-asan: sanitizers)
#
# test_avc checks the FLV and H.264 parsing on its own.  test_zone (streams,
# references, workers, pictures, the JPEG claim protocol) and test_ring (the
# ring of access units, its copies, events) check the zone code
# (ngx_chrys_zone.c, ngx_chrys_ring.c, and ngx_chrys_query.c for stream
# names) against nginx's own slab allocator, shmtx and rbtree, compiled
# from the upstream source of the installed nginx.  test_ring is linked with
# its own ngx_chrys_zone_lock() around the real one (--wrap), to act
# between the slices of a copy.  All are built with the compiler flags of
# the module build (which find the FFmpeg headers), so "make" must have
# run.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/objs.sh"
variant=$(cd "${CHRYS_OBJS:-$top/objs}" && pwd)
bld=$variant/build
out=$variant/unit
full=$top/objs/nginx-full-src
inc=/usr/share/nginx/src/src

if [ ! -f "$bld/Makefile" ] || [ ! -f "$bld/ngx_auto_config.h" ]; then
    echo "chrys: $bld is not configured, run \"make\" first" >&2
    exit 1
fi

"$top/scripts/source.sh" nginx "$full"

cc=gcc
cflags="$(sed -n 's/^CFLAGS = *//p' "$bld/Makefile") -Wall -Werror"
incs="-I $bld -I $inc/core -I $inc/event -I $inc/event/modules
      -I $inc/os/unix -I $top -I $top/t/unit"

rm -rf "$out"
mkdir -p "$out/nginx"

objs=""
compile "$out" "" "$top/t/unit/test_avc.c" "$top/ngx_chrys_avc.c"
$cc $cflags -o "$out/test_avc" $objs

objs=""
compile "$out/nginx" "" $(nginx_core "$full")
compile "$out" "" \
    "$top/t/unit/ngx_unit_stubs.c" \
    "$top/t/unit/ngx_unit_zone.c" \
    "$top/ngx_chrys_zone.c" \
    "$top/ngx_chrys_ring.c" \
    "$top/ngx_chrys_query.c"
zone=$objs

objs=""
compile "$out" "" "$top/t/unit/test_zone.c"
$cc $cflags -o "$out/test_zone" $zone $objs

objs=""
compile "$out" "" "$top/t/unit/test_ring.c"
$cc $cflags -Wl,--wrap=ngx_chrys_zone_lock -o "$out/test_ring" $zone $objs

objs=""
compile "$out" "" "$top/t/unit/test_amf.c" "$top/ngx_chrys_amf.c" \
    "$top/ngx_chrys_avc.c"
$cc $cflags -o "$out/test_amf" $zone $objs -lm

failed=0

for t in test_avc test_zone test_ring test_amf; do
    echo "chrys: $t"
    "$out/$t" || failed=1
done

if [ $failed != 0 ]; then
    echo "chrys: unit tests FAILED" >&2
    exit 1
fi

echo "chrys: unit tests passed"
