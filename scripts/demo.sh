#!/usr/bin/env bash
# The main job, end to end: installs and builds, then starts shardtcp on a TAP device
# inside a network namespace it creates, lets the Linux kernel in that namespace
# resolve it with ARP and ping it, has the stack ping the kernel, prints what happened
# (kernel's view, stack's counters, a decoded capture) and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then echo "demo: run as root (namespaces, TAP, hugepages)" >&2; exit 1; fi
scripts/setup.sh
scripts/build.sh debug >/dev/null
host=build/apps/shardtcp-host

ns=shardtcp-demo-$$
tap=stdemo0
pcap=$(mktemp /tmp/shardtcp-demo-XXXXXX.pcapng)
log=$(mktemp /tmp/shardtcp-demo-XXXXXX.log)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  ip netns del "$ns" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

eal=(--no-pci -l 0 --file-prefix "demo$$" --vdev "net_tap0,iface=$tap")
if [ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)" -gt 64 ]; then
  eal+=(--in-memory)
else
  eal+=(--no-huge --no-shconf -m 512)
fi

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
echo "== starting shardtcp on $tap in namespace $ns (stack 198.18.0.2/24, kernel 198.18.0.1/24)"
ip netns exec "$ns" "$host" "${eal[@]}" -- --ip 198.18.0.2/24 --pcap "$pcap" \
  --ping 198.18.0.1 --ping-delay-ms 2500 --count 5 --interval-ms 200 >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^ready' "$log" && break; sleep 0.1; done
grep -q '^ready' "$log" || { cat "$log"; echo "demo: the stack did not come up"; exit 1; }
# The TAP PMD gives both sides one MAC; give the kernel side its own.
ip netns exec "$ns" ip link set "$tap" address 02:4b:45:52:4e:01
ip netns exec "$ns" ip addr add 198.18.0.1/24 dev "$tap"
ip netns exec "$ns" ip link set "$tap" up

echo "== the kernel pings the stack"
ip netns exec "$ns" ping -n -c 5 -i 0.2 198.18.0.2
echo "== the kernel's neighbour table (ARP resolved the stack)"
ip netns exec "$ns" ip neigh show dev "$tap"
echo "== the stack pings the kernel, then prints its counters"
wait "$pid"; pid=
grep -v '^EAL\|^tap_\|^qdisc\|^eth_dev_tap\|^TELEMETRY\|^USER1' "$log" | grep -v ' 0$'
echo "== the capture, decoded by tshark ($pcap)"
tshark -r "$pcap" -Y 'arp || icmp' 2>/dev/null
bad=$(tshark -r "$pcap" -o ip.check_checksum:TRUE -Y '_ws.malformed || _ws.expert.severity >= "Error"' 2>/dev/null | wc -l)
echo "== malformed or bad-checksum frames in the capture: $bad"

# ---------------------------------------------------------------- echo
# shardtcp-echo against Linux's TCP and UDP in the same namespace: the kernel's client
# (python sockets) echoing through `shardtcp-echo --listen`, then `shardtcp-echo
# --connect` against a kernel echo server (python), each with its throughput line.
echo_app=build/apps/shardtcp-echo
peer=test/interop/tcp_echo_peer.py
udp_peer=test/interop/udp_echo_peer.py
demo_bytes=${SHARDTCP_DEMO_BYTES:-100m}
pypid=
echo_cleanup() {
  if [ -n "$pypid" ]; then kill "$pypid" 2>/dev/null || true; wait "$pypid" 2>/dev/null || true; fi
  cleanup
}
trap echo_cleanup EXIT

# Starts shardtcp-echo with the given options on the TAP (the previous app took its
# TAP with it) and brings the kernel side up once it says "ready".
start_echo() {
  : >"$log"
  ip netns exec "$ns" "$echo_app" "${eal[@]}" -- --ip 198.18.0.2/24 "$@" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q '^ready' "$log" && break; sleep 0.1; done
  grep -q '^ready' "$log" || { cat "$log"; echo "demo: shardtcp-echo did not come up"; exit 1; }
  ip netns exec "$ns" ip link set "$tap" address 02:4b:45:52:4e:01
  ip netns exec "$ns" ip addr add 198.18.0.1/24 dev "$tap"
  ip netns exec "$ns" ip link set "$tap" up
}
# The app's own lines and its non-zero counters, without DPDK's start-up chatter.
show_echo_log() {
  grep -v '^EAL\|^tap_\|^qdisc\|^eth_dev_tap\|^TELEMETRY\|^USER1\|^ready' "$log" | grep -v ' 0$' || true
}

