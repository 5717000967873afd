#!/usr/bin/env bash
# The main job, end to end: installs and builds, then starts shardtcp on a TAP device
# inside a network namespace it creates and has the Linux kernel in that namespace
# talk to it: ARP and ping, TCP and UDP echo both ways over IPv4 and IPv6 (one
# `--listen` port serving both families), the plain C programs on <sockets.h>,
# neighbour discovery and ping of the stack's global and link-local IPv6 addresses,
# decoded captures, and a short benchmark against the kernel. Cleans up after itself.
#
#   scripts/demo.sh [--no-setup] [--no-bench] [--bytes SIZE]
#     --no-setup   skip scripts/setup.sh and the build (scripts/test.sh did both)
#     --no-bench   leave out the closing benchmark
#     --bytes SIZE bytes per echo connection (default 100m)
#
# Every step waits for the condition it needs (the app's "ready", a kernel server
# listening, an IPv6 address past duplicate address detection, the stack answering),
# never for a fixed time; a step that fails says which and shows the app's log.
set -euo pipefail
cd "$(dirname "$0")/.."

setup=1 bench=1 demo_bytes=${SHARDTCP_DEMO_BYTES:-100m}
while [ $# -gt 0 ]; do
  case "$1" in
    --no-setup) setup=0; shift ;;
    --no-bench) bench=0; shift ;;
    --bytes) demo_bytes=$2; shift 2 ;;
    *) echo "demo: unknown option $1 (--no-setup, --no-bench, --bytes SIZE)" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then echo "demo: run as root (namespaces, TAP, hugepages)" >&2; exit 1; fi
if [ $setup -eq 1 ]; then
  scripts/setup.sh
  scripts/build.sh debug >/dev/null
fi
bytes=$(numfmt --from=iec "${demo_bytes^^}")

apps=build/apps
peer=test/interop/tcp_echo_peer.py
udp_peer=test/interop/udp_echo_peer.py
ns=shardtcp-demo-$$
tap=stdemo$$
tap=${tap:0:15}
work=$(mktemp -d /tmp/shardtcp-demo-XXXXXX)
log=$work/app.log
pid=
peers=()
keep=${SHARDTCP_DEMO_KEEP:-1}  # 0: remove the captures too
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  for p in "${peers[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  # Whatever else still runs in the namespace (nothing should) goes with it.
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -f "$log"
  [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "demo: FAILED: $*" >&2
  if [ -s "$log" ]; then
    echo "---- the app's log (last 60 lines) ----" >&2
    tail -n 60 "$log" >&2
  fi
  exit 1
}
# wait_until SECONDS WHAT COMMAND...: polls COMMAND until it succeeds.
wait_until() {
  local end=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "timed out waiting for $what"
    sleep 0.05
  done
}
# wait_app PATTERN WHAT [SECONDS]: waits for a line of the running app's output.
wait_app() {
  local end=$((SECONDS + ${3:-60}))
  until grep -q -- "$1" "$log"; do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; pid=; fail "the app exited before $2"; }
    [ $SECONDS -lt $end ] || fail "timed out waiting for $2"
    sleep 0.05
  done
}
in_ns() { ip netns exec "$ns" "$@"; }
kernel_listens() {  # kernel_listens tcp|udp PORT
  in_ns ss -H -l -n "--$1" "sport = :$2" | grep -q .
}
# start_peer tcp|udp PORT SCRIPT: a kernel echo server (IPv4 and IPv6), once listening.
start_peer() {
  ip netns exec "$ns" python3 "$3" server --port "$2" --timeout 120 >/dev/null 2>&1 &
  peers+=($!)
  wait_until 30 "the kernel's $1 echo server on port $2" kernel_listens "$1" "$2"
}
# The TAP PMD gives the kernel side the stack's MAC; the kernel side gets its own MAC
# and addresses, added without DAD (the namespace generates no link-local addresses
# of its own: one derived from the shared MAC would be the stack's, and the two DAD
# probes would fight over it).
tap_up() { in_ns ip link show dev "$tap" up | grep -q UP; }
tap_gone() { ! in_ns ip link show dev "$tap"; }
kernel_side_up() {
  # The app brings its TAP up once it has configured it (MAC included).
  wait_until 30 "the TAP $tap to come up" tap_up
  in_ns ip link set "$tap" address 02:4b:45:52:4e:01 2>/dev/null &&
    in_ns ip addr replace 198.18.0.1/24 dev "$tap" &&
    in_ns ip -6 addr replace fe80::4b:45ff:fe52:4e01/64 dev "$tap" nodad &&
    in_ns ip -6 addr replace 2001:db8::1/64 dev "$tap" nodad &&
    in_ns ip link set "$tap" up && return 0
  # An app that already finished took its TAP with it: its exit status and output tell
  # (finish_app) whether it did its job. A client may finish while the lines above run
  # (once the IPv4 address is there); until it is reaped, kill -0 still finds it, so
  # the TAP's absence says it too.
  if tap_gone || ! kill -0 "$pid" 2>/dev/null; then return 0; fi
  fail "could not configure the kernel side of $tap"
}
eal=(--no-pci -l 0 --file-prefix "demo$$" --vdev "net_tap0,iface=$tap")
if [ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)" -gt 64 ]; then
  eal+=(--in-memory)
