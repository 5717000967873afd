#include "wire/ethernet.h"

namespace shardtcp {

std::size_t emit_ethernet(std::uint8_t* buf, std::size_t cap, const EthernetHeader& h) {
  if (buf == nullptr || cap < EthernetView::kHeaderLen) return 0;
  std::memcpy(buf + offsetof(rte_ether_hdr, dst_addr), h.dst.addr_bytes, RTE_ETHER_ADDR_LEN);
  std::memcpy(buf + offsetof(rte_ether_hdr, src_addr), h.src.addr_bytes, RTE_ETHER_ADDR_LEN);
  const rte_be16_t be = rte_cpu_to_be_16(h.ether_type);
  std::memcpy(buf + offsetof(rte_ether_hdr, ether_type), &be, sizeof(be));
  return EthernetView::kHeaderLen;
}

rte_ether_addr ipv4_multicast_mac(std::uint32_t group_be) {
  const auto* g = reinterpret_cast<const std::uint8_t*>(&group_be);
  return rte_ether_addr{{0x01, 0x00, 0x5e, static_cast<std::uint8_t>(g[1] & 0x7f), g[2], g[3]}};
}

}  // namespace shardtcp
