// Conformance scripts (issue 17): behaviours an outside suite (packetdrill, FreeBSD's
// tcp-testsuite) found departing from the RFCs, each a short scripted-peer scenario
// run for IPv4 and IPv6. See tcb_script.h for the notation.
#include "tcb_script.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint16_t kMss = 1460;

// ---- 1. Window updates (RFC 9293 §3.8.6.2.2, RFC 1122 §4.2.3.3) ----

class WindowUpdate : public TcbScript {};
TCB_SCRIPT_FAMILIES(WindowUpdate);

// Without window scaling a 256 KiB buffer shows as 65 535 whatever is free above it:
// reads, our data and our FIN change nothing the peer sees, so no pure ACK may follow
// them (to the peer it would be a duplicate ACK).
TEST_P(WindowUpdate, NoUpdateWhenUnscaledFieldCannotShowTheGrowth) {
  cfg.recv_buffer = 256 * 1024;
  cfg.timestamps = false;
  run(after_handshake(In().mss(kMss),
                      {
                          inject(100ms, In().seq(1).len(1000)),
                          expect(140ms, Out().seq(1).ack(1001).win(65535)),  // delayed
                          read(200ms, 1000),
                          nothing(300ms),
                          write(300ms, 100),
                          expect(300ms, Out(kAck | kPsh).seq(1).len(100).win(65535)),
                          nothing(400ms),
                          inject(400ms, In().seq(1001).ack(101)),
                          shutdown_wr(500ms),
                          expect(500ms, Out(kAck | kFin).seq(101).ack(1001)),
                          inject(510ms, In().seq(1001).ack(102)),
                          nothing(2s),
                      }));
}

// A SYN-ACK's window is never scaled and so at most 65 535; the larger window the
// buffer allows reaches the peer with the next segment, not in an extra ACK after the
// handshake (with and without window scaling).
TEST_P(WindowUpdate, NoUpdateAfterPassiveHandshakeWithScaling) {
  cfg.recv_buffer = 256 * 1024;
  cfg.timestamps = false;
  run({
      accept(0ms, In(kSyn).seq(0).ack(0).mss(kMss).wscale(7)),
      expect(0ms, Out(kSyn | kAck).seq(0).ack(1).win(65535)),
      inject(10ms, In()),
      nothing(1s),
      inject(1s, In().len(100)),
      expect(1040ms, Out().seq(1).ack(101).win((256 * 1024 - 100 + 7) >> 3)),
  });
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
}

TEST_P(WindowUpdate, NoUpdateAfterPassiveHandshakeWithoutScaling) {
  cfg.recv_buffer = 256 * 1024;
  cfg.timestamps = false;
  run({
      accept(0ms, In(kSyn).seq(0).ack(0).mss(kMss)),
      expect(0ms, Out(kSyn | kAck).seq(0).ack(1).win(65535)),
      inject(10ms, In()),
      nothing(1s),
  });
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
}

// The updates that must go out still do: once a closed window has opened by an MSS, and
// after that once it has grown by two MSS (or half the buffer).
TEST_P(WindowUpdate, UpdateOnceWindowGrowsEnough) {
  cfg.recv_buffer = 20000;
  cfg.timestamps = false;
  run(after_handshake(In().mss(kMss).wscale(7),
                      {
                          inject(100ms, In().seq(1).len(10000)),
                          expect(100ms, Out().ack(10001).win(10000)),
                          inject(110ms, In().seq(10001).len(10000)),
                          expect(110ms, Out().ack(20001).win(0)),
                          read(200ms, 1000),  // less than an MSS: the window stays shut
                          nothing(300ms),
                          read(300ms, 2000),
                          expect(300ms, Out().ack(20001).win(3000)),
                          read(400ms, 2000),  // less than two MSS more
                          nothing(500ms),
                          read(500ms, 1000),
                          expect(500ms, Out().ack(20001).win(6000)),
                          nothing(2s),
                      }));
}

// ---- 2. Timestamps (RFC 7323 §4.3, RFC 9293 §3.10.7.4) ----

class Timestamps : public TcbScript {
 protected:
  const In kTsSynAck = In().mss(kMss).wscale(7).sack_ok().ts(100);
};
TCB_SCRIPT_FAMILIES(Timestamps);

