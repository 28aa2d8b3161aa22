#!/bin/sh
# Prints the path of objs/debroot/bookworm-minbase.tar, a fresh Debian 12
# root as "debootstrap --variant=minbase bookworm" makes it, from the
# Debian archive that this machine's apt uses, with that archive's
# bookworm-updates and bookworm-security suites added to its one-line
# /etc/apt/sources.list as an installed Debian 12 has them.
#
#   scripts/debroot.sh
#
# It is made once (about a minute) and kept until "make clean": make
# test-deb unpacks a new root from it for every run, make test-docker
# makes the base images of docker/Dockerfile from it.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/objs/debroot
tar=$dir/bookworm-minbase.tar

if [ -s "$tar" ]; then
    echo "$tar"
    exit 0
fi

targets=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(TARGET_OF)')
mirror=$(echo "$targets" \
         | awk '$2 == "bookworm" && $3 == "deb" { print $1; exit }')

if [ -z "$mirror" ]; then
    echo "chrys: apt lists no Debian 12 (bookworm) archive to debootstrap" \
         "from" >&2
    exit 1
fi

root=$dir/root.tmp
mkdir -p "$dir"
rm -rf --one-file-system "${root:?}"

echo "chrys: debootstrap --variant=minbase bookworm into $root" \
     "(once, about a minute; log: $dir/debootstrap.log)" >&2
start=$(date +%s)

if ! debootstrap --variant=minbase bookworm "$root" "$mirror" \
     >"$dir/debootstrap.log" 2>&1
then
    tail -n 20 "$dir/debootstrap.log" >&2
    echo "chrys: debootstrap FAILED" >&2
    exit 1
fi

echo "$targets" \
    | awk '$2 ~ /^bookworm-/ && $3 == "deb" { print "deb " $1 " " $2 " main" }' \
    | sort -u >>"$root/etc/apt/sources.list"

tar -C "$root" -cf "$tar.tmp" .
mv "$tar.tmp" "$tar"
rm -rf --one-file-system "${root:?}"

echo "chrys: $tar made in $(( $(date +%s) - start )) s," \
     "$(du -m "$tar" | cut -f1) MB" >&2
echo "$tar"
