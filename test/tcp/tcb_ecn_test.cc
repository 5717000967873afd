// ECN scripts (issue 17 item 8; RFC 3168 §6.1 with RFC 8311): negotiation both ways
// and its refusals, the receiver's echo of CE until CWR, and the sender's one
// reduction per window followed by CWR. See tcb_script.h for the notation.
#include "tcb_script.h"

namespace shardtcp::testing {
namespace {

using namespace tcp_flags;

// The peer's MSS: the same for both families, so sequence numbers are too.
constexpr std::uint16_t kPeerMss = 1000;

class Ecn : public TcbScript {
 protected:
  void SetUp() override {
    TcbScript::SetUp();
    cfg.timestamps = false;
    cfg.congestion = CongestionAlgorithm::kNewReno;  // a reduction is exactly half the flight
  }

  // An active open whose SYN asks for ECN and whose SYN-ACK has `synack_flags`.
  std::vector<Step> active(std::uint8_t synack_flags, std::vector<Step> then) {
    std::vector<Step> s{connect(0ms), expect(0ms, Out(kSyn | kEce | kCwr).seq(0).ip_ecn(0)),
                        inject(10ms, In(synack_flags).seq(0).ack(1).mss(kPeerMss)),
                        expect(10ms, Out().seq(1).ack(1).ip_ecn(0))};
    s.insert(s.end(), then.begin(), then.end());
    return s;
  }
  // With ECN off, a passive open from an ECN-setup SYN, answered with a plain SYN-ACK.
  std::vector<Step> refused(std::vector<Step> then) {
    cfg.ecn = EcnMode::kOff;
    std::vector<Step> s{accept(0ms, In(kSyn | kEce | kCwr).seq(0).ack(0).mss(kPeerMss)),
                        expect(0ms, Out(kSyn | kAck).seq(0).ack(1)),
                        inject(10ms, In().seq(1).ack(1))};
    s.insert(s.end(), then.begin(), then.end());
    return s;
  }
  // A passive open from an ECN-setup SYN, answered with an ECN-setup SYN-ACK.
  std::vector<Step> passive(std::vector<Step> then) {
    std::vector<Step> s{accept(0ms, In(kSyn | kEce | kCwr).seq(0).ack(0).mss(kPeerMss)),
                        expect(0ms, Out(kSyn | kAck | kEce).seq(0).ack(1).ip_ecn(0)),
                        inject(10ms, In().seq(1).ack(1))};
    s.insert(s.end(), then.begin(), then.end());
    return s;
  }
};
TCB_SCRIPT_FAMILIES(Ecn);

// ---- negotiation (§6.1.1)

TEST_P(Ecn, ActiveOpenAsksAndUsesEcnWhenTheSynAckAgrees) {
  cfg.ecn = EcnMode::kOn;
  run(active(kSyn | kAck | kEce,
             {
                 write(100ms, 100),
                 expect(100ms, Out(kAck | kPsh).seq(1).len(100).ip_ecn(ip_ecn::kEct0)),
                 inject(110ms, In().seq(1).ack(101)),
                 nothing(1s),
             }));
  EXPECT_TRUE(tcb->ecn_enabled());
  EXPECT_EQ(counter(TcpCounter::kEcnNegotiated), 1u);
}

TEST_P(Ecn, ActiveOpenWithoutEcnWhenTheSynAckDoesNotAgree) {
  cfg.ecn = EcnMode::kOn;
  run(active(kSyn | kAck, {
                              write(100ms, 100),
                              expect(100ms, Out(kAck | kPsh).seq(1).len(100).ip_ecn(0)),
                          }));
  EXPECT_FALSE(tcb->ecn_enabled());
  EXPECT_EQ(counter(TcpCounter::kEcnNegotiated), 0u);
}

// ECE with CWR is the SYN's flags reflected, not an ECN-setup SYN-ACK.
TEST_P(Ecn, ActiveOpenWithoutEcnWhenTheSynAckReflectsTheSyn) {
  cfg.ecn = EcnMode::kOn;
  run(active(kSyn | kAck | kEce | kCwr,
             {
                 write(100ms, 100),
                 expect(100ms, Out(kAck | kPsh).seq(1).len(100).ip_ecn(0)),
             }));
  EXPECT_FALSE(tcb->ecn_enabled());
}

// A retransmitted SYN falls back to a plain one (§6.1.1.1), and then an ECE in the
// SYN-ACK does not turn ECN on.
TEST_P(Ecn, RetransmittedSynDoesNotAsk) {
  cfg.ecn = EcnMode::kOn;
  run({
      connect(0ms),
      expect(0ms, Out(kSyn | kEce | kCwr).seq(0)),
      expect(1s, Out(kSyn).seq(0)),
      inject(1100ms, In(kSyn | kAck | kEce).seq(0).ack(1).mss(kPeerMss)),
      expect(1100ms, Out().seq(1).ack(1)),
  });
  EXPECT_FALSE(tcb->ecn_enabled());
}

// Passive (the default, as Linux's tcp_ecn=2): our SYN does not ask.
TEST_P(Ecn, PassiveModeSynDoesNotAsk) {
  run({
      connect(0ms),
      expect(0ms, Out(kSyn).seq(0)),
      inject(10ms, In(kSyn | kAck | kEce).seq(0).ack(1).mss(kPeerMss)),
      expect(10ms, Out().seq(1).ack(1)),
  });
  EXPECT_FALSE(tcb->ecn_enabled());
}

TEST_P(Ecn, PassiveModeAcceptsAnEcnSetupSyn) {
  run(passive({
      write(100ms, 100),
      expect(100ms, Out(kAck | kPsh).seq(1).len(100).ip_ecn(ip_ecn::kEct0)),
  }));
  EXPECT_TRUE(tcb->ecn_enabled());
  EXPECT_EQ(counter(TcpCounter::kEcnNegotiated), 1u);
}

TEST_P(Ecn, OffRefusesAnEcnSetupSyn) {
  run(refused({
      write(100ms, 100),
      expect(100ms, Out(kAck | kPsh).seq(1).len(100).ip_ecn(0)),
  }));
  EXPECT_FALSE(tcb->ecn_enabled());
}

// ---- receiver (§6.1.3)

// CE on data: an ACK with ECE at once (not delayed); ECE on every ACK after it, data
// segments too, until a segment with CWR arrives.
TEST_P(Ecn, CeIsEchoedOnEveryAckUntilCwr) {
  run(passive({
      inject(100ms, In().seq(1).len(100).ce()),
      expect(100ms, Out(kAck | kEce).ack(101).ip_ecn(0)),
      inject(200ms, In().seq(101).len(100)),
      expect(240ms, Out(kAck | kEce).ack(201)),  // delayed, still echoing
      write(300ms, 50),
      expect(300ms, Out(kAck | kPsh | kEce).seq(1).len(50).ip_ecn(ip_ecn::kEct0)),
      inject(400ms, In(kAck | kCwr).seq(201).ack(51).len(100)),
      expect(440ms, Out().ack(301)),  // the echo ended
      // CWR and CE together: the sender reduced, then met congestion again.
      inject(500ms, In(kAck | kCwr).seq(301).ack(51).len(100).ce()),
      expect(500ms, Out(kAck | kEce).ack(401)),
      nothing(1s),
  }));
  EXPECT_EQ(counter(TcpCounter::kEcnCeReceived), 2u);
}

// Without ECN negotiated, CE is not echoed.
TEST_P(Ecn, CeIgnoredWithoutEcn) {
  run(refused({
      inject(100ms, In().seq(1).len(100).ce()),
      expect(140ms, Out().ack(101)),
  }));
  EXPECT_EQ(counter(TcpCounter::kEcnCeReceived), 0u);
}

// ---- sender (§6.1.2)

// ECE halves the window once for the data then in flight -- no retransmission -- and
// the next new data segment carries CWR; an ECE for data sent after it cuts again.
TEST_P(Ecn, EceReducesOncePerWindowThenCwrOnNewData) {
  std::vector<Step> then{write(100ms, 10 * kPeerMss)};
  for (std::uint32_t i = 0; i < 10; ++i) {
    then.push_back(expect(100ms, Out(i == 9 ? kAck | kPsh : kAck)
                                     .seq(1 + i * kPeerMss)
                                     .len(kPeerMss)
                                     .ip_ecn(ip_ecn::kEct0)));
  }
  const std::vector<Step> rest{
      inject(150ms, In(kAck | kEce).ack(1 + kPeerMss)),
      call(150ms, "halved",
           [this](Instant, TcpOutput&) { EXPECT_EQ(tcb->cwnd(), 9 * kPeerMss / 2); }),
      inject(160ms, In(kAck | kEce).ack(1 + 2 * kPeerMss)),  // same window: no second cut
      call(160ms, "not again",
           [this](Instant, TcpOutput&) { EXPECT_EQ(tcb->cwnd(), 9 * kPeerMss / 2); }),
      inject(170ms, In().ack(1 + 10 * kPeerMss)),
      write(180ms, 2 * kPeerMss),
      expect(180ms, Out(kAck | kCwr).seq(1 + 10 * kPeerMss).len(kPeerMss).ip_ecn(ip_ecn::kEct0)),
      expect(180ms, Out(kAck | kPsh).seq(1 + 11 * kPeerMss).len(kPeerMss)),
      inject(200ms, In(kAck | kEce).ack(1 + 11 * kPeerMss)),  // a later window: cut again
      inject(210ms, In().ack(1 + 12 * kPeerMss)),
      nothing(2s),
  };
  then.insert(then.end(), rest.begin(), rest.end());
  cfg.ecn = EcnMode::kOn;
  run(active(kSyn | kAck | kEce, then));
  EXPECT_EQ(counter(TcpCounter::kEcnEceReceived), 3u);
  EXPECT_EQ(counter(TcpCounter::kEcnReductions), 2u);
  EXPECT_EQ(counter(TcpCounter::kRetransSegs), 0u);
}

}  // namespace
}  // namespace shardtcp::testing
