# veth_pair_up SERVER_NS CLIENT_NS IFACE_PREFIX SERVER_ADDR CLIENT_ADDR: two new network
# namespaces joined by a veth pair (IFACE_PREFIX"0" in the server's, "1" in the
# client's), the addresses on them (/24), loopback and both ends up. Sourced by the
# kernel sides of bench/pairs.sh, bench/wrk.sh and bench/preload.sh. Needs root.
veth_pair_up() {
  local s=$1 c=$2 v=$3
  ip netns add "$s"
  ip netns add "$c"
  ip link add "${v}0" netns "$s" type veth peer name "${v}1" netns "$c"
  ip -n "$s" addr add "$4/24" dev "${v}0"
  ip -n "$c" addr add "$5/24" dev "${v}1"
  ip -n "$s" link set lo up
  ip -n "$c" link set lo up
  ip -n "$s" link set "${v}0" up
  ip -n "$c" link set "${v}1" up
}