echo
echo "== shardtcp-echo --listen 7: the kernel's client sends $demo_bytes on each of 2 connections through it"
start_echo --listen 7
ip netns exec "$ns" python3 "$peer" client --host 198.18.0.2 --port 7 --conns 2 \
  --bytes "$(numfmt --from=iec "${demo_bytes^^}")"
kill -TERM "$pid" || true; wait "$pid" || true; pid=
show_echo_log | grep -v '^counters\|^[a-z_0-9]*\.[A-Za-z_0-9]* ' || true
echo "== the kernel's UDP client: 2000 datagrams echoed by shardtcp-echo --listen 7 --udp"
start_echo --listen 7 --udp
ip netns exec "$ns" python3 "$udp_peer" client --host 198.18.0.2 --port 7 --count 2000 --size 1200
kill -TERM "$pid" || true; wait "$pid" || true; pid=
show_echo_log | grep -v '^counters\|^[a-z_0-9]*\.[A-Za-z_0-9]* ' || true

echo
echo "== shardtcp-echo --connect 198.18.0.1:7007 --bytes $demo_bytes --conns 2 against a kernel echo server"
ip netns exec "$ns" python3 "$peer" server --port 7007 --timeout 120 >/dev/null 2>&1 &
pypid=$!
ip netns exec "$ns" python3 "$udp_peer" server --port 7008 --timeout 120 >/dev/null 2>&1 &
udppid=$!
start_echo --connect 198.18.0.1:7007 --bytes "$demo_bytes" --conns 2 --start-delay-ms 500 --timeout 120
rc=0; wait "$pid" || rc=$?; pid=
show_echo_log
[ "$rc" -eq 0 ] || { echo "demo: shardtcp-echo --connect failed ($rc)"; exit 1; }
echo "== shardtcp-echo --udp --connect 198.18.0.1:7008 --bytes 8m --conns 2 against a kernel UDP echo server"
start_echo --udp --connect 198.18.0.1:7008 --bytes 8m --conns 2 --datagram 1400 --start-delay-ms 500 \
  --timeout 60 --quiet
rc=0; wait "$pid" || rc=$?; pid=
show_echo_log
kill "$udppid" 2>/dev/null; wait "$udppid" 2>/dev/null || true
[ "$rc" -eq 0 ] || { echo "demo: shardtcp-echo --udp --connect failed ($rc)"; exit 1; }
echo "== echo demo done"

# <sockets.h>: the plain C programs written against the TargetTCP-style API.
echo
echo "== <sockets.h>: apps/echo-server.c (plain C, select()) echoes the kernel's client"
echo_app=build/apps/echo-server
start_echo --port 7 --duration 60
ip netns exec "$ns" python3 "$peer" client --host 198.18.0.2 --port 7 --conns 2 --bytes 1048576
kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=
echo "== <sockets.h>: apps/echo-client.c (the manual's connect() example) against a kernel echo server"
ip netns exec "$ns" python3 "$peer" server --port 7010 --timeout 60 >/dev/null 2>&1 &
pypid=$!
: >"$log"
ip netns exec "$ns" build/apps/echo-client "${eal[@]}" -- --ip 198.18.0.2/24 \
  --server 198.18.0.1 --port 7010 --attempts 20 --message "hello from the manual's example" >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do ip netns exec "$ns" ip link show "$tap" >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec "$ns" ip link set "$tap" address 02:4b:45:52:4e:01
