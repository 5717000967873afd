// Software GRO's rules (tcp/rx_coalescer.h) on wire headers built by the codec: which
// segments continue a run, what the merged segment says, and how a run gives its
// segments back one by one.
#include "tcp/rx_coalescer.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

#include "wire/tcp.h"

namespace shardtcp {
namespace {

using namespace tcp_flags;

constexpr std::uint32_t kMss = 1448;
const IpAddr kSrc = IpAddr::v4(0xc6120001);
const IpAddr kDst = IpAddr::v4(0xc6120002);

// One segment on the wire: its header bytes (the payload is not needed: pieces point at
// a shared buffer) and its decoded form, as TcpLayer::on_l4 has both.
struct WireSegment {
  std::array<std::uint8_t, 60> header{};
  std::size_t header_len = 0;
  TcpSegment seg;
};

class RxCoalescerTest : public ::testing::Test {
 protected:
  // A data segment of the flow 40000 -> 5201 at sequence offset `off` from kIsn.
  WireSegment segment(std::uint32_t off, std::uint32_t len = kMss, std::uint8_t flags = kAck,
                      std::uint32_t tsval = 1000, std::uint16_t src_port = 40000) {
    WireSegment w;
    TcpSegment s;
    s.src_port = src_port;
    s.dst_port = 5201;
    s.seq = kIsn + off;
    s.ack = SeqNum(777);
    s.flags = flags;
    s.window = 500;
    s.options.timestamps = TcpTimestamps{tsval, 99};
    w.header_len = emit_tcp_header(w.header.data(), w.header.size(), s);
    std::vector<std::uint8_t> frame(w.header.begin(), w.header.begin() + w.header_len);
    frame.resize(w.header_len + len);
    EXPECT_TRUE(is_common_tcp_header(frame.data(), frame.size()));
    w.seg = decode_common_tcp_header(frame.data(), frame.size());
    w.seg.payload.data = payload_.data() + off % 4096;
    w.seg.payload.handle = handle(off);
    return w;
  }
  static std::uint32_t segment_len(const WireSegment& w) {
    return static_cast<std::uint32_t>(w.header_len + w.seg.payload.len);
  }
  static void* handle(std::uint32_t off) { return reinterpret_cast<void*>(0x1000 + off); }
  // Appends `w` to `r` as on_l4 does for a single-buffer segment.
  bool append(RxCoalescer::Run& r, const WireSegment& w, std::uint8_t ecn = 0) {
    if (!gro_.append(r, w.header.data(), segment_len(w), ecn)) return false;
    RxCoalescer::add_piece(r, w.seg.payload.data, w.seg.payload.len, w.seg.payload.handle);
    return true;
  }
  RxCoalescer::Run& open(const WireSegment& w) {
    RxCoalescer::Run* r = gro_.open(kSrc, kDst, w.seg, w.header.data());
    EXPECT_NE(r, nullptr);
    return *r;
  }

