#!/usr/bin/env bash
# Instructions per in-order 1448-byte data segment received, counted by callgrind on
# fixed workloads, so the figures are the same on every run. Prints two rows of the
# bench table, one JSON object a line:
#   "RX instructions/segment"             the TCP core alone (bench/micro/rx_segment_instr.cc):
#                                         Tcb::on_segment, its ACKs, timers, the reads
#                                         (in place: the zero-copy read), bursts of 16
#                                         segments drawing one ACK; its detail adds
#                                         decode + checksum + table lookup, and the
#                                         count with copying reads and an ACK every
#                                         second segment (this row before 2026-12-07)
#   "RX instructions/segment end to end"  a whole stack receiving a stream from another
#                                         over a net_ring cable (bench/micro/rx_path_instr.cc):
#                                         rx burst, decode, software checksum, lookup, TCB,
#                                         ACK emit and tx burst, the application's read
#                                         (in place); its detail adds the same path
#                                         behind a device that verified the checksums
#                                         (virtio, NICs), and with reads that copy
#   bench/instr.sh BUILD_DIR [SEGMENTS]
# BUILD_DIR is a Meson build holding both programs (bench/micro/). valgrind 3.19 cannot
# decode AVX-512: the build must not use it (scripts/bench.sh makes an x86-64-v3
# release build; the debug build, without -march, also runs). Each row names the build
# it was counted on (buildtype, -march, LTO), from Meson's introspection.
set -euo pipefail
build=$1
n=${2:-20000}
dir=$(mktemp -d /tmp/shardtcp-instr.XXXXXX)
trap 'rm -rf "$dir"' EXIT

# count NAME PROGRAM ARGS...: runs PROGRAM under callgrind (collection off until the
# program turns it on) into $dir/NAME.cg.*, its stdout into $dir/NAME.out.
count() {
  local name=$1
  shift
  valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$dir/$name.cg" \
    "$@" >"$dir/$name.out" 2>"$dir/$name.log" || {
    tail -n 20 "$dir/$name.log" >&2
    echo "instr: $name failed under callgrind" >&2
    exit 1
  }
}
# The Ir total ("summary:" or "totals:") of one dump.
total() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
# The functions with the most instructions of one dump (self cost), ';'-separated.
hot() {
  callgrind_annotate --threshold=100 "$1" 2>/dev/null |
    awk '/PROGRAM TOTALS/ {p=1; next} p && /[0-9,]+ \(/ && !/100\.0%/ {print}' | head -8 |
    sed 's/^ *//; s/ \[.*//; s/(const.*\|(unsigned.*\|(shardtcp::.*\|(rte_.*//; s/"//g' | paste -sd ';' - || true
}

count tcb "$build/bench/micro/rx_segment_instr" "$n"
count path "$build/bench/micro/rx_path_instr" "$n"
# Each program dumps once per phase: rx_segment_instr .1 "tcb", .2 "wire+tcb",
# .3 "tcb-copy"; rx_path_instr .1 "rx" (software checksum), .2 "rx+cksum-offload",
# .3 "rx-copy".
python3 - "$n" "$(total "$dir/tcb.cg.1")" "$(total "$dir/tcb.cg.2")" "$(cat "$dir/tcb.out")" \
  "$(hot "$dir/tcb.cg.1")" "$(total "$dir/path.cg.1")" "$(cat "$dir/path.out")" \
  "$(hot "$dir/path.cg.1")" "$(meson introspect "$build" --buildoptions)" \
  "$(total "$dir/path.cg.2")" "$(total "$dir/tcb.cg.3")" "$(total "$dir/path.cg.3")" <<'PY'
import json, sys
n, tcb, wire = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
run = json.loads(sys.argv[4])
path, path_run = int(sys.argv[6]), json.loads(sys.argv[7])
opts = {o["name"]: o["value"] for o in json.loads(sys.argv[9])}
offload_run = path_run.pop("with_rx_checksum_offload")
offload_run["instructions"] = int(sys.argv[10])
offload_run["instructions_per_segment"] = round(int(sys.argv[10]) / offload_run["segments"], 1)
copy_run = path_run.pop("with_copying_reads")
copy_run["instructions"] = int(sys.argv[12])
copy_run["instructions_per_segment"] = round(int(sys.argv[12]) / copy_run["segments"], 1)
march = [a for a in opts.get("cpp_args", []) if a.startswith("-march=")]
build = "%s, %s, %s" % (opts.get("buildtype"), march[-1] if march else "no -march (compiler default)",
                        "LTO" if opts.get("b_lto") else "no LTO")
print(json.dumps({
    "name": "RX instructions/segment", "unit": "instr/seg", "kernel": None,
    "shardtcp": round(tcb / n, 1),
    "detail": {
        "build": build,
        "instructions_per_segment": round(tcb / n, 1),
        "instructions_per_segment_with_decode_cksum_lookup": round(wire / n, 1),
        "instructions_per_segment_copying_reads_ack_every_second_segment":
            round(int(sys.argv[11]) / n, 1),
        "segments": n,
        "acks_per_segment": run["acks_per_segment"],
        "top_functions_tcb_phase": sys.argv[5].split(";"),
    }}))
segs = path_run["segments"]
print(json.dumps({
    "name": "RX instructions/segment end to end", "unit": "instr/seg", "kernel": None,
    "shardtcp": round(path / segs, 1),
    "detail": dict(path_run, build=build, instructions=path,
                   top_functions=sys.argv[8].split(";"),
                   with_rx_checksum_offload=offload_run, with_copying_reads=copy_run),
}))
PY
