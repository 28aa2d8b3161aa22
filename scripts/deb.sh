#!/bin/sh
# Builds objs/libnginx-mod-chrys_VERSION_ARCH.deb with Debian's own tooling,
# as Debian builds its libnginx-mod-* packages (see packaging/debian/rules):
#
#   scripts/deb.sh
#
# The package is built in objs/deb/libnginx-mod-chrys-VERSION, a copy of
# the project's files with packaging/debian as debian/, the nginx-rtmp
# source of the installed libnginx-mod-rtmp (scripts/source.sh) as
# nginx-rtmp-module/, and a changelog of one entry: VERSION, the one place
# the version is written.  dpkg-buildpackage's log is objs/deb/build.log.
# "make deb" installs the build dependencies first (scripts/deps.sh deb).

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
version=$(cat "$top/VERSION")
arch=$(dpkg --print-architecture)
out=$top/objs/deb
tree=$out/libnginx-mod-chrys-$version
deb=libnginx-mod-chrys_${version}_$arch.deb

"$top/scripts/source.sh" libnginx-mod-rtmp "$top/objs/rtmp-src"

rm -rf --one-file-system "${out:?}"
mkdir -p "$tree"

# the module's tree as a source package would hold it: no build outputs,
# no git, no tests
(cd "$top" && tar -cf - --exclude=./objs --exclude=./.git --exclude=./t .) \
    | tar -xf - -C "$tree"

cp -r "$top/packaging/debian" "$tree/debian"
cp -r "$top/objs/rtmp-src" "$tree/nginx-rtmp-module"

# the date of the last commit (reproducible), else now
when=$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)
maintainer=$(sed -n 's/^Maintainer: *//p' "$tree/debian/control")

cat > "$tree/debian/changelog" <<EOF
libnginx-mod-chrys ($version) bookworm; urgency=medium

  * chrys $version, packaged from the project's tree.

 -- $maintainer  $(date -R -u -d "@$when")
EOF

echo "chrys: dpkg-buildpackage in $tree"

if ! (cd "$tree" && dpkg-buildpackage -b -us -uc -Jauto) \
     >"$out/build.log" 2>&1
then
    tail -n 40 "$out/build.log" >&2
    echo "chrys: the package build FAILED, see $out/build.log" >&2
    exit 1
fi

cp "$out/$deb" "$top/objs/$deb"

echo "chrys: objs/$deb, $(stat -c %s "$top/objs/$deb") bytes"
dpkg-deb -f "$top/objs/$deb" Depends | sed 's/^/chrys:   Depends: /'
dpkg-deb -c "$top/objs/$deb" | awk '$1 !~ /^d/ { print "chrys:   " $6 }'
