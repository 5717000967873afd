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
//
// A payload that arrived in pieces (an LRO/GRO-coalesced frame in an mbuf chain, kept
// without linearising) lists them in `pieces`: `data` and `handle` are then unused and
// the bytes are `len` bytes of the pieces' concatenation, starting `skip` bytes in.
struct Payload {
  const std::uint8_t* data = nullptr;
  std::uint32_t len = 0;
  void* handle = nullptr;
  const Payload* pieces = nullptr;  // single pieces (no pieces of their own)
  std::uint16_t piece_count = 0;
  std::uint32_t skip = 0;

  // Drops the first `n` bytes (n <= len).
  void advance(std::uint32_t n) {
    if (pieces != nullptr)
      skip += n;
    else
      data += n;
    len -= n;
  }
  // Calls fn(seq_offset, piece) for each single piece covering the payload's bytes,
  // clipped to them, in order.
  template <typename Fn>
  void for_each_piece(Fn&& fn) const {
    if (pieces == nullptr) {
      if (len > 0) fn(0u, *this);
      return;
    }
    std::uint32_t skip_left = skip, off = 0;
    for (std::uint16_t i = 0; i < piece_count && off < len; ++i) {
      Payload p = pieces[i];
      if (skip_left >= p.len) {
        skip_left -= p.len;
        continue;
      }
      p.data += skip_left;
      p.len -= skip_left;
      skip_left = 0;
      if (p.len > len - off) p.len = len - off;
      fn(off, p);
      off += p.len;
    }
  }
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
