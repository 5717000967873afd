#include "port/fault_injecting_port.h"

#include <gtest/gtest.h>
#include <rte_mempool.h>

#include <cmath>

#include "eal_fixture.h"

namespace shardtcp {
namespace {

using testing::frame_intact;
using testing::frame_seq;
using testing::make_frame;
using testing::MemoryPort;

constexpr std::uint32_t kFrames = 100'000;

class FaultInjectingPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = testing::test_eal("porttest", {"net_null0"});
    ASSERT_NE(pool_, nullptr);
    start_avail_ = rte_mempool_avail_count(pool_);
  }
  void TearDown() override {
    // Every frame the injector dropped, held, copied or passed is back in the pool.
    inner_.clear();
    EXPECT_EQ(rte_mempool_avail_count(pool_), start_avail_) << "mbufs leaked";
  }

  // Sends frames 0..n-1 through the injector's TX side, in bursts of 32.
  void send_all(FaultInjectingPort& f, std::uint32_t n) {
    rte_mbuf* burst[32];
    for (std::uint32_t i = 0; i < n;) {
      std::uint16_t k = 0;
      while (k < 32 && i < n) {
        burst[k] = make_frame(pool_, i++);
        ASSERT_NE(burst[k], nullptr);
        ++k;
      }
      ASSERT_EQ(f.tx_burst(0, burst, k), k);
      // Keep the pool from running dry: consume as we go.
      for (rte_mbuf* m : inner_.sent) observed_.push_back(summarize(m));
      inner_.clear();
    }
  }

  struct Seen {
    std::uint32_t seq;
    bool intact;
  };
  static Seen summarize(rte_mbuf* m) { return Seen{frame_seq(m), frame_intact(m)}; }

  rte_mempool* pool_ = nullptr;
  unsigned start_avail_ = 0;
  MemoryPort inner_;
  VirtualClock clock_;
  std::vector<Seen> observed_;
};

void expect_rate(double observed, double expected, const char* what) {
  // 100k trials: the binomial standard deviation is < 0.1 percentage points; allow 10%
  // relative (plus a small absolute floor) so the fixed seed is not the only thing
  // that passes.
  EXPECT_NEAR(observed, expected, expected * 0.1 + 0.0005) << what;
}

TEST_F(FaultInjectingPortTest, ObservedRatesMatchProbabilities) {
  ImpairmentConfig c;
  c.drop = 0.05;
  c.duplicate = 0.03;
  c.corrupt = 0.02;
  c.reorder = 0.04;
  c.reorder_window = 8;
  c.seed = 12345;
  c.direction = ImpairmentConfig::Direction::kTx;
  {
    FaultInjectingPort f(inner_, clock_, c);
    send_all(f, kFrames);
    EXPECT_EQ(f.total(FaultCounter::kFrames), kFrames);
    const double n = kFrames;
    expect_rate(f.total(FaultCounter::kDropped) / n, c.drop, "dropped counter");
    expect_rate(f.total(FaultCounter::kDuplicated) / n, c.duplicate * (1 - c.drop), "dup counter");
    expect_rate(f.total(FaultCounter::kCorrupted) / n, c.corrupt * (1 - c.drop), "corrupt counter");
    EXPECT_EQ(f.total(FaultCounter::kOverflow), 0u);
    EXPECT_EQ(f.total(FaultCounter::kAllocFailed), 0u);
    // Observed on the wire: count what actually arrived.
    std::vector<int> copies(kFrames, 0);
    std::size_t corrupted = 0, late = 0;
    std::uint32_t max_seen = 0;
    for (const Seen& s : observed_) {
      if (!s.intact) {
        ++corrupted;
        continue;  // the sequence number itself may be the corrupted byte
      }
      ASSERT_LT(s.seq, kFrames);
      ++copies[s.seq];
      if (s.seq < max_seen) ++late;
      max_seen = std::max(max_seen, s.seq);
    }
    std::size_t missing = 0, dups = 0;
    for (int k : copies) {
      if (k == 0) ++missing;
      if (k == 2) ++dups;
      ASSERT_LE(k, 2);
    }
    // Frames held at the end of the run are still inside the injector.
    const std::size_t held = f.held();
    EXPECT_LE(held, c.reorder_window);
    expect_rate(static_cast<double>(corrupted) / n, c.corrupt * (1 - c.drop) * (1 + c.duplicate),
                "corrupted frames seen");
    // Missing = dropped + corrupted-unrecognisable + held at the end.
    expect_rate(static_cast<double>(missing - held) / n, c.drop + c.corrupt * (1 - c.drop),
                "missing frames");
    expect_rate(static_cast<double>(dups) / n, c.duplicate * (1 - c.drop) * (1 - c.corrupt),
                "duplicates seen");
    expect_rate(static_cast<double>(late) / n,
                c.reorder * (1 - c.drop) * (1 + c.duplicate) * (1 - c.corrupt),
                "frames arriving late");
  }
}

