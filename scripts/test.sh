#!/usr/bin/env bash
# Sets up the machine, builds, and runs the whole shardtcp test suite:
#   1. the debug build: unit, stack-pair and kernel-interop tests;
#   2. an ASan+UBSan build: unit and stack-pair tests again;
#   3. the fuzz targets for a bounded time (clang, ASan+UBSan).
# Ends with one line "N passed, N failed" counting every test case.
# Interop tests need root and network namespaces; they skip with a message outside
# CI when those are missing, and fail under CI=true.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0

run_suites() {  # run_suites <build dir> <label> <suite>...
  local dir=$1 label=$2; shift 2
  local args=()
  for s in "$@"; do args+=(--suite "$s"); done
  mkdir -p "$results/$label"
  echo "== $label: meson test ${args[*]}"
  meson test -C "$dir" "${args[@]}" --print-errorlogs --num-processes 1 --timeout-multiplier 3 \
    --logbase "testlog-$label" || status=1
  cp "$dir/meson-logs/testlog-$label.json" "$results/$label/testlog.json" 2>/dev/null || true
}

echo "== building (debug)"
if scripts/build.sh debug; then
  # The lossy stack-pair transfer moves the issue's full 1 GiB each way in this build;
  # the sanitizer build below keeps the test's smaller default.
  SHARDTCP_PAIR_BYTES=${SHARDTCP_PAIR_BYTES:-1073741824} run_suites build main unit pair interop
else
  echo "build: debug build FAILED"; echo "build-debug FAIL" >> "$results/build-failures"; status=1
fi

echo "== building (ASan+UBSan)"
if scripts/build.sh asan; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suites build-asan asan unit pair
else
  echo "build: ASan build FAILED"; echo "build-asan FAIL" >> "$results/build-failures"; status=1
fi

if [ -x scripts/fuzz.sh ]; then
  echo "== fuzzing (bounded)"
  if scripts/fuzz.sh --seconds "${SHARDTCP_FUZZ_SECONDS:-30}" > "$results/fuzz.log" 2>&1; then
    echo "fuzz PASS" >> "$results/fuzz-results"
  else
    cat "$results/fuzz.log"; echo "fuzz FAIL" >> "$results/fuzz-results"; status=1
  fi
  tail -n 5 "$results/fuzz.log"
fi

summary=$(python3 scripts/summarize_tests.py "$results")
echo "$summary"
case "$summary" in
  *" 0 failed"*) [ $status -eq 0 ] || exit 1 ;;
  *) exit 1 ;;
esac