// An ACK of data never sent is answered with an ACK and dropped; its TSval must not
// become TS.Recent, or the peer's next (valid) segment would fail PAWS and the
// connection would stall.
TEST_P(Timestamps, AckOfUnsentDataLeavesTsRecentAlone) {
  run(after_handshake(kTsSynAck,
                      {
                          inject(100ms, In().seq(1).ack(1000).ts(5000)),
                          expect(100ms, Out().seq(1).ack(1).ts_echo(100)),
                          inject(200ms, In().seq(1).len(100).ts(101)),
                          expect(240ms, Out().seq(1).ack(101).ts_echo(101)),  // accepted, delayed
                          nothing(1s),
                      }));
  EXPECT_EQ(counter(TcpCounter::kPawsRejected), 0u);
  EXPECT_EQ(tcb->readable_bytes(), 100u);
}

// Only a segment covering the left edge (SEG.SEQ <= Last.ACK.sent) updates TS.Recent:
// out-of-order data with a newer TSval does not, the segment filling the hole does.
TEST_P(Timestamps, OnlySegmentAtLeftEdgeUpdatesTsRecent) {
  run(after_handshake(kTsSynAck, {
                                     inject(100ms, In().seq(1001).len(100).ts(300)),
                                     expect(100ms, Out().ack(1).ts_echo(100).sack({{1001, 1101}})),
                                     inject(110ms, In().seq(1).len(1000).ts(200)),
                                     expect(110ms, Out().ack(1101).ts_echo(200).sack({})),
                                     nothing(1s),
                                 }));
}

// ---- 3. Data on SYN and SYN-ACK (RFC 9293 §3.10.7.3) ----

class SynData : public TcbScript {
 protected:
  SynData() { cfg.timestamps = false; }
};
TCB_SCRIPT_FAMILIES(SynData);

TEST_P(SynData, DataOnSynAckIsQueuedAndAcked) {
  run({
      connect(0ms),
      expect(0ms, Out(kSyn).seq(0)),
      inject(10ms, In(kSyn | kAck).seq(0).ack(1).len(100).mss(kMss).wscale(7).sack_ok()),
      expect(10ms, Out().seq(1).ack(101)),
      read(20ms, 100),
      nothing(1s),
  });
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
}

TEST_P(SynData, DataAndFinOnSynAckAreQueuedAndAcked) {
  run({
      connect(0ms),
      expect(0ms, Out(kSyn).seq(0)),
      inject(10ms, In(kSyn | kAck | kFin).seq(0).ack(1).len(10).mss(kMss)),
      expect(10ms, Out().seq(1).ack(12)),
      read(20ms, 10),
      nothing(1s),
  });
  EXPECT_EQ(tcb->state(), TcpState::kCloseWait);
  EXPECT_TRUE(tcb->peer_closed());
}

// Simultaneous open: the peer's SYN carries data; our SYN-ACK acknowledges it, and the
// peer's SYN-ACK (which need not repeat the data) completes the handshake.
TEST_P(SynData, DataOnSynInSimultaneousOpenIsQueuedAndAcked) {
  run({
      connect(0ms),
      expect(0ms, Out(kSyn).seq(0)),
      inject(10ms, In(kSyn).seq(0).ack(0).len(50).mss(kMss).wscale(7).sack_ok()),
      expect(10ms, Out(kSyn | kAck).seq(0).ack(51)),
      inject(20ms, In(kSyn | kAck).seq(0).ack(1).mss(kMss).wscale(7).sack_ok()),
      read(30ms, 50),
      nothing(1s),
  });
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
}

// Data on a passive-open SYN is not kept (as Linux without TCP Fast Open: a listener
// holds no buffers for unverified peers), but the handshake completes and the data,
// sent again, is received.
TEST_P(SynData, DataOnPassiveSynDoesNotBreakTheHandshake) {
  run({
      accept(0ms, In(kSyn).seq(0).ack(0).len(100).mss(kMss)),
      expect(0ms, Out(kSyn | kAck).seq(0).ack(1)),
      inject(10ms, In().seq(1).ack(1)),
      inject(20ms, In().seq(1).ack(1).len(100)),
      expect(60ms, Out().seq(1).ack(101)),
      read(70ms, 100),
      nothing(1s),
  });
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
}

// ---- 5. D-SACK (RFC 2883) ----

class Dsack : public TcbScript {
 protected:
  Dsack() { cfg.timestamps = false; }
  static In sack_synack() { return In().mss(kMss).wscale(7).sack_ok(); }
  // The handshake, then the first 1 000 bytes received (and delayed-ACKed), then `then`.
  std::vector<Step> after_first_kb(std::vector<Step> then) {
    std::vector<Step> s{inject(100ms, In().seq(1).len(1000)),
                        expect(140ms, Out().ack(1001).sack({}))};
    s.insert(s.end(), std::make_move_iterator(then.begin()), std::make_move_iterator(then.end()));
    return after_handshake(sack_synack(), std::move(s));
  }
};
TCB_SCRIPT_FAMILIES(Dsack);

