// The loss-recovery building blocks on their own: RACK's transmit records and loss
// detection (RFC 8985 §6), PRR's allowance (RFC 6937), TLP's timeout and verdict
// (RFC 8985 §7). The TCB-level scenarios are in tcb_loss_recovery_test.cc.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "tcp/prr.h"
#include "tcp/rack.h"
#include "tcp/tlp.h"

namespace shardtcp {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t kMss = 1000;
const SeqNum kBase{5000};
const Instant kT0{1'000'000'000};

SeqNum at(std::uint32_t k) {
  return kBase + k * kMss;
}
SackBlock segs(std::uint32_t from, std::uint32_t to) {
  return {at(from), at(to)};
}

class RackTest : public ::testing::Test {
 protected:
  void SetUp() override { rack.reset(kBase); }
  void send(std::uint32_t from, std::uint32_t to, Instant t) {
    for (std::uint32_t k = from; k < to; ++k) rack.on_sent(at(k), at(k + 1), t);
  }
  BlockPool pool;
  Rack rack{pool, 16};
};

TEST_F(RackTest, SegmentSentBeforeADeliveredOneIsLostAfterRttPlusReoWnd) {
  send(0, 4, kT0);
  rack.on_ack(at(0), std::vector<SackBlock>{segs(1, 3)}, kT0 + 10ms);
  const Duration reo = rack.reo_wnd(false, false, rack.min_rtt(0ms), 10ms);
  EXPECT_EQ(reo, 2500us);  // min_RTT / 4
  Rack::LossResult r = rack.detect_loss(kT0 + 10ms, reo);
  EXPECT_EQ(r.newly_lost, 0u);
  EXPECT_EQ(r.timeout, 2500us);
  r = rack.detect_loss(kT0 + 12500us, reo);
  EXPECT_EQ(r.newly_lost, 1u);  // segment 0; segment 3 was sent after the reference
  ASSERT_TRUE(rack.next_lost().has_value());
  EXPECT_EQ(rack.next_lost()->seq, at(0));
  // Retransmitted: no longer awaiting retransmission.
  rack.on_sent(at(0), at(1), kT0 + 13ms);
  EXPECT_FALSE(rack.next_lost().has_value());
}

// Detection stops at the first record sent after the reference only while the records
// are in transmit order. Once a retransmission stamped an early record with a later
// time, records behind it that were sent before the reference are still found.
TEST_F(RackTest, RecordsBehindARetransmissionSentBeforeTheReferenceAreStillLost) {
  send(0, 1, kT0);
  send(1, 2, kT0 + 1ms);
  send(2, 3, kT0 + 2ms);
  send(3, 4, kT0 + 3ms);
  rack.mark_lost(at(0));
  rack.on_sent(at(0), at(1), kT0 + 4ms);  // segment 0 resent: now the latest sent
  // Segment 2 SACKed 10 ms after it was sent: the reference (sent at +2 ms).
  rack.on_ack(at(0), std::vector<SackBlock>{segs(2, 3)}, kT0 + 12ms);
  const Duration reo = 0ms;
  // Segment 0 (resent at +4 ms) and 3 (+3 ms) were sent after the reference; segment 1
  // (+1 ms), behind the resent one in sequence, before it: lost once its time is up.
  const Rack::LossResult r = rack.detect_loss(kT0 + 12ms, reo);
  EXPECT_EQ(r.newly_lost, 1u);
  ASSERT_TRUE(rack.next_lost().has_value());
  EXPECT_EQ(rack.next_lost()->seq, at(1));
}

// In transmit order (no retransmission), a long flight behind the reference is not
// walked, and what was sent before the reference is still found.
TEST_F(RackTest, InTransmitOrderDetectionFindsEveryEarlierSegment) {
  for (std::uint32_t k = 0; k < 12; ++k) send(k, k + 1, kT0 + k * 1ms);
  // Segment 5 SACKed: segments 0-4 were sent before it, 6-11 after.
  rack.on_ack(at(0), std::vector<SackBlock>{segs(5, 6)}, kT0 + 15ms);
  Rack::LossResult r = rack.detect_loss(kT0 + 15ms, 0ms);
  EXPECT_EQ(r.newly_lost, 5u);
  std::vector<std::uint32_t> lost;
  rack.for_each_lost([&](SeqNum seq, std::uint32_t) { lost.push_back((seq - kBase) / kMss); });
  EXPECT_EQ(lost, (std::vector<std::uint32_t>{0, 1, 2, 3, 4}));
}

// A TSO frame's records in one call are the records of its segments sent one by one:
// a FIN rides on the last segment, and a frame larger than the ring's bound coalesces
// into the last record as segment-by-segment sending does.
TEST(RackTso, FrameRecordsAreThoseOfItsSegmentsSentOneByOne) {
  for (const std::uint32_t segments : {1u, 3u, 10u, 40u}) {
    for (const bool fin : {false, true}) {
      BlockPool pool;
      Rack bulk(pool, 16), single(pool, 16);
      bulk.reset(kBase);
      single.reset(kBase);
      const std::uint32_t payload = segments * kMss - (segments > 1 ? 300 : 0);
      const SeqNum end = kBase + payload + (fin ? 1u : 0u);
      bulk.on_sent_segments(kBase, payload, end, kMss, kT0);
      SeqNum at = kBase;
      for (std::uint32_t left = payload; left > kMss; left -= kMss, at += kMss)
        single.on_sent(at, at + kMss, kT0);
      single.on_sent(at, end, kT0);
      SCOPED_TRACE(testing::Message() << segments << " segments, fin " << fin);
      EXPECT_EQ(bulk.record_count(), single.record_count());
      EXPECT_EQ(bulk.pipe(), single.pipe());
      // The same records: a SACK of the second half marks the same segments lost.
      const std::vector<SackBlock> sack{{kBase + payload / 2, end}};
      for (Rack* r : {&bulk, &single}) {
        r->on_ack(kBase, sack, kT0 + 10ms);
        r->detect_loss(kT0 + 20ms, 0ms);
      }
      std::vector<std::pair<std::uint32_t, std::uint32_t>> lost_bulk, lost_single;
      bulk.for_each_lost([&](SeqNum s, std::uint32_t n) { lost_bulk.emplace_back(s - kBase, n); });
      single.for_each_lost(
          [&](SeqNum s, std::uint32_t n) { lost_single.emplace_back(s - kBase, n); });
      EXPECT_EQ(lost_bulk, lost_single);
      EXPECT_EQ(bulk.pipe(), single.pipe());
    }
  }
}

TEST_F(RackTest, RetransmissionIsSplitOffAPartlyCoveredRecord) {
  rack.on_sent(at(0), at(2), kT0);  // one 2-segment record
  rack.mark_lost(at(0));
  rack.on_sent(at(0), at(1), kT0 + 5ms);  // only its first half is resent
  EXPECT_EQ(rack.record_count(), 2u);
  ASSERT_TRUE(rack.next_lost().has_value());
  EXPECT_EQ(rack.next_lost()->seq, at(1));
  EXPECT_EQ(rack.next_lost()->len, kMss);
}

// §6.2 step 2: an ACK that arrives sooner after a retransmission than the path's
// min_RTT was for the original. Taking it as the retransmission's would make the
// retransmission the reference, and everything sent before it "lost".
TEST_F(RackTest, AckFasterThanMinRttIsNotCreditedToTheRetransmission) {
  send(0, 2, kT0);
  rack.on_ack(at(0), std::vector<SackBlock>{segs(1, 2)}, kT0 + 10ms);  // min_RTT 10 ms
  rack.mark_lost(at(0));
  rack.on_sent(at(0), at(1), kT0 + 20ms);  // the retransmission
  send(2, 3, kT0 + 15ms);                  // (records stay in sequence order)
  rack.on_ack(at(1), {}, kT0 + 21ms);      // 1 ms later: the original's ACK
  EXPECT_EQ(rack.detect_loss(kT0 + 21ms, 0ms).newly_lost, 0u);
}

// SetPipe() with RACK's marks: a lost segment leaves the pipe, its retransmission
// enters it, a lost retransmission leaves it again.
TEST_F(RackTest, PipeCountsByRacksLossMarks) {
  send(0, 5, kT0);
  rack.on_ack(at(0), std::vector<SackBlock>{segs(1, 3)}, kT0 + 10ms);
  EXPECT_EQ(rack.pipe(), 3 * kMss);  // segments 0, 3, 4
  rack.mark_lost(at(0));
  EXPECT_EQ(rack.pipe(), 2 * kMss);
  rack.on_sent(at(0), at(1), kT0 + 11ms);
  EXPECT_EQ(rack.pipe(), 3 * kMss);  // the retransmission, not the original
  send(5, 6, kT0 + 12ms);
  rack.on_ack(at(0), std::vector<SackBlock>{segs(1, 3), segs(5, 6)}, kT0 + 30ms);
  EXPECT_EQ(rack.detect_loss(kT0 + 30ms, 0ms).newly_lost, 3u);  // 0 again, 3 and 4
  EXPECT_EQ(rack.pipe(), 0u);
}

TEST_F(RackTest, ReorderingSeenKeepsTheWindowInRecovery) {
  send(0, 3, kT0);
  EXPECT_EQ(rack.reo_wnd(true, false, 8ms, 100ms), 0ms);
  rack.on_ack(at(0), std::vector<SackBlock>{segs(2, 3)}, kT0 + 10ms);
  rack.on_ack(at(0), std::vector<SackBlock>{segs(1, 3)}, kT0 + 11ms);  // 1 arrived after 2
  EXPECT_TRUE(rack.reordering_seen());
  EXPECT_EQ(rack.reo_wnd(true, false, 8ms, 100ms), 2ms);
}

// §6.2.4: each round with a D-SACK widens reo_wnd by min_RTT/4, up to SRTT; 16
// recoveries without one narrow it again.
TEST_F(RackTest, DsackWidensTheReorderingWindowOncePerRound) {
  EXPECT_EQ(rack.reo_wnd(false, false, 8ms, 100ms), 2ms);
  rack.on_dsack(at(0), at(10));
  EXPECT_EQ(rack.reo_wnd(false, false, 8ms, 100ms), 4ms);
  rack.on_dsack(at(5), at(10));  // same round
  EXPECT_EQ(rack.reo_wnd(false, false, 8ms, 100ms), 4ms);
  rack.on_dsack(at(10), at(20));  // next round
  EXPECT_EQ(rack.reo_wnd(false, false, 8ms, 100ms), 6ms);
  EXPECT_EQ(rack.reo_wnd(false, false, 8ms, 5ms), 5ms);  // capped at SRTT
  for (int i = 0; i < 15; ++i) rack.on_recovery_end();
  EXPECT_EQ(rack.reo_wnd(false, false, 8ms, 100ms), 6ms);
  rack.on_recovery_end();
  EXPECT_EQ(rack.reo_wnd(false, false, 8ms, 100ms), 2ms);
}

TEST_F(RackTest, FullRingCoalescesIntoTheLastRecord) {
  Rack small{pool, 2};
  small.reset(kBase);
  small.on_sent(at(0), at(1), kT0);
  small.on_sent(at(1), at(2), kT0);
  small.on_sent(at(2), at(3), kT0 + 1ms);
  EXPECT_EQ(small.record_count(), 2u);
  small.on_ack(at(0), std::vector<SackBlock>{segs(2, 3)}, kT0 + 10ms);  // half a record
  EXPECT_EQ(small.detect_loss(kT0 + 20ms, 0ms).newly_lost, 0u);         // nothing delivered
}

TEST(Prr, ProportionalWhilePipeAboveSsthresh) {
  Prr prr;
  prr.start(20 * kMss);
  // ssthresh half of RecoverFS: one segment per two delivered, the first at once.
  prr.on_ack(kMss, 16 * kMss, 10 * kMss, kMss);
  EXPECT_EQ(prr.allowance(), kMss);  // the fast retransmission
  prr.on_sent(kMss);
  prr.on_ack(kMss, 15 * kMss, 10 * kMss, kMss);
  EXPECT_EQ(prr.allowance(), 0u);
  prr.on_ack(kMss, 14 * kMss, 10 * kMss, kMss);
  EXPECT_EQ(prr.allowance(), kMss);
  EXPECT_EQ(prr.delivered(), 3u * kMss);
  EXPECT_EQ(prr.out(), 1u * kMss);
}

TEST(Prr, SlowStartReductionBoundBelowSsthresh) {
  Prr prr;
  prr.start(10 * kMss);
  prr.on_ack(kMss, 1 * kMss, 5 * kMss, kMss);
  EXPECT_EQ(prr.allowance(), 2 * kMss);  // delivered + 1 MSS, not ssthresh - pipe (4)
  prr.on_sent(2 * kMss);
  prr.on_ack(4 * kMss, 0, 5 * kMss, kMss);
  EXPECT_EQ(prr.allowance(), 5 * kMss);  // ssthresh - pipe, within 4 + 1 MSS
}

TEST(TailLossProbe, TimeoutIsTwoSrttPlusDelayedAckForOneSegment) {
  EXPECT_EQ(TailLossProbe::pto(true, 10ms, false), 20ms);
  EXPECT_EQ(TailLossProbe::pto(true, 10ms, true), 220ms);
  EXPECT_EQ(TailLossProbe::pto(false, 0ms, false), 1s);
}

TEST(TailLossProbe, RepairedLossNeedsAnAckBeyondTheProbeWithoutDsack) {
  TailLossProbe tlp;
  tlp.on_probe(at(10), true, 3 * kMss);
  EXPECT_FALSE(tlp.repaired_loss(at(9), std::nullopt, false));   // below the probe
  EXPECT_FALSE(tlp.repaired_loss(at(10), std::nullopt, false));  // at it: undecided
  EXPECT_TRUE(tlp.outstanding());
  EXPECT_TRUE(tlp.repaired_loss(at(11), std::nullopt, false));
  EXPECT_FALSE(tlp.outstanding());
  // A D-SACK of the probe: the original arrived too.
  tlp.on_probe(at(10), true, 3 * kMss);
  EXPECT_FALSE(tlp.repaired_loss(at(10), segs(9, 10), false));
  EXPECT_FALSE(tlp.outstanding());
  // A D-SACK of something else says nothing about the probe.
  tlp.on_probe(at(10), true, 3 * kMss);
  EXPECT_FALSE(tlp.repaired_loss(at(10), segs(2, 3), false));
  EXPECT_TRUE(tlp.repaired_loss(at(11), std::nullopt, false));
  // A probe of new data repairs nothing.
  tlp.on_probe(at(10), false, 3 * kMss);
  EXPECT_FALSE(tlp.repaired_loss(at(11), std::nullopt, false));
  EXPECT_FALSE(tlp.outstanding());
}

}  // namespace
}  // namespace shardtcp
