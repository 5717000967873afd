// The last IPv4 (source, destination) pair that passed input's address checks: a
// source that is not ours, not a broadcast, multicast or loopback address; a
// destination that is one of our unicast addresses. A stream's segments arrive in
// runs of the same pair, so input checks each run once instead of walking the address
// list three times per packet. Kept until the route table changes (its version):
// the checks depend on its addresses and nothing else.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "wire/ip_addr.h"

namespace shardtcp {

class Ipv4PairMemo {
 public:
  bool matches(const IpAddr& src, const IpAddr& dst, std::uint32_t version) const {
    return matches_header(pair_of(src.v4_be(), dst.v4_be()), version);
  }
  // The same for the 8 address bytes of an IPv4 header (source, then destination),
  // read as one word: one compare for both.
  bool matches_header(std::uint64_t addresses, std::uint32_t version) const {
    return valid_ && version == version_ && addresses == pair_;
  }
  void remember(const IpAddr& src, const IpAddr& dst, std::uint32_t version) {
    valid_ = true;
    version_ = version;
    pair_ = pair_of(src.v4_be(), dst.v4_be());
  }

 private:
  // Network-order addresses as they lie in a header, read as one word.
  static std::uint64_t pair_of(std::uint32_t src_be, std::uint32_t dst_be) {
    std::array<std::uint32_t, 2> both{src_be, dst_be};
    std::uint64_t w;
    std::memcpy(&w, both.data(), sizeof(w));
    return w;
  }

  bool valid_ = false;
  std::uint32_t version_ = 0;
  std::uint64_t pair_ = 0;
};

}  // namespace shardtcp
