// Software GRO within one receive burst: consecutive in-order data segments of one
// connection are merged into one segment whose payload lists the segments' buffers as
// pieces, so the connection lookup, the TCB's input step and its event and ACK
// decisions run once for the run instead of once per segment. What a device without
// LRO (memif, net_ring) cannot do for us, done where the segments are already decoded.
//
// A segment continues a run only when processing the two one after the other would be
// the same as processing the merged one (Linux's tcp_gro_receive applies the same
// rules): same flow, the next sequence number, the same ACK, the same flags (ACK, PSH
// allowed on the last), the same timestamps, no SACK blocks, no CE mark. The merged
// segment carries the last segment's window; since the sequence and ACK numbers do not
// go back, the last window is the one the segments in turn would have left.
//
// Pure: no clock, no DPDK call (pieces hold the buffers' handles; a continuing
// segment is recognised from its wire bytes, whose layout is DPDK's rte_tcp_hdr). The TCP layer
// opens runs in on_l4 only inside a receive burst and flushes them before the burst's end, so a
// segment waits at most until the end of the burst it arrived in.
#pragma once

#include <rte_byteorder.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "tcp/ecn.h"
#include "tcp/recent_v4_flow.h"
#include "tcp/tcp_segment.h"
#include "wire/ip_addr.h"
#include "wire/tcp.h"

namespace shardtcp {

class RxCoalescer {
 public:
  // Up to a 64 KiB merged payload, as GRO and LRO make; and never more pieces than the
  // TCP layer takes from an mbuf chain.
  static constexpr std::uint32_t kMaxBytes = 65535;
  static constexpr std::uint16_t kMaxPieces = 64;
  // Flows with a run open at once: a few streams interleaved in a burst each keep
  // theirs; a new run beyond them flushes the oldest.
  static constexpr std::size_t kMaxRuns = 4;

  struct Run {
    IpAddr src, dst;
    // Their first words (RecentV4Flow::head_word): all of an IPv4 address.
    std::uint64_t src_head = 0, dst_head = 0;
    std::uint32_t ports = 0;  // source port << 16 | destination port
    // What a continuing segment's header repeats, as the wire has it (is_common_tcp_header
    // layouts): the ACK number, data offset and flags (ACK alone), the option bytes.
    std::uint32_t ack_wire = 0;
    std::uint16_t offset_flags_wire = 0;
    std::uint8_t header_len = 0;
    std::uint8_t ip_ecn = 0;
    // The option bytes (NOP NOP timestamps) as two loads from options_at, and masks that
    // are zero for a 20-byte header.
    std::uint8_t options_at = 0;
    std::uint64_t options_lo = 0, options_lo_mask = 0;
    std::uint32_t options_hi = 0, options_hi_mask = 0;
    SeqNum next;                    // the sequence number a continuing segment carries
    std::uint16_t window_wire = 0;  // the last segment's window field
    bool pushed = false;            // the last segment had PSH: the run takes no more
    std::uint32_t bytes = 0;
    std::uint16_t count = 0;  // pieces; 0: the run is not open
    std::uint16_t segments = 0;
    // The piece each merged segment starts at: for_each_segment gives them back.
    std::array<std::uint8_t, kMaxPieces> starts{};
    std::uint64_t opened = 0;
    TcpSegment seg;  // the first segment, decoded; take() completes it
    // Single pieces: only data, len and handle are ever set.
    std::array<Payload, kMaxPieces> pieces{};
  };

  static std::uint32_t ports_of(std::uint16_t src_port, std::uint16_t dst_port) {
    return std::uint32_t{src_port} << 16 | dst_port;
  }

  // Whether `seg` (decoded from `l4`, an is_common_tcp_header layout) may start a run:
  // data with the ACK flag alone (a PSH ends a run, so it never starts one), no CE mark,
  // in no more pieces than a run holds.
  static bool can_open(const TcpSegment& seg) {
    return seg.flags == tcp_flags::kAck && seg.payload.len > 0 &&
           seg.payload.piece_count <= kMaxPieces && (seg.ip_ecn & ip_ecn::kMask) != ip_ecn::kCe;
  }

