// Loss recovery: RTO (RFC 6298 backoff, Karn), give-up timeouts, SACK-based recovery
// (RFC 6675), NewReno fast retransmit and partial ACKs (RFC 6582), limited transmit
// (RFC 3042), D-SACK reception.
#include "tcb_test_util.h"

namespace shardtcp::testing {
namespace {

class Recovery : public TcbTest {
 protected:
  static constexpr std::uint32_t kMss = 1460;
  // Queues n full segments and sends what the window allows.
  Emitted send_segments(std::uint32_t n) {
    std::string d(n * kMss, '\0');
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<char>('a' + i % 26);
    EXPECT_EQ(tcb->send(reinterpret_cast<const std::uint8_t*>(d.data()),
                        static_cast<std::uint32_t>(d.size())),
              d.size());
    return flush();
  }
  SeqNum seg_start(std::uint32_t i) const { return SeqNum(our_seq_ + i * kMss); }
  // A duplicate ACK from the peer carrying SACK blocks.
  TcpSegment dupack(std::initializer_list<SackBlock> blocks) {
    TcpSegment a = seg(kAck, peer_seq_, our_seq_);
    for (const auto& b : blocks) a.options.sack[a.options.sack_count++] = b;
    return a;
  }
  SackBlock segs(std::uint32_t from, std::uint32_t to) const {
    return SackBlock{seg_start(from), seg_start(to)};
  }
};

class RecoverySack : public Recovery {
 protected:
  void SetUp() override {
    establish_active(true, false);
    send(seg(kAck, peer_seq_, our_seq_));  // scaled window from now on
  }
  // RFC 6675 loss detection alone: for tests of the RTO itself (no tail-loss probe goes
  // first) and of DupThresh (no time passes in them, and RACK judges by time).
  void without_rack_tlp() {
    tcb.reset();
    cfg.rack_tlp = false;
    SetUp();
  }
};

class RecoveryReno : public Recovery {
 protected:
  void SetUp() override {
    establish_active(false, false);
    send(seg(kAck, peer_seq_, our_seq_));
  }
};

TEST_F(RecoverySack, Established_InitialWindowIsTenSegments) {
  Emitted e = send_segments(20);
  EXPECT_EQ(e.segs.size(), 10u);
  EXPECT_EQ(tcb->bytes_in_flight(), 10 * kMss);
}

TEST_F(RecoverySack, Established_RtoBacksOffExponentiallyAndResetsOnAck) {
  without_rack_tlp();
  send_segments(2);
  Duration rto = tcb->rtt().rto();
  EXPECT_EQ(rto, Duration(200ms));  // 10 ms SYN RTT clamps to min RTO
  Instant t0 = now;
  const OutSegment& r1 = expect_one(fire_next());
  EXPECT_EQ(now - t0, rto);
  EXPECT_EQ(r1.seg.seq, seg_start(0));
  EXPECT_EQ(tcb->cwnd(), kMss);  // loss window
  Instant t1 = now;
  expect_one(fire_next());
  EXPECT_EQ(now - t1, 2 * rto);
  Instant t2 = now;
  expect_one(fire_next());
  EXPECT_EQ(now - t2, 4 * rto);
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 3u);
  // Karn: the ACK of a retransmitted segment gives no RTT sample (no timestamps).
  Duration srtt = tcb->rtt().srtt();
  Emitted e = send(seg(kAck, peer_seq_, our_seq_ + kMss));
  EXPECT_EQ(tcb->rtt().srtt(), srtt);
  EXPECT_EQ(tcb->rtt().backoff_shift(), 0u);
  EXPECT_EQ(tcb->rtt().rto(), rto);
  // Go-back-N: the second segment is resent by the ACK clock.
  ASSERT_EQ(e.segs.size(), 1u);
  EXPECT_EQ(e.segs[0].seg.seq, seg_start(1));
}

TEST_F(RecoverySack, Established_UnretransmittedSegmentGivesRttSample) {
  send_segments(1);
  now = now + 80ms;
  send(seg(kAck, peer_seq_, our_seq_ + kMss));
  EXPECT_GT(tcb->rtt().srtt(), Duration(10ms));
}

TEST_F(RecoverySack, Established_RetransmissionsExhaustedReportEtimedout) {
  cfg.max_retransmits = 3;
  without_rack_tlp();
  send_segments(1);
  Emitted e = advance(100s);
  EXPECT_EQ(e.segs.size(), 3u);
  EXPECT_EQ(e.value(TcpEventKind::kError), static_cast<std::uint32_t>(ETIMEDOUT));
  EXPECT_EQ(counter(TcpCounter::kRetransTimeouts), 1u);
}

TEST_F(RecoverySack, Established_UserTimeoutCutsRetransmissionsShort) {
  tcb->set_user_timeout(1s);
  send_segments(1);
  Emitted e = advance(100s);
  EXPECT_LE(e.segs.size(), 4u);
  EXPECT_EQ(e.value(TcpEventKind::kError), static_cast<std::uint32_t>(ETIMEDOUT));
  EXPECT_LT(now - Instant{1'000'000'000}, Duration(100s + 1s));
}

TEST_F(RecoverySack, Established_IcmpSoftErrorReportedOnRetransmitTimeout) {
  tcb.reset();
  cfg.max_retransmits = 2;
  establish_active(true, false);
  send_segments(1);
  out.clear();
  tcb->on_icmp_unreachable(/*hard=*/false, now, out);
  Emitted e = advance(100s);
  EXPECT_EQ(e.value(TcpEventKind::kError), static_cast<std::uint32_t>(EHOSTUNREACH));
}

TEST_F(RecoverySack, Established_SackRecoveryRetransmitsExactlyTheLostSegment) {
  without_rack_tlp();
  Emitted e = send_segments(10);
  ASSERT_EQ(e.segs.size(), 10u);
  // Segment 0 is lost; 1, 2 and 3 arrive and are SACKed.
  expect_nothing(send(dupack({segs(1, 2)})));
  expect_nothing(send(dupack({segs(1, 3)})));
  Emitted r = send(dupack({segs(1, 4)}));
  ASSERT_EQ(r.segs.size(), 1u);
  EXPECT_EQ(r.segs[0].seg.seq, seg_start(0));
  EXPECT_EQ(r.segs[0].payload_len, kMss);
  EXPECT_TRUE(tcb->in_recovery());
  EXPECT_EQ(counter(TcpCounter::kSackRecoveries), 1u);
  EXPECT_EQ(counter(TcpCounter::kFastRetrans), 1u);
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 0u);
  // More SACKs: no other retransmission of a hole (nothing else is lost); only the one
  // rescue retransmission of the un-SACKed tail (RFC 6675 NextSeg rule 4).
  Emitted more = send(dupack({segs(1, 6)}));
  for (const auto& s : more.segs) EXPECT_NE(s.seg.seq, seg_start(0));
  EXPECT_EQ(counter(TcpCounter::kRescueRetrans), 1u);
  EXPECT_EQ(counter(TcpCounter::kRetransSegs), 2u);
  // The retransmission arrives: everything is acknowledged, recovery ends.
  send(seg(kAck, peer_seq_, our_seq_ + 10 * kMss));
  EXPECT_FALSE(tcb->in_recovery());
  EXPECT_EQ(tcb->bytes_in_flight(), 0u);
}

TEST_F(RecoverySack, Established_SackRecoveryRepairsTwoHoles) {
  without_rack_tlp();
  send_segments(10);
  // Segments 0 and 4 lost.
  send(dupack({segs(1, 2)}));
  send(dupack({segs(1, 3)}));
  Emitted r = send(dupack({segs(1, 4)}));
  ASSERT_FALSE(r.segs.empty());
  EXPECT_EQ(r.segs[0].seg.seq, seg_start(0));
  std::vector<SeqNum> rexmit;
  for (int k = 6; k <= 10; ++k) {
    Emitted m = send(dupack({segs(5, k), segs(1, 4)}));
    for (const auto& s : m.segs)
      if (s.seg.seq < seg_start(10)) rexmit.push_back(s.seg.seq);
  }
  // Hole 4, and the tail's rescue retransmission (RFC 6675 NextSeg rule 4) once.
  ASSERT_EQ(rexmit.size(), 2u);
  EXPECT_EQ(rexmit[0], seg_start(4));
  EXPECT_EQ(rexmit[1], seg_start(9));
  EXPECT_EQ(counter(TcpCounter::kRescueRetrans), 1u);
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 0u);
}

TEST_F(RecoverySack, Established_DsackIsCounted) {
  send_segments(2);
  send(seg(kAck, peer_seq_, our_seq_ + 2 * kMss));
  // The peer reports a duplicate below the cumulative ACK.
  TcpSegment a = seg(kAck, peer_seq_, our_seq_ + 2 * kMss);
  a.options.sack[0] = segs(0, 1);
  a.options.sack_count = 1;
  send(a);
  EXPECT_EQ(counter(TcpCounter::kDsackRecv), 1u);
}

TEST_F(RecoveryReno, Established_FastRetransmitOnThirdDupAck) {
  send_segments(10);
  expect_nothing(send(dupack({})));
  expect_nothing(send(dupack({})));
  const OutSegment& r = expect_one(send(dupack({})));
  EXPECT_EQ(r.seg.seq, seg_start(0));
  EXPECT_TRUE(tcb->in_recovery());
  EXPECT_EQ(counter(TcpCounter::kRenoRecoveries), 1u);
}

TEST_F(RecoveryReno, Established_PartialAckRetransmitsNextHole) {
  send_segments(10);
  // Segments 0 and 3 lost.
  send(dupack({}));
  send(dupack({}));
  const OutSegment& r = expect_one(send(dupack({})));
  EXPECT_EQ(r.seg.seq, seg_start(0));
  // The retransmission fills hole 0; the ACK stops at hole 3: partial ACK.
  Emitted p = send(seg(kAck, peer_seq_, seg_start(3).raw()));
  ASSERT_FALSE(p.segs.empty());
  EXPECT_EQ(p.segs[0].seg.seq, seg_start(3));
  EXPECT_TRUE(tcb->in_recovery());
  // Everything acknowledged: recovery is over, cwnd = ssthresh.
  send(seg(kAck, peer_seq_, seg_start(10).raw()));
  EXPECT_FALSE(tcb->in_recovery());
  EXPECT_EQ(tcb->cwnd(), tcb->ssthresh());
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 0u);
}

