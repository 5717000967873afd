// The last IPv4 (source, destination) pair that passed input's address checks: a
// source that is not ours, not a broadcast, multicast or loopback address; a
// destination that is one of our unicast addresses. A stream's segments arrive in
// runs of the same pair, so input checks each run once instead of walking the address
// list three times per packet. Kept until the route table changes (its version):
// the checks depend on its addresses and nothing else.
#pragma once

#include <cstdint>

#include "wire/ip_addr.h"

namespace shardtcp {

class Ipv4PairMemo {
 public:
  bool matches(const IpAddr& src, const IpAddr& dst, std::uint32_t version) const {
    return matches_be(src.v4_be(), dst.v4_be(), version);
  }
  // The same for the addresses as an IPv4 header holds them (network order).
  bool matches_be(std::uint32_t src_be, std::uint32_t dst_be, std::uint32_t version) const {
    return valid_ && version == version_ && src_be == src_ && dst_be == dst_;
  }
  void remember(const IpAddr& src, const IpAddr& dst, std::uint32_t version) {
    valid_ = true;
    version_ = version;
    src_ = src.v4_be();
    dst_ = dst.v4_be();
  }

 private:
  bool valid_ = false;
  std::uint32_t version_ = 0;
  std::uint32_t src_ = 0, dst_ = 0;
};

}  // namespace shardtcp
