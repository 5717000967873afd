#!/usr/bin/env bash
# shardtcp against the Linux kernel, same machine, same run (issue 6).
#
#   sudo scripts/bench.sh [--seconds N] [--quick] [--reps N] [--workloads A,B] [--instr]
#                         [--no-build] [--no-setup] [--bin DIR] [--no-wrk] [--no-preload]
#                         [--out DIR]
#
# Rows (--workloads takes these names, comma-separated): TCP_STREAM, "TCP_STREAM virtio"
# (the stack pair joined by virtio-net instead of memif: net_virtio_user client against
# a net_vhost server, MTU 1500, with the offloads virtio negotiates; its kernel figure
# is another kernel TCP_STREAM run of the same repetition), "TCP_RR 1 conn",
# TCP_RR (16 connections), "TCP_RR 256 conns", "TCP_RR ordinary thread" (the stack
# side's application thread calls through the request rings to a driver thread:
# SHARDTCP_SOCKETS_DRIVER=thread), TCP_CRR (16 at a time), CONNS (BENCH_CONNS connections,
# default 2000), "CONNS 10k", "CONNS 100k", "CONNS 1M" (opened one after another, held
# idle, then each echoes a byte; the scale rows run once, whatever --reps). Each side of a pair
# is one process on one core; the stack's process runs its engine on its own thread.
#
# Builds the release flavour (-O3 -march=native, LTO), reserves hugepages, then runs
# every workload on both pairs (bench/pairs.sh: two stacks over memif on cores 0 and 1;
# two kernel-perf processes over a veth pair between two namespaces, pinned the same
# way), alternating which side goes first, --reps times. Prints the table (median, min,
# max, ratio shardtcp/kernel), writes bench/results/latest.json and latest.png.
#   --seconds N   length of each run (default 10; --quick: 3)
#   --quick       one repetition of each workload
#   --instr       also: instructions per in-order 1448-byte segment received, counted by
#                 callgrind on an x86-64-v3 release build (bench/instr.sh): the TCP core
#                 alone ("RX instructions/segment") and a whole stack from rx burst to
#                 the application's recv copy ("RX instructions/segment end to end")
#   --no-wrk      skip the wrk rows (HTTP: the stack's httpd against nginx)
#   --no-preload  skip the preload rows (the same nginx and redis-server binaries on the
#                 kernel and, through libshardtcp-preload.so, on the stack: bench/preload.sh)
#   --bin DIR     use the perf programs in DIR (default build-release/apps/perf)
#   --out DIR     where the results go (default bench/results)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=""
reps=3
quick=0
instr=0
build=1
setup=1
wrk_rows=1
preload_rows=1
bin=""
out_dir=bench/results
workloads="TCP_STREAM,TCP_STREAM virtio,TCP_RR 1 conn,TCP_RR,TCP_RR 256 conns,TCP_RR ordinary thread,TCP_CRR,CONNS,CONNS 10k,CONNS 100k,CONNS 1M"
concurrency=${BENCH_CONCURRENCY:-16}
conns=${BENCH_CONNS:-2000}
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift ;;
    --reps) reps=$2; shift ;;
    --quick) quick=1 ;;
    --instr) instr=1 ;;
    --no-build) build=0 ;;
    --no-setup) setup=0 ;;
    --no-wrk) wrk_rows=0 ;;
    --no-preload) preload_rows=0 ;;
    --bin) bin=$2; shift ;;
    --out) out_dir=$2; shift ;;
    --workloads) workloads=$2; shift ;;
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" -eq 1 ]; then
  reps=1
  seconds=${seconds:-3}
fi
seconds=${seconds:-10}

if [ "$(id -u)" -ne 0 ]; then
  echo "bench: needs root (network namespaces, hugepages)" >&2
  exit 1
fi

[ "$setup" -eq 1 ] && scripts/setup.sh
if [ "$build" -eq 1 ]; then
  SHARDTCP_JOBS=${SHARDTCP_JOBS:-2} scripts/build.sh release
fi
PERF_BIN=${bin:-$root/build-release/apps/perf}
bindir=$(dirname "$PERF_BIN")/..
for b in shardtcp-perf kernel-perf; do
  [ -x "$PERF_BIN/$b" ] || { echo "bench: $PERF_BIN/$b missing (build first)" >&2; exit 1; }
done

PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
# The kernel's CONNS side needs a descriptor per connection (up to a million): raise
# this shell's limit, and the ceiling it may be raised to, for the perf processes.
if [ "$(cat /proc/sys/fs/nr_open)" -lt 1100000 ]; then sysctl -qw fs.nr_open=1100000 || true; fi
ulimit -Hn 1100000 2>/dev/null || true
ulimit -n 1100000 2>/dev/null ||
  echo "bench: could not raise the descriptor limit past $(ulimit -Hn) (no CAP_SYS_RESOURCE?): the kernel's CONNS rows above it fail with EMFILE" >&2
mkdir -p "$out_dir"
PAIR_NS="bp$$"
PAIR_DIR=$(mktemp -d /tmp/shardtcp-bench.XXXXXX)
# shellcheck source=../bench/pairs.sh
source bench/pairs.sh
cleanup() {
  kernel_pair_down
  [ -n "${nginx_pid:-}" ] && kill "$nginx_pid" 2>/dev/null
  rm -rf "$PAIR_DIR"
}
trap cleanup EXIT
pair_eal_memory
kernel_pair_up

machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -r)"
echo "bench: $machine; ${seconds}s per run, $reps repetition(s); EAL memory: ${PAIR_EAL_MEM[*]}"
runs=$out_dir/runs.jsonl
: >"$runs"

# A row: the perf workload it runs and the client's options.
row_workload() { echo "${1%% *}"; }
# Connections a CONNS row holds (empty for other rows).
row_conns() {
  case "$1" in
    "CONNS 10k") echo 10000 ;;
    "CONNS 100k") echo 100000 ;;
    "CONNS 1M") echo 1000000 ;;
    CONNS) echo "$conns" ;;
  esac
}
# Server ports a CONNS row spreads over: each gives the client 64 512 tuples (its
# ephemeral range, 1024-65535, on both pairs); 50 000 a port keeps the search short.
# TCP_CRR spreads over eight: one port's tuples last about a second at 64 512
# connections a second, and a closed tuple is reusable after a second (tcp_tw_reuse);
# the stack's client opens 245 000 a second (2026-12-07), where four ports' 258 000
# tuples ran out now and then (connect: EADDRNOTAVAIL, the run counted as failed).
row_ports() {
  case "$1" in
    TCP_CRR) echo 8 ;;
    *) echo $(( ($(row_conns "$1") + 49999) / 50000 )) ;;
  esac
}
client_opts() {
  case "$1" in
    "TCP_RR 1 conn") echo "--concurrency 1 --size 64" ;;
    "TCP_RR 256 conns") echo "--concurrency 256 --size 64" ;;
    TCP_CRR) echo "--concurrency $concurrency --size 64 --ports $(row_ports "$1")" ;;
    TCP_RR*) echo "--concurrency $concurrency --size 64" ;;
    CONNS*) echo "--conns $(row_conns "$1") --ports $(row_ports "$1")" ;;
    *) echo "--write 65536" ;;
  esac
}
# Options both servers and both stacks take for a row.
server_opts() {
  case "$1" in
    CONNS*|TCP_CRR) echo "--ports $(row_ports "$1")" ;;
  esac
}
stack_opts() {
  case "$1" in
    CONNS*)
      local n; n=$(row_conns "$1")
      # Room for every connection (plus listeners), and for the client's TIME_WAIT
      # records when it closes them all.
      echo "--max-connections $(( n + 1024 > 1048575 ? 1048575 : n + 1024 )) --time-wait-max $n" ;;
  esac
}
# The scale rows take minutes each: one repetition.
row_once() { case "$1" in "CONNS "*) return 0 ;; *) return 1 ;; esac; }
# How the stack side runs its engines for a row (empty: the library's default, the
# application's thread runs them).
stack_driver() {
  case "$1" in
    "TCP_RR ordinary thread") echo thread ;;
    *) echo "" ;;
  esac
}

# The stack pair's wire for a row (bench/pairs.sh, PAIR_STACK_WIRE).
stack_wire() {
  case "$1" in
    *" virtio") echo virtio ;;
    *) echo memif ;;
  esac
}

