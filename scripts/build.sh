#!/bin/bash
# Builds objs/ngx_chrys_module.so the way Debian builds its own nginx module
# packages (nginx-dev's tree and conf_flags, dpkg-buildflags), so that the
# binary signature matches Debian's nginx.
#
#   scripts/build.sh            build (configure when needed)
#   CHRYS_CC_OPT=... scripts/build.sh   extra compiler flags (sanitizers)
#   CHRYS_LD_OPT=... scripts/build.sh   extra linker flags
#   CHRYS_OBJS=DIR scripts/build.sh     build in DIR (DIR/build, and
#                                       DIR/ngx_chrys_module.so) instead of
#                                       objs: a variant (make test-asan's
#                                       objs/asan) never touches objs/build

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
objs=${CHRYS_OBJS:-$top/objs}
mkdir -p "$objs"
objs=$(cd "$objs" && pwd)
nsrc=$objs/nginx-src
bld=$objs/build

export CHRYS_RTMP_SRC="$top/objs/rtmp-src"

"$top/scripts/source.sh" libnginx-mod-rtmp "$CHRYS_RTMP_SRC"

cc_opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS)"
cc_opt="$cc_opt ${CHRYS_CC_OPT:-}"
ld_opt="$(dpkg-buildflags --get LDFLAGS) -fPIC ${CHRYS_LD_OPT:-}"

stamp="$cc_opt|$ld_opt|$(cat "$top/config" | cksum)"

if [ ! -f "$bld/Makefile" ] || [ "$(cat "$bld/.chrys-stamp" 2>/dev/null)" != "$stamp" ]
then
    rm -rf "$nsrc" "$bld"
    cp -r /usr/share/nginx/src "$nsrc"

    (
        cd "$nsrc"
        . ./conf_flags
        ./configure \
            --with-cc-opt="$cc_opt" \
            --with-ld-opt="$ld_opt" \
            "${NGX_CONF_FLAGS[@]}" \
            --add-dynamic-module="$top" \
            --builddir="$bld" >"$objs/configure.log" 2>&1
    ) || { tail -n 20 "$objs/configure.log"; exit 1; }

    echo "$stamp" > "$bld/.chrys-stamp"
fi

make -s -f "$bld/Makefile" -C "$nsrc" modules

# a new file, renamed into place: running nginx workers keep the old one
cp "$bld/ngx_chrys_module.so" "$objs/.ngx_chrys_module.so.new"
mv -f "$objs/.ngx_chrys_module.so.new" "$objs/ngx_chrys_module.so"
