#!/usr/bin/env bash
# The wrk rows of scripts/bench.sh: Debian's wrk (-t1 -c16), a client nobody here wrote,
#   against the stack: shardtcp-httpd in namespace ${ns}h (198.18.2.2) on one end of a
#                      veth pair (net_af_packet: bench/veth_pair.sh, stack_veth_up),
#                      wrk in ${ns}w on the other (198.18.2.1);
#   against the kernel: Debian's nginx (one worker, access log off, the same 438-byte
#                      body) in ${ns}s (198.18.3.1), wrk in ${ns}c over a veth pair;
# each server on core 0, wrk on core 1; keep-alive, then "Connection: close".
# httpd runs to completion: its one thread runs the engine inline on core 0.
# WRK_HTTPD_APP_CPU=N pins that thread to CPU N instead.
# Prints one compact JSON row per line.
#   bench/wrk.sh BUILD_DIR SECONDS SCRATCH_DIR
set -euo pipefail
# shellcheck source=veth_pair.sh
source "$(dirname "$0")/veth_pair.sh"
bindir=$1
seconds=${2%.*}
dir=$3
ns=bw$$
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 1; }
httpd=$bindir/apps/httpd/shardtcp-httpd
[ -x "$httpd" ] || { echo "$httpd missing" >&2; exit 1; }
hpid=""
npid=""
cleanup() {
  [ -n "$hpid" ] && kill -TERM "$hpid" 2>/dev/null && wait "$hpid" 2>/dev/null
  [ -n "$npid" ] && kill -TERM "$npid" 2>/dev/null && wait "$npid" 2>/dev/null
  for n in h w s c; do ip netns del "$ns$n" 2>/dev/null || true; done
}
trap cleanup EXIT

# Both wrk namespaces are tuned as a performance-minded user would.
client_tuning() {
  ip netns exec "$1" sysctl -qw net.ipv4.tcp_tw_reuse=1
  ip netns exec "$1" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
}
# wrk's requests/s from its output.
rps() { awk '/^Requests\/sec:/ {print $2}'; }

# ---- the stack: httpd on a veth (net_af_packet), wrk on the veth's kernel end
vdev=$(stack_veth_up "${ns}h" "${ns}w" "${ns}a" 198.18.2.1)
client_tuning "${ns}w"
ip netns exec "${ns}h" "$httpd" -l 0 --no-pci --in-memory --file-prefix "${ns}h" \
  --vdev="$vdev" -- --ip 198.18.2.2/24 --port 80 \
  ${WRK_HTTPD_APP_CPU:+--app-cpu "$WRK_HTTPD_APP_CPU"} >"$dir/httpd.out" 2>"$dir/httpd.err" &
hpid=$!
for _ in $(seq 100); do grep -q ready "$dir/httpd.out" && break; sleep 0.1; done
mkdir -p "$dir/www"
ip netns exec "${ns}w" curl -s --max-time 10 -o "$dir/www/index.html" http://198.18.2.2/
[ "$(stat -c %s "$dir/www/index.html")" = 438 ] || { echo "httpd did not serve the body" >&2; exit 1; }
st_ka=$(ip netns exec "${ns}w" taskset -c 1 wrk -t1 -c16 -d"${seconds}s" http://198.18.2.2/ | rps)
st_close=$(ip netns exec "${ns}w" taskset -c 1 wrk -t1 -c16 -d"${seconds}s" -H "Connection: close" \
  http://198.18.2.2/ | rps)
kill -TERM "$hpid"
wait "$hpid" || true
hpid=""
grep '^{' "$dir/httpd.out" | sed 's/^/httpd: /' >&2 || true

# ---- the kernel: nginx over a veth pair
veth_pair_up "${ns}s" "${ns}c" "${ns}v" 198.18.3.1 198.18.3.2
client_tuning "${ns}c"
# shellcheck source=nginx_conf.sh
source "$(dirname "$0")/nginx_conf.sh"
bench_nginx_conf "$dir/nginx.conf" "$dir" "198.18.3.1:80 reuseport backlog=4096" \
  "worker_processes 1;
worker_cpu_affinity 01;"
mkdir -p "$dir/tmp"
ip netns exec "${ns}s" taskset -c 0 nginx -c "$dir/nginx.conf" 2>"$dir/nginx.stderr" &
npid=$!
for _ in $(seq 50); do
  ip netns exec "${ns}c" curl -s --max-time 1 -o /dev/null http://198.18.3.1/ && break
  sleep 0.1
done
k_ka=$(ip netns exec "${ns}c" taskset -c 1 wrk -t1 -c16 -d"${seconds}s" http://198.18.3.1/ | rps)
k_close=$(ip netns exec "${ns}c" taskset -c 1 wrk -t1 -c16 -d"${seconds}s" -H "Connection: close" \
  http://198.18.3.1/ | rps)

row() { # name shardtcp kernel
  echo "{\"name\":\"$1\",\"unit\":\"req/s\",\"shardtcp\":${2:-null},\"kernel\":${3:-null}}"
}
row "wrk keep-alive" "$st_ka" "$k_ka"
row "wrk Connection: close" "$st_close" "$k_close"
