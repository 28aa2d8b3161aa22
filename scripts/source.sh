#!/bin/sh
# Unpacks the upstream source of an installed Debian package into DIR:
#
#   scripts/source.sh PACKAGE DIR
#
# The version is the one installed, so headers match the running binary.
# apt needs a deb-src entry; when the system has none, one is derived from
# the system's own Debian source list (no host name is written here).

set -eu

pkg=$1
dir=$2

ver=$(dpkg-query -W -f='${Version}' "$pkg")

if [ -f "$dir/.chrys-version" ] && [ "$(cat "$dir/.chrys-version")" = "$ver" ]
then
    exit 0
fi

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

if ! apt-cache showsrc "$pkg" 2>/dev/null | grep -q "^Package:"; then
    list=/etc/apt/sources.list.d/chrys-deb-src.sources

    echo "chrys: adding deb-src entries ($list)"

    {
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] && [ "$f" != "$list" ] || continue
            sed -e 's/^Types:.*$/Types: deb-src/' "$f"
            echo
        done

        if [ -f /etc/apt/sources.list ]; then
            # one-line format: turn "deb URI suite..." into deb822, but
            # only for an archive and suite that no .sources file above
            # lists already: apt refuses the same one twice when their
            # Signed-By differ ("Conflicting values set for option")
            listed=$(for f in /etc/apt/sources.list.d/*.sources; do
                         [ -f "$f" ] && [ "$f" != "$list" ] || continue
                         awk '/^URIs:/ { $1 = ""; u = $0 }
                              /^Suites:/ { $1 = ""; s = $0 }
                              /^$/ { print u "|" s; u = s = "" }
                              END { print u "|" s }' "$f"
                     done | awk -F'|' '{ n = split($1, u, " ");
                                         m = split($2, s, " ");
                                         for (i = 1; i <= n; i++)
                                             for (j = 1; j <= m; j++) {
                                                 sub("/$", "", u[i]);
                                                 print u[i] " " s[j] } }')

            grep -E '^deb ' /etc/apt/sources.list | sed -e 's/\[[^]]*\] *//' \
            | while read -r _ uri suite comps
            do
                if printf '%s\n' "$listed" | grep -qxF "${uri%/} $suite"; then
                    continue
                fi
                printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n\n' \
                       "$uri" "$suite" "$comps"
            done
        fi
    } | $sudo tee "$list" >/dev/null

    $sudo apt-get update -q
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && apt-get source --tar-only -q "$pkg=$ver" >/dev/null)

tarball=$(ls "$tmp"/*.orig.tar.* | head -n 1)

rm -rf "$dir"
mkdir -p "$dir"
tar -xf "$tarball" -C "$dir" --strip-components=1
echo "$ver" > "$dir/.chrys-version"
echo "chrys: $pkg $ver source in $dir"
