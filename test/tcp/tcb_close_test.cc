// Closing: FIN_WAIT_1/2, CLOSING, TIME_WAIT, CLOSE_WAIT, LAST_ACK, half-close,
// simultaneous close, resets on close, and the timers of these states.
#include "tcb_test_util.h"

namespace shardtcp::testing {
namespace {

class Closing : public TcbTest {
 protected:
  void SetUp() override {
    cfg.msl = 30s;
    cfg.fin_wait2_timeout = 60s;
    establish_active(true, false);
  }
  // Our FIN goes out at our_seq_ (no data sent).
  TcpSegment ack_of_fin() { return seg(kAck, peer_seq_, our_seq_ + 1); }
  TcpSegment peer_fin(std::uint32_t ack) { return seg(kFin | kAck, peer_seq_, ack); }
};

using FinWait1 = Closing;
using FinWait2 = Closing;
using TimeWait = Closing;
using CloseWait = Closing;
using LastAck = Closing;

TEST_F(FinWait1, CloseSendsFin) {
  const OutSegment& f = expect_one(close());
  EXPECT_EQ(f.seg.flags, kFin | kAck);
  EXPECT_EQ(f.seg.seq, SeqNum(our_seq_));
  EXPECT_EQ(tcb->state(), TcpState::kFinWait1);
  EXPECT_EQ(tcb->writable_bytes(), 0u);
}

TEST_F(FinWait1, FinFollowsQueuedDataOnTheLastSegment) {
  tcb->send(reinterpret_cast<const std::uint8_t*>("tail"), 4);
  const OutSegment& f = expect_one(close());
  EXPECT_EQ(f.seg.flags, kFin | kAck | kPsh);
  EXPECT_EQ(f.payload_len, 4u);
  EXPECT_EQ(tcb->snd_nxt(), SeqNum(our_seq_ + 5));
}

TEST_F(FinWait1, FinRetransmittedOnRto) {
  close();
  // A lone FIN's probe timeout (2·SRTT + 200 ms) is capped at the RTO: the first
  // expiry sends it as a tail-loss probe (RFC 8985 §7), the next is the RTO.
  const OutSegment& p = expect_one(fire_next());
  EXPECT_EQ(p.seg.flags, kFin | kAck);
  EXPECT_EQ(p.seg.seq, SeqNum(our_seq_));
  EXPECT_EQ(counter(TcpCounter::kTlpProbes), 1u);
  const OutSegment& r = expect_one(fire_next());
  EXPECT_EQ(r.seg.flags, kFin | kAck);
  EXPECT_EQ(r.seg.seq, SeqNum(our_seq_));
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 1u);
}

TEST_F(FinWait1, AckOfFinEntersFinWait2) {
  close();
  expect_nothing(send(ack_of_fin()));
  EXPECT_EQ(tcb->state(), TcpState::kFinWait2);
}

TEST_F(FinWait1, SimultaneousCloseGoesThroughClosingToTimeWait) {
  close();
  Emitted e = send(peer_fin(our_seq_));  // the peer's FIN crossed ours
  EXPECT_EQ(tcb->state(), TcpState::kClosing);
  const OutSegment& a = expect_one(e);
  EXPECT_EQ(a.seg.ack, SeqNum(peer_seq_ + 1));
  EXPECT_TRUE(e.has(TcpEventKind::kPeerFin));
  Emitted e2 = send(seg(kAck, peer_seq_ + 1, our_seq_ + 1));
  EXPECT_EQ(tcb->state(), TcpState::kTimeWait);
  EXPECT_TRUE(e2.has_time_wait);
}

TEST_F(FinWait1, FinWithAckOfOurFinGoesStraightToTimeWait) {
  close();
  Emitted e = send(peer_fin(our_seq_ + 1));
  EXPECT_EQ(tcb->state(), TcpState::kTimeWait);
  EXPECT_EQ(expect_one(e).seg.ack, SeqNum(peer_seq_ + 1));
}

TEST_F(FinWait2, FinEntersTimeWaitWithCompactRecord) {
  close();
  send(ack_of_fin());
  Emitted e = send(peer_fin(our_seq_ + 1));
  EXPECT_EQ(tcb->state(), TcpState::kTimeWait);
  const OutSegment& a = expect_one(e);
  EXPECT_EQ(a.seg.ack, SeqNum(peer_seq_ + 1));
  ASSERT_TRUE(e.has_time_wait);
  EXPECT_EQ(e.tw.local, local());
  EXPECT_EQ(e.tw.remote, peer());
  EXPECT_EQ(e.tw.snd_nxt, SeqNum(our_seq_ + 1));
  EXPECT_EQ(e.tw.rcv_nxt, SeqNum(peer_seq_ + 1));
  EXPECT_EQ(e.tw.expiry, now + 60s);
}

TEST_F(FinWait2, TimeoutClosesAnOrphan) {
  close();
  send(ack_of_fin());
  EXPECT_EQ(tcb->next_deadline(), now + 60s);
  Emitted e = advance(60s);
  EXPECT_TRUE(e.has(TcpEventKind::kClosed));
  EXPECT_EQ(tcb->state(), TcpState::kClosed);
  EXPECT_EQ(counter(TcpCounter::kFinWait2Timeouts), 1u);
}

TEST_F(FinWait2, HalfCloseKeepsReceivingWithoutTimeout) {
  shutdown();
  EXPECT_EQ(tcb->state(), TcpState::kFinWait1);
  send(ack_of_fin());
  EXPECT_EQ(tcb->state(), TcpState::kFinWait2);
  EXPECT_EQ(tcb->next_deadline(), Instant::never());  // not orphaned: no FIN_WAIT_2 timer
  send(data(peer_seq_, our_seq_ + 1, "still talking"));
  EXPECT_EQ(read_all(), "still talking");
  Emitted e = send(seg(kFin | kAck, peer_seq_ + 13, our_seq_ + 1));
  EXPECT_TRUE(e.has(TcpEventKind::kPeerFin));
  EXPECT_EQ(tcb->state(), TcpState::kTimeWait);
}

TEST_F(FinWait2, DataAfterCloseIsAnsweredWithReset) {
  close();
  send(ack_of_fin());
  Emitted e = send(data(peer_seq_, our_seq_ + 1, "anyone?"));
  EXPECT_EQ(e.count_flag(kRst), 1u);
  EXPECT_EQ(tcb->state(), TcpState::kClosed);
}

TEST_F(TimeWait, ExpiresAfter2Msl) {
  close();
  send(ack_of_fin());
  send(peer_fin(our_seq_ + 1));
  EXPECT_EQ(tcb->next_deadline(), now + 60s);
  expect_nothing(advance(59s));
  EXPECT_EQ(tcb->state(), TcpState::kTimeWait);
  Emitted e = advance(1s);
  EXPECT_TRUE(e.has(TcpEventKind::kClosed));
  EXPECT_EQ(tcb->state(), TcpState::kClosed);
}

TEST_F(TimeWait, RetransmittedFinIsReAckedAndRestartsTimer) {
  close();
  send(ack_of_fin());
  send(peer_fin(our_seq_ + 1));
  advance(30s);
  const OutSegment& a = expect_one(send(peer_fin(our_seq_ + 1)));
  EXPECT_EQ(a.seg.ack, SeqNum(peer_seq_ + 1));
  EXPECT_EQ(tcb->next_deadline(), now + 60s);
}

TEST_F(CloseWait, PeerFinEntersCloseWaitAndReadReturnsData) {
  send(data(peer_seq_, our_seq_, "bye"));
  Emitted e = send(seg(kFin | kAck, peer_seq_ + 3, our_seq_));
  EXPECT_EQ(tcb->state(), TcpState::kCloseWait);
  EXPECT_TRUE(e.has(TcpEventKind::kPeerFin));
  EXPECT_EQ(expect_one(e).seg.ack, SeqNum(peer_seq_ + 4));
  EXPECT_TRUE(tcb->peer_closed());
  EXPECT_EQ(read_all(), "bye");
  // We may still send.
  EXPECT_EQ(app_send("reply").segs.size(), 1u);
}

TEST_F(CloseWait, OutOfOrderFinIsHeldUntilTheGapFills) {
  Emitted e = send(data(peer_seq_ + 5, our_seq_, "world", 65535, kFin));
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
  EXPECT_FALSE(e.has(TcpEventKind::kPeerFin));
  Emitted e2 = send(data(peer_seq_, our_seq_, "hello"));
  EXPECT_TRUE(e2.has(TcpEventKind::kPeerFin));
  EXPECT_EQ(tcb->state(), TcpState::kCloseWait);
  EXPECT_EQ(expect_one(e2).seg.ack, SeqNum(peer_seq_ + 11));
  EXPECT_EQ(read_all(), "helloworld");
}

TEST_F(LastAck, CloseFromCloseWaitSendsFinAndAckCloses) {
  send(peer_fin(our_seq_));
  const OutSegment& f = expect_one(close());
  EXPECT_EQ(f.seg.flags, kFin | kAck);
  EXPECT_EQ(tcb->state(), TcpState::kLastAck);
  Emitted e = send(seg(kAck, peer_seq_ + 1, our_seq_ + 1));
  EXPECT_TRUE(e.has(TcpEventKind::kClosed));
  EXPECT_FALSE(e.has(TcpEventKind::kError));
  EXPECT_EQ(tcb->state(), TcpState::kClosed);
}

TEST_F(LastAck, RstCloses) {
  send(peer_fin(our_seq_));
  close();
  Emitted e = send(seg(kRst, peer_seq_ + 1));
  EXPECT_TRUE(e.has(TcpEventKind::kClosed));
  EXPECT_EQ(tcb->state(), TcpState::kClosed);
}

TEST_F(Closing, CloseWithUnreadDataSendsReset) {
  send(data(peer_seq_, our_seq_, "unread"));
  Emitted e = close();
  const OutSegment& r = expect_one(e);
  EXPECT_TRUE(r.seg.has(kRst));
  EXPECT_TRUE(e.has(TcpEventKind::kClosed));
}

TEST_F(Closing, LingerZeroCloseSendsReset) {
  tcb->set_linger_zero(true);
  const OutSegment& r = expect_one(close());
  EXPECT_EQ(r.seg.flags, kRst | kAck);
  EXPECT_EQ(r.seg.seq, SeqNum(our_seq_));
  EXPECT_EQ(counter(TcpCounter::kResetsSent), 1u);
}

TEST_F(Closing, AbortSendsResetAndCloses) {
  out.clear();
  tcb->abort(now, out);
  Emitted e = collect(out);
  EXPECT_EQ(expect_one(e).seg.flags, kRst | kAck);
  EXPECT_TRUE(e.has(TcpEventKind::kClosed));
  // A closed TCB answers with resets.
  EXPECT_EQ(expect_one(send(seg(kAck, peer_seq_, our_seq_))).seg.flags, kRst);
}

}  // namespace
}  // namespace shardtcp::testing

