#!/usr/bin/env bash
# Instructions per in-order 1448-byte data segment received, counted by callgrind on
# a fixed workload (bench/micro/rx_segment_instr.cc), so the figure is the same on
# every run. Prints one JSON line.
#   bench/instr.sh PATH/TO/rx_segment_instr [SEGMENTS]
set -euo pipefail
bin=$1
n=${2:-20000}
dir=$(mktemp -d /tmp/shardtcp-instr.XXXXXX)
trap 'rm -rf "$dir"' EXIT
valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$dir/cg.out" \
  "$bin" "$n" >"$dir/stdout" 2>"$dir/valgrind.log" || {
  cat "$dir/valgrind.log" >&2
  exit 1
}
# One dump per phase: cg.out.1 ("tcb"), cg.out.2 ("wire+tcb"); "summary:" is the Ir total.
total() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
tcb=$(total "$dir/cg.out.1")
wire=$(total "$dir/cg.out.2")
hot=$(callgrind_annotate --threshold=100 "$dir/cg.out.1" 2>/dev/null |
  awk '/PROGRAM TOTALS/ {p=1; next} p && /[0-9,]+ \(/ && !/100\.0%/ {print}' | head -8 |
  sed 's/^ *//; s/ \[.*//; s/(const.*\|(unsigned.*\|(shardtcp::.*//; s/"//g' | paste -sd ';' - || true)
python3 - "$n" "$tcb" "$wire" "$(cat "$dir/stdout")" "$hot" <<'PY'
import json, sys
n, tcb, wire = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
run = json.loads(sys.argv[4])
print(json.dumps({
    "instructions_per_segment": round(tcb / n, 1),
    "instructions_per_segment_with_decode_cksum_lookup": round(wire / n, 1),
    "segments": n,
    "acks_per_segment": run["acks_per_segment"],
    "top_functions_tcb_phase": sys.argv[5].split(";"),
}))
PY
