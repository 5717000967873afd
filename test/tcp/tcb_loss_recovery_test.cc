// Loss recovery scripts (issue 17 item 4): RFC 6675 NextSeg rules 3 and 4, PRR
// (RFC 6937), RACK-TLP (RFC 8985), each a scripted-peer scenario run for IPv4 and
// IPv6 (see tcb_script.h). The connection's RTT is 10 ms (the handshake's), so its RTO
// is the 200 ms minimum; no timestamps, so a segment carries a full MSS.
#include "tcb_script.h"

namespace shardtcp::testing {
namespace {

class LossRecovery : public TcbScript {
 protected:
  void SetUp() override { cfg.timestamps = false; }

  // Payload of a full segment: the MSS the TCB derives from a 1500-byte MTU.
  std::uint32_t mss() const { return ipv6() ? 1440 : 1460; }
  // Relative sequence number of the start of segment k.
  std::uint32_t s(std::uint32_t k) const { return 1 + k * mss(); }
  // Segment k going out at `at`; `last` when it ends the queued data (PSH).
  Step seg_out(Duration at, std::uint32_t k, bool last = false) {
    return expect(at, Out(last ? kAck | kPsh : kAck).seq(s(k)).len(mss()));
  }
  // Segments [from, to) going out at `at`, of `total` written (PSH on the last).
  std::vector<Step> segs_out(Duration at, std::uint32_t from, std::uint32_t to,
                             std::uint32_t total) {
    std::vector<Step> v;
    for (std::uint32_t k = from; k < to; ++k) v.push_back(seg_out(at, k, k + 1 == total));
    return v;
  }
  // The application writes n segments at `at`; segments [0, sent) go out at once.
  std::vector<Step> write_segments(Duration at, std::uint32_t n, std::uint32_t sent) {
    std::vector<Step> v = segs_out(at, 0, sent, n);
    v.insert(v.begin(), write(at, n * mss()));
    return v;
  }
  // The peer's ACK of everything below segment `una`, SACKing segments [from, to).
  In sack_ack(std::uint32_t una, std::uint32_t from, std::uint32_t to) const {
    return In().ack(s(una)).sack({{s(from), s(to)}});
  }
  // Ten segments at 100 ms, the ACK of the first `acked` at 110 ms, then nothing until
  // the probe resends the last segment at `probe_at`.
  std::vector<Step> tail_probed(std::uint32_t acked, Duration probe_at) {
    std::vector<Step> v = write_segments(100ms, 10, 10);
    v.push_back(inject(110ms, In().ack(s(acked))));
    v.push_back(nothing(probe_at - kTolerance));
    v.push_back(seg_out(probe_at, 9, true));
    return v;
  }
  // The final ACK of all `n` segments at `at`, then silence: no timer has work left.
  std::vector<Step> all_acked(Duration at, std::uint32_t n) {
    return {inject(at, In().ack(s(n))), nothing(1s)};
  }
  // The probe's ACK at 320 ms; one more segment at 400 ms, acknowledged at 410 ms (an
  // ACK beyond the probe).
  std::vector<Step> ack_then_one_more(In probe_ack) {
    std::vector<Step> v{inject(320ms, std::move(probe_ack)), write(400ms, mss()),
                        seg_out(400ms, 10, true)};
    for (Step& step : all_acked(410ms, 11)) v.push_back(std::move(step));
    return v;
  }
  // After the handshake (SACK and window scaling on), `then`.
  std::vector<Step> script(std::vector<std::vector<Step>> parts) {
    std::vector<Step> then;
    for (auto& p : parts) then.insert(then.end(), p.begin(), p.end());
    return after_handshake(In().mss(1460).wscale(7).sack_ok(), std::move(then));
  }
};
TCB_SCRIPT_FAMILIES(LossRecovery);

// ---- NextSeg (RFC 6675 §4) and PRR (RFC 6937), with RACK-TLP off ----

// Rule 3: when rules 1 and 2 give nothing, a hole below the highest SACK that is not
// (yet) deemed lost is retransmitted -- here segment 3, with a single segment SACKed
// above it, goes out with the fast retransmission instead of waiting for the RTO.
TEST_P(LossRecovery, NextSegRule3RetransmitsHoleNotYetLost) {
  cfg.rack_tlp = false;
  run(script({write_segments(100ms, 6, 6),
              {
                  inject(110ms, sack_ack(0, 1, 2)),
                  inject(111ms, sack_ack(0, 1, 3)),
                  inject(112ms, In().ack(s(0)).sack({{s(4), s(5)}, {s(1), s(3)}})),
                  seg_out(112ms, 0),  // fast retransmission (rule 1)
                  seg_out(112ms, 3),  // rule 3
                  inject(113ms, In().ack(s(0)).sack({{s(4), s(6)}, {s(1), s(3)}})),
                  nothing(120ms),
              },
              all_acked(120ms, 6)}));
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 0u);
  EXPECT_EQ(counter(TcpCounter::kRetransSegs), 2u);
  EXPECT_FALSE(tcb->in_recovery());
}

// Rule 4: the tail of the flight is lost and no SACK can reveal it; one rescue
// retransmission of the highest un-SACKed segment goes out, once per recovery.
TEST_P(LossRecovery, NextSegRescueRetransmissionOncePerRecovery) {
  cfg.rack_tlp = false;
  std::vector<Step> sacks;
  for (std::uint32_t k = 6; k <= 9; ++k)
    sacks.push_back(inject(Duration(110ms) + k * 1ms, sack_ack(0, 1, k)));
  run(script({write_segments(100ms, 10, 10),
              {
                  inject(110ms, sack_ack(0, 1, 2)), inject(111ms, sack_ack(0, 1, 3)),
                  inject(112ms, sack_ack(0, 1, 4)), seg_out(112ms, 0),
                  inject(113ms, sack_ack(0, 1, 5)), seg_out(113ms, 9, true),  // the rescue
              },
              sacks,
              {
                  nothing(120ms),
              },
              all_acked(120ms, 10)}));
  EXPECT_EQ(counter(TcpCounter::kRescueRetrans), 1u);
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 0u);
}

