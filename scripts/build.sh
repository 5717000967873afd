#!/usr/bin/env bash
# Configures and builds one flavour of shardtcp.
#   scripts/build.sh [debug|asan|release|fuzz] [--configure-only | TARGET...]
# (default: debug, everything). TARGETs (paths relative to the build directory, as
# scripts/suite_targets.py prints them) build only those; SHARDTCP_JOBS sets ninja's -j.
# Build directories: build/, build-asan/, build-release/.
# asan is clang with ASan + UBSan and libFuzzer's coverage instrumentation: one build
# runs the test suite under the sanitizers and links the fuzz targets (scripts/fuzz.sh),
# so the suite compiles the library twice, not three times. fuzz is another name for it.
set -euo pipefail
cd "$(dirname "$0")/.."

flavour=${1:-debug}
[ $# -gt 0 ] && shift
jobs=${SHARDTCP_JOBS:-$(nproc)}
case "$flavour" in
  debug)   dir=build;         opts=(-Dbuildtype=debugoptimized) ;;
  asan|fuzz)
           dir=build-asan
           opts=(-Dbuildtype=debug -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
                 -Dbenchmarks=false -Dtests=true
                 -Dcpp_args=-fsanitize=fuzzer-no-link -Dc_args=-fsanitize=fuzzer-no-link)
           # Meson wraps the compiler in ccache by itself only when it picks it; named
           # here, it is wrapped here.
           if command -v ccache >/dev/null; then export CC="ccache clang" CXX="ccache clang++"
           else export CC=clang CXX=clang++; fi ;;
  release) dir=build-release; opts=(-Dbuildtype=release -Db_ndebug=if-release -Db_lto=true -Dcpp_args=-march=native -Dc_args=-march=native -Dtests=false) ;;
  *) echo "build: unknown flavour '$flavour' (debug|asan|release|fuzz)" >&2; exit 2 ;;
esac
# Warnings are errors in every build the project makes (not a default of meson.build,
# so a packager's plain `meson setup` is not broken by a compiler's false positive).
opts+=(-Dwerror=true)

if [ "$flavour" = release ]; then
  # DPDK's pkg-config Cflags end with -march=corei7, which lands after our
  # -march=native on every command line (the last -march wins): give Meson copies of
  # libdpdk's .pc files without it, so release code may use AVX2/AVX-512 where present.
  pcdir=$PWD/$dir-pkgconfig
  src=$(pkg-config --variable=pcfiledir libdpdk)
  mkdir -p "$pcdir"
  for f in libdpdk.pc libdpdk-libs.pc; do sed 's/ -march=[^ ]*//' "$src/$f" >"$pcdir/$f"; done
  export PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
fi

# ccache (when installed; Meson finds it) may reuse objects compiled in another clone:
# CI builds a fresh clone in another folder.
export CCACHE_NOHASHDIR=true CCACHE_BASEDIR=$PWD

if [ -f "$dir/build.ninja" ]; then
  meson configure "$dir" "${opts[@]}" >/dev/null
else
  meson setup "$dir" "${opts[@]}" >/dev/null
fi
if [ "${1:-}" = --configure-only ]; then exit 0; fi
# Only some targets: ninja becomes this process, so a signal to it (scripts/test.sh
# pauses a background build that way) reaches ninja itself.
if [ $# -gt 0 ]; then exec ninja -C "$dir" -j "$jobs" "$@"; fi
ninja -C "$dir" -j "$jobs"
echo "build: $flavour build ready in $dir/"
