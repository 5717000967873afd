#!/usr/bin/env bash
# The preload rows of scripts/bench.sh: the same Debian binaries on the kernel and on
# the stack (through libshardtcp-preload.so), same run:
#   "nginx keep-alive (preload)": nginx (master_process off, one 438-byte page), wrk
#       -t1 -c16 keep-alive against it;
#   "redis GET (preload)": redis-server, redis-benchmark -t get -c 50 against it.
# On the stack: the server in namespace ${ns}p with the stack (198.18.4.2) on one end of a
# veth pair, the client in ${ns}q on the other (198.18.4.1). On the kernel: the server in ${ns}s
# (198.18.5.1), the client in ${ns}c over a veth pair. Servers on core 0, clients on
# core 1. Prints one compact JSON row per line.
#   bench/preload.sh BUILD_DIR SECONDS SCRATCH_DIR
set -euo pipefail
bindir=$1
seconds=${2%.*}
dir=$3
ns=bl$$
lib=$bindir/lib/preload/libshardtcp-preload.so
[ -f "$lib" ] || { echo "$lib missing" >&2; exit 1; }
for b in wrk nginx redis-server redis-benchmark; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || { echo "$b not installed" >&2; exit 1; }
done
PATH=$PATH:/usr/sbin
spid=""
cleanup() {
  [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  for n in p q s c; do
    for p in $(ip netns pids "$ns$n" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$ns$n" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 1' TERM INT  # a killed test (meson's timeout) still cleans up

rps() { awk '/^Requests\/sec:/ {print $2}'; }
# redis-benchmark -q's "GET: N requests per second".
redis_rps() { tr '\r' '\n' | awk '/^GET: [0-9.]+ requests per second/ {print $2}' | tail -1; }

mkdir -p "$dir/www" "$dir/tmp"
head -c 438 /dev/zero | tr '\0' 'x' >"$dir/www/index.html"
# shellcheck source=nginx_conf.sh
source "$(dirname "$0")/nginx_conf.sh"
# shellcheck source=veth_pair.sh
source "$(dirname "$0")/veth_pair.sh"
nginx_conf() { # ADDR
  bench_nginx_conf "$dir/nginx.conf" "$dir" "$1:80 backlog=4096" "master_process off;
worker_processes 1;"
}
# ready PROBE...: until the probe command succeeds (5 s at most).
ready() {
  for _ in $(seq 50); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "not ready: $*" >&2
  return 1
}
redis_args=(--port 6379 --save "" --appendonly no --protected-mode no --daemonize no --dir "$dir/tmp")
requests=$((seconds * 20000))

# ---- the stack: each server under LD_PRELOAD (a new stack per process) on one end of
# a veth pair (net_af_packet: bench/veth_pair.sh, stack_veth_up), the client on the other
vdev=$(stack_veth_up "${ns}p" "${ns}q" "${ns}a" 198.18.4.1)
export SHARDTCP_ARGS="-l 0 --no-pci --in-memory --file-prefix ${ns}p --vdev=$vdev -- --ip 198.18.4.2/24"
on_stack() { # LOG CMD...
  local log=$1
  shift
  ip netns exec "${ns}p" env LD_PRELOAD="$lib" taskset -c 0 "$@" >"$log" 2>&1 &
  spid=$!
  for _ in $(seq 100); do
    grep -q '^ready$' "$log" && break
    sleep 0.1
  done
}
stop() {
  kill -TERM "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  spid=""
}
nginx_conf 198.18.4.2
on_stack "$dir/nginx-stack.log" nginx -c "$dir/nginx.conf"
ready ip netns exec "${ns}q" curl -s --max-time 1 -o /dev/null http://198.18.4.2/
st_nginx=$(ip netns exec "${ns}q" taskset -c 1 wrk -t1 -c16 -d"${seconds}s" http://198.18.4.2/ | rps)
stop
on_stack "$dir/redis-stack.log" redis-server --bind 198.18.4.2 "${redis_args[@]}"
ready ip netns exec "${ns}q" redis-cli -h 198.18.4.2 ping
st_redis=$(ip netns exec "${ns}q" taskset -c 1 redis-benchmark -h 198.18.4.2 -t get -c 50 \
  -n "$requests" -q 2>&1 | redis_rps)
stop

# ---- the kernel: the same servers over a veth pair
veth_pair_up "${ns}s" "${ns}c" "${ns}v" 198.18.5.1 198.18.5.2
nginx_conf 198.18.5.1
ip netns exec "${ns}s" taskset -c 0 nginx -c "$dir/nginx.conf" >"$dir/nginx-kernel.log" 2>&1 &
spid=$!
ready ip netns exec "${ns}c" curl -s --max-time 1 -o /dev/null http://198.18.5.1/
k_nginx=$(ip netns exec "${ns}c" taskset -c 1 wrk -t1 -c16 -d"${seconds}s" http://198.18.5.1/ | rps)
stop
ip netns exec "${ns}s" taskset -c 0 redis-server --bind 198.18.5.1 "${redis_args[@]}" \
  >"$dir/redis-kernel.log" 2>&1 &
spid=$!
ready ip netns exec "${ns}c" redis-cli -h 198.18.5.1 ping
k_redis=$(ip netns exec "${ns}c" taskset -c 1 redis-benchmark -h 198.18.5.1 -t get -c 50 \
  -n "$requests" -q 2>&1 | redis_rps)
stop

row() { # name shardtcp kernel
  echo "{\"name\":\"$1\",\"unit\":\"req/s\",\"shardtcp\":${2:-null},\"kernel\":${3:-null}}"
}
row "nginx keep-alive (preload)" "$st_nginx" "$k_nginx"
row "redis GET (preload)" "$st_redis" "$k_redis"
