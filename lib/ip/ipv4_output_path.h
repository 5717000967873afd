// What IPv4 output resolved for one connection: the first bytes of its frames as they
// go out (Ethernet with the next hop's MAC, then the IPv4 header: addresses, TTL,
// protocol, DF), prebuilt once by IpStack::output_via and used for every frame after
// while neither the route table nor the neighbour cache has changed (their version and
// epoch), so a connection's segments leave without a route lookup, a neighbour lookup
// or a header built field by field. The TOS, total length, identification and checksum
// are filled in per frame. Kept by the connection (TcpLayer's slot); only IpStack reads
// or writes it.
#pragma once

#include <array>
#include <cstdint>

namespace shardtcp {

struct Ipv4OutputPath {
  static constexpr std::size_t kHeaderBytes = 14 + 20;  // Ethernet, IPv4 without options
  std::array<std::uint8_t, kHeaderBytes> header{};
  // The IPv4 source and destination the header holds, as output_via's caller names them
  // (network order): a path is only used for its own pair.
  std::uint32_t src_be = 0, dst_be = 0;
  std::uint32_t routes_version = 0;
  std::uint32_t neighbors_epoch = 0;
  std::uint16_t mtu = 0;
  std::uint8_t protocol = 0;
  bool valid = false;
};

}  // namespace shardtcp