  bool any_open() const { return open_ != 0; }

  // The open run of the flow from src:ports>>16 to dst:ports&0xffff, or null. The run
  // appended to last is tried first: a stream's segments come in runs.
  Run* run_of(const IpAddr& src, const IpAddr& dst, std::uint32_t ports) {
    if (open_ == 0) return nullptr;
    if (matches(*last_, src, dst, ports)) return last_;
    for (Run& r : runs_)
      if (matches(r, src, dst, ports)) return &r;
    return nullptr;
  }

  // Whether the segment whose header is at `l4` (an is_common_tcp_header layout of r's
  // flow) continues `r` (see the file comment), judged from its wire bytes: no decode.
  // `payload_len` bytes of payload in `pieces` buffers. If it does, r's header state
  // moves past it, true, and the caller adds its pieces (add_piece); false leaves `r`
  // as it was.
  bool append(Run& r, const std::uint8_t* l4, std::uint32_t payload_len, std::uint8_t ip_ecn,
              std::uint16_t pieces = 1) {
    constexpr std::uint16_t kPshWire = RTE_BE16(tcp_flags::kPsh);
    const std::uint16_t offset_flags = load<std::uint16_t>(l4 + 12);
    // Every field compared at once: the differences or'ed, one branch. A 20-byte header
    // has no option words: its first 12 bytes are read in their place, and masked.
    const std::uint8_t* options = l4 + r.options_at;
    const std::uint64_t differs =
        (load_be32(l4 + 4) ^ r.next.raw()) | (load<std::uint32_t>(l4 + 8) ^ r.ack_wire) |
        ((offset_flags & ~kPshWire) ^ r.offset_flags_wire) | (ip_ecn ^ r.ip_ecn) |
        ((load<std::uint64_t>(options) ^ r.options_lo) & r.options_lo_mask) |
        ((load<std::uint32_t>(options + 8) ^ r.options_hi) & r.options_hi_mask) |
        static_cast<std::uint64_t>(r.pushed);
    if (differs != 0 || payload_len == 0 || pieces > kMaxPieces - r.count ||
        r.bytes + payload_len > kMaxBytes)
      return false;
    r.starts[r.segments++] = static_cast<std::uint8_t>(r.count);
    r.bytes += payload_len;
    r.next = r.next + payload_len;
    r.window_wire = load<std::uint16_t>(l4 + 14);
    r.pushed = offset_flags != r.offset_flags_wire;
    last_ = &r;
    return true;
  }
  // One buffer's part of the payload of a segment append() took.
  static void add_piece(Run& r, const std::uint8_t* data, std::uint32_t len, void* handle) {
    Payload& p = r.pieces[r.count++];
    p.data = data;
    p.len = len;
    p.handle = handle;
  }

