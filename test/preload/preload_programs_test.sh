#!/usr/bin/env bash
# Unmodified Debian programs on the stack through libshardtcp-preload.so, in a private
# network namespace: the stack on a TAP (198.18.32.2/24), the kernel on the TAP's other
# side (198.18.32.1/24, 2001:db8:32::1/64) as the peer; the stack also has 2001:db8:32::2.
#   curl    curl on the stack fetches a 1 MiB file from a kernel HTTP server over IPv4
#           and IPv6 (sha256)
#   python  Debian's python3 on the stack: sendmsg/recvmsg (scatter-gather), writev/readv
#           and poll() against kernel TCP and UDP echo servers, bytes compared
#   nginx   nginx on the stack (master_process off) serves a 1 MiB file that kernel curl
#           fetches twice over IPv4 and once over IPv6 (sha256), then wrk loads a small
#           page with 8 keep-alive connections for 2 s
#   nginx-worker  the same with master_process on and one worker, which takes the stack
#           over from the master (SHARDTCP_FORK=child)
#   iperf3  iperf3 -s on the stack (no -B: its dual-stack [::] listener), kernel iperf3
#           -c both ways over TCP and over UDP (100 Mbit/s) over IPv4 and once over IPv6,
#           2 s each (not the issue's 10 s: the suite's budget); bytes from iperf3's
#           JSON report
#   redis   redis-server on the stack, redis-benchmark -t set,get -n 20000 from the kernel
#           (20 000, not 100 000: the budget), values read back with redis-cli, and a
#           BGSAVE: the fork()ed child writes the file while the parent keeps serving
# Usage: preload_programs_test.sh PROGRAM LIBRARY. Needs root: skipped (77) otherwise,
# failed under CI=true.
set -uo pipefail
prog=$1
lib=$2
skip() {
  if [ "${CI:-}" = "true" ]; then echo "FAIL (CI): $1"; exit 1; fi
  echo "SKIP: $1"; exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
case $prog in
  curl) need=(curl python3) ;;
  python) need=(python3) ;;
  nginx | nginx-worker) need=(nginx curl wrk) ;;
  iperf3) need=(iperf3) ;;
  redis) need=(redis-server redis-cli redis-benchmark) ;;
  *) echo "unknown program $prog"; exit 2 ;;
esac
for b in "${need[@]}"; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || skip "$b is not installed (scripts/setup.sh installs it)"
done
PATH=$PATH:/usr/sbin

ns="pl${prog:0:4}$$"
tap="pl${prog:0:4}0"
tmp=$(mktemp -d)
stack_pid=""
cleanup() {
  [ -n "$stack_pid" ] && kill "$stack_pid" 2>/dev/null
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' TERM INT  # a killed test (meson's timeout) still cleans up
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done
  exit 1
}
ip netns add "$ns" || skip "cannot create a network namespace"
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up

eal="--no-pci -l 0 --no-huge --no-shconf -m 256 --file-prefix $ns --vdev=net_tap0,iface=$tap"
export SHARDTCP_ARGS="$eal -- --ip 198.18.32.2/24 --ip 2001:db8:32::2/64"
# on_stack LOG CMD...: runs CMD in the namespace with the library (in the background).
on_stack() {
  local log=$1
  shift
  ip netns exec "$ns" env LD_PRELOAD="$lib" "$@" >"$log" 2>&1 &
  stack_pid=$!
}
# Once the program brought the stack up, its TAP exists: address the kernel's side.
tap_up() {
  local log=$1
  for _ in $(seq 100); do
    grep -q '^ready$' "$log" && in_ns ip link show "$tap" >/dev/null 2>&1 && break
    kill -0 "$stack_pid" 2>/dev/null || fail "the program ended before its stack was ready"
    sleep 0.1
  done
  grep -q '^ready$' "$log" || fail "no 'ready' line from the library"
  in_ns ip addr add 198.18.32.1/24 dev "$tap" && in_ns ip -6 addr add 2001:db8:32::1/64 dev "$tap" nodad &&
    in_ns ip link set "$tap" up || fail "TAP set-up"
}
# wait_port PORT: until the stack's program accepts on it (kernel-side probe).
wait_port() {
  for _ in $(seq 100); do
    in_ns bash -c "exec 3<>/dev/tcp/198.18.32.2/$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "nothing listening on 198.18.32.2:$1"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
# stop_gracefully NAME: SIGTERM; the program must end on its own within 10 s, status 0.
stop_gracefully() {
  kill -TERM "$stack_pid"
  for _ in $(seq 100); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$stack_pid" 2>/dev/null && fail "$1 did not stop on SIGTERM"
  wait "$stack_pid" || fail "$1 exited with status $? on SIGTERM"
  stack_pid=""
}

start=$(date +%s.%N)
case $prog in
curl)
  mkdir -p "$tmp/www"
  head -c 1048576 /dev/urandom >"$tmp/www/blob.bin"
  in_ns python3 -m http.server 8080 --bind :: --directory "$tmp/www" >"$tmp/http.log" 2>&1 &
  # One curl, both families: IPv4, then IPv6 (the stack's address passed its duplicate
  # address detection meanwhile).
  on_stack "$tmp/curl.log" curl -sS --max-time 30 -o "$tmp/got.bin" http://198.18.32.1:8080/blob.bin \
    -o "$tmp/got6.bin" "http://[2001:db8:32::1]:8080/blob.bin"
  tap_up "$tmp/curl.log"
  wait "$stack_pid" || fail "curl on the stack failed"
  stack_pid=""
  [ "$(sha "$tmp/got.bin")" = "$(sha "$tmp/www/blob.bin")" ] || fail "sha256 differs (IPv4)"
  [ "$(sha "$tmp/got6.bin")" = "$(sha "$tmp/www/blob.bin")" ] || fail "sha256 differs (IPv6)"
  echo "curl on the stack fetched 1 MiB from the kernel over IPv4 and IPv6, sha256 equal"
  ;;
