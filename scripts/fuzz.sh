#!/bin/sh
# Builds the libFuzzer harnesses of t/fuzz with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer in objs/fuzz, and runs each for a bounded time;
# exits non-zero when one crashes (a sanitizer report, a failed check, a
# timeout or too much memory).
#
#   scripts/fuzz.sh                     each fuzzer for 60 s
#   FUZZ_SECONDS=600 scripts/fuzz.sh    each for 10 minutes
#   FUZZ_SECONDS=0 scripts/fuzz.sh      each input of the corpus once
#   scripts/fuzz.sh avc amf             some of them: avc, query, json, amf
#
# fuzz_avc reads FLV video tags, AVC sequence headers and access units
# and AAC AudioSpecificConfigs (ngx_chrys_avc.c); fuzz_query reads query
# strings and request paths (ngx_chrys_query.c) and stream names
# (ngx_chrys_valid_name()); fuzz_json reads the API's JSON bodies
# (ngx_chrys_json.c), against a model; fuzz_amf converts the AMF0
# payloads of RTMP data messages to JSON (ngx_chrys_amf.c), against a
# model, and checks the JSON it writes.  Each starts from its seeds,
# t/fuzz/seeds/NAME, copied to objs/fuzz/corpus-NAME where the inputs it
# finds accumulate from run to run; an input that fails is saved as
# objs/fuzz/NAME-crash-* (or -timeout-, -oom-, -leak-).  Like
# scripts/unit.sh this needs the configured build of "make" and the nginx
# source of scripts/source.sh.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/objs.sh"
bld=$top/objs/build
out=$top/objs/fuzz
full=$top/objs/nginx-full-src
inc=/usr/share/nginx/src/src
secs=${FUZZ_SECONDS:-60}
names=${*:-avc query json amf}

if [ ! -f "$bld/Makefile" ] || [ ! -f "$bld/ngx_auto_config.h" ]; then
    echo "chrys: $bld is not configured, run \"make\" first" >&2
    exit 1
fi

case "$secs" in
    ''|*[!0-9]*) echo "chrys: FUZZ_SECONDS must be a number" >&2; exit 2 ;;
esac

"$top/scripts/source.sh" nginx "$full"

cc=clang
san="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
cflags="-g -O1 $san"
warn="-W -Wall -Wpointer-arith -Wno-unused-parameter -Werror"
incs="-I $bld -I $inc/core -I $inc/event -I $inc/event/modules
      -I $inc/os/unix -I $inc/http -I $inc/http/modules -I $inc/http/v2
      -I $top -I $top/t/fuzz
      $(sed -n 's/^CFLAGS = *//p' "$bld/Makefile" | tr ' ' '\n' \
        | grep '^-I' || true)"

rm -rf "$out/obj" "$out/bin"
mkdir -p "$out/obj/nginx" "$out/bin"

# fuzz_avc: the parsers alone

objs=""
compile "$out/obj" "$warn" "$top/t/fuzz/fuzz_avc.c" "$top/ngx_chrys_avc.c"
$cc $cflags -o "$out/bin/fuzz_avc" $objs

# fuzz_query: ngx_chrys_query.c (ngx_chrys_valid_name() included) and the
# API's parameter table (ngx_chrys_http_args.c) link
# with nginx's own core files and the process globals of
# t/unit/ngx_unit_stubs.c, as in scripts/unit.sh

objs=""
compile "$out/obj/nginx" "-w" $(nginx_core "$full")
compile "$out/obj" "$warn -I $top/t/unit" "$top/t/unit/ngx_unit_stubs.c"
core=$objs

objs=""
compile "$out/obj" "$warn -I $top/t/unit" "$top/ngx_chrys_query.c" \
    "$top/ngx_chrys_http_args.c" \
    "$top/t/fuzz/fuzz_query.c"
$cc $cflags -o "$out/bin/fuzz_query" $core $objs

# fuzz_json: the JSON reader alone

objs=""
compile "$out/obj" "$warn" "$top/t/fuzz/fuzz_json.c" "$top/ngx_chrys_json.c"
$cc $cflags -o "$out/bin/fuzz_json" $objs

# fuzz_amf: the AMF0 converter, which writes numbers with nginx's
# ngx_sprintf() and checks UTF-8 with ngx_chrys_query.c's
# ngx_chrys_utf8_len(), and the JSON reader that checks what it writes

objs=""
compile "$out/obj" "$warn" "$top/t/fuzz/fuzz_amf.c" "$top/ngx_chrys_amf.c"
$cc $cflags -o "$out/bin/fuzz_amf" $core $objs \
    "$out/obj/ngx_chrys_json.o" "$out/obj/ngx_chrys_query.o" -lm

# symbolized stacks in sanitizer reports (the llvm-14 package has no
# unversioned llvm-symbolizer in PATH)
sym=/usr/lib/llvm-14/bin/llvm-symbolizer
if [ -x "$sym" ]; then
    export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-$sym}"
fi

export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

failed=""

for name in $names; do
    bin=$out/bin/fuzz_$name
    corpus=$out/corpus-$name
    log=$out/$name.log

    if [ ! -x "$bin" ]; then
        echo "chrys: no fuzzer \"$name\", see t/fuzz" >&2
        exit 2
    fi

    mkdir -p "$corpus"
    cp "$top/t/fuzz/seeds/$name"/* "$corpus/"

    set -- -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
           -artifact_prefix="$out/$name-"

    if [ -f "$top/t/fuzz/$name.dict" ]; then
        set -- "$@" -dict="$top/t/fuzz/$name.dict"
    fi

    if [ "$secs" = 0 ]; then
        set -- "$@" -runs=0
        echo "chrys: fuzz_$name on its $(ls "$corpus" | wc -l) inputs"
    else
        set -- "$@" -max_total_time="$secs"
        echo "chrys: fuzz_$name for $secs s," \
             "from $(ls "$corpus" | wc -l) inputs"
    fi

    rc=0
    "$bin" "$@" "$corpus" >"$log" 2>&1 || rc=$?

    # the last status line (executions, coverage, corpus) and the totals
    grep -E '^#[0-9]+' "$log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' \
        "$log" || true
    grep -E '^stat::(new_units_added|peak_rss_mb)' "$log" || true

    if [ $rc != 0 ]; then
        echo "chrys: fuzz_$name FAILED (exit $rc), from $log:" >&2
        grep -v -E '^#[0-9]+|^INFO:|^stat::' "$log" | tail -n 60 >&2
        ls "$out/$name"-* >&2 2>/dev/null || true
        failed="$failed $name"
    fi
done

if [ -n "$failed" ]; then
    echo "chrys: fuzzing FAILED:$failed; rerun an input above with" \
         "$out/bin/fuzz_NAME FILE" >&2
    exit 1
fi

echo "chrys: fuzzing found nothing"