  // A free run opened with `seg` (can_open), decoded from `l4`, its pieces' buffers
  // held by the run from now; null when all are open:
  // the caller flushes oldest() and asks again.
  Run* open(const IpAddr& src, const IpAddr& dst, const TcpSegment& seg, const std::uint8_t* l4) {
    for (Run& r : runs_) {
      if (r.count != 0) continue;
      r.src = src;
      r.dst = dst;
      r.src_head = RecentV4Flow::head_word(src);
      r.dst_head = RecentV4Flow::head_word(dst);
      r.ports = ports_of(seg.src_port, seg.dst_port);
      r.ack_wire = load<std::uint32_t>(l4 + 8);
      r.offset_flags_wire = load<std::uint16_t>(l4 + 12);
      r.header_len = static_cast<std::uint8_t>((l4[12] >> 4) * 4);
      r.ip_ecn = seg.ip_ecn;
      const bool options = r.header_len > TcpView::kMinHeaderLen;
      r.options_at = options ? TcpView::kMinHeaderLen : 0;
      r.options_lo = options ? load<std::uint64_t>(l4 + 20) : 0;
      r.options_hi = options ? load<std::uint32_t>(l4 + 28) : 0;
      r.options_lo_mask = options ? ~std::uint64_t{0} : 0;
      r.options_hi_mask = options ? ~std::uint32_t{0} : 0;
      r.next = seg.seq + seg.payload.len;
      r.window_wire = load<std::uint16_t>(l4 + 14);
      r.pushed = false;
      r.seg = seg;
      r.count = 0;
      r.segments = 1;
      r.starts[0] = 0;
      seg.payload.for_each_piece(
          [&](std::uint32_t, const Payload& p) { add_piece(r, p.data, p.len, p.handle); });
      r.bytes = seg.payload.len;
      r.opened = ++clock_;
      ++open_;
      last_ = &r;
      return &r;
    }
    return nullptr;
  }
  // The run opened first of those open, or null.
  Run* oldest() {
    Run* o = nullptr;
    for (Run& r : runs_)
      if (r.count != 0 && (o == nullptr || r.opened < o->opened)) o = &r;
    return o;
  }

  // Closes `r` and completes its segment: the last window and flags, the payload (the
  // one buffer, or the pieces). The segment and pieces stay valid until `r` is opened
  // again.
  TcpSegment& take(Run& r) {
    TcpSegment& seg = r.seg;
    seg.window = rte_be_to_cpu_16(r.window_wire);
    if (r.pushed) seg.flags |= tcp_flags::kPsh;
    seg.payload = Payload{};
    if (r.count == 1) {
      seg.payload.data = r.pieces[0].data;
      seg.payload.handle = r.pieces[0].handle;
    } else {
      seg.payload.pieces = r.pieces.data();
      seg.payload.piece_count = r.count;
    }
    seg.payload.len = r.bytes;
    r.count = 0;
    --open_;
    return seg;
  }

  // Calls fn(segment) for each segment take() merged into `merged`, rebuilt as it
  // arrived but with the last one's window: for input one by one where the merge would
  // change what the TCB answers (out-of-order data draws one ACK a segment, RFC 5681
  // §4.2). Valid until `r` is opened again.
  template <typename Fn>
  static void for_each_segment(const Run& r, const TcpSegment& merged, Fn&& fn) {
    const std::uint16_t count = merged.payload.pieces != nullptr ? merged.payload.piece_count : 1;
    TcpSegment part = merged;
    SeqNum seq = merged.seq;
    for (std::uint16_t k = 0; k < r.segments; ++k) {
      const std::uint16_t begin = r.starts[k];
      const std::uint16_t end = k + 1 < r.segments ? r.starts[k + 1] : count;
      part.payload = Payload{};
      if (end - begin == 1) {
        part.payload = r.pieces[begin];
      } else {
        part.payload.pieces = &r.pieces[begin];
        part.payload.piece_count = static_cast<std::uint16_t>(end - begin);
        for (std::uint16_t i = begin; i < end; ++i) part.payload.len += r.pieces[i].len;
      }
      part.seq = seq;
      part.flags = k + 1 == r.segments ? merged.flags : tcp_flags::kAck;
      fn(static_cast<const TcpSegment&>(part));
      seq = seq + part.payload.len;
    }
  }

 private:
  static bool matches(const Run& r, const IpAddr& src, const IpAddr& dst, std::uint32_t ports) {
    return r.count != 0 && r.ports == ports && RecentV4Flow::head_word(src) == r.src_head &&
           RecentV4Flow::head_word(dst) == r.dst_head &&
           (src.is_v4() || (r.src == src && r.dst == dst));
  }
  template <typename T>
  static T load(const std::uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }

  std::array<Run, kMaxRuns> runs_{};
  Run* last_ = &runs_[0];
  std::uint32_t open_ = 0;
  std::uint64_t clock_ = 0;
};

}  // namespace shardtcp