python)
  cat >"$tmp/echo.py" <<'PY'
import socket, threading
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 7000)); t.listen(4)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 7001))
def udp():
    while True:
        d, a = u.recvfrom(65536); u.sendto(d, a)
threading.Thread(target=udp, daemon=True).start()
while True:
    c, _ = t.accept()
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
PY
  cat >"$tmp/client.py" <<'PY'
import os, select, socket
s = socket.create_connection(("198.18.32.1", 7000), timeout=20)
parts = [b"head", os.urandom(20000), b"tail"]
want = b"".join(parts)
assert s.sendmsg(parts) == len(want)            # sendmsg, three pieces
assert os.writev(s.fileno(), parts) == len(want)  # writev
got = bytearray()
p = select.poll(); p.register(s.fileno(), select.POLLIN)
while len(got) < len(want):                      # recvmsg_into, scattered
    assert p.poll(20000), "poll timed out"
    a, b = bytearray(7), bytearray(9000)
    n = s.recvmsg_into([a, b])[0]
    assert n > 0
    got += (a + b)[:n]
while len(got) < 2 * len(want):                  # readv (the socket is non-blocking)
    assert p.poll(20000), "poll timed out"
    a, b = bytearray(5), bytearray(3000)
    n = os.readv(s.fileno(), [a, b])
    assert n > 0
    got += (a + b)[:n]
assert bytes(got) == want * 2, "TCP bytes differ"
s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5)
for _ in range(20):                              # the first datagram may wait for ARP
    u.sendmsg([b"dat", b"agram"], [], 0, ("198.18.32.1", 7001))
    try:
        d, anc, flags, addr = u.recvmsg(100)
        break
    except socket.timeout:
        continue
assert d == b"datagram" and addr == ("198.18.32.1", 7001), (d, addr)
print("python ok")
PY
  in_ns python3 "$tmp/echo.py" >"$tmp/echo.log" 2>&1 &
  on_stack "$tmp/python.log" /usr/bin/python3 "$tmp/client.py"
  tap_up "$tmp/python.log"
  wait "$stack_pid" || fail "the python client on the stack failed"
  stack_pid=""
  grep -q "^python ok$" "$tmp/python.log" || fail "no 'python ok'"
  echo "python on the stack: sendmsg/writev/recvmsg_into/readv/poll over TCP and sendmsg/recvmsg over UDP, bytes equal"
  ;;
nginx | nginx-worker)
  # nginx-worker: the master opens the listeners and forks one worker, which takes the
  # stack over (SHARDTCP_FORK=child); the master gives it up and only supervises.
  master=off
  if [ "$prog" = nginx-worker ]; then
    master=on
    export SHARDTCP_FORK=child
  fi
  mkdir -p "$tmp/www"
  chmod 755 "$tmp" "$tmp/www"  # the worker runs as nobody
  head -c 1048576 /dev/urandom >"$tmp/www/blob.bin"
  echo "small page" >"$tmp/www/index.html"
  cat >"$tmp/nginx.conf" <<CONF
