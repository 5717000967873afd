// ESTABLISHED: data in both directions, delayed ACKs, SACK/D-SACK generation, RFC 5961
// (RST, SYN, ACK checks and the challenge-ACK limit), PAWS, window scaling, Nagle, SWS,
// persist and keepalive.
#include "tcb_test_util.h"

namespace shardtcp::testing {
namespace {

class Established : public TcbTest {
 protected:
  void SetUp() override { establish_active(/*sack=*/true, /*ts=*/false); }
  std::string bytes(std::size_t n, char c = 'x') { return std::string(n, c); }
};

TEST_F(Established, InOrderDataIsReadableAndAckIsDelayed) {
  Emitted e = send(data(peer_seq_, our_seq_, "hello"));
  expect_nothing(e);
  EXPECT_TRUE(e.has(TcpEventKind::kReadable));
  EXPECT_EQ(tcb->readable_bytes(), 5u);
  EXPECT_EQ(tcb->next_deadline(), now + 40ms);
  Emitted t = advance(40ms);
  const OutSegment& ack = expect_one(t);
  EXPECT_EQ(ack.seg.ack, SeqNum(peer_seq_ + 5));
  EXPECT_EQ(counter(TcpCounter::kDelayedAcks), 1u);
  EXPECT_EQ(read_all(), "hello");
}

TEST_F(Established, SecondFullSegmentIsAckedAtOnce) {
  expect_nothing(send(data(peer_seq_, our_seq_, bytes(1460))));
  const OutSegment& ack = expect_one(send(data(peer_seq_ + 1460, our_seq_, bytes(1460))));
  EXPECT_EQ(ack.seg.ack, SeqNum(peer_seq_ + 2920));
  EXPECT_EQ(tcb->next_deadline(), Instant::never());
}

TEST_F(Established, OutOfOrderDataAckedAtOnceWithSackThenGapFillAcked) {
  Emitted e = send(data(peer_seq_ + 100, our_seq_, bytes(50)));
  const OutSegment& a1 = expect_one(e);
  EXPECT_FALSE(e.has(TcpEventKind::kReadable));
  EXPECT_EQ(a1.seg.ack, SeqNum(peer_seq_));
  ASSERT_EQ(a1.seg.options.sack_count, 1);
  EXPECT_EQ(a1.seg.options.sack[0], (SackBlock{SeqNum(peer_seq_ + 100), SeqNum(peer_seq_ + 150)}));
  // A second island: it is reported first (most recent, RFC 2018).
  const OutSegment& a2 = expect_one(send(data(peer_seq_ + 200, our_seq_, bytes(10))));
  ASSERT_EQ(a2.seg.options.sack_count, 2);
  EXPECT_EQ(a2.seg.options.sack[0].left, SeqNum(peer_seq_ + 200));
  EXPECT_EQ(a2.seg.options.sack[1].left, SeqNum(peer_seq_ + 100));
  EXPECT_EQ(counter(TcpCounter::kOfoQueued), 2u);
  // Filling the first hole is acknowledged at once and merges the first island.
  const OutSegment& a3 = expect_one(send(data(peer_seq_, our_seq_, bytes(100, 'a'))));
  EXPECT_EQ(a3.seg.ack, SeqNum(peer_seq_ + 150));
  ASSERT_EQ(a3.seg.options.sack_count, 1);
  EXPECT_EQ(a3.seg.options.sack[0].left, SeqNum(peer_seq_ + 200));
  EXPECT_EQ(tcb->readable_bytes(), 150u);
}

TEST_F(Established, DuplicateDataDrawsDsack) {
  send(data(peer_seq_, our_seq_, bytes(100)));
  const OutSegment& a = expect_one(send(data(peer_seq_, our_seq_, bytes(100))));
  ASSERT_GE(a.seg.options.sack_count, 1);
  EXPECT_EQ(a.seg.options.sack[0], (SackBlock{SeqNum(peer_seq_), SeqNum(peer_seq_ + 100)}));
  EXPECT_EQ(counter(TcpCounter::kDsackSent), 1u);
  EXPECT_EQ(tcb->readable_bytes(), 100u);
}

// A peer that shrinks its window below what we already sent drops segments beyond
// its window unread (RFC 9293 §3.10.7.4): our pure ACKs must then carry the window's
// right edge, not SND.MAX, or they never arrive and both sides wait forever (seen
// against Linux with full receive queues).
TEST_F(Established, AckAfterPeerShrankWindowCarriesWindowEdge) {
  Emitted e = app_send(bytes(2920));  // two full segments
  ASSERT_EQ(e.segs.size(), 2u);
  ASSERT_EQ(tcb->snd_max(), SeqNum(our_seq_ + 2920));
  // The peer acknowledges 1000 bytes and closes its window there.
  expect_nothing(send(seg(kAck, peer_seq_, our_seq_ + 1000, /*window=*/0)));
  EXPECT_EQ(tcb->snd_wnd(), 0u);
  // Out-of-order data from the peer draws an immediate ACK.
  const OutSegment& ack = expect_one(send(data(peer_seq_ + 100, our_seq_ + 1000, bytes(10), 0)));
  EXPECT_EQ(ack.seg.seq, SeqNum(our_seq_ + 1000));
  EXPECT_EQ(ack.seg.ack, SeqNum(peer_seq_));
  // With the window open again, ACKs carry SND.MAX as before.
  send(seg(kAck, peer_seq_, our_seq_ + 1000, 1000));
  const OutSegment& ack2 =
      expect_one(send(data(peer_seq_ + 200, our_seq_ + 1000, bytes(10), 1000)));
  EXPECT_EQ(ack2.seg.seq, SeqNum(our_seq_ + 2920));
}

TEST_F(Established, DataIsSentAndAckedReleasesBuffer) {
  Emitted e = app_send("abcdef");
  const OutSegment& d = expect_one(e);
  EXPECT_EQ(d.seg.seq, SeqNum(our_seq_));
  EXPECT_EQ(d.seg.ack, SeqNum(peer_seq_));
  EXPECT_TRUE(d.seg.has(kPsh));
  EXPECT_EQ(payload_of(d), "abcdef");
  EXPECT_NE(tcb->next_deadline(), Instant::never());  // RTO armed
  Emitted a = send(seg(kAck, peer_seq_, our_seq_ + 6));
  expect_nothing(a);
  EXPECT_EQ(a.value(TcpEventKind::kAcked), 6u);
  EXPECT_EQ(tcb->send_buffer().size(), 0u);
  EXPECT_EQ(tcb->next_deadline(), Instant::never());
}

TEST_F(Established, SendIsBoundedBySendBufferAndWritableFollowsAck) {
  tcb->set_send_buffer(4000);
  std::string big(10000, 'z');
  EXPECT_EQ(tcb->send(reinterpret_cast<const std::uint8_t*>(big.data()), 10000), 4000u);
  EXPECT_EQ(tcb->writable_bytes(), 0u);
  Emitted e = flush();
  EXPECT_EQ(e.segs.size(), 2u);  // 1460 + 1460; Nagle holds the 1080 tail
  Emitted a = send(seg(kAck, peer_seq_, our_seq_ + 1460));
  EXPECT_TRUE(a.has(TcpEventKind::kWritable));
  EXPECT_EQ(tcb->writable_bytes(), 1460u);
}

TEST_F(Established, ExactRstResetsConnection) {
  Emitted e = send(seg(kRst, peer_seq_));
  expect_nothing(e);
  EXPECT_EQ(e.value(TcpEventKind::kError), static_cast<std::uint32_t>(ECONNRESET));
  EXPECT_EQ(tcb->state(), TcpState::kClosed);
  EXPECT_EQ(counter(TcpCounter::kEstabResets), 1u);
}

TEST_F(Established, InWindowRstSendsChallengeAck) {
  const OutSegment& a = expect_one(send(seg(kRst, peer_seq_ + 10)));
  EXPECT_EQ(a.seg.flags, kAck);
  EXPECT_EQ(a.seg.ack, SeqNum(peer_seq_));
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
  EXPECT_EQ(counter(TcpCounter::kChallengeAcks), 1u);
}

TEST_F(Established, OutOfWindowRstIsDroppedSilently) {
  expect_nothing(send(seg(kRst, peer_seq_ + 1'000'000)));
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
}

TEST_F(Established, SynSendsChallengeAck) {
  const OutSegment& a = expect_one(send(seg(kSyn, peer_seq_ + 5)));
  EXPECT_EQ(a.seg.flags, kAck);
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
  EXPECT_EQ(counter(TcpCounter::kChallengeAcks), 1u);
}

TEST_F(Established, ChallengeAcksAreRateLimited) {
  std::size_t acks = 0;
  for (int i = 0; i < 15; ++i) acks += send(seg(kRst, peer_seq_ + 1 + i)).segs.size();
  EXPECT_EQ(acks, 10u);
  EXPECT_EQ(counter(TcpCounter::kChallengeAckLimited), 5u);
  advance(1s);
  EXPECT_EQ(send(seg(kRst, peer_seq_ + 3)).segs.size(), 1u);
}

TEST_F(Established, AckOfUnsentDataIsDroppedWithAck) {
  app_send("abc");
  const OutSegment& a = expect_one(send(seg(kAck, peer_seq_, our_seq_ + 100)));
  EXPECT_EQ(a.seg.ack, SeqNum(peer_seq_));
  EXPECT_EQ(tcb->snd_una(), SeqNum(our_seq_));
  EXPECT_EQ(counter(TcpCounter::kDropAckTooNew), 1u);
  EXPECT_EQ(counter(TcpCounter::kChallengeAcks), 1u);
}

TEST_F(Established, AckOlderThanMaxWindowDrawsChallengeAck) {
  Emitted e = send(data(peer_seq_, our_seq_ - 200000, "x"));
  EXPECT_EQ(e.segs.size(), 1u);
  EXPECT_EQ(tcb->readable_bytes(), 0u);  // dropped before the text step
  EXPECT_EQ(counter(TcpCounter::kDropAckTooOld), 1u);
  EXPECT_EQ(counter(TcpCounter::kChallengeAcks), 1u);
}

TEST_F(Established, OutOfWindowDataIsAckedAndDropped) {
  const OutSegment& a = expect_one(send(data(peer_seq_ + 10'000'000, our_seq_, "x")));
  EXPECT_EQ(a.seg.ack, SeqNum(peer_seq_));
  EXPECT_EQ(counter(TcpCounter::kDropOutOfWindow), 1u);
}

TEST_F(Established, WindowScalingAppliesToPeerWindowAndOurs) {
  send(seg(kAck, peer_seq_, our_seq_, 100));
  EXPECT_EQ(tcb->snd_wnd(), 100u << 7);
  const OutSegment& d = expect_one(app_send("q"));
  // 64 KiB buffer with shift 1.
  EXPECT_EQ(d.seg.window, 65536 >> 1);
  EXPECT_EQ(tcb->rcv_wnd(), 65536u);
}

TEST_F(Established, NagleHoldsSmallSegmentUntilAck) {
  EXPECT_EQ(app_send("a").segs.size(), 1u);
  expect_nothing(app_send("b"));
  const OutSegment& d = expect_one(send(seg(kAck, peer_seq_, our_seq_ + 1)));
  EXPECT_EQ(payload_of(d), "b");
}

TEST_F(Established, NodelaySendsSmallSegmentsAtOnce) {
  tcb->set_nodelay(true);
  EXPECT_EQ(app_send("a").segs.size(), 1u);
  EXPECT_EQ(app_send("b").segs.size(), 1u);
}

TEST_F(Established, SenderSwsAvoidanceWaitsThenOverrideSends) {
  send(seg(kAck, peer_seq_, our_seq_, 400));    // 400 << 7 = 51200: max window seen
  send(seg(kAck, peer_seq_ + 0, our_seq_, 1));  // now 128 bytes open
  EXPECT_EQ(tcb->snd_wnd(), 128u);
  std::string d(1000, 'w');
  tcb->send(reinterpret_cast<const std::uint8_t*>(d.data()), 1000);
  expect_nothing(flush());  // 128 < 1000 and < max window / 2: wait
  Emitted p = fire_next();  // the persist timer overrides
  const OutSegment& s = expect_one(p);
  EXPECT_EQ(s.payload_len, 128u);
}

TEST_F(Established, ReceiverSwsKeepsRightEdgeUntilMssFrees) {
  tcb.reset();
  cfg.recv_buffer = 8192;
  establish_active(true, false);
  // Fill the whole window.
  for (std::uint32_t off = 0; off < 8192; off += 1024)
    send(data(peer_seq_ + off, our_seq_, bytes(1024)));
  EXPECT_EQ(tcb->rcv_wnd(), 0u);
  std::uint8_t buf[100];
  tcb->recv(buf, 100);
  expect_nothing(flush());  // 100 bytes free: no update
  const OutSegment& a = expect_one(app_send("q"));
  EXPECT_EQ(a.seg.window, 0);  // still closed: SWS avoidance
  std::uint8_t big[2000];
  tcb->recv(big, 2000);
  const OutSegment& u = expect_one(flush());  // now a full MSS is free: window update
  EXPECT_GE(static_cast<std::uint32_t>(u.seg.window), 1460u);
}

TEST_F(Established, ZeroWindowPersistProbesWithBackoffUntilWindowOpens) {
  send(seg(kAck, peer_seq_, our_seq_, 0));
  EXPECT_EQ(tcb->snd_wnd(), 0u);
  expect_nothing(app_send("data"));
  Instant t0 = now;
  const OutSegment& p1 = expect_one(fire_next());
  EXPECT_EQ(p1.seg.seq, SeqNum(our_seq_ - 1));
  EXPECT_EQ(p1.payload_len, 0u);
  Duration first = now - t0;
  Instant t1 = now;
  expect_one(fire_next());
  EXPECT_EQ(now - t1, first * 2);
  Instant t2 = now;
  expect_one(fire_next());
  EXPECT_EQ(now - t2, first * 4);
  EXPECT_EQ(counter(TcpCounter::kZeroWindowProbes), 3u);
  const OutSegment& d = expect_one(send(seg(kAck, peer_seq_, our_seq_, 10)));
  EXPECT_EQ(payload_of(d), "data");
}

TEST_F(Established, ZeroWindowProbeIsAnsweredWithAck) {
  // The other side of persist: our TCB answers a probe (old sequence) with its window.
  const OutSegment& a = expect_one(send(seg(kAck, peer_seq_ - 1, our_seq_)));
  EXPECT_EQ(a.seg.ack, SeqNum(peer_seq_));
}

TEST_F(Established, KeepaliveProbesThenTimesOut) {
  out.clear();
  tcb->set_keepalive(true, 60s, 5s, 3, now);
  EXPECT_EQ(tcb->next_deadline(), now + 60s);
  Emitted e = advance(60s);
  const OutSegment& k = expect_one(e);
  EXPECT_EQ(k.seg.seq, SeqNum(our_seq_ - 1));
  Emitted e2 = advance(11s);
  EXPECT_EQ(e2.segs.size(), 2u);
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
  Emitted e3 = advance(5s);
  EXPECT_EQ(e3.value(TcpEventKind::kError), static_cast<std::uint32_t>(ETIMEDOUT));
  EXPECT_EQ(e3.count_flag(kRst), 1u);
  EXPECT_EQ(counter(TcpCounter::kKeepaliveProbes), 3u);
  EXPECT_EQ(counter(TcpCounter::kKeepaliveTimeouts), 1u);
}

TEST_F(Established, KeepaliveAnswerRestartsIdleTimer) {
  out.clear();
  tcb->set_keepalive(true, 60s, 5s, 3, now);
  advance(60s);
  advance(5s);
  expect_nothing(send(seg(kAck, peer_seq_, our_seq_)));
  EXPECT_EQ(tcb->next_deadline(), now + 60s);
}

TEST_F(Established, FragNeededLowersMssAndResends) {
  std::string d(3000, 'm');
  tcb->send(reinterpret_cast<const std::uint8_t*>(d.data()), 3000);
  Emitted e = flush();
  ASSERT_EQ(e.segs.size(), 2u);  // Nagle holds the 80-byte tail
  out.clear();
  tcb->on_frag_needed(1000, now, out);
  Emitted r = collect(out);
  EXPECT_EQ(tcb->mss(), 960u);
  ASSERT_FALSE(r.segs.empty());
  EXPECT_EQ(r.segs[0].seg.seq, SeqNum(our_seq_));
  for (const auto& s : r.segs) EXPECT_LE(s.payload_len, 960u);
}

class EstablishedTs : public TcbTest {
 protected:
  void SetUp() override { establish_active(true, true); }
};

TEST_F(EstablishedTs, PawsRejectsOldTimestamp) {
  TcpSegment d1 = data(peer_seq_, our_seq_, "new");
  d1.options.timestamps = TcpTimestamps{peer_ts_ + 10, 0};
  send(d1);
  EXPECT_EQ(tcb->readable_bytes(), 3u);
  TcpSegment old = data(peer_seq_ + 3, our_seq_, "old");
  old.options.timestamps = TcpTimestamps{peer_ts_ + 5, 0};
  const OutSegment& a = expect_one(send(old));
  EXPECT_EQ(a.seg.ack, SeqNum(peer_seq_ + 3));
  EXPECT_EQ(tcb->readable_bytes(), 3u);
  EXPECT_EQ(counter(TcpCounter::kPawsRejected), 1u);
  // Echo of the peer's newest accepted timestamp.
  EXPECT_EQ(a.seg.options.timestamps->echo, peer_ts_ + 10);
}

TEST_F(EstablishedTs, TimestampEchoGivesRttSample) {
  const OutSegment& d = expect_one(app_send("x"));
  now = now + 50ms;
  TcpSegment a = seg(kAck, peer_seq_, our_seq_ + 1);
  a.options.timestamps = TcpTimestamps{peer_ts_ + 1, d.seg.options.timestamps->value};
  send(a);
  // First sample was the SYN (10 ms); the second pulls SRTT towards 50 ms.
  EXPECT_GT(tcb->rtt().srtt(), Duration(10ms));
  EXPECT_LT(tcb->rtt().srtt(), Duration(50ms));
}

TEST_F(EstablishedTs, MssLeavesRoomForTimestampOption) {
  std::string d(3000, 't');
  tcb->send(reinterpret_cast<const std::uint8_t*>(d.data()), 3000);
  Emitted e = flush();
  ASSERT_GE(e.segs.size(), 2u);
  EXPECT_EQ(e.segs[0].payload_len, 1448u);
}

// An application call made inside an engine iteration passes a fresher `now` than the
// iteration's later output does: the TSval must not step back, or the peer's PAWS
// drops the later segment.
TEST_F(EstablishedTs, TsvalNeverDecreasesWhenNowStepsBack) {
  now = now + 5ms;
  const OutSegment& first = expect_one(app_send("a"));
  const std::uint32_t tsval = first.seg.options.timestamps->value;
  now = now - 3ms;  // the iteration's own (earlier) time
  TcpSegment a1 = seg(kAck, peer_seq_, our_seq_ + 1);
  a1.options.timestamps = TcpTimestamps{peer_ts_ + 1, tsval};
  expect_nothing(send(a1));
  const OutSegment& second = expect_one(app_send("b"));
  ASSERT_TRUE(second.seg.options.timestamps.has_value());
  EXPECT_EQ(second.seg.options.timestamps->value, tsval);
  now = now + 10ms;  // time moves on again: the TSval follows the clock
  TcpSegment a2 = seg(kAck, peer_seq_, our_seq_ + 2);
  a2.options.timestamps = TcpTimestamps{peer_ts_ + 2, tsval};
  expect_nothing(send(a2));
  const OutSegment& later = expect_one(app_send("c"));
  EXPECT_EQ(later.seg.options.timestamps->value, tsval + 7);
}

}  // namespace
}  // namespace shardtcp::testing
