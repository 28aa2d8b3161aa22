#!/bin/sh
# make test-asan: the module built with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc, nginx's own flags plus the sanitizers)
# in objs/asan, the C unit tests built the same way, then the whole t/
# suite against it.  nginx stays Debian's: the tests start it with the
# sanitizer runtimes preloaded (LD_PRELOAD) and load
# objs/asan/ngx_chrys_module.so.  Exits non-zero when a test fails or a
# sanitizer reports anything (t/conftest.py fails the test whose nginx
# wrote the report).
#
#   scripts/test-asan.sh                 everything
#   scripts/test-asan.sh -k reload ...   pytest arguments: a part of t/
#
# Reports go to objs/asan/logs/TEST/: asan.PID from ASan and LSan,
# error.log.PORT (nginx's error log) for UBSan, which writes to stderr.
# Leaks are checked when nginx unloads the module: as a worker or the
# master exits, and in the master at a reload (t/asan/preload.c), against
# t/asan/lsan.supp.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
asan=$top/objs/asan
logs=$asan/logs
python=${PYTHON:-/usr/bin/python3}
# -fno-sanitize=alignment: nginx-rtmp hands the module chains of its shared
# buffers (ngx_rtmp_alloc_shared_buf(): a 4-byte refcount, then the
# ngx_chain_t), so every ngx_chain_t of those is 4 bytes off its alignment
# by design; x86-64 does not care, UBSan would stop the worker at the first.
san="-fsanitize=address,undefined -fno-sanitize=alignment"
san="$san -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

runtime() {
    lib=$(gcc -print-file-name="$1")
    if [ ! -e "$lib" ]; then
        echo "chrys: no $1 for gcc: install $2" >&2
        exit 1
    fi
    readlink -f "$lib"
}

libasan=$(runtime libasan.so libasan8)
libubsan=$(runtime libubsan.so libubsan1)

start=$(date +%s)

echo "chrys: building $asan/ngx_chrys_module.so"
CHRYS_OBJS=$asan CHRYS_CC_OPT="$san" CHRYS_LD_OPT="$san" \
    "$top/scripts/build.sh"
gcc -shared -fPIC -O2 -g -Wall -Werror -o "$asan/preload.so" \
    "$top/t/asan/preload.c"

# the unit tests are programs of their own: ASan, and LSan at their exit
unit=passed
ASAN_OPTIONS=abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    CHRYS_OBJS=$asan "$top/scripts/unit.sh" || unit=FAILED

rm -rf "$logs"
mkdir -p "$logs"

# abort_on_error: a worker with an ASan report dies on SIGABRT, which the
# tests see in nginx's error log too.  fast_unwind_on_malloc=0: nginx, the
# rtmp module and FFmpeg have no frame pointers, and without the slow
# unwinder a leak's stack would stop at the first of their frames.
# leak_check_at_exit=0: preload.so checks instead, at the right time.
# CHRYS_SLOW: the bounds that only time the module (see t/chrys.py).
export CHRYS_MODULE="$asan/ngx_chrys_module.so"
export CHRYS_SANITIZER_LOGS="$logs"
export CHRYS_SLOW=4
asan_options=detect_leaks=1:leak_check_at_exit=0:abort_on_error=1
asan_options=$asan_options:fast_unwind_on_malloc=0:log_path={logs}/asan
export CHRYS_NGINX_ENV="
LD_PRELOAD=$libasan:$asan/preload.so:$libubsan
ASAN_OPTIONS=$asan_options
LSAN_OPTIONS=suppressions=$top/t/asan/lsan.supp:print_suppressions=0
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
"

suite=passed
"$python" -m pytest -v t/ "$@" || suite=FAILED

find "$logs" -mindepth 1 -type d -empty -delete
reports=$(grep -l -r -E \
          'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' \
          "$logs" || true)

secs=$(( $(date +%s) - start ))

echo
echo "chrys: test-asan in $((secs / 60)) min $((secs % 60)) s"
echo "chrys:   unit tests (ASan, UBSan, LSan): $unit"
echo "chrys:   t/ against $asan/ngx_chrys_module.so: $suite"
if [ -n "$reports" ]; then
    echo "chrys:   sanitizer reports:"
    echo "$reports" | sed 's/^/chrys:     /'
else
    echo "chrys:   sanitizer reports: none"
fi

[ "$unit" = passed ] && [ "$suite" = passed ] && [ -z "$reports" ]