ip netns exec "$ns" ip addr add 198.18.0.1/24 dev "$tap"
ip netns exec "$ns" ip link set "$tap" up
rc=0; wait "$pid" || rc=$?; pid=
grep '^Echo' "$log" || true
[ "$rc" -eq 0 ] || { cat "$log"; echo "demo: echo-client failed ($rc)"; exit 1; }
# ---------------------------------------------------------------- IPv6
# The same stack with an IPv6 address: Linux resolves it with neighbour discovery and
# pings its global and (EUI-64) link-local addresses, the stack pings Linux, then
# shardtcp-echo connects to a kernel echo server over IPv6.
v6_kernel_up() {
  # The TAP PMD gives both sides one MAC, and the kernel already made its link-local
  # address from it (the stack's own): the kernel side gets its own MAC and address.
  for _ in $(seq 100); do ip netns exec "$ns" ip link show "$tap" >/dev/null 2>&1 && break; sleep 0.1; done
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$tap.accept_dad=0"
  ip netns exec "$ns" ip link set "$tap" address 02:4b:45:52:4e:01
  ip netns exec "$ns" ip -6 addr flush dev "$tap" scope link
  ip netns exec "$ns" ip -6 addr replace fe80::4b:45ff:fe52:4e01/64 dev "$tap" nodad
  ip netns exec "$ns" ip -6 addr replace 2001:db8::1/64 dev "$tap" nodad
  ip netns exec "$ns" ip link set "$tap" up
}
echo
echo "== IPv6: shardtcp-host --ip 2001:db8::2/64 (kernel 2001:db8::1/64)"
pcap6=$(mktemp /tmp/shardtcp-demo6-XXXXXX.pcapng)
: >"$log"
ip netns exec "$ns" "$host" "${eal[@]}" -- --ip 2001:db8::2/64 --pcap "$pcap6" \
  --ping 2001:db8::1 --ping-delay-ms 4000 --count 5 --interval-ms 200 >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^ready' "$log" && break; sleep 0.1; done
grep -q '^ready' "$log" || { cat "$log"; echo "demo: the stack did not come up"; exit 1; }
# The stack's link-local address: fe80:: + modified EUI-64 of the DPDK side's MAC.
stack_mac=$(ip netns exec "$ns" cat "/sys/class/net/$tap/address")
stack_ll=$(python3 -c "
import ipaddress, sys
m = [int(x, 16) for x in sys.argv[1].split(':')]
eui = bytes([m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]])
print(ipaddress.IPv6Address(bytes([0xfe, 0x80] + [0] * 6) + eui))" "$stack_mac")
v6_kernel_up
echo "== the kernel pings the stack's global address"
ip netns exec "$ns" ping -6 -n -c 5 -i 0.2 2001:db8::2
echo "== the kernel pings the stack's link-local address $stack_ll"
ip netns exec "$ns" ping -6 -n -c 5 -i 0.2 "$stack_ll%$tap"
echo "== the kernel's neighbour table (neighbour discovery resolved the stack)"
ip netns exec "$ns" ip -6 neigh show dev "$tap"
echo "== the stack pings the kernel, then prints its IPv6 counters"
wait "$pid"; pid=
grep 'bytes from\|packets transmitted' "$log" || true
grep '^ *\(ipv6\|icmp6\|ndp\)\.' "$log" | grep -v ' 0$' || true
echo "== the IPv6 capture, decoded by tshark ($pcap6)"
tshark -r "$pcap6" -Y 'icmpv6' 2>/dev/null | head -30
bad6=$(tshark -r "$pcap6" -Y '_ws.malformed || _ws.expert.severity >= "Error" || icmpv6.checksum.status == "Bad"' 2>/dev/null | wc -l)
echo "== malformed or bad-checksum frames in the IPv6 capture: $bad6"

echo "== shardtcp-echo --ip 2001:db8::2/64 --connect [2001:db8::1]:7011 --bytes 8m against a kernel IPv6 echo server"
: >"$log"
ip netns exec "$ns" build/apps/shardtcp-echo "${eal[@]}" -- --ip 2001:db8::2/64 \
  --connect "[2001:db8::1]:7011" --bytes 8m --conns 1 --start-delay-ms 1500 --timeout 60 >"$log" 2>&1 &
pid=$!
v6_kernel_up
# The server binds the kernel's address, so it starts once the address is there.
ip netns exec "$ns" python3 test/interop/ipv6_echo_server.py 2001:db8::1 7011 1 60 >/dev/null 2>&1 &
pypid=$!
rc=0; wait "$pid" || rc=$?; pid=
show_echo_log | grep -v '^counters\|^[a-z_0-9]*\.[A-Za-z_0-9]* ' || true
[ "$rc" -eq 0 ] || { cat "$log"; echo "demo: shardtcp-echo over IPv6 failed ($rc)"; exit 1; }
echo "== IPv6 demo done"

echo "== demo done"

# ---------------------------------------------------------------- bench
# A quick comparison with the kernel (the full run: sudo scripts/bench.sh).
echo
echo "== scripts/bench.sh --quick --seconds 2: shardtcp against the kernel (debug build)"
bench_out=$(mktemp -d /tmp/shardtcp-demo-bench.XXXXXX)
scripts/bench.sh --quick --seconds 2 --no-setup --no-build --no-wrk --bin build/apps/perf \
  --out "$bench_out" | grep -v '^bench: rep'
rm -rf "$bench_out"
