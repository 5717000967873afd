// The IPv4 connection whose segment the receive path found last, as the wire gives its
// tuple: a stream's segments come in runs of one connection, and recognising the next
// one of the run takes three word compares here, where ConnectionTable::recent needs
// the 40-byte TcpTuple built from IpAddr and Endpoint first and compared field by field.
// It holds a slot index, not a pointer, and is not a table: whoever takes the connection
// out of the connection table forgets it here (forget_slot), so a hit always names the
// slot that holds the tuple now. IPv6 segments never match (the table's recent() serves
// them).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "wire/ip_addr.h"

namespace shardtcp {

class RecentV4Flow {
 public:
  static constexpr std::uint32_t kNoSlot = UINT32_MAX;

  // The slot remembered for the segment from src:src_port to dst:dst_port (ports in
  // host order), or kNoSlot. No family test: only an IPv4 address has the head word of
  // one, and a forgotten memo matches to kNoSlot.
  std::uint32_t find(const IpAddr& src, const IpAddr& dst, std::uint16_t src_port,
                     std::uint16_t dst_port) const {
    return head_word(src) == src_ && head_word(dst) == dst_ &&
                   ports_of(src_port, dst_port) == ports_
               ? slot_
               : kNoSlot;
  }

  // Remembers `slot` for the segment's tuple; IPv6 ones are not remembered (the
  // previous IPv4 flow is forgotten: runs alternate rarely).
  void remember(const IpAddr& src, const IpAddr& dst, std::uint16_t src_port,
                std::uint16_t dst_port, std::uint32_t slot) {
    if (!src.is_v4() || !dst.is_v4()) {
      forget();
      return;
    }
    src_ = head_word(src);
    dst_ = head_word(dst);
    ports_ = ports_of(src_port, dst_port);
    slot_ = slot;
  }

  // The connection in `slot` leaves the connection table.
  void forget_slot(std::uint32_t slot) {
    if (slot == slot_) forget();
  }
  void forget() { slot_ = kNoSlot; }

  // An IpAddr's first eight bytes: its family, then the first seven bytes of its
  // address (IpAddr's layout; recent_v4_flow_test checks it). An IPv4 address's bytes
  // past the fourth are zero (IpAddr's == relies on that too), so two IPv4 addresses are
  // equal when their words are, and another family's word never equals an IPv4 one's.
  static std::uint64_t head_word(const IpAddr& a) {
    static_assert(std::is_trivially_copyable_v<IpAddr> && sizeof(IpAddr) >= 8);
    std::uint64_t w;
    std::memcpy(&w, &a, sizeof(w));
    return w;
  }

 private:
  // In the order the two ports sit in a TcpSegment, so the compiler may read them as one.
  static std::uint32_t ports_of(std::uint16_t src_port, std::uint16_t dst_port) {
    return std::uint32_t{dst_port} << 16 | src_port;
  }

  std::uint64_t src_ = 0, dst_ = 0;  // head_word of each address
  std::uint32_t ports_ = 0;
  std::uint32_t slot_ = kNoSlot;
};

}  // namespace shardtcp
