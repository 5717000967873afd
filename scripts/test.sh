#!/usr/bin/env bash
# Sets up the machine, builds, and runs the whole shardtcp test suite:
#   1. the debug build (GCC): unit, stack-pair and kernel-interop tests, while the
#      sanitizer build (clang, ASan + UBSan, fuzz-instrumented) compiles beside them;
#   2. the README's demo, alone and next to a CPU-bound load (suite `demo`);
#   3. the sanitizer build: unit and stack-pair tests again;
#   4. the fuzz targets of the sanitizer build for a bounded time.
# Ends with one line "N passed, N failed" counting every test case.
# Interop and demo tests need root and network namespaces; they skip with a message
# outside CI when those are missing, and fail under CI=true.
set -uo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
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
build_failed() {
  echo "build: $1 build FAILED"
  echo "build-$1 FAIL" >> "$results/build-failures"
  status=1
}
stage() { echo "== [$((SECONDS - started)) s] $*"; }

stage "building (debug)"
debug_ok=1
scripts/build.sh debug || { build_failed debug; debug_ok=0; }

# The sanitizer build needs the CPU most while the debug tests mostly wait on the
# kernel, the wire and their peers: build it beside them, on one core.
stage "building (ASan+UBSan, clang) in the background; its log: $results/asan-build.log"
SHARDTCP_JOBS=1 scripts/build.sh asan > "$results/asan-build.log" 2>&1 &
asan_build=$!

if [ $debug_ok -eq 1 ]; then
  stage "debug suites"
  # The lossy stack-pair transfer moves 256 MiB each way in this build (its assertions
  # are the same at any size); the sanitizer build keeps the test's smaller default.
  SHARDTCP_PAIR_BYTES=${SHARDTCP_PAIR_BYTES:-268435456} run_suites build main unit pair interop
fi

asan_ok=1
stage "waiting for the sanitizer build"
wait $asan_build || { tail -n 40 "$results/asan-build.log"; build_failed asan; asan_ok=0; }

if [ $debug_ok -eq 1 ]; then
  stage "the README's demo"
  run_suites build demo demo
fi

if [ $asan_ok -eq 1 ]; then
  stage "ASan+UBSan suites"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suites build-asan asan unit pair
  stage "fuzzing (bounded)"
  if scripts/fuzz.sh --no-build --seconds "${SHARDTCP_FUZZ_SECONDS:-20}" > "$results/fuzz.log" 2>&1; then
    echo "fuzz PASS" >> "$results/fuzz-results"
  else
    cat "$results/fuzz.log"; echo "fuzz FAIL" >> "$results/fuzz-results"; status=1
  fi
  tail -n 5 "$results/fuzz.log"
fi

stage "done"
summary=$(python3 scripts/summarize_tests.py "$results")
echo "$summary"
case "$summary" in
  *" 0 failed"*) [ $status -eq 0 ] || exit 1 ;;
  *) exit 1 ;;
esac