else
  eal+=(--no-huge --no-shconf -m 512)
fi
# start_app ready|port BINARY ARGS...: runs an app on the TAP in the namespace, waits for
# its "ready" (or, for the <sockets.h> client that prints none, for the library's line
# saying the port is up) and brings the kernel side up.
start_app() {
  local wait_for=$1 bin=$2
  shift 2
  : >"$log"
  # Not through in_ns: $! must be the app itself (ip netns exec execs it), not a
  # subshell, so that signals reach it.
  ip netns exec "$ns" "$bin" "${eal[@]}" -- "$@" >"$log" 2>&1 &
  pid=$!
  if [ "$wait_for" = port ]; then
    wait_app '^shardtcp: port 0 .*link up' "$(basename "$bin") to bring its port up"
  else
    wait_app '^ready' "$(basename "$bin") to say ready"
  fi
  kernel_side_up
}
# finish_app WHAT: waits for the app to end by itself; fails unless it exited 0.
# The kernel removes an app's TAP a little after the app exits: the next app's TAP
# must not be mistaken for it.
finish_app() {
  local rc=0
  wait "$pid" || rc=$?
  pid=
  [ $rc -eq 0 ] || fail "$1 exited with status $rc"
  wait_until 30 "the TAP $tap to go" tap_gone
}
stop_app() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
  wait_until 30 "the TAP $tap to go" tap_gone
}
stack_answers() { in_ns ping "$@" -n -c 1 -W 1; }
# The app's own lines, without DPDK's start-up chatter, counters that stayed 0, and
# (with "brief") without the counters at all.
show_log() {
  local out
  out=$(grep -v '^EAL\|^tap_\|^qdisc\|^eth_dev_tap\|^TELEMETRY\|^USER1\|^ready' "$log" | grep -v ' 0$' || true)
  if [ "${1:-}" = brief ]; then out=$(grep -v '^counters\|^[a-z_0-9]*\.[A-Za-z_0-9]* ' <<<"$out" || true); fi
  [ -z "$out" ] || echo "$out"
}
# check_capture FILE FILTER: prints the decoded frames; fails on malformed ones.
check_capture() {
  tshark -r "$1" -Y "$2" 2>/dev/null | head -40
  local bad
  bad=$(tshark -r "$1" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE \
    -Y '_ws.malformed || _ws.expert.severity >= "Error" || icmpv6.checksum.status == "Bad"' 2>/dev/null | wc -l)
  echo "== malformed or bad-checksum frames in the capture: $bad"
  [ "$bad" -eq 0 ] || fail "the capture $1 holds $bad malformed or bad-checksum frames"
}

ip netns add "$ns"
in_ns ip link set lo up
in_ns sysctl -qw net.ipv6.conf.default.addr_gen_mode=1
in_ns sysctl -qw net.ipv6.conf.default.accept_dad=0

# ---------------------------------------------------------------- ARP and ping
echo "== starting shardtcp-host on $tap in namespace $ns (stack 198.18.0.2/24, kernel 198.18.0.1/24)"
pcap=$work/ipv4.pcapng
start_app ready "$apps/shardtcp-host" --ip 198.18.0.2/24 --pcap "$pcap" \
  --ping 198.18.0.1 --count 5 --interval-ms 200 --wait-signal
