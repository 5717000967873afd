// TCP segmentation offload in the core: with TcpConfig::tso_max, new data leaves in
// frames of whole MSS-sized segments (OutSegment::tso_segsz) that the device cuts up,
// while loss detection and retransmission keep segment granularity.
#include "tcb_test_util.h"

namespace shardtcp::testing {
namespace {

class Segmentation : public TcbTest {
 protected:
  // Timestamps on: the segment size is the MSS less their 12 bytes.
  static constexpr std::uint32_t kSeg = 1460 - 12;
  void open(std::uint32_t tso_max) {
    cfg.tso_max = tso_max;
    cfg.send_buffer = 256 * 1024;
    establish_active(/*sack=*/true, /*ts=*/true);
  }
  std::uint32_t last_tsval(const Emitted& e) const {
    return e.segs.back().seg.options.timestamps->value;
  }
};

TEST_F(Segmentation, NewDataLeavesInFramesOfWholeSegments) {
  open(65535 - 80);
  const Emitted e = app_send(std::string(100'000, 'x'));
  ASSERT_FALSE(e.segs.empty());
  const OutSegment& f = e.segs.front();
  // The initial window (ten segments) in one frame.
  EXPECT_EQ(f.tso_segsz, kSeg);
  EXPECT_EQ(f.payload_len, 10 * kSeg);
  EXPECT_EQ(f.seg.seq, SeqNum(our_seq_));
  std::uint32_t total = 0;
  for (const OutSegment& s : e.segs) {
    EXPECT_EQ(s.payload_len % kSeg, 0u);
    if (s.payload_len > kSeg) {
      EXPECT_EQ(s.tso_segsz, kSeg);
    }
    total += s.payload_len;
  }
  EXPECT_EQ(total, 10 * kSeg);  // no more than the congestion window
}

TEST_F(Segmentation, WithoutTsoEverySegmentIsOneMss) {
  open(0);
  const Emitted e = app_send(std::string(100'000, 'x'));
  ASSERT_EQ(e.segs.size(), 10u);
  for (const OutSegment& s : e.segs) {
    EXPECT_EQ(s.tso_segsz, 0u);
    EXPECT_EQ(s.payload_len, kSeg);
  }
}

TEST_F(Segmentation, APartialTailWaitsForNagleOutsideTheFrame) {
  open(65535 - 80);
  // 3.5 segments: a frame of three; the half segment is not put in it but waits, as
  // Nagle has it, until what is in flight is acknowledged.
  const Emitted e = app_send(std::string(3 * kSeg + kSeg / 2, 'y'));
  ASSERT_EQ(e.segs.size(), 1u);
  EXPECT_EQ(e.segs[0].payload_len, 3 * kSeg);
  EXPECT_EQ(e.segs[0].tso_segsz, kSeg);
  EXPECT_FALSE(e.segs[0].seg.has(kPsh));
  now = now + 10ms;
  TcpSegment ack = seg(kAck, peer_seq_, our_seq_ + 3 * kSeg);
  stamp(ack, &e.segs.back());
  const Emitted t = send(ack);
  const OutSegment& tail = expect_one(t);
  EXPECT_EQ(tail.seg.seq, SeqNum(our_seq_ + 3 * kSeg));
  EXPECT_EQ(tail.payload_len, kSeg / 2);
  EXPECT_EQ(tail.tso_segsz, 0u);
  EXPECT_TRUE(tail.seg.has(kPsh));
}

TEST_F(Segmentation, ALossInsideAFrameResendsOneSegmentOnly) {
  open(65535 - 80);
  const Emitted e = app_send(std::string(10 * kSeg, 'z'));
  ASSERT_EQ(e.segs.size(), 1u);
  ASSERT_EQ(e.segs[0].payload_len, 10 * kSeg);
  // The device's first segment was lost; the peer SACKs the other nine, three times.
  now = now + 10ms;
  Emitted r;
  for (int i = 0; i < 3; ++i) {
    TcpSegment ack = seg(kAck, peer_seq_, our_seq_);
    stamp(ack, &e.segs.back());
    ack.options.sack_count = 1;
    ack.options.sack[0] = SackBlock{SeqNum(our_seq_ + kSeg), SeqNum(our_seq_ + 10 * kSeg)};
    const Emitted got = send(ack);
    r.segs.insert(r.segs.end(), got.segs.begin(), got.segs.end());
  }
  const Emitted later = advance(50ms);  // RACK's reordering timer, if it waits
  r.segs.insert(r.segs.end(), later.segs.begin(), later.segs.end());
  std::uint32_t resent = 0;
  for (const OutSegment& s : r.segs) {
    if (s.payload_len == 0) continue;
    EXPECT_EQ(s.seg.seq, SeqNum(our_seq_));
    EXPECT_EQ(s.payload_len, kSeg);
    resent += s.payload_len;
  }
  EXPECT_EQ(resent, kSeg);  // the lost segment, not the frame
  EXPECT_EQ(tcb->retransmitted_segments(), 1u);
}

}  // namespace
}  // namespace shardtcp::testing
