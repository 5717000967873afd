// What IPv4 output resolved for one connection: the first bytes of its frames as they
// go out (Ethernet with the next hop's MAC, then the IPv4 header: addresses, TTL,
// protocol, DF), prebuilt once by IpStack::output_via and used for every frame after
// while neither the route table nor the neighbour cache has changed (their version and
// epoch), so a connection's segments leave without a route lookup, a neighbour lookup
// or a header built field by field. The TOS, total length, identification and checksum
// are filled in per frame. Kept by the connection (TcpLayer's slot); only IpStack reads
// or writes it.
#pragma once

#include <rte_ip.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace shardtcp {

struct Ipv4OutputPath {
  static constexpr std::size_t kEthLen = 14;
  static constexpr std::size_t kHeaderBytes = kEthLen + 20;  // Ethernet, IPv4 without options
  std::array<std::uint8_t, kHeaderBytes> header{};
  std::uint32_t routes_version = 0;
  std::uint32_t neighbors_epoch = 0;
  std::uint16_t mtu = 0;
  bool valid = false;

  // Whether the header is the one for `protocol` from `src_be` to `dst_be` (network
  // order): a path is only used for its own pair, read from the header it holds.
  bool serves(std::uint32_t src_be, std::uint32_t dst_be, std::uint8_t protocol) const {
    std::array<std::uint32_t, 2> want{src_be, dst_be};
    return header[kEthLen + offsetof(rte_ipv4_hdr, next_proto_id)] == protocol &&
           std::memcmp(&header[kEthLen + offsetof(rte_ipv4_hdr, src_addr)], want.data(), 8) == 0;
  }
};

}  // namespace shardtcp