  static constexpr SeqNum kIsn = SeqNum(0xfffff000);  // runs wrap the sequence space
  std::array<std::uint8_t, 8192> payload_{};
  RxCoalescer gro_;
};

TEST_F(RxCoalescerTest, ContinuingSegmentsMergeIntoOneWithTheLastWindowAndPush) {
  RxCoalescer::Run& r = open(segment(0));
  ASSERT_TRUE(append(r, segment(kMss)));
  WireSegment last = segment(2 * kMss, 100, kAck | kPsh);
  last.header[14] = 0x12;  // another window: 0x12f4
  ASSERT_TRUE(append(r, last));
  EXPECT_TRUE(r.pushed);  // a PSH ends the run: nothing more is appended
  EXPECT_FALSE(append(r, segment(2 * kMss + 100)));
  EXPECT_EQ(gro_.run_of(kSrc, kDst, RxCoalescer::ports_of(40000, 5201)), &r);

  const TcpSegment& m = gro_.take(r);
  EXPECT_FALSE(gro_.any_open());
  EXPECT_EQ(m.seq, kIsn);
  EXPECT_EQ(m.ack, SeqNum(777));
  EXPECT_EQ(m.flags, kAck | kPsh);
  EXPECT_EQ(m.window, 0x12f4);
  ASSERT_TRUE(m.options.timestamps);
  EXPECT_EQ(m.options.timestamps->value, 1000u);
  EXPECT_EQ(m.payload.len, 2 * kMss + 100);
  ASSERT_EQ(m.payload.piece_count, 3);
  EXPECT_EQ(m.payload.pieces[1].handle, handle(kMss));
  EXPECT_EQ(m.payload.pieces[2].len, 100u);
}

TEST_F(RxCoalescerTest, ASegmentThatDiffersInAnyRuleDoesNotContinueTheRun) {
  RxCoalescer::Run& r = open(segment(0));
  WireSegment other_ack = segment(kMss);
  other_ack.header[11] ^= 1;
  WireSegment other_tsecr = segment(kMss);
  other_tsecr.header[31] ^= 1;
  // PSH alone may differ (it ends the run); PSH and a change in the same place of
  // another of the header's words (the sequence number's, an option's) may not.
  WireSegment psh_and_seq = segment(kMss, kMss, kAck | kPsh);
  psh_and_seq.header[5] ^= kPsh;
  WireSegment psh_and_tsecr = segment(kMss, kMss, kAck | kPsh);
  psh_and_tsecr.header[29] ^= kPsh;
  const WireSegment rejected[] = {
      segment(2 * kMss),                 // a hole before it
      segment(0),                        // a duplicate
      segment(kMss, 0),                  // no payload
      segment(kMss, kMss, kAck | kFin),  // FIN
      segment(kMss, kMss, kAck | kUrg),  // URG
      segment(kMss, kMss, kAck | kCwr),  // CWR
      segment(kMss, kMss, kAck, 1001),   // another TSval
      other_ack,                         // another ACK number
      other_tsecr,                       // another TSecr
      psh_and_seq,                       // PSH, and a sequence number off by 2^19
      psh_and_tsecr,                     // PSH, and another TSecr
  };
  for (const WireSegment& w : rejected) {
    EXPECT_FALSE(append(r, w));
    EXPECT_EQ(r.count, 1);
    EXPECT_EQ(r.bytes, kMss);
  }
  EXPECT_FALSE(append(r, segment(kMss), ip_ecn::kCe));  // another ECN field
  EXPECT_TRUE(append(r, segment(kMss)));
  EXPECT_EQ(r.segments, 2);
}

TEST_F(RxCoalescerTest, OnlyPlainDataOpensARun) {
  EXPECT_TRUE(RxCoalescer::can_open(segment(0).seg));
  EXPECT_FALSE(RxCoalescer::can_open(segment(0, kMss, kAck | kPsh).seg));
  EXPECT_FALSE(RxCoalescer::can_open(segment(0, 0).seg));
  EXPECT_FALSE(RxCoalescer::can_open(segment(0, kMss, kSyn | kAck).seg));
  WireSegment ce = segment(0);
  ce.seg.ip_ecn = ip_ecn::kCe;
  EXPECT_FALSE(RxCoalescer::can_open(ce.seg));
}

TEST_F(RxCoalescerTest, ARunStopsAt64KiB) {
  RxCoalescer::Run& r = open(segment(0));
  std::uint32_t off = kMss;
  while (append(r, segment(off))) off += kMss;
  EXPECT_EQ(r.bytes, 45 * kMss);  // 46 would pass 65 535
  EXPECT_LE(r.bytes, RxCoalescer::kMaxBytes);
  EXPECT_TRUE(append(r, segment(off, RxCoalescer::kMaxBytes - r.bytes)));
  EXPECT_FALSE(append(r, segment(RxCoalescer::kMaxBytes, 1)));
}

TEST_F(RxCoalescerTest, FlowsKeepRunsOfTheirOwnAndTheOldestGivesWayToANewOne) {
  std::array<RxCoalescer::Run*, RxCoalescer::kMaxRuns> runs{};
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const WireSegment w = segment(0, kMss, kAck, 1000, static_cast<std::uint16_t>(40000 + i));
    runs[i] = gro_.open(kSrc, kDst, w.seg, w.header.data());
    ASSERT_NE(runs[i], nullptr);
  }
  const WireSegment extra = segment(0, kMss, kAck, 1000, 41000);
  EXPECT_EQ(gro_.open(kSrc, kDst, extra.seg, extra.header.data()), nullptr);
  EXPECT_EQ(gro_.oldest(), runs[0]);
  for (std::size_t i = 0; i < runs.size(); ++i)
    EXPECT_EQ(
        gro_.run_of(kSrc, kDst, RxCoalescer::ports_of(static_cast<std::uint16_t>(40000 + i), 5201)),
        runs[i]);
  EXPECT_EQ(gro_.run_of(kDst, kSrc, RxCoalescer::ports_of(40000, 5201)), nullptr);  // other way
  gro_.take(*runs[0]);
  EXPECT_EQ(gro_.oldest(), runs[1]);
  EXPECT_NE(gro_.open(kSrc, kDst, extra.seg, extra.header.data()), nullptr);
}

TEST_F(RxCoalescerTest, ARunGivesBackItsSegmentsAsTheyArrived) {
  RxCoalescer::Run& r = open(segment(0));
  // The second segment came in two buffers (a chain): two pieces, one segment.
  const WireSegment two = segment(kMss);
  ASSERT_TRUE(gro_.append(r, two.header.data(), segment_len(two), 0, 2));
  RxCoalescer::add_piece(r, two.seg.payload.data, 48, handle(kMss));
  RxCoalescer::add_piece(r, two.seg.payload.data + 48, kMss - 48, handle(kMss + 48));
  ASSERT_TRUE(append(r, segment(2 * kMss, 10, kAck | kPsh)));
  const TcpSegment& m = gro_.take(r);
  struct Part {
    SeqNum seq;
    std::uint32_t len;
    std::uint16_t pieces;
    std::uint8_t flags;
  };
  std::vector<Part> parts;
  RxCoalescer::for_each_segment(r, m, [&](const TcpSegment& s) {
    parts.push_back({s.seq, s.payload.len,
                     s.payload.pieces ? s.payload.piece_count : std::uint16_t{1}, s.flags});
  });
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].seq, kIsn);
  EXPECT_EQ(parts[0].len, kMss);
  EXPECT_EQ(parts[1].seq, kIsn + kMss);
  EXPECT_EQ(parts[1].len, kMss);
  EXPECT_EQ(parts[1].pieces, 2);
  EXPECT_EQ(parts[2].seq, kIsn + 2 * kMss);
  EXPECT_EQ(parts[2].len, 10u);
  EXPECT_EQ(parts[0].flags, kAck);
  EXPECT_EQ(parts[2].flags, kAck | kPsh);
}

}  // namespace
}  // namespace shardtcp
