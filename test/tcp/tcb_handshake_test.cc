// Opening a connection: CLOSED, LISTEN, SYN_SENT, SYN_RECEIVED, simultaneous open,
// SYN cookies, SYN retransmission and connect timeouts.
#include "tcb_test_util.h"

namespace shardtcp::testing {
namespace {

using Closed = TcbTest;
using Listen = TcbTest;

TEST_F(Closed, AckDrawsResetFromItsAckNumber) {
  make();
  Emitted e = send(seg(kAck, 77, 12345));
  const OutSegment& r = expect_one(e);
  EXPECT_EQ(r.seg.flags, kRst);
  EXPECT_EQ(r.seg.seq, SeqNum(12345));
  EXPECT_EQ(r.seg.src_port, kLocalPort);
  EXPECT_EQ(r.seg.dst_port, kPeerPort);
}

TEST_F(Closed, SynDrawsRstAckCoveringIt) {
  make();
  TcpSegment s = seg(kSyn, 500);
  const OutSegment& r = expect_one(send(s));
  EXPECT_EQ(r.seg.flags, kRst | kAck);
  EXPECT_EQ(r.seg.seq, SeqNum(0));
  EXPECT_EQ(r.seg.ack, SeqNum(501));
}

TEST_F(Closed, RstIsNeverAnswered) {
  make();
  expect_nothing(send(seg(kRst, 1)));
  EXPECT_FALSE(Tcb::make_reset_for(seg(kRst | kAck, 1, 2)).has_value());
}

TEST_F(Listen, AckDrawsResetAndSynIsLeftToTheListener) {
  make().listen(local());
  EXPECT_EQ(tcb->state(), TcpState::kListen);
  const OutSegment& r = expect_one(send(seg(kAck, 5, 999)));
  EXPECT_EQ(r.seg.flags, kRst);
  expect_nothing(send(seg(kRst, 5)));
}

class SynSent : public TcbTest {
 protected:
  void SetUp() override {
    make();
    out.clear();
    tcb->open_active(local(), peer(), SeqNum(kIss), now, out);
    ASSERT_EQ(out.segment_count(), 1u);
    syn_ = out.segment(0).seg;
  }
};

TEST_F(SynSent, SendsSynWithAllOptions) {
  EXPECT_EQ(tcb->state(), TcpState::kSynSent);
  EXPECT_EQ(syn_.flags, kSyn);
  EXPECT_EQ(syn_.seq, SeqNum(kIss));
  EXPECT_EQ(syn_.options.mss, std::optional<std::uint16_t>(1460));
  // 64 KiB receive buffer needs a shift of 1 to be expressed.
  EXPECT_EQ(syn_.options.window_scale, std::optional<std::uint8_t>(1));
  EXPECT_TRUE(syn_.options.sack_permitted);
  ASSERT_TRUE(syn_.options.timestamps.has_value());
  EXPECT_EQ(syn_.options.timestamps->echo, 0u);
  EXPECT_EQ(counter(TcpCounter::kActiveOpens), 1u);
}

TEST_F(SynSent, SynAckWithOptionsEstablishes) {
  now = now + 20ms;
  TcpSegment sa = seg(kSyn | kAck, kPeerIss, kIss + 1, 1000);
  sa.options.mss = 1400;
  sa.options.window_scale = 7;
  sa.options.sack_permitted = true;
  sa.options.timestamps = TcpTimestamps{123, syn_.options.timestamps->value};
  Emitted e = send(sa);
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
  EXPECT_TRUE(e.has(TcpEventKind::kConnected));
  const OutSegment& ack = expect_one(e);
  EXPECT_EQ(ack.seg.flags, kAck);
  EXPECT_EQ(ack.seg.seq, SeqNum(kIss + 1));
  EXPECT_EQ(ack.seg.ack, SeqNum(kPeerIss + 1));
  ASSERT_TRUE(ack.seg.options.timestamps.has_value());
  EXPECT_EQ(ack.seg.options.timestamps->echo, 123u);
  EXPECT_EQ(tcb->mss(), 1400u);
  EXPECT_EQ(tcb->snd_wscale(), 7);
  EXPECT_EQ(tcb->rcv_wscale(), 1);
  EXPECT_TRUE(tcb->sack_enabled());
  EXPECT_TRUE(tcb->timestamps_enabled());
  EXPECT_EQ(tcb->snd_wnd(), 1000u);  // the SYN-ACK's window is never scaled
  EXPECT_EQ(tcb->rtt().srtt(), Duration(20ms));
  EXPECT_EQ(tcb->next_deadline(), Instant::never());
}

TEST_F(TcbTest, SynSent_RouteMtuSetsAdvertisedMss) {
  make();
  tcb->set_route_mtu(9000, true);
  out.clear();
  tcb->open_active(local(), peer(), SeqNum(kIss), now, out);
  ASSERT_EQ(out.segment_count(), 1u);
  EXPECT_EQ(out.segment(0).seg.options.mss, std::optional<std::uint16_t>(8940));
}

TEST_F(SynSent, SynAckWithoutOptionsFallsBackToDefaults) {
  Emitted e = send(seg(kSyn | kAck, kPeerIss, kIss + 1, 8000));
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
  EXPECT_EQ(tcb->mss(), 536u);
  EXPECT_EQ(tcb->snd_wscale(), 0);
  EXPECT_EQ(tcb->rcv_wscale(), 0);
  EXPECT_FALSE(tcb->sack_enabled());
  EXPECT_FALSE(tcb->timestamps_enabled());
  const OutSegment& ack = expect_one(e);
  EXPECT_FALSE(ack.seg.options.timestamps.has_value());
  EXPECT_EQ(ack.seg.window, 65535);  // unscaled and capped
}

TEST_F(SynSent, RstWithAcceptableAckIsConnectionRefused) {
  Emitted e = send(seg(kRst | kAck, 0, kIss + 1));
  expect_nothing(e);
  EXPECT_TRUE(e.has(TcpEventKind::kError));
  EXPECT_EQ(e.value(TcpEventKind::kError), static_cast<std::uint32_t>(ECONNREFUSED));
  EXPECT_TRUE(e.has(TcpEventKind::kClosed));
  EXPECT_EQ(tcb->state(), TcpState::kClosed);
}

TEST_F(SynSent, RstWithoutAckIsIgnored) {
  expect_nothing(send(seg(kRst, 0)));
  EXPECT_EQ(tcb->state(), TcpState::kSynSent);
}

TEST_F(SynSent, UnacceptableAckDrawsReset) {
  const OutSegment& r = expect_one(send(seg(kSyn | kAck, kPeerIss, kIss + 5)));
  EXPECT_EQ(r.seg.flags, kRst);
  EXPECT_EQ(r.seg.seq, SeqNum(kIss + 5));
  EXPECT_EQ(tcb->state(), TcpState::kSynSent);
  EXPECT_EQ(counter(TcpCounter::kDropBadSynSent), 1u);
}

TEST_F(SynSent, SynRetransmitsWithExponentialBackoff) {
  Instant start = now;
  Emitted e1 = fire_next();
  EXPECT_EQ(now - start, Duration(1s));
  EXPECT_EQ(expect_one(e1).seg.flags, kSyn);
  Emitted e2 = fire_next();
  EXPECT_EQ(now - start, Duration(3s));
  EXPECT_EQ(expect_one(e2).seg.seq, SeqNum(kIss));
  fire_next();
  EXPECT_EQ(now - start, Duration(7s));
  EXPECT_EQ(counter(TcpCounter::kSynRetrans), 3u);
  // Karn: a SYN-ACK after a retransmitted SYN gives no RTT sample.
  send(seg(kSyn | kAck, kPeerIss, kIss + 1));
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
  EXPECT_FALSE(tcb->rtt().has_sample());
}

TEST_F(SynSent, ConnectTimeoutReportsEtimedout) {
  tcb->set_connect_timeout(5s);
  // Re-open so the new timeout applies.
  out.clear();
  tcb->open_active(local(), peer(), SeqNum(kIss), now, out);
  Emitted e = advance(10s);
  EXPECT_EQ(e.count_flag(kSyn), 2u);  // at 1 s and 3 s; the next would be at 7 s
  EXPECT_EQ(e.value(TcpEventKind::kError), static_cast<std::uint32_t>(ETIMEDOUT));
  EXPECT_TRUE(e.has(TcpEventKind::kClosed));
  EXPECT_EQ(counter(TcpCounter::kConnectTimeouts), 1u);
}

TEST_F(SynSent, SynRetriesExhaustedReportsEtimedout) {
  Emitted e = advance(200s);
  EXPECT_EQ(e.count_flag(kSyn), 6u);  // syn_retries
  EXPECT_EQ(e.value(TcpEventKind::kError), static_cast<std::uint32_t>(ETIMEDOUT));
  EXPECT_EQ(tcb->state(), TcpState::kClosed);
}

TEST_F(SynSent, IcmpUnreachableThenTimeoutReportsEhostunreach) {
  out.clear();
  tcb->on_icmp_unreachable(/*hard=*/false, now, out);
  EXPECT_EQ(tcb->state(), TcpState::kSynSent);  // a soft error: keep trying
  Emitted e = advance(200s);
  EXPECT_EQ(e.value(TcpEventKind::kError), static_cast<std::uint32_t>(EHOSTUNREACH));
}

TEST_F(SynSent, IcmpThenSynAckStillConnects) {
  out.clear();
  tcb->on_icmp_unreachable(/*hard=*/false, now, out);
  Emitted e = send(seg(kSyn | kAck, kPeerIss, kIss + 1));
  EXPECT_TRUE(e.has(TcpEventKind::kConnected));
  EXPECT_FALSE(e.has(TcpEventKind::kError));
}

TEST_F(SynSent, SimultaneousOpenGoesThroughSynReceived) {
  TcpSegment s = seg(kSyn, kPeerIss);
  s.options.mss = 1460;
  s.options.window_scale = 2;
  s.options.sack_permitted = true;
  const OutSegment& sa = expect_one(send(s));
  EXPECT_EQ(tcb->state(), TcpState::kSynReceived);
  EXPECT_EQ(sa.seg.flags, kSyn | kAck);
  EXPECT_EQ(sa.seg.seq, SeqNum(kIss));
  EXPECT_EQ(sa.seg.ack, SeqNum(kPeerIss + 1));
  EXPECT_EQ(sa.seg.options.window_scale, std::optional<std::uint8_t>(1));
  EXPECT_FALSE(sa.seg.options.timestamps.has_value());  // the peer did not offer them
  // The peer's SYN-ACK (its answer to our SYN) completes the open.
  Emitted e = send(seg(kSyn | kAck, kPeerIss, kIss + 1));
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
  EXPECT_TRUE(e.has(TcpEventKind::kConnected));
}

TEST_F(SynSent, CloseBeforeEstablishedJustCloses) {
  Emitted e = close();
  expect_nothing(e);
  EXPECT_TRUE(e.has(TcpEventKind::kClosed));
  EXPECT_EQ(tcb->next_deadline(), Instant::never());
}

class SynReceived : public TcbTest {
 protected:
  void SetUp() override {
    make();
    TcpSegment s = seg(kSyn, kPeerIss, 0, 30000);
    s.options.mss = 1200;
    s.options.window_scale = 3;
    s.options.sack_permitted = true;
    s.options.timestamps = TcpTimestamps{555, 0};
    out.clear();
    tcb->accept_syn(s, local(), peer(), SeqNum(kIss), now, out);
    ASSERT_EQ(out.segment_count(), 1u);
    synack_ = out.segment(0).seg;
  }
  TcpSegment final_ack() {
    TcpSegment a = seg(kAck, kPeerIss + 1, kIss + 1, 100);
    a.options.timestamps = TcpTimestamps{556, synack_.options.timestamps->value};
    return a;
  }
  TcpSegment synack_;
};

TEST_F(SynReceived, SynAckEchoesOfferedOptions) {
  EXPECT_EQ(tcb->state(), TcpState::kSynReceived);
  EXPECT_EQ(synack_.flags, kSyn | kAck);
  EXPECT_EQ(synack_.ack, SeqNum(kPeerIss + 1));
  EXPECT_EQ(synack_.options.mss, std::optional<std::uint16_t>(1460));
  EXPECT_EQ(synack_.options.window_scale, std::optional<std::uint8_t>(1));
  EXPECT_TRUE(synack_.options.sack_permitted);
  ASSERT_TRUE(synack_.options.timestamps.has_value());
  EXPECT_EQ(synack_.options.timestamps->echo, 555u);
  EXPECT_EQ(counter(TcpCounter::kPassiveOpens), 1u);
}

TEST_F(SynReceived, AckEstablishesAndReportsAccepted) {
  Emitted e = send(final_ack());
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
  EXPECT_TRUE(e.has(TcpEventKind::kAccepted));
  expect_nothing(e);
  EXPECT_EQ(tcb->snd_wnd(), 800u);  // 100 << 3
  EXPECT_EQ(tcb->mss(), 1200u);
  EXPECT_EQ(tcb->next_deadline(), Instant::never());
}

TEST_F(SynReceived, FinalAckWithDataIsDelivered) {
  TcpSegment a = data(kPeerIss + 1, kIss + 1, "hello");
  a.options.timestamps = TcpTimestamps{556, synack_.options.timestamps->value};
  Emitted e = send(a);
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
  EXPECT_TRUE(e.has(TcpEventKind::kReadable));
  EXPECT_EQ(read_all(), "hello");
}

TEST_F(SynReceived, DuplicateSynResendsSynAck) {
  TcpSegment s = seg(kSyn, kPeerIss);
  s.options.timestamps = TcpTimestamps{555, 0};
  const OutSegment& sa = expect_one(send(s));
  EXPECT_EQ(sa.seg.flags, kSyn | kAck);
  EXPECT_EQ(tcb->state(), TcpState::kSynReceived);
}

TEST_F(SynReceived, RstClosesWithoutError) {
  Emitted e = send(seg(kRst, kPeerIss + 1));
  EXPECT_EQ(tcb->state(), TcpState::kClosed);
  EXPECT_TRUE(e.has(TcpEventKind::kClosed));
  EXPECT_FALSE(e.has(TcpEventKind::kError));
}

TEST_F(SynReceived, UnacceptableAckDrawsReset) {
  TcpSegment a = final_ack();
  a.ack = SeqNum(kIss + 9);
  const OutSegment& r = expect_one(send(a));
  EXPECT_EQ(r.seg.flags, kRst);
  EXPECT_EQ(r.seg.seq, SeqNum(kIss + 9));
  EXPECT_EQ(tcb->state(), TcpState::kSynReceived);
}

TEST_F(SynReceived, SynAckRetransmittedThenGivesUp) {
  Emitted e1 = fire_next();
  EXPECT_EQ(expect_one(e1).seg.flags, kSyn | kAck);
  Emitted e = advance(300s);
  EXPECT_EQ(e.count_flag(kSyn), 5u);
  EXPECT_TRUE(e.has(TcpEventKind::kClosed));
  EXPECT_EQ(tcb->state(), TcpState::kClosed);
}

TEST_F(TcbTest, Cookie_OpenFromCookieEstablishesWithEncodedOptions) {
  make();
  TcpSegment ack = data(kPeerIss + 1, kIss + 1, "GET /", 200);
  ack.options.timestamps = TcpTimestamps{900, 12};
  CookieOptions co;
  co.mss = 1000;
  co.window_scale = 4;
  co.sack = true;
  co.timestamps = true;
  out.clear();
  tcb->open_from_cookie(ack, local(), peer(), SeqNum(kIss), SeqNum(kPeerIss), co, now, out);
  Emitted e = collect(out);
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
  EXPECT_TRUE(e.has(TcpEventKind::kAccepted));
  EXPECT_TRUE(e.has(TcpEventKind::kReadable));
  EXPECT_EQ(tcb->mss(), 1000u);
  EXPECT_EQ(tcb->snd_wnd(), 200u << 4);
  EXPECT_TRUE(tcb->sack_enabled());
  EXPECT_TRUE(tcb->timestamps_enabled());
  EXPECT_EQ(read_all(), "GET /");
}

}  // namespace
}  // namespace shardtcp::testing
