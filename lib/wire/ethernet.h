// Ethernet II header: a length-checked view over received bytes and an emitter.
// Fields are read with memcpy at rte_ether_hdr offsets, so the view works on any
// alignment (test arrays, odd offsets) without bitfields or casts on wire memory.
#pragma once

#include <rte_byteorder.h>
#include <rte_ether.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

namespace shardtcp {

inline constexpr std::uint16_t kEtherTypeIpv4 = RTE_ETHER_TYPE_IPV4;
inline constexpr std::uint16_t kEtherTypeArp = RTE_ETHER_TYPE_ARP;
inline constexpr std::uint16_t kEtherTypeIpv6 = RTE_ETHER_TYPE_IPV6;
inline constexpr std::uint16_t kEtherTypeVlan = RTE_ETHER_TYPE_VLAN;

inline constexpr rte_ether_addr kBroadcastMac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

inline bool mac_equal(const rte_ether_addr& a, const rte_ether_addr& b) {
  return rte_is_same_ether_addr(&a, &b) != 0;
}

class EthernetView {
 public:
  static constexpr std::size_t kHeaderLen = sizeof(rte_ether_hdr);

  static std::optional<EthernetView> parse(const std::uint8_t* data, std::size_t len) {
    if (data == nullptr || len < kHeaderLen) return std::nullopt;
    return EthernetView(data, len);
  }

  rte_ether_addr dst() const { return read_mac(offsetof(rte_ether_hdr, dst_addr)); }
  rte_ether_addr src() const { return read_mac(offsetof(rte_ether_hdr, src_addr)); }
  // Host order.
  std::uint16_t ether_type() const {
    rte_be16_t be;
    std::memcpy(&be, data_ + offsetof(rte_ether_hdr, ether_type), sizeof(be));
    return rte_be_to_cpu_16(be);
  }
  const std::uint8_t* payload() const { return data_ + kHeaderLen; }
  std::size_t payload_len() const { return len_ - kHeaderLen; }
  const std::uint8_t* data() const { return data_; }

 private:
  EthernetView(const std::uint8_t* d, std::size_t l) : data_(d), len_(l) {}
  rte_ether_addr read_mac(std::size_t off) const {
    rte_ether_addr a;
    std::memcpy(a.addr_bytes, data_ + off, RTE_ETHER_ADDR_LEN);
    return a;
  }
  const std::uint8_t* data_;
  std::size_t len_;
};

struct EthernetHeader {
  rte_ether_addr dst{};
  rte_ether_addr src{};
  std::uint16_t ether_type = 0;  // host order
};

// Writes 14 bytes at `buf`; returns bytes written, 0 if `cap` is too small.
std::size_t emit_ethernet(std::uint8_t* buf, std::size_t cap, const EthernetHeader& h);

// The Ethernet address an IPv4 multicast group maps to (RFC 1112 §6.4).
rte_ether_addr ipv4_multicast_mac(std::uint32_t group_be);

}  // namespace shardtcp
