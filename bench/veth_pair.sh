# Namespaces joined by a veth pair, for the kernel sides of bench/pairs.sh, bench/wrk.sh
# and bench/preload.sh, and for the stack's kernel clients. Sourced. Needs root.

# veth_namespaces NS0 NS1 IFACE_PREFIX: two new namespaces, IFACE_PREFIX"0" in NS0 and
# IFACE_PREFIX"1" in NS1, loopback and both ends up (no addresses).
veth_namespaces() {
  local s=$1 c=$2 v=$3
  ip netns add "$s"
  ip netns add "$c"
  ip link add "${v}0" netns "$s" type veth peer name "${v}1" netns "$c"
  ip -n "$s" link set lo up
  ip -n "$c" link set lo up
  ip -n "$s" link set "${v}0" up
  ip -n "$c" link set "${v}1" up
}

# veth_pair_up SERVER_NS CLIENT_NS IFACE_PREFIX SERVER_ADDR CLIENT_ADDR: the kernel on
# both ends, the addresses on them (/24).
veth_pair_up() {
  veth_namespaces "$1" "$2" "$3"
  ip -n "$1" addr add "$4/24" dev "${3}0"
  ip -n "$2" addr add "$5/24" dev "${3}1"
}

# stack_veth_up STACK_NS CLIENT_NS IFACE_PREFIX CLIENT_ADDR: the stack on the first end,
# a kernel client on the other. The stack's end has no address: a DPDK net_af_packet
# port reads and writes it through PACKET_MMAP rings (a poll of shared memory to
# receive, one send() a burst to transmit), where net_tap costs a read() or write() a
# frame (wrk keep-alive against shardtcp-httpd, same run: 86k req/s this way, 10k
# through a TAP). The kernel of STACK_NS drops what it also sees on that end (no
# address, no forwarding, IPv6 off). The client's end computes its own checksums: veth
# would leave them to an offload that a packet socket never completes. Prints the
# --vdev value for the stack. Needs ethtool.
stack_veth_up() {
  veth_namespaces "$1" "$2" "$3"
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$2" addr add "$4/24" dev "${3}1"
  ip netns exec "$2" ethtool -K "${3}1" tx off >/dev/null
  echo "net_af_packet0,iface=${3}0,qpairs=1,blocksz=4096,framesz=2048,framecnt=4096,qdisc_bypass=1"
}