echo "== the kernel pings the stack"
in_ns ping -n -c 5 -i 0.2 -w 20 198.18.0.2 || fail "the kernel's pings to 198.18.0.2 went unanswered"
echo "== the kernel's neighbour table (ARP resolved the stack)"
in_ns ip neigh show dev "$tap"
echo "== the stack pings the kernel, then prints its counters"
kill -USR1 "$pid"
finish_app "shardtcp-host --ping 198.18.0.1"
show_log
echo "== the capture, decoded by tshark ($pcap)"
check_capture "$pcap" 'arp || icmp'

# ---------------------------------------------------------------- echo
# shardtcp-echo against Linux's TCP and UDP: the kernel's clients (python sockets)
# echoing through `shardtcp-echo --listen`, over IPv4 and IPv6 to the same port, then
# `shardtcp-echo --connect` against kernel echo servers.
echo
echo "== shardtcp-echo --ip 198.18.0.2/24 --ip 2001:db8::2/64 --listen 7: kernel clients send $demo_bytes on each of 2 connections over IPv4 and 2 over IPv6, at once"
start_app ready "$apps/shardtcp-echo" --ip 198.18.0.2/24 --ip 2001:db8::2/64 --listen 7
wait_until 30 "the stack to answer ping on 2001:db8::2 (past DAD)" stack_answers -6 2001:db8::2
in_ns python3 "$peer" client --host 198.18.0.2 --port 7 --conns 2 --bytes "$bytes" &
v4=$!
in_ns python3 "$peer" client --host 2001:db8::2 --port 7 --conns 2 --bytes "$bytes" &
v6=$!
rc4=0 rc6=0
wait $v4 || rc4=$?
wait $v6 || rc6=$?
stop_app
show_log brief
[ $rc4 -eq 0 ] || fail "the kernel's IPv4 echo client failed ($rc4)"
[ $rc6 -eq 0 ] || fail "the kernel's IPv6 echo client failed ($rc6)"

echo "== the kernel's UDP clients: 1000 datagrams each over IPv4 and IPv6, echoed by shardtcp-echo --listen 7 --udp"
start_app ready "$apps/shardtcp-echo" --ip 198.18.0.2/24 --ip 2001:db8::2/64 --listen 7 --udp
wait_until 30 "the stack to answer ping on 2001:db8::2 (past DAD)" stack_answers -6 2001:db8::2
in_ns python3 "$udp_peer" client --host 198.18.0.2 --port 7 --count 1000 --size 1200 ||
  fail "the kernel's IPv4 UDP client failed"
in_ns python3 "$udp_peer" client --host 2001:db8::2 --port 7 --count 1000 --size 1200 ||
  fail "the kernel's IPv6 UDP client failed"
stop_app
show_log brief

echo
echo "== shardtcp-echo --connect 198.18.0.1:7007 --bytes $demo_bytes --conns 2 against a kernel echo server"
start_peer tcp 7007 "$peer"
start_peer udp 7008 "$udp_peer"
start_app ready "$apps/shardtcp-echo" --ip 198.18.0.2/24 --connect 198.18.0.1:7007 \
  --bytes "$demo_bytes" --conns 2 --wait-signal --timeout 120
kill -USR1 "$pid"
finish_app "shardtcp-echo --connect 198.18.0.1:7007"
show_log
echo "== shardtcp-echo --udp --connect 198.18.0.1:7008 --bytes 8m --conns 2 against a kernel UDP echo server"
start_app ready "$apps/shardtcp-echo" --ip 198.18.0.2/24 --udp --connect 198.18.0.1:7008 \
  --bytes 8m --conns 2 --datagram 1400 --wait-signal --timeout 60 --quiet
kill -USR1 "$pid"
finish_app "shardtcp-echo --udp --connect 198.18.0.1:7008"
show_log
echo "== echo demo done"

# ---------------------------------------------------------------- <sockets.h>
# The plain C programs written against the TargetTCP-style API.
echo
echo "== <sockets.h>: apps/echo-server.c (plain C, select()) echoes the kernel's client"
start_app ready "$apps/echo-server" --ip 198.18.0.2/24 --port 7 --duration 60
in_ns python3 "$peer" client --host 198.18.0.2 --port 7 --conns 2 --bytes 1048576 ||
  fail "the kernel's client through echo-server failed"
