// ECN between two stacks (issue 17 item 8): a transfer each way through ports that mark
// ECN-capable frames CE, as an AQM would, instead of dropping them. The stacks must
// answer marks by reducing their windows -- never by retransmitting -- and deliver
// every byte; without ECN negotiated nothing is ECN-capable, so nothing is marked.
#include <gtest/gtest.h>

#include "pair_harness.h"
#include "pair_stream.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint16_t kPort = 5002;
constexpr std::uint64_t kBytes = 4ull << 20;  // each way

class TcpPairEcn : public TcpPairTest {
 protected:
  // Builds the pair with `client_ecn` for the connecting side (the listener keeps the
  // default, passive) and CE marking on both sides' frames, then moves kBytes each way.
  void transfer(EcnMode client_ecn) {
    ImpairmentConfig marks;
    marks.ce_mark = 0.01;
    PairSideOptions a, b;
    a.tcp = b.tcp = default_tcp();
    a.tcp.defaults.ecn = client_ecn;
    a.impair = b.impair = marks;
    a.impair->seed = 5;
    b.impair->seed = 6;
    build(a, b);

    TcpConnId c, s;
    open_a_to_b(kPort, &c, &s);
    if (HasFatalFailure()) return;
    StreamFlow ea, eb;
    flows_each_way(ea, a_.tcp.get(), c, eb, b_.tcp.get(), s, kBytes);
    ASSERT_EQ(a_.tcp->info(c, &client_info_), 0);
    ASSERT_EQ(b_.tcp->info(s, &server_info_), 0);
    const Instant start = clock_.now();
    std::uint32_t quiet = 0;
    while (!(ea.done() && eb.done())) {
      ea.step();
      eb.step();
      if (::testing::Test::HasFatalFailure()) return;
      quiet = poll(quiet > 2 ? Duration(1ms) : Duration(20us)) == 0 ? quiet + 1 : 0;
      ASSERT_LT(clock_.now() - start, Duration(std::chrono::minutes(5))) << "stalled";
    }
    EXPECT_EQ(ea.received, kBytes);
    EXPECT_EQ(eb.received, kBytes);
    EXPECT_EQ(ea.mismatches, 0u);
    EXPECT_EQ(eb.mismatches, 0u);
  }

  TcpInfo client_info_, server_info_;  // once established

  std::uint64_t both(TcpCounter k) const { return a_.tcp->counter(k) + b_.tcp->counter(k); }
  std::uint64_t marked() const {
    return a_.faults->total(FaultCounter::kCeMarked) + b_.faults->total(FaultCounter::kCeMarked);
  }
};

TEST_F(TcpPairEcn, CeMarksReduceWindowsWithoutRetransmissions) {
  transfer(EcnMode::kOn);
  EXPECT_TRUE(client_info_.ecn);
  EXPECT_TRUE(server_info_.ecn);
  EXPECT_EQ(both(TcpCounter::kEcnNegotiated), 2u);
  EXPECT_GT(marked(), 0u);
  EXPECT_GT(both(TcpCounter::kEcnCeReceived), 0u);
  EXPECT_GT(both(TcpCounter::kEcnEceReceived), 0u);
  EXPECT_GT(a_.tcp->counter(TcpCounter::kEcnReductions), 0u);
  EXPECT_GT(b_.tcp->counter(TcpCounter::kEcnReductions), 0u);
  // The marks cost window, never a retransmission (no frame was lost).
  EXPECT_EQ(both(TcpCounter::kRetransSegs), 0u);
}

// Both sides passive (the default): no connection asks, no frame is ECN-capable.
TEST_F(TcpPairEcn, PassiveOnBothSidesMarksNothing) {
  transfer(EcnMode::kPassive);
  EXPECT_FALSE(client_info_.ecn);
  EXPECT_FALSE(server_info_.ecn);
  EXPECT_EQ(both(TcpCounter::kEcnNegotiated), 0u);
  EXPECT_EQ(marked(), 0u);
  EXPECT_EQ(both(TcpCounter::kEcnReductions), 0u);
}

}  // namespace
}  // namespace shardtcp::testing
