#include "engine/flow_ownership.h"

#include <rte_ip.h>
#include <rte_thash.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace shardtcp {

namespace {

bool power_of_two(std::size_t n) {
  return n != 0 && (n & (n - 1)) == 0;
}

// rte_thash_load_v6_addrs reads the addresses from an IPv6 header.
void load_v6(const IpAddr& src, const IpAddr& dst, rte_thash_tuple* t) {
  rte_ipv6_hdr h{};
  std::memcpy(h.src_addr, src.bytes(), 16);
  std::memcpy(h.dst_addr, dst.bytes(), 16);
  rte_thash_load_v6_addrs(&h, t);
}

}  // namespace

const FlowOwnership::Key& FlowOwnership::default_key() {
  static const Key key = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
                          0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
                          0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
                          0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
  return key;
}

FlowOwnership::FlowOwnership(std::uint16_t engines, std::uint16_t reta_size, const Key& key)
    : engines_(std::max<std::uint16_t>(engines, 1)), reta_(reta_size), key_(key) {
  if (!power_of_two(reta_size)) throw std::invalid_argument("RETA size must be a power of two");
  for (std::size_t i = 0; i < reta_.size(); ++i)
    reta_[i] = static_cast<std::uint16_t>(i % engines_);
}

FlowOwnership::FlowOwnership(std::uint16_t engines, std::vector<std::uint16_t> reta, const Key& key)
    : engines_(std::max<std::uint16_t>(engines, 1)), reta_(std::move(reta)), key_(key) {
  if (!power_of_two(reta_.size())) throw std::invalid_argument("RETA size must be a power of two");
  for (std::uint16_t& e : reta_)
    if (e >= engines_) throw std::invalid_argument("RETA entry names a missing engine");
}

std::uint32_t FlowOwnership::hash(const IpAddr& src, std::uint16_t sport, const IpAddr& dst,
                                  std::uint16_t dport) const {
  rte_thash_tuple t{};
  if (src.is_v6()) {
    load_v6(src, dst, &t);
    t.v6.sport = sport;
    t.v6.dport = dport;
    return rte_softrss(reinterpret_cast<std::uint32_t*>(&t.v6), RTE_THASH_V6_L4_LEN, key_.data());
  }
  t.v4.src_addr = src.v4_host();
  t.v4.dst_addr = dst.v4_host();
  t.v4.sport = sport;
  t.v4.dport = dport;
  return rte_softrss(reinterpret_cast<std::uint32_t*>(&t.v4), RTE_THASH_V4_L4_LEN, key_.data());
}

std::uint32_t FlowOwnership::hash_l3(const IpAddr& src, const IpAddr& dst) const {
  rte_thash_tuple t{};
  if (src.is_v6()) {
    load_v6(src, dst, &t);
    return rte_softrss(reinterpret_cast<std::uint32_t*>(&t.v6), RTE_THASH_V6_L3_LEN, key_.data());
  }
  t.v4.src_addr = src.v4_host();
  t.v4.dst_addr = dst.v4_host();
  return rte_softrss(reinterpret_cast<std::uint32_t*>(&t.v4), RTE_THASH_V4_L3_LEN, key_.data());
}

}  // namespace shardtcp