daemon off;
master_process $master;
worker_processes 1;
error_log $tmp/error.log info;
pid $tmp/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  server { listen 198.18.32.2:8081; listen [2001:db8:32::2]:8081; root $tmp/www; }
}
CONF
  on_stack "$tmp/nginx.log" nginx -c "$tmp/nginx.conf"
  tap_up "$tmp/nginx.log"
  wait_port 8081
  for url in http://198.18.32.2:8081/blob.bin http://198.18.32.2:8081/blob.bin \
    "http://[2001:db8:32::2]:8081/blob.bin"; do
    rm -f "$tmp/got.bin"
    in_ns curl -sS --max-time 20 -o "$tmp/got.bin" "$url" || fail "curl $url"
    [ "$(sha "$tmp/got.bin")" = "$(sha "$tmp/www/blob.bin")" ] || fail "sha256 differs ($url)"
  done
  in_ns wrk -t1 -c8 -d2s http://198.18.32.2:8081/index.html >"$tmp/wrk.log" 2>&1 || fail "wrk"
  reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.log")
  grep -q "Socket errors\|Non-2xx" "$tmp/wrk.log" && fail "wrk saw errors: $(cat "$tmp/wrk.log")"
  [ "${reqs:-0}" -ge 100 ] || fail "wrk made only ${reqs:-0} requests"
  kill -0 "$stack_pid" || fail "nginx died"
  # SIGTERM: nginx's handler sets a flag its loop reads once epoll_wait() returns EINTR.
  stop_gracefully nginx
  echo "nginx (master_process $master) on the stack served 1 MiB twice over IPv4 and once over IPv6 (sha256 equal) and $reqs keep-alive requests in 2 s"
  ;;
iperf3)
  # Plain -s: iperf3 listens on [::] with IPV6_V6ONLY off and takes IPv4 clients too
  # (v4-mapped), as on Linux; the IPv6 run reaches the same listener.
  on_stack "$tmp/iperf3-server.log" iperf3 -s -p 5201
  tap_up "$tmp/iperf3-server.log"
  wait_port 5201
  for dir in forward reverse udp forward6; do
    flag=""
    server=198.18.32.2
    [ "$dir" = reverse ] && flag="-R"
    [ "$dir" = udp ] && flag="-u -b 100M"
    [ "$dir" = forward6 ] && server=2001:db8:32::2
    in_ns timeout 30 iperf3 -c $server -p 5201 -t 2 $flag -J >"$tmp/$dir.json" 2>"$tmp/$dir.log" ||
      fail "iperf3 -c $flag: $(head -c 300 "$tmp/$dir.json")"
    python3 - "$tmp/$dir.json" "$dir" <<'PY' || fail "iperf3 $dir report"
import json, sys
r = json.load(open(sys.argv[1]))
if r.get("error"):
    sys.exit("iperf3 error: " + r["error"])
sent = r["end"]["sum_sent"]["bytes"]
got = r["end"]["sum_received"]["bytes"]
# The receiver's count trails the sender's by what was in flight when the test ended.
ok = got > 10 * 1024 * 1024 and got <= sent and got >= 0.95 * sent
print(f"iperf3 {sys.argv[2]}: sent {sent} B, received {got} B, "
      f"{r['end']['sum_received']['bits_per_second'] / 1e6:.0f} Mbit/s")
sys.exit(0 if ok else "bytes do not add up")
PY
  done
  ;;
redis)
  on_stack "$tmp/redis.log" redis-server --bind 198.18.32.2 --port 6379 --save "" --appendonly no \
    --protected-mode no --daemonize no --dir "$tmp" --dbfilename pl.rdb
  tap_up "$tmp/redis.log"
  wait_port 6379
  cli() { in_ns timeout 20 redis-cli -h 198.18.32.2 -p 6379 "$@"; }
  in_ns timeout 60 redis-benchmark -h 198.18.32.2 -p 6379 -t set,get -n 20000 -q >"$tmp/bench.log" 2>&1 ||
    fail "redis-benchmark"
  tr '\r' '\n' <"$tmp/bench.log" | grep -E '^(SET|GET): [0-9.]+ requests per second' >"$tmp/rates.log"
  [ "$(wc -l <"$tmp/rates.log")" = 2 ] || fail "redis-benchmark reported no SET/GET rate"
  cat "$tmp/rates.log"
  # The benchmark's SETs stored its 3-byte value (-d 3, its default) under its key.
  got=$(cli get key:__rand_int__)
  [ "${#got}" = 3 ] || fail "the benchmark's value did not read back: '$got'"
  val=$(head -c 3000 /dev/urandom | base64 -w0)
  [ "$(cli set plkey "$val")" = OK ] || fail "SET"
  [ "$(cli get plkey)" = "$val" ] || fail "GET of a 4 KiB value"
  # BGSAVE forks: the child writes the file and exits; the parent serves throughout.
  [ "$(cli bgsave)" = "Background saving started" ] || fail "BGSAVE"
  for _ in $(seq 100); do
    cli info persistence | grep -q 'rdb_bgsave_in_progress:0' && break
    sleep 0.1
  done
  cli info persistence | grep -q 'rdb_last_bgsave_status:ok' || fail "BGSAVE status"
  [ -s "$tmp/pl.rdb" ] || fail "no RDB file from the forked child"
  [ "$(cli get plkey)" = "$val" ] || fail "GET after the fork"
  kill -0 "$stack_pid" || fail "redis-server died"
  stop_gracefully redis-server
  echo "redis on the stack: benchmark values and a 4 KiB value read back, BGSAVE's child ran"
  ;;
esac
echo "$prog passed in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