stop_app
echo "== <sockets.h>: apps/echo-client.c (the manual's connect() example) against a kernel echo server"
start_peer tcp 7010 "$peer"
start_app port "$apps/echo-client" --ip 198.18.0.2/24 --server 198.18.0.1 --port 7010 \
  --attempts 20 --message "hello from the manual's example"
finish_app "echo-client"
grep '^Echo' "$log" || fail "echo-client printed no echo"

# ---------------------------------------------------------------- IPv6
# The stack with an IPv6 address: it runs duplicate address detection for its global
# and (EUI-64) link-local addresses, Linux resolves both with neighbour discovery and
# pings them, the stack pings Linux, then shardtcp-echo connects to a kernel echo
# server over IPv6.
echo
echo "== IPv6: shardtcp-host --ip 2001:db8::2/64 (kernel 2001:db8::1/64)"
pcap6=$work/ipv6.pcapng
start_app ready "$apps/shardtcp-host" --ip 2001:db8::2/64 --pcap "$pcap6" \
  --ping 2001:db8::1 --count 5 --interval-ms 200 --wait-signal
wait_app '^ipv6 address fe80:.* \(usable\|duplicate\)' "DAD of the stack's link-local address" 30
wait_app '^ipv6 address 2001:db8::2/.* \(usable\|duplicate\)' "DAD of 2001:db8::2" 30
grep '^ipv6 address' "$log"
if grep -q '^ipv6 address.*duplicate' "$log"; then fail "an IPv6 address of the stack failed DAD"; fi
# The stack's link-local address (fe80:: + the modified EUI-64 of its MAC), as it says.
stack_ll=$(sed -n 's|^ipv6 address \(fe80:[^/]*\)/.*|\1|p' "$log")
echo "== the kernel pings the stack's global address"
in_ns ping -6 -n -c 5 -i 0.2 -w 20 2001:db8::2 || fail "the kernel's pings to 2001:db8::2 went unanswered"
echo "== the kernel pings the stack's link-local address $stack_ll"
in_ns ping -6 -n -c 5 -i 0.2 -w 20 "$stack_ll%$tap" || fail "the kernel's pings to $stack_ll went unanswered"
echo "== the kernel's neighbour table (neighbour discovery resolved both addresses)"
in_ns ip -6 neigh show dev "$tap"
echo "== the stack pings the kernel, then prints its IPv6 counters"
kill -USR1 "$pid"
finish_app "shardtcp-host --ping 2001:db8::1"
grep 'bytes from\|packets transmitted' "$log" || true
grep '^ *\(ipv6\|icmp6\|ndp\)\.' "$log" | grep -v ' 0$' || true
echo "== the IPv6 capture, decoded by tshark ($pcap6)"
check_capture "$pcap6" 'icmpv6'

echo "== shardtcp-echo --ip 2001:db8::2/64 --connect [2001:db8::1]:7011 --bytes 8m against a kernel echo server"
start_peer tcp 7011 "$peer"
start_app ready "$apps/shardtcp-echo" --ip 2001:db8::2/64 --connect "[2001:db8::1]:7011" \
  --bytes 8m --conns 1 --wait-signal --timeout 60
wait_until 30 "the stack to answer ping on 2001:db8::2 (past DAD)" stack_answers -6 2001:db8::2
kill -USR1 "$pid"
finish_app "shardtcp-echo --connect [2001:db8::1]:7011"
show_log brief
echo "== IPv6 demo done"
echo "== demo done"
[ "$keep" != 1 ] || echo "captures kept in $work"

# ---------------------------------------------------------------- bench
# A quick comparison with the kernel (the full run: sudo scripts/bench.sh).
if [ $bench -eq 1 ]; then
  echo
  echo "== scripts/bench.sh --quick --seconds 2: shardtcp against the kernel (debug build)"
  bench_out=$(mktemp -d /tmp/shardtcp-demo-bench.XXXXXX)
  scripts/bench.sh --quick --seconds 2 --no-setup --no-build --no-wrk --bin build/apps/perf \
    --out "$bench_out" | grep -v '^bench: rep'
  rm -rf "$bench_out"
fi