// A partial ACK during SACK recovery: the segment at the new SND.UNA was sent before
// the retransmission just acknowledged, so it is lost too and is resent at once --
// here nothing is SACKed above it (the tail was lost too) and the rescue is spent.
TEST_P(LossRecovery, PartialAckRetransmitsAtOnce) {
  cfg.rack_tlp = false;
  run(script({write_segments(100ms, 10, 10),
              {
                  inject(110ms, sack_ack(0, 1, 2)),
                  inject(111ms, sack_ack(0, 1, 3)),
                  inject(112ms, sack_ack(0, 1, 4)),
                  seg_out(112ms, 0),
                  inject(113ms, sack_ack(0, 1, 5)),
                  seg_out(113ms, 9, true),  // the rescue
                  inject(114ms, sack_ack(0, 1, 6)),
                  inject(115ms, sack_ack(0, 1, 7)),
                  inject(116ms, sack_ack(0, 1, 8)),
                  nothing(120ms),
                  inject(120ms, In().ack(s(8))),  // partial: segment 0's retransmission
                  seg_out(120ms, 8),
              },
              all_acked(130ms, 10)}));
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 0u);
  EXPECT_FALSE(tcb->in_recovery());
}

// PRR's proportional part: while pipe > ssthresh the sender transmits ssthresh/RecoverFS
// of what is delivered -- with NewReno's halving, one new segment every second ACK
// from the start of recovery (RFC 6675 alone would send nothing until pipe fell below
// cwnd, then one per ACK). Once pipe reaches ssthresh, PRR-SSRB keeps it there. At the
// end of recovery cwnd = ssthresh.
TEST_P(LossRecovery, PrrSpreadsTransmissionsOverTheRecovery) {
  cfg.congestion = CongestionAlgorithm::kNewReno;
  constexpr std::uint32_t kTotal = 42;
  // Slow start to a 20-segment flight: each ACK of one segment releases two.
  std::vector<Step> grow;
  for (std::uint32_t i = 0; i < 10; ++i) {
    const Duration t = Duration(110ms) + i * 1ms;
    grow.push_back(inject(t, In().ack(s(i + 1))));
    grow.push_back(seg_out(t, 10 + 2 * i));
    grow.push_back(seg_out(t, 11 + 2 * i));
  }
  // Segment 10 is lost; segments 11.. are SACKed one per ACK.
  std::vector<Step> recovery;
  std::uint32_t next = 30;
  for (std::uint32_t n = 1; n <= 21; ++n) {
    const Duration t = Duration(120ms) + n * 1ms;
    recovery.push_back(inject(t, sack_ack(10, 11, 11 + n)));
    const bool limited_transmit = n <= 2;
    const bool proportional = n >= 5 && n <= 15 && n % 2 == 1;
    const bool ssrb = n >= 18;
    if (n == 3) recovery.push_back(seg_out(t, 10));  // the fast retransmission
    if (limited_transmit || proportional || ssrb) {
      recovery.push_back(seg_out(t, next, next + 1 == kTotal));
      ++next;
    }
  }
  ASSERT_EQ(next, kTotal);
  run(script({write_segments(100ms, kTotal, 10),
              grow,
              recovery,
              {
                  nothing(150ms),
              },
              all_acked(150ms, kTotal)}));
  EXPECT_FALSE(tcb->in_recovery());
  EXPECT_EQ(tcb->ssthresh(), 11 * mss());  // half the 22-segment flight
  EXPECT_EQ(tcb->cwnd(), tcb->ssthresh());
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 0u);
}

