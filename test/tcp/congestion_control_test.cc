#include "tcp/congestion_control.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace shardtcp {
namespace {

using namespace std::chrono_literals;
constexpr std::uint32_t kMss = 1000;

// Acknowledges one full window, one segment per ACK, and advances the clock one RTT.
template <typename Cc>
void ack_one_rtt(Cc& cc, VirtualClock& clock, Duration rtt) {
  const std::uint32_t segs = cc.cwnd() / kMss;
  for (std::uint32_t i = 0; i < segs; ++i) {
    clock.advance(rtt / segs);
    cc.on_ack(kMss, cc.cwnd(), rtt, clock.now());
  }
}

TEST(NewRenoTest, InitialWindowIsTenSegments) {
  NewReno cc(kMss);
  EXPECT_EQ(cc.cwnd(), 10 * kMss);
  EXPECT_EQ(cc.ssthresh(), UINT32_MAX);
  EXPECT_EQ(cc.name(), "newreno");
}

TEST(NewRenoTest, SlowStartDoublesPerRtt) {
  NewReno cc(kMss);
  VirtualClock clock;
  for (int rtt = 0; rtt < 5; ++rtt) {
    const std::uint32_t before = cc.cwnd();
    ack_one_rtt(cc, clock, 10ms);
    EXPECT_EQ(cc.cwnd(), 2 * before);
  }
}

TEST(NewRenoTest, AbcLimitsStretchAcks) {
  NewReno cc(kMss);
  cc.on_ack(8 * kMss, 0, 0ns, Instant{});
  EXPECT_EQ(cc.cwnd(), 12 * kMss);  // at most L = 2 segments per ACK
}

TEST(NewRenoTest, LossHalvesAndCongestionAvoidanceIsLinear) {
  NewReno cc(kMss);
  VirtualClock clock;
  ack_one_rtt(cc, clock, 10ms);
  ack_one_rtt(cc, clock, 10ms);
  ASSERT_EQ(cc.cwnd(), 40 * kMss);
  cc.on_enter_recovery(40 * kMss, clock.now());
  EXPECT_EQ(cc.ssthresh(), 20 * kMss);
  EXPECT_EQ(cc.cwnd(), 20 * kMss);
  cc.on_exit_recovery(clock.now());
  EXPECT_EQ(cc.cwnd(), 20 * kMss);
  EXPECT_FALSE(cc.in_slow_start());
  for (std::uint32_t i = 1; i <= 5; ++i) {
    ack_one_rtt(cc, clock, 10ms);
    EXPECT_EQ(cc.cwnd(), (20 + i) * kMss);
  }
}

TEST(NewRenoTest, LossFloorIsTwoSegments) {
  NewReno cc(kMss);
  cc.on_enter_recovery(kMss, Instant{});
  EXPECT_EQ(cc.ssthresh(), 2 * kMss);
}

TEST(NewRenoTest, RtoCollapsesToOneSegment) {
  NewReno cc(kMss);
  cc.on_rto(10 * kMss, Instant{});
  EXPECT_EQ(cc.cwnd(), kMss);
  EXPECT_EQ(cc.ssthresh(), 5 * kMss);
  // Slow start again from one segment.
  cc.on_ack(kMss, kMss, 0ns, Instant{});
  EXPECT_EQ(cc.cwnd(), 2 * kMss);
}

TEST(NewRenoTest, IdleRestartCapsAtInitialWindow) {
  NewReno cc(kMss);
  VirtualClock clock;
  ack_one_rtt(cc, clock, 10ms);
  ack_one_rtt(cc, clock, 10ms);
  cc.on_idle_restart(clock.now());
  EXPECT_EQ(cc.cwnd(), 10 * kMss);
}

TEST(NewRenoTest, SetMssKeepsSegmentCount) {
  NewReno cc(kMss);
  cc.set_mss(500);
  EXPECT_EQ(cc.cwnd(), 10 * 500u);
}

TEST(CubicTest, InitialWindowAndSlowStart) {
  Cubic cc(kMss);
  VirtualClock clock;
  EXPECT_EQ(cc.cwnd(), 10 * kMss);
  ack_one_rtt(cc, clock, 10ms);
  EXPECT_EQ(cc.cwnd(), 20 * kMss);
}

TEST(CubicTest, LossMultipliesByBeta) {
  Cubic cc(kMss);
  VirtualClock clock;
  while (cc.cwnd() < 100 * kMss) cc.on_ack(kMss, 0, 10ms, clock.now());
  ASSERT_EQ(cc.cwnd(), 100 * kMss);
  cc.on_enter_recovery(100 * kMss, clock.now());
  EXPECT_EQ(cc.ssthresh(), 70 * kMss);
  EXPECT_EQ(cc.cwnd(), 70 * kMss);
  EXPECT_DOUBLE_EQ(cc.w_max_segments(), 100.0);
}

TEST(CubicTest, CurveReachesWmaxAtK) {
  Cubic cc(kMss);
  VirtualClock clock;
  while (cc.cwnd() < 100 * kMss) cc.on_ack(kMss, 0, 100ms, clock.now());
  cc.on_enter_recovery(100 * kMss, clock.now());
  cc.on_exit_recovery(clock.now());
  const Instant start = clock.now();
  const Duration rtt = 100ms;
  cc.on_ack(kMss, 0, rtt, clock.now());  // opens the epoch
  const double k = cc.k_seconds();
  EXPECT_NEAR(k, std::cbrt(100.0 * 0.3 / 0.4), 0.05);  // K = cbrt(W_max(1-beta)/C)
  double at_half_k = 0;
  while ((clock.now() - start) <
         std::chrono::duration_cast<Duration>(std::chrono::duration<double>(k))) {
    ack_one_rtt(cc, clock, rtt);
    if (at_half_k == 0 && clock.now() - start >= std::chrono::duration_cast<Duration>(
                                                     std::chrono::duration<double>(k / 2))) {
      at_half_k = cc.cwnd_segments();
    }
  }
  // Concave: by K/2 most of the gap is closed (W(K/2) = 100 - 0.4*(K/2)^3 ~ 90.6).
  EXPECT_GT(at_half_k, 85.0);
  EXPECT_LT(at_half_k, 100.0);
  // At K the window is at the old plateau.
  EXPECT_NEAR(cc.cwnd_segments(), 100.0, 3.0);
  // Convex afterwards: growth accelerates past W_max.
  for (int i = 0; i < 30; ++i) ack_one_rtt(cc, clock, rtt);
  const double t = (clock.now() - start).count() * 1e-9;
  const double expected = 100.0 + 0.4 * std::pow(t - k, 3);  // ~111 at K + 3 s
  EXPECT_GT(cc.cwnd_segments(), 107.0);
  // At least the cubic curve (by now W_est, the Reno-friendly estimate, may lead).
  EXPECT_GE(cc.cwnd_segments(), expected - 1.0);
  EXPECT_LE(cc.cwnd_segments(), std::max(expected, cc.w_est_segments()) + 3.0);
}

TEST(CubicTest, FastConvergence) {
  Cubic cc(kMss);
  VirtualClock clock;
  while (cc.cwnd() < 100 * kMss) cc.on_ack(kMss, 0, 10ms, clock.now());
  cc.on_enter_recovery(0, clock.now());
  cc.on_exit_recovery(clock.now());
  EXPECT_DOUBLE_EQ(cc.w_max_segments(), 100.0);
  // Second loss below the previous plateau: W_max = cwnd * (1 + beta) / 2.
  cc.on_enter_recovery(0, clock.now());
  EXPECT_NEAR(cc.w_max_segments(), 70.0 * 1.7 / 2.0, 1e-9);
  // Without fast convergence W_max is just cwnd.
  Cubic plain(kMss, false);
  while (plain.cwnd() < 100 * kMss) plain.on_ack(kMss, 0, 10ms, clock.now());
  plain.on_enter_recovery(0, clock.now());
  plain.on_enter_recovery(0, clock.now());
  EXPECT_NEAR(plain.w_max_segments(), 70.0, 1e-9);
}

TEST(CubicTest, RenoFriendlyRegionAtShortRtt) {
  // With a tiny RTT the cubic curve grows slowly per RTT, so W_est (Reno) leads.
  Cubic cc(kMss);
  VirtualClock clock;
  while (cc.cwnd() < 20 * kMss) cc.on_ack(kMss, 0, 1ms, clock.now());
  cc.on_enter_recovery(0, clock.now());
  cc.on_exit_recovery(clock.now());
  const double w0 = cc.cwnd_segments();  // 14
  const Instant start = clock.now();
  for (int i = 0; i < 200; ++i) ack_one_rtt(cc, clock, 1ms);
  const double t = (clock.now() - start).count() * 1e-9;
  const double cubic_only = 0.4 * std::pow(t - cc.k_seconds(), 3) + 20.0;
  // Reno-friendly: W_est grows ~alpha (0.53) then 1 segment per RTT.
  EXPECT_GT(cc.cwnd_segments(), w0 + 100);
  EXPECT_GT(cc.cwnd_segments(), cubic_only + 50);
  EXPECT_NEAR(cc.cwnd_segments(), cc.w_est_segments(), 1.0);
}

TEST(CubicTest, RtoCollapsesToOneSegment) {
  Cubic cc(kMss);
  cc.on_rto(0, Instant{});
  EXPECT_EQ(cc.cwnd(), kMss);
  EXPECT_EQ(cc.ssthresh(), 7 * kMss);
}

TEST(CongestionControllerTest, VariantDispatch) {
  CongestionController cc;  // CUBIC by default
  EXPECT_EQ(cc.name(), "cubic");
  EXPECT_EQ(cc.algorithm(), CongestionAlgorithm::kCubic);
  ASSERT_NE(cc.cubic(), nullptr);
  cc.reset(CongestionAlgorithm::kNewReno, kMss);
  EXPECT_EQ(cc.name(), "newreno");
  EXPECT_EQ(cc.cwnd(), 10 * kMss);
  cc.on_rto(10 * kMss, Instant{});
  EXPECT_EQ(cc.cwnd(), kMss);
  auto heap = make_congestion_control(CongestionAlgorithm::kCubic, kMss);
  EXPECT_EQ(heap->name(), "cubic");
  heap->on_enter_recovery(0, Instant{});
  EXPECT_EQ(heap->cwnd(), 7 * kMss);
}

}  // namespace
}  // namespace shardtcp
