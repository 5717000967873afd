// The IPv4 connection whose segment the receive path found last, as the wire gives its
// tuple: a stream's segments come in runs of one connection, and recognising the next
// one of the run takes two 8-byte compares here, where ConnectionTable::recent needs
// the 40-byte TcpTuple built from IpAddr and Endpoint first and compared field by field.
// It holds a slot index, not a pointer, and is not a table: whoever takes the connection
// out of the connection table forgets it here (forget_slot), so a hit always names the
// slot that holds the tuple now. IPv6 segments never match (the table's recent() serves
// them).
#pragma once

#include <cstdint>

#include "wire/ip_addr.h"

namespace shardtcp {

class RecentV4Flow {
 public:
  static constexpr std::uint32_t kNoSlot = UINT32_MAX;

  // The slot remembered for the segment from src:src_port to dst:dst_port (ports in
  // host order), or kNoSlot.
  std::uint32_t find(const IpAddr& src, const IpAddr& dst, std::uint16_t src_port,
                     std::uint16_t dst_port) const {
    if (!src.is_v4() || !dst.is_v4()) return kNoSlot;
    return addrs_of(src, dst) == addrs_ && ports_of(src_port, dst_port) == ports_ ? slot_ : kNoSlot;
  }

  // Remembers `slot` for the segment's tuple; IPv6 ones are not remembered (the
  // previous IPv4 flow is forgotten: runs alternate rarely).
  void remember(const IpAddr& src, const IpAddr& dst, std::uint16_t src_port,
                std::uint16_t dst_port, std::uint32_t slot) {
    if (!src.is_v4() || !dst.is_v4()) {
      forget();
      return;
    }
    addrs_ = addrs_of(src, dst);
    ports_ = ports_of(src_port, dst_port);
    slot_ = slot;
  }

  // The connection in `slot` leaves the connection table.
  void forget_slot(std::uint32_t slot) {
    if (slot == slot_) forget();
  }
  void forget() {
    addrs_ = 0;
    ports_ = 0;  // no kValid bit: matches no segment
    slot_ = kNoSlot;
  }

 private:
  // Set in every remembered key, so the zeroed one matches no segment, even one from
  // 0.0.0.0:0 to 0.0.0.0:0.
  static constexpr std::uint64_t kValid = std::uint64_t{1} << 32;

  static std::uint64_t addrs_of(const IpAddr& src, const IpAddr& dst) {
    return std::uint64_t{src.v4_be()} << 32 | dst.v4_be();
  }
  static std::uint64_t ports_of(std::uint16_t src_port, std::uint16_t dst_port) {
    return kValid | std::uint32_t{src_port} << 16 | dst_port;
  }

  std::uint64_t addrs_ = 0;
  std::uint64_t ports_ = 0;
  std::uint32_t slot_ = kNoSlot;
};

}  // namespace shardtcp