// PRR-SSRB after a large loss: pipe is far below ssthresh, but the sender may exceed
// what the ACKs delivered by one segment only, not burst the difference (RFC 6675
// alone would send four segments on the first ACK).
TEST_P(LossRecovery, PrrSlowStartBoundAfterLargeLoss) {
  cfg.congestion = CongestionAlgorithm::kNewReno;
  run(script({write_segments(100ms, 10, 10),
              {
                  inject(110ms, sack_ack(0, 6, 7)),
                  inject(111ms, sack_ack(0, 6, 8)),
                  inject(112ms, sack_ack(0, 6, 9)),
                  seg_out(112ms, 0),
                  seg_out(112ms, 1),
                  inject(113ms, sack_ack(0, 6, 10)),
                  seg_out(113ms, 2),
                  seg_out(113ms, 3),
                  nothing(120ms),
                  inject(120ms, sack_ack(4, 6, 10)),
                  seg_out(120ms, 4),
                  seg_out(120ms, 5),
              },
              all_acked(130ms, 10)}));
  EXPECT_EQ(tcb->ssthresh(), 5 * mss());
  EXPECT_EQ(tcb->cwnd(), tcb->ssthresh());
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 0u);
}

// ---- RACK (RFC 8985 §6) ----

// Fewer than three duplicate ACKs: two segments SACKed above a hole are not enough for
// DupThresh, but once the hole's segment is older than the delivered one by min_RTT/4
// (10 ms / 4), RACK deems it lost.
TEST_P(LossRecovery, RackDetectsLossWithFewerThanThreeDupacks) {
  run(script({write_segments(100ms, 10, 10),
              {
                  inject(110ms, sack_ack(0, 1, 3)),
                  expect(113ms, Out().seq(s(0)).len(mss())),  // at 112.5 ms
              },
              all_acked(125ms, 10)}));
  EXPECT_EQ(counter(TcpCounter::kRackLosses), 1u);
  EXPECT_EQ(counter(TcpCounter::kSackRecoveries), 1u);
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 0u);
}

// RACK replaces DupThresh: once reordering was seen (segment 0 arrived after segment
// 1), three segments SACKed above a hole no longer mean it is lost at once -- RACK
// waits reo_wnd (min_RTT/4) past the delivered segment's RTT before resending it.
TEST_P(LossRecovery, RackWaitsReorderingWindowWhereDupThreshWouldNot) {
  run(script({write_segments(100ms, 20, 10),
              {
                  inject(110ms, sack_ack(0, 1, 2)), seg_out(110ms, 10),  // limited transmit
                  inject(111ms, In().ack(s(2))),                         // segment 0 was reordered
              },
              segs_out(111ms, 11, 14, 20),
              {
                  inject(112ms, sack_ack(2, 3, 4)),  // segment 2 missing
                  seg_out(112ms, 14),
                  inject(113ms, sack_ack(2, 3, 5)),
                  seg_out(113ms, 15),
                  inject(114ms, sack_ack(2, 3, 6)),  // DupThresh reached
                  nothing(116ms),
                  expect(117ms, Out().seq(s(2)).len(mss())),  // at 116.5 ms
                  inject(125ms, In().ack(s(16))),
              },
              segs_out(125ms, 16, 20, 20),
              all_acked(135ms, 20)}));
  EXPECT_EQ(counter(TcpCounter::kRackLosses), 1u);
  EXPECT_EQ(counter(TcpCounter::kRetransSegs), 1u);
}

