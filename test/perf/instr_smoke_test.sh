#!/usr/bin/env bash
# Smoke run of the instruction counters behind `scripts/bench.sh --instr` (bench/instr.sh)
# on this build, with few segments: both rows ("RX instructions/segment" and "RX
# instructions/segment end to end") come out with a number, which is printed, never
# compared with anything. This build must not use AVX-512 (valgrind 3.19 cannot run
# it): the GCC build (debugoptimized, no -march) does not.
#   instr_smoke_test.sh SOURCE_ROOT BUILD_ROOT
# Skips (77) without valgrind outside CI, fails without it under CI=true.
set -uo pipefail
src=$1
build=$2
if ! command -v valgrind >/dev/null; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL: valgrind missing (CI=true: may not skip)"
    exit 1
  fi
  echo "SKIP: valgrind missing"
  exit 77
fi
out=$("$src/bench/instr.sh" "$build" 300) || {
  echo "FAIL: bench/instr.sh failed"
  exit 1
}
echo "$out"
python3 - "$out" <<'PY'
import json, sys
rows = {r["name"]: r for r in map(json.loads, sys.argv[1].splitlines())}
bad = 0
for name in ("RX instructions/segment", "RX instructions/segment end to end"):
    v = rows.get(name, {}).get("shardtcp")
    ok = isinstance(v, (int, float)) and v > 0
    print(f"{name}: {v} instr/seg ({rows.get(name, {}).get('detail', {}).get('build')})" +
          ("" if ok else "  FAILED: no figure"))
    bad += not ok
sys.exit(1 if bad else 0)
PY