one_run() {
  local side=$1 row=$2 rep=$3 line rc=0 w
  w=$(row_workload "$row")
  # shellcheck disable=SC2046
  # shellcheck disable=SC2207
  line=$(
    if [ -n "$(stack_driver "$row")" ]; then export SHARDTCP_SOCKETS_DRIVER=$(stack_driver "$row"); fi
    PAIR_STACK_WIRE=$(stack_wire "$row")
    PAIR_SERVER_ARGS=($(server_opts "$row"))
    PAIR_STACK_ARGS=($(stack_opts "$row"))
    [ -z "$(row_conns "$row")" ] || PAIR_CLIENT_TIMEOUT=$(( 120 + $(row_conns "$row") / 2000 ))
    run_pair "$side" "$w" "$seconds" --quiet $(client_opts "$row")
  ) || rc=$?
  if [ -z "$line" ]; then
    echo "bench: $side $w run $rep produced no result (exit $rc); last lines of its logs:" >&2
    tail -n 5 "$PAIR_DIR/server.err" "$PAIR_DIR/client.err" >&2 || true
    return 0
  fi
  echo "$line" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["rep"]=int(sys.argv[1]); d["row"]=sys.argv[2]; print(json.dumps(d))' "$rep" "$row" >>"$runs"
  printf 'bench: rep %d %-22s %-8s %12.4g %s%s\n' "$rep" "$row" "$side" \
    "$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])')" \
    "$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["unit"])')" \
    "$([ "$rc" -eq 0 ] || echo "  (FAILED: exit $rc)")"
}

IFS=, read -r -a wl <<<"$workloads"
for rep in $(seq "$reps"); do
  for w in "${wl[@]}"; do
    if [ "$rep" -gt 1 ] && row_once "$w"; then continue; fi
    # Alternate who goes first so that drift (thermal, other load) hits both sides.
    if [ $((rep % 2)) -eq 1 ]; then
      one_run kernel "$w" "$rep"
      one_run shardtcp "$w" "$rep"
    else
      one_run shardtcp "$w" "$rep"
      one_run kernel "$w" "$rep"
    fi
  done
done

extra=$PAIR_DIR/extra.json
echo "[]" >"$extra"
add_extra() { # JSON object
  python3 - "$extra" "$1" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
rows.append(json.loads(sys.argv[2]))
json.dump(rows, open(sys.argv[1], "w"))
EOF
}

# script_rows NAME ARGS...: the rows bench/NAME.sh ARGS... prints (JSON, one a line)
# join the table.
script_rows() {
  local name=$1
  shift
  if "bench/$name.sh" "$@" >"$PAIR_DIR/$name.rows" 2>"$PAIR_DIR/$name.err"; then
    while read -r r; do
      echo "bench: $r"
      add_extra "$r"
    done <"$PAIR_DIR/$name.rows"
  else
    echo "bench: the $name rows failed:" >&2
  fi
  sed "s/^/bench: $name: /" "$PAIR_DIR/$name.err" >&2 || true
}

if [ "$instr" -eq 1 ]; then
  # valgrind 3.19 cannot decode AVX-512, which -march=native emits on this CPU: count
  # instructions on an x86-64-v3 (AVX2) release build of the same code, with LTO.
  idir=${BENCH_INSTR_BUILD:-$root/build-release-instr}
  if [ ! -f "$idir/build.ninja" ]; then
    pcdir=$root/build-release-pkgconfig
    if [ -d "$pcdir" ]; then export PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}; fi
    meson setup "$idir" -Dbuildtype=release -Db_lto=true -Dcpp_args=-march=x86-64-v3 \
      -Dc_args=-march=x86-64-v3 -Dtests=false >/dev/null
  fi
  # Directories set up before release builds defined NDEBUG (meson.build's default now).
  meson configure "$idir" -Db_ndebug=if-release >/dev/null
  if ninja -C "$idir" -j "${SHARDTCP_JOBS:-2}" bench/micro/rx_segment_instr \
    bench/micro/rx_path_instr >/dev/null; then
    script_rows instr "$idir"
  else
    echo "bench: could not build the instruction counters in $idir: no --instr rows" >&2
  fi
fi

if [ "$wrk_rows" -eq 1 ]; then script_rows wrk "$bindir" "$seconds" "$PAIR_DIR"; fi
if [ "$preload_rows" -eq 1 ]; then script_rows preload "$bindir" "$seconds" "$PAIR_DIR"; fi

"$PY" bench/report.py "$runs" "$out_dir/latest.json" "$out_dir/latest.png" \
  --machine "$machine" --seconds "$seconds" --repetitions "$reps" --extra "$extra" |
  tee "$out_dir/latest.txt"
echo "bench: wrote $out_dir/latest.json, latest.png, latest.txt"
