#!/usr/bin/env bash
# Meson install step: copies the library's internal headers (*.h below lib/, keeping
# their folders) to <prefix>/<includedir>/shardtcp-lib, where the native C++ headers
# find them ("ip/ip_stack.h"). Honours DESTDIR through MESON_INSTALL_DESTDIR_PREFIX.
set -euo pipefail
src=$1
dest="${MESON_INSTALL_DESTDIR_PREFIX}/$2"
cd "$src"
find . -name '*.h' | while read -r h; do
  install -D -m 0644 "$h" "$dest/${h#./}"
done
