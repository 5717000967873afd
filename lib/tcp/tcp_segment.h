// A parsed TCP segment as the pure TCP core sees it: header fields, options, payload.
// Built once at the edge from the wire (lib/wire/tcp.h) and emitted back by the same
// codec; the core never touches wire bytes or DPDK.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "wire/seq_num.h"

namespace shardtcp {

namespace tcp_flags {
inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;
inline constexpr std::uint8_t kUrg = 0x20;
inline constexpr std::uint8_t kEce = 0x40;
inline constexpr std::uint8_t kCwr = 0x80;
}  // namespace tcp_flags

struct SackBlock {
  SeqNum left;   // first sequence number of the block
  SeqNum right;  // one past the last
  friend bool operator==(const SackBlock&, const SackBlock&) = default;
};

struct TcpTimestamps {
  std::uint32_t value = 0;  // TSval
  std::uint32_t echo = 0;   // TSecr
  friend bool operator==(const TcpTimestamps&, const TcpTimestamps&) = default;
};

struct TcpOptions {
  std::optional<std::uint16_t> mss;
  std::optional<std::uint8_t> window_scale;
  bool sack_permitted = false;
  std::optional<TcpTimestamps> timestamps;
  std::uint8_t sack_count = 0;  // valid entries of sack[]
  std::array<SackBlock, 4> sack{};
  friend bool operator==(const TcpOptions&, const TcpOptions&) = default;
};

// Payload bytes of a segment. `handle` lets the owner of the bytes (an rte_mbuf on
// the data path, a test buffer in unit tests) be referenced without the core knowing
// what it is; the core passes it to its buffer allocator, never dereferences it.
struct Payload {
  const std::uint8_t* data = nullptr;
  std::uint32_t len = 0;
  void* handle = nullptr;
};

struct TcpSegment {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  SeqNum seq;
  SeqNum ack;
  std::uint8_t flags = 0;
  std::uint16_t window = 0;  // raw field, before scaling
  std::uint16_t urgent = 0;
  TcpOptions options;
  Payload payload;
  // The ECN field of the IP header that carried it (RFC 3168 §5; see tcp/ecn.h): set
  // from the IP layer on input, by the TCB on output for the emitter to write.
  std::uint8_t ip_ecn = 0;

  bool has(std::uint8_t f) const { return (flags & f) != 0; }
  // Sequence space the segment occupies: payload plus one each for SYN and FIN.
  std::uint32_t seq_len() const {
    return payload.len + (has(tcp_flags::kSyn) ? 1u : 0u) + (has(tcp_flags::kFin) ? 1u : 0u);
  }
};

}  // namespace shardtcp