TEST_P(Dsack, DuplicateBelowRcvNxtIsAnsweredAtOnce) {
  run(after_first_kb({
      inject(200ms, In().seq(1).len(1000)),
      expect(200ms, Out().ack(1001).sack({{1, 1001}})),
      nothing(1s),
  }));
}

// A segment partly below RCV.NXT: the new part is taken, the duplicated part reported
// at once, not with the next delayed ACK.
TEST_P(Dsack, PartialDuplicateIsAnsweredAtOnce) {
  run(after_first_kb({
      inject(200ms, In().seq(501).len(1000)),
      expect(200ms, Out().ack(1501).sack({{501, 1001}})),
      nothing(1s),
  }));
  EXPECT_EQ(tcb->readable_bytes(), 1500u);
}

// Duplicates of out-of-order data held: the D-SACK block comes first, then the SACK
// block holding it (RFC 2883 §4.2); a partial overlap reports the overlapping part.
// (RFC 2883 allows one D-SACK block, so a segment overlapping several held pieces
// reports one of them.)
TEST_P(Dsack, DuplicateOfOutOfOrderData) {
  run(after_handshake(
      sack_synack(),
      {
          inject(100ms, In().seq(1001).len(500)),
          expect(100ms, Out().ack(1).sack({{1001, 1501}})),
          inject(110ms, In().seq(1001).len(500)),
          expect(110ms, Out().ack(1).sack({{1001, 1501}, {1001, 1501}})),
          inject(120ms, In().seq(1301).len(400)),
          expect(120ms, Out().ack(1).sack({{1301, 1501}, {1001, 1701}})),
          // A segment covering held pieces whole: the first of them is the duplicate.
          inject(130ms, In().seq(901).len(900)),
          expect(130ms, Out().ack(1).sack({{1001, 1501}, {901, 1801}})),
          nothing(1s),
      }));
}

// ---- 6. ICMP errors during a connect (RFC 1122 §4.2.3.9) ----

class IcmpError : public TcbScript {
 protected:
  IcmpError() { cfg.timestamps = false; }
  // What the layer passes on from an ICMP destination unreachable quoting our segment.
  Step icmp(Duration at, bool hard) {
    return call(at, hard ? "icmp hard" : "icmp soft",
                [this, hard](Instant t, TcpOutput& o) { tcb->on_icmp_unreachable(hard, t, o); });
  }
};
TCB_SCRIPT_FAMILIES(IcmpError);

// Port or protocol unreachable: nobody will answer, so the connect fails at once.
TEST_P(IcmpError, PortOrProtocolUnreachableRefusesTheConnect) {
  run({
      connect(0ms),
      expect(0ms, Out(kSyn).seq(0)),
      icmp(10ms, /*hard=*/true),
      nothing(200s),
  });
  EXPECT_EQ(errors_, std::vector<std::uint32_t>{ECONNREFUSED});
  EXPECT_EQ(tcb->state(), TcpState::kClosed);
}

// Other codes are soft: the SYN is retried, and an answer still connects.
TEST_P(IcmpError, OtherUnreachableLeavesTheConnectRunning) {
  run({
      connect(0ms),
      expect(0ms, Out(kSyn).seq(0)),
      icmp(10ms, /*hard=*/false),
      expect(1s, Out(kSyn).seq(0)),  // the initial RTO
      inject(1100ms, In(kSyn | kAck).seq(0).ack(1).mss(kMss)),
      expect(1100ms, Out().seq(1).ack(1)),
      nothing(2s),
  });
  EXPECT_TRUE(errors_.empty());
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
}

// Once synchronized, even port unreachable is soft (RFC 5461 §4: the connection may
// outlive a transient routing or middlebox error); it is what a timeout then reports.
TEST_P(IcmpError, HardCodeOnAnEstablishedConnectionIsSoft) {
  run(after_handshake(In().mss(kMss),
                      {
                          write(100ms, 100),
                          expect(100ms, Out(kAck | kPsh).seq(1).len(100)),
                          icmp(110ms, /*hard=*/true),
                          expect(300ms, Out(kAck | kPsh).seq(1).len(100)),  // RTO: still trying
                          inject(320ms, In().ack(101)),
                          nothing(2s),
                      }));
  EXPECT_TRUE(errors_.empty());
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
  EXPECT_EQ(tcb->soft_error(), EHOSTUNREACH);
}

}  // namespace
}  // namespace shardtcp::testing