namespace shardtcp::testing {
namespace {

TEST_F(TcbTest, SynReceived_CloseQueuesFinUntilHandshakeCompletes) {
  make();
  out.clear();
  tcb->accept_syn(seg(kSyn, kPeerIss), local(), peer(), SeqNum(kIss), now, out);
  expect_nothing(close());
  EXPECT_EQ(tcb->state(), TcpState::kSynReceived);
  Emitted e = send(seg(kAck, kPeerIss + 1, kIss + 1));
  EXPECT_EQ(tcb->state(), TcpState::kFinWait1);
  const OutSegment& f = expect_one(e);
  EXPECT_EQ(f.seg.flags, kFin | kAck);
  EXPECT_EQ(f.seg.seq, SeqNum(kIss + 1));
}

TEST_F(TcbTest, Established_DataPiggybacksThePendingAck) {
  establish_active(false, false);
  expect_nothing(send(data(peer_seq_, our_seq_, "ping")));
  EXPECT_NE(tcb->next_deadline(), Instant::never());  // delayed ACK armed
  tcb->set_nodelay(true);
  const OutSegment& d = expect_one(app_send("pong"));
  EXPECT_EQ(d.seg.ack, SeqNum(peer_seq_ + 4));
  // Only the retransmission timer is left: the delayed ACK was cancelled.
  EXPECT_EQ(tcb->next_deadline(), now + tcb->rtt().rto());
}

TEST_F(TcbTest, TimeWait_ExactRstCloses) {
  establish_active(false, false);
  close();
  send(seg(kFin | kAck, peer_seq_, our_seq_ + 1));
  ASSERT_EQ(tcb->state(), TcpState::kTimeWait);
  Emitted e = send(seg(kRst, peer_seq_ + 1));
  EXPECT_TRUE(e.has(TcpEventKind::kClosed));
  EXPECT_FALSE(e.has(TcpEventKind::kError));
}

TEST_F(TcbTest, TimeWait_NewSynDrawsChallengeAckNotReset) {
  establish_active(false, false);
  close();
  send(seg(kFin | kAck, peer_seq_, our_seq_ + 1));
  ASSERT_EQ(tcb->state(), TcpState::kTimeWait);
  const OutSegment& a = expect_one(send(seg(kSyn, peer_seq_ + 100)));
  EXPECT_EQ(a.seg.flags, kAck);
  EXPECT_EQ(tcb->state(), TcpState::kTimeWait);
}

}  // namespace
}  // namespace shardtcp::testing
