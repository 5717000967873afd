#!/usr/bin/env bash
# Installs the build into a scratch DESTDIR and builds an outside program against it
# with nothing but pkg-config, then runs it.
set -euo pipefail
build=$1
src=$2
sanitize=${3:-none}
# A sanitized library needs its runtime first in the consumer's link; the plain build
# proves the install layout, so the sanitizer builds skip (exit 77 = skipped).
if [ "$sanitize" != "none" ]; then echo "skipped: install check runs in the unsanitized build"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --no-rebuild --destdir "$tmp/root" --quiet >/dev/null
pc=$(dirname "$(find "$tmp/root" -name shardtcp.pc | head -1)")
[ -n "$pc" ] || { echo "no shardtcp.pc installed"; exit 1; }
# Point the installed .pc file at the scratch tree (its dependencies stay system-wide).
mkdir -p "$tmp/pc"
sed "s|^prefix=|prefix=$tmp/root|" "$pc/shardtcp.pc" > "$tmp/pc/shardtcp.pc"
export PKG_CONFIG_PATH="$tmp/pc"
flags=$(pkg-config --cflags --libs shardtcp)
echo "pkg-config: $flags"
# DPDK 22.11's own headers use volatile ++ which C++20 deprecates: -Wno-volatile.
c++ -std=c++20 -Wall -Wextra -Werror -Wno-volatile "$src/consumer.cc" -o "$tmp/consumer" $flags
libdir=$(dirname "$(find "$tmp/root" -name 'libshardtcp.so' | head -1)")
LD_LIBRARY_PATH="$libdir" "$tmp/consumer"
