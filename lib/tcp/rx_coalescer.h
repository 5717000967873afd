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
#include <rte_tcp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tcp/ecn.h"
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

  // A continuing segment's header is compared with what the run expects in its first
  // 32 bytes: the longest is_common_tcp_header layout (NOP NOP timestamps). The caller
  // makes sure that many bytes are readable at the header it offers.
  static constexpr std::size_t kHeaderBytes = TcpView::kMinHeaderLen + 12;

  struct Run {
    IpAddr src, dst;
    // An IPv4 run's two addresses as the IPv4 header holds them, source first (v4_pair_of):
    // IP's fast path finds the run from the header's 8 bytes (run_of_v4).
    std::uint64_t v4_pair = 0;
    bool v4 = false;
    std::uint32_t ports = 0;  // source port << 16 | destination port
    // The header bytes a continuing segment repeats, as the wire has them, where `mask`
    // is set: the ports, the next sequence number, the ACK number, data offset and flags
    // (PSH aside), the option bytes. Window, checksum and urgent pointer are free.
    alignas(8) std::array<std::uint8_t, kHeaderBytes> expect{};
    alignas(8) std::array<std::uint8_t, kHeaderBytes> mask{};
    std::uint8_t header_len = 0;
    std::uint8_t ip_ecn = 0;
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
    return find([&](const Run& r) { return r.ports == ports && r.src == src && r.dst == dst; });
  }
  // The same for an IPv4 flow, from its header's addresses (v4_pair_of).
  Run* run_of_v4(std::uint64_t v4_pair, std::uint32_t ports) {
    return find([&](const Run& r) { return r.v4 && r.v4_pair == v4_pair && r.ports == ports; });
  }
  // IPv4 source and destination as 8 bytes in the IPv4 header's order, read as one word.
  static std::uint64_t v4_pair_of(const IpAddr& src, const IpAddr& dst) {
    std::array<std::uint8_t, 8> b;
    std::memcpy(b.data(), src.bytes(), 4);
    std::memcpy(b.data() + 4, dst.bytes(), 4);
    return load<std::uint64_t>(b.data());
  }

  // Whether the segment whose header is at `l4` (kHeaderBytes readable there),
  // `segment_len` bytes of header and payload in `pieces` buffers, continues `r` (see
  // the file comment), judged from its wire bytes: no decode. If it does, r's header
  // state moves past it, true, and the caller adds its payload's pieces (add_piece), the
  // first starting r.header_len bytes into the segment; false leaves `r` as it was.
  bool append(Run& r, const std::uint8_t* l4, std::uint32_t segment_len, std::uint8_t ip_ecn,
              std::uint16_t pieces = 1) {
    // Every byte compared at once: the differences masked and or'ed, one branch. The
    // mask keeps PSH: a segment that differs by it alone ends the run.
    std::uint64_t differs = static_cast<std::uint64_t>(ip_ecn ^ r.ip_ecn) | r.pushed;
    for (std::size_t i = 0; i < kHeaderBytes; i += 8)
      differs |= (load<std::uint64_t>(l4 + i) ^ load<std::uint64_t>(&r.expect[i])) &
                 load<std::uint64_t>(&r.mask[i]);
    const std::uint32_t payload_len = segment_len - r.header_len;
    if (segment_len <= r.header_len || pieces > kMaxPieces - r.count ||
        r.bytes + payload_len > kMaxBytes)
      return false;
    if (differs != 0) {
      if (!differs_by_psh_alone(r, l4, ip_ecn)) return false;
      r.pushed = true;
    }
    r.starts[r.segments++] = static_cast<std::uint8_t>(r.count);
    r.bytes += payload_len;
    expect_next(r, r.next + payload_len);
    r.window_wire = load<std::uint16_t>(l4 + offsetof(rte_tcp_hdr, rx_win));
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
      r.v4 = src.is_v4() && dst.is_v4();
      r.v4_pair = r.v4 ? v4_pair_of(src, dst) : 0;
      r.ports = ports_of(seg.src_port, seg.dst_port);
      r.header_len = static_cast<std::uint8_t>((l4[offsetof(rte_tcp_hdr, data_off)] >> 4) * 4);
      r.ip_ecn = seg.ip_ecn;
      r.expect.fill(0);
      std::memcpy(r.expect.data(), l4, r.header_len);
      r.mask.fill(0);
      std::memset(r.mask.data(), 0xff, offsetof(rte_tcp_hdr, rx_win));
      std::memset(r.mask.data() + TcpView::kMinHeaderLen, 0xff,
                  r.header_len - TcpView::kMinHeaderLen);
      expect_next(r, seg.seq + seg.payload.len);
      r.window_wire = load<std::uint16_t>(l4 + offsetof(rte_tcp_hdr, rx_win));
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
  // The open run `is` takes, the one appended to last tried first; or null.
  template <typename Is>
  Run* find(Is&& is) {
    if (open_ == 0) return nullptr;
    if (last_->count != 0 && is(*last_)) return last_;
    for (Run& r : runs_)
      if (r.count != 0 && is(r)) return &r;
    return nullptr;
  }
  // Whether the header at `l4` differs from what `r` expects by the PSH flag alone
  // (append's rare case: a stream's last segment of a write).
  static bool differs_by_psh_alone(const Run& r, const std::uint8_t* l4, std::uint8_t ip_ecn) {
    if (r.pushed || ip_ecn != r.ip_ecn) return false;
    std::array<std::uint8_t, kHeaderBytes> psh{};
    psh[offsetof(rte_tcp_hdr, tcp_flags)] = tcp_flags::kPsh;
    for (std::size_t i = 0; i < kHeaderBytes; i += 8)
      if (((load<std::uint64_t>(l4 + i) ^ load<std::uint64_t>(&r.expect[i])) &
           load<std::uint64_t>(&r.mask[i])) != load<std::uint64_t>(&psh[i]))
        return false;
    return true;
  }
  static void expect_next(Run& r, SeqNum next) {
    r.next = next;
    const rte_be32_t wire = rte_cpu_to_be_32(next.raw());
    std::memcpy(&r.expect[offsetof(rte_tcp_hdr, sent_seq)], &wire, sizeof(wire));
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