TEST_F(FaultInjectingPortTest, SameSeedSameOutcome) {
  ImpairmentConfig c;
  c.drop = 0.2;
  c.reorder = 0.2;
  c.reorder_window = 4;
  c.seed = 99;
  std::vector<std::uint32_t> runs[2];
  for (auto& run : runs) {
    {
      FaultInjectingPort f(inner_, clock_, c);
      observed_.clear();
      send_all(f, 2000);
    }
    for (const Seen& s : observed_) run.push_back(s.seq);
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_LT(runs[0].size(), 2000u * 0.9);
}

// Fenwick tree: how many earlier outputs had a larger sequence number.
TEST_F(FaultInjectingPortTest, ReorderNeverExceedsWindow) {
  for (std::uint32_t window : {1u, 3u, 16u}) {
    ImpairmentConfig c;
    c.reorder = 0.3;
    c.reorder_window = window;
    c.seed = window;
    observed_.clear();
    {
      FaultInjectingPort f(inner_, clock_, c);
      send_all(f, 20000);
      EXPECT_GT(f.total(FaultCounter::kReordered), 20000u * 0.2);
    }  // destroying it frees what is still held
    std::vector<std::uint32_t> tree(20001, 0);
    std::uint32_t seen = 0, worst = 0;
    for (const Seen& s : observed_) {
      ASSERT_TRUE(s.intact);
      std::uint32_t not_larger = 0;
      for (std::uint32_t i = s.seq + 1; i > 0; i -= i & (~i + 1)) not_larger += tree[i];
      const std::uint32_t overtaken_by = seen - not_larger;
      if (overtaken_by > window && worst <= window) {
        std::string ctx;
        for (std::size_t j = seen >= 12 ? seen - 12 : 0; j <= seen; ++j)
          ctx += std::to_string(observed_[j].seq) + " ";
        ADD_FAILURE() << "seq " << s.seq << " overtaken by " << overtaken_by << ": " << ctx;
      }
      worst = std::max(worst, overtaken_by);
      for (std::uint32_t i = s.seq + 1; i <= 20000; i += i & (~i + 1)) ++tree[i];
      ++seen;
    }
    EXPECT_LE(worst, window) << "window " << window;
    EXPECT_GE(worst, 1u) << "nothing was reordered with window " << window;
  }
}

TEST_F(FaultInjectingPortTest, DelayHoldsFramesUntilClockPasses) {
  ImpairmentConfig c;
  c.delay = std::chrono::milliseconds(5);
  FaultInjectingPort f(inner_, clock_, c);
  rte_mbuf* burst[10];
  for (std::uint32_t i = 0; i < 10; ++i) burst[i] = make_frame(pool_, i);
  ASSERT_EQ(f.tx_burst(0, burst, 10), 10);
  EXPECT_TRUE(inner_.sent.empty());
  EXPECT_EQ(f.held(), 10u);
  clock_.advance(std::chrono::microseconds(4999));
  f.service(0);
  EXPECT_TRUE(inner_.sent.empty());
  clock_.advance(std::chrono::microseconds(1));
  rte_mbuf* none[4];
  EXPECT_EQ(f.rx_burst(0, none, 4), 0);  // rx_burst also moves held TX frames along
  ASSERT_EQ(inner_.sent.size(), 10u);
  for (std::uint32_t i = 0; i < 10; ++i) EXPECT_EQ(frame_seq(inner_.sent[i]), i);  // order kept
  EXPECT_EQ(f.total(FaultCounter::kDelayed), 10u);
  EXPECT_EQ(f.held(), 0u);
}

TEST_F(FaultInjectingPortTest, RxDirectionDropsAndDuplicates) {
  ImpairmentConfig c;
  c.duplicate = 1.0;
  c.direction = ImpairmentConfig::Direction::kRx;
  FaultInjectingPort f(inner_, clock_, c);
  for (std::uint32_t i = 0; i < 5; ++i) inner_.inbox.push_back(make_frame(pool_, i));
  rte_mbuf* got[32];
  const std::uint16_t n = f.rx_burst(0, got, 32);
  ASSERT_EQ(n, 10);
  for (std::uint16_t i = 0; i < n; ++i) {
    EXPECT_EQ(frame_seq(got[i]), i / 2u);
    EXPECT_TRUE(frame_intact(got[i]));
  }
  EXPECT_NE(got[0], got[1]);  // a real copy, not the same mbuf twice
  rte_pktmbuf_free_bulk(got, n);
  // TX is untouched in kRx mode.
  rte_mbuf* one = make_frame(pool_, 77);
  ASSERT_EQ(f.tx_burst(0, &one, 1), 1);
  EXPECT_EQ(inner_.sent.size(), 1u);
}

TEST_F(FaultInjectingPortTest, CorruptionNeverTouchesSharedFrames) {
  ImpairmentConfig c;
  c.corrupt = 1.0;
  FaultInjectingPort f(inner_, clock_, c);
  rte_mbuf* m = make_frame(pool_, 5);
  rte_pktmbuf_refcnt_update(m, 1);  // someone else (a retransmit queue) still holds it
  rte_mbuf* burst[1] = {m};
  ASSERT_EQ(f.tx_burst(0, burst, 1), 1);
  ASSERT_EQ(inner_.sent.size(), 1u);
  EXPECT_NE(inner_.sent[0], m);
  EXPECT_FALSE(frame_intact(inner_.sent[0]));
  EXPECT_TRUE(frame_intact(m));  // the original is as it was
  // The Ethernet header is never corrupted.
  EXPECT_EQ(std::memcmp(rte_pktmbuf_mtod(inner_.sent[0], void*), rte_pktmbuf_mtod(m, void*), 14),
            0);
  rte_pktmbuf_free(m);
}

TEST_F(FaultInjectingPortTest, InnerRefusalKeepsFramesInOrder) {
  ImpairmentConfig c;
  c.drop = 0.0001;  // active, but effectively passes everything
  c.seed = 3;
  FaultInjectingPort f(inner_, clock_, c);
  inner_.tx_limit = 3;
  rte_mbuf* burst[10];
  for (std::uint32_t i = 0; i < 10; ++i) burst[i] = make_frame(pool_, i);
  ASSERT_EQ(f.tx_burst(0, burst, 10), 10);  // the wrapper keeps what the inner refuses
  EXPECT_EQ(inner_.sent.size(), 3u);
  EXPECT_EQ(f.held(), 7u);
  inner_.tx_limit = UINT16_MAX;
  f.service(0);
  ASSERT_EQ(inner_.sent.size(), 10u);
  for (std::uint32_t i = 0; i < 10; ++i) EXPECT_EQ(frame_seq(inner_.sent[i]), i);
}

TEST_F(FaultInjectingPortTest, ReorderedFrameLeavesAfterMaxHoldWithoutTraffic) {
  ImpairmentConfig c;
  c.reorder = 1.0;
  c.reorder_window = 4;
  c.reorder_max_hold = std::chrono::milliseconds(2);
  FaultInjectingPort f(inner_, clock_, c);
  rte_mbuf* m = make_frame(pool_, 1);
  ASSERT_EQ(f.tx_burst(0, &m, 1), 1);
  EXPECT_TRUE(inner_.sent.empty());
  clock_.advance(std::chrono::milliseconds(2));
  f.service(0);
  EXPECT_EQ(inner_.sent.size(), 1u);
}

TEST_F(FaultInjectingPortTest, InactiveConfigPassesThrough) {
  FaultInjectingPort f(inner_, clock_, ImpairmentConfig{});
  rte_mbuf* m = make_frame(pool_, 1);
  inner_.tx_limit = 0;
  EXPECT_EQ(f.tx_burst(0, &m, 1), 0);  // plain pass-through semantics: refusal visible
  rte_pktmbuf_free(m);
}

}  // namespace
}  // namespace shardtcp
