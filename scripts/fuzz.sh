#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time. The targets live in the sanitizer
# build (scripts/build.sh asan: clang, ASan + UBSan, the library instrumented with
# fuzzer-no-link so libFuzzer is guided by the stack's own branches).
#   scripts/fuzz.sh [--seconds N] [--no-build]   (default 30 s per target)
# Corpora live in test/fuzz/corpus/<target>/: committed from a 5-minute run per target
# (merged with -merge=1); a bounded CI run starts from them, its new finds stay local.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=30 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "fuzz: unknown option $1" >&2; exit 2 ;;
  esac
done

dir=build-asan
[ $build -eq 0 ] || scripts/build.sh asan >/dev/null
# Every executable defined in test/fuzz/meson.build is a libFuzzer target.
targets=$(ninja -C "$dir" -t targets all | sed -n 's/^\(test\/fuzz\/[A-Za-z0-9_]*\): .*/\1/p' | sort -u)
if [ -z "$targets" ]; then echo "fuzz: no fuzz targets defined"; exit 1; fi
ninja -C "$dir" -j "$(nproc)" $targets >/dev/null

failed=0
for t in $targets; do
  name=$(basename "$t")
  corpus_seed="test/fuzz/corpus/$name"
  work=$(mktemp -d)
  [ -d "$corpus_seed" ] && cp -r "$corpus_seed/." "$work/"
  echo "fuzz: $name for ${seconds}s"
  if UBSAN_OPTIONS=halt_on_error=1 "$dir/$t" -max_total_time="$seconds" -print_final_stats=1 "$work" > "$work.log" 2>&1; then
    echo "fuzz: $name OK ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" | grep -o '[0-9]*$') runs)"
  else
    echo "fuzz: $name FAILED"; tail -n 40 "$work.log"; failed=1
  fi
  rm -rf "$work" "$work.log"
done
exit $failed