// A lost retransmission: segments sent after the retransmission are SACKed a round
// trip later, so RACK finds the retransmission lost and sends it again -- which
// duplicate-ACK counting (HighRxt has passed it) never would, short of the RTO.
TEST_P(LossRecovery, RackDetectsLostRetransmission) {
  run(script({write_segments(100ms, 20, 10),
              {
                  inject(110ms, sack_ack(0, 1, 3)),
                  seg_out(110ms, 10),                         // limited transmit
                  expect(113ms, Out().seq(s(0)).len(mss())),  // RACK, at 112.5 ms
                  inject(120ms, sack_ack(0, 1, 10)),
              },
              segs_out(120ms, 11, 16, 20),
              {
                  inject(130ms, sack_ack(0, 1, 16)),  // segment 0 is still missing
                  seg_out(130ms, 0),
              },
              segs_out(130ms, 16, 20, 20),
              all_acked(140ms, 20)}));
  EXPECT_EQ(counter(TcpCounter::kRackLosses), 2u);
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 0u);
}

// ---- TLP (RFC 8985 §7) ----

// The scenario of the issue: the last three segments of a ten-segment flight are lost.
// After the ACK of the first seven the probe timeout (2·SRTT = 20 ms) sends the last
// segment again; its SACK lets RACK find the other two lost, resent at once. All is
// repaired 40 ms after the flight (one RTT plus PTO after the last ACK), where the
// RTO alone would have waited until 310 ms and restarted from one segment.
TEST_P(LossRecovery, TailLossRecoversWithinRttPlusPto) {
  run(script({tail_probed(7, 130ms),
              {
                  inject(140ms, sack_ack(7, 9, 10)),
                  seg_out(140ms, 7),
                  seg_out(140ms, 8),
              },
              all_acked(150ms, 10)}));
  EXPECT_EQ(counter(TcpCounter::kTlpProbes), 1u);
  EXPECT_EQ(counter(TcpCounter::kRackLosses), 2u);
  EXPECT_EQ(counter(TcpCounter::kSackRecoveries), 1u);
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 0u);
  EXPECT_EQ(tcb->cwnd(), tcb->ssthresh());  // one congestion response, not a loss window
}

// With new data waiting (here beyond cwnd), the probe sends new data rather than
// resending old.
TEST_P(LossRecovery, TlpProbeSendsNewDataWhenAvailable) {
  run(script({write_segments(100ms, 30, 10),
              {inject(110ms, In().ack(s(7)))},
              segs_out(110ms, 10, 19, 30),
              {
                  seg_out(130ms, 19),  // the probe: new data
                  inject(140ms, In().ack(s(20))),
              },
              segs_out(140ms, 20, 30, 30),
              all_acked(150ms, 30)}));
  EXPECT_EQ(counter(TcpCounter::kTlpProbes), 1u);
  EXPECT_EQ(counter(TcpCounter::kRetransSegs), 0u);
  EXPECT_EQ(counter(TcpCounter::kTlpRecoveries), 0u);
}

// §7.4: a probe that resent the only lost segment repaired the loss, which the ACK
// beyond it (without a D-SACK) shows: one congestion response -- ssthresh and cwnd
// reduced once -- instead of an RTO. A lone segment in flight waits for the worst-case
// delayed ACK too, so the probe goes out at the RTO's deadline, in its place.
TEST_P(LossRecovery, TlpRepairedLossGetsOneCongestionResponse) {
  // The probe goes out at 310 ms, the RTO's deadline.
  run(script({tail_probed(9, 310ms), ack_then_one_more(In().ack(s(10)))}));
  EXPECT_EQ(counter(TcpCounter::kTlpProbes), 1u);
  EXPECT_EQ(counter(TcpCounter::kTlpRecoveries), 1u);
  EXPECT_EQ(counter(TcpCounter::kRtoTimeouts), 0u);
  EXPECT_EQ(tcb->cwnd(), tcb->ssthresh());
  EXPECT_GT(tcb->cwnd(), 2 * mss());  // reduced, not collapsed to a loss window
}

// ... whereas a D-SACK for the probe shows the original arrived too: no response.
TEST_P(LossRecovery, TlpWithDsackIsNoLoss) {
  run(script({tail_probed(9, 310ms), ack_then_one_more(In().ack(s(10)).sack({{s(9), s(10)}}))}));
  EXPECT_EQ(counter(TcpCounter::kTlpProbes), 1u);
  EXPECT_EQ(counter(TcpCounter::kTlpRecoveries), 0u);
  EXPECT_GT(tcb->ssthresh(), tcb->cwnd());  // still in slow start: never reduced
}

}  // namespace
}  // namespace shardtcp::testing