TEST_F(RecoveryReno, Established_LimitedTransmitSendsNewSegmentPerEarlyDupAck) {
  Emitted e = send_segments(14);
  ASSERT_EQ(e.segs.size(), 10u);
  const OutSegment& n1 = expect_one(send(dupack({})));
  EXPECT_EQ(n1.seg.seq, seg_start(10));
  const OutSegment& n2 = expect_one(send(dupack({})));
  EXPECT_EQ(n2.seg.seq, seg_start(11));
}

TEST_F(RecoveryReno, Established_DupAcksBelowThresholdDoNotRetransmit) {
  send_segments(10);
  send(dupack({}));
  send(dupack({}));
  EXPECT_FALSE(tcb->in_recovery());
  EXPECT_EQ(counter(TcpCounter::kRetransSegs), 0u);
}

}  // namespace
}  // namespace shardtcp::testing

namespace shardtcp::testing {
namespace {

TEST_F(TcbTest, Established_RtoRetransmitsHeadEvenIntoAShrunkWindow) {
  establish_active(true, false);
  send(seg(kAck, peer_seq_, our_seq_));
  std::string d(2000, 'h');
  tcb->send(reinterpret_cast<const std::uint8_t*>(d.data()), 2000);
  ASSERT_EQ(flush().segs.size(), 1u);       // 1460 out, Nagle holds the tail
  send(seg(kAck, peer_seq_, our_seq_, 0));  // the peer shrinks its window to zero
  const OutSegment& r = expect_one(fire_next());
  EXPECT_EQ(r.seg.seq, SeqNum(our_seq_));
  EXPECT_EQ(r.payload_len, 1460u);
}

}  // namespace
}  // namespace shardtcp::testing
