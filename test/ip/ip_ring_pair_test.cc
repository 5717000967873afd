// Two IP stacks in one process over a real DPDK ring pair (net_ring ports), each
// port wrapped in a seeded FaultInjectingPort, driven by two Engines under one
// VirtualClock: ARP resolution and ping both ways, ARP that still resolves through
// 30% loss by retrying, and a blackholed peer reported unresolved within the retry
// budget with its queued packets dropped and counted. Every test checks that the mbuf
// pool is whole again at the end.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>

#include "engine/engine.h"
#include "ip/ip_stack.h"
#include "port/eal.h"
#include "port/fault_injecting_port.h"
#include "port/ring_pair.h"

namespace shardtcp {
namespace {

using namespace std::chrono_literals;

const IpAddr kA = IpAddr::v4(0xC6120001);  // 198.18.0.1
const IpAddr kB = IpAddr::v4(0xC6120002);  // 198.18.0.2

rte_mempool* shared_pool() {
  static rte_mempool* pool = []() -> rte_mempool* {
    TestEalOptions o;
    o.file_prefix = "ip_ring_pair";
    if (Status s = eal_init_for_tests(o); !s) {
      ADD_FAILURE() << s.message();
      return nullptr;
    }
    MbufPoolOptions po;
    po.n_mbufs = 4095;
    po.cache_size = 0;  // exact avail counts for the leak check
    auto p = create_mbuf_pool("ip_ring_pair_pool", po);
    if (!p) {
      ADD_FAILURE() << p.error();
      return nullptr;
    }
    return *p;
  }();
  return pool;
}

struct Side {
  std::unique_ptr<FaultInjectingPort> faults;
  std::unique_ptr<IpStack> ip;
  std::unique_ptr<Engine> engine;
  unsigned replies = 0;
};

class IpRingPair : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = shared_pool();
    ASSERT_NE(pool_, nullptr);
    start_avail_ = rte_mempool_avail_count(pool_);
  }
  void TearDown() override {
    a_ = Side{};
    b_ = Side{};
    pair_.reset();
    if (pool_ != nullptr) {
      EXPECT_EQ(rte_mempool_avail_count(pool_), start_avail_) << "mbuf leak";
    }
  }

  // `drop` is the loss each side's transmissions suffer; a side with `blackhole` never
  // answers (its IP stack exists but receives nothing).
  void build(double drop, std::uint64_t seed, std::uint32_t arp_requests = 3) {
    static int serial = 0;
    RingPairOptions o;
    o.name = "ip_rp" + std::to_string(serial++);
    o.pool = pool_;
    auto pair = RingPair::create(o);
    ASSERT_TRUE(pair.is_ok()) << pair.error();
    pair_ = std::move(*pair);
    make(a_, pair_->a(), kA, drop, seed, arp_requests);
    make(b_, pair_->b(), kB, drop, seed + 1000, arp_requests);
  }

  void make(Side& s, PacketPort& port, const IpAddr& addr, double drop, std::uint64_t seed,
            std::uint32_t arp_requests) {
    ImpairmentConfig ic;
    ic.drop = drop;
    ic.seed = seed;
    ic.direction = ImpairmentConfig::Direction::kTx;
    s.faults = std::make_unique<FaultInjectingPort>(port, clock_, ic);
    IpStackConfig c;
    c.port = s.faults->info();
    c.addresses.push_back({addr, 24});
    c.arp.max_requests = arp_requests;
    c.arp.retry_interval = 1s;
    s.ip = std::make_unique<IpStack>(c);
    Side* self = &s;
    s.ip->set_ping_handler([self](const PingReply&) { ++self->replies; });
    s.engine = std::make_unique<Engine>(*s.faults, pool_, *s.ip, clock_);
  }

  // Advances virtual time in 1 ms steps, polling both engines, until done() or limit.
  bool run_until(const std::function<bool()>& done, Duration limit, bool poll_b = true) {
    const Instant end = clock_.now() + limit;
    while (clock_.now() < end) {
      if (done()) return true;
      clock_.advance(1ms);
      a_.engine->poll_once();
      if (poll_b) b_.engine->poll_once();
    }
    return done();
  }

  OutputResult ping(Side& from, const IpAddr& to, std::uint16_t seq) {
    PacketContext ctx{clock_.now(), from.engine.get(), pool_, 0};
    return from.ip->ping(to, 0x4242, seq, 56, ctx);
  }

  static bool reachable(const Side& s, const IpAddr& peer) {
    auto n = s.ip->neighbors().find(peer);
    return n && n->state == NeighborState::kReachable;
  }

  VirtualClock clock_;
  rte_mempool* pool_ = nullptr;
  unsigned start_avail_ = 0;
  std::unique_ptr<RingPair> pair_;
  Side a_, b_;
  std::uint64_t total_requests_ = 0;
};

TEST_F(IpRingPair, ArpResolvesAndPingWorksBothWays) {
  build(0.0, 1);
  EXPECT_EQ(ping(a_, kB, 1), OutputResult::kQueuedForResolution);
  ASSERT_TRUE(run_until([&] { return a_.replies == 1; }, 2s));
  EXPECT_TRUE(reachable(a_, kB));
  EXPECT_TRUE(reachable(b_, kA));  // learned from A's request aimed at it
  // B already knows A: its ping goes out at once.
  EXPECT_EQ(ping(b_, kA, 1), OutputResult::kSent);
  ASSERT_TRUE(run_until([&] { return b_.replies == 1; }, 1s));
  for (std::uint16_t seq = 2; seq <= 10; ++seq) {
    EXPECT_EQ(ping(a_, kB, seq), OutputResult::kSent);
    EXPECT_EQ(ping(b_, kA, seq), OutputResult::kSent);
  }
  ASSERT_TRUE(run_until([&] { return a_.replies == 10 && b_.replies == 10; }, 1s));
  EXPECT_EQ(a_.ip->arp_counters().get(ArpCounter::kTxRequests), 1u);
  EXPECT_EQ(b_.ip->icmp_counters().get(IcmpCounter::kTxEchoReplies), 10u);
}

// 30% of every frame each side sends is lost; resolution still succeeds because the
// cache retries. Seeds are fixed, so each run is the same run; several seeds cover
// losses of the first request, of the reply, and of both.
TEST_F(IpRingPair, ArpResolvesThroughThirtyPercentLoss) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE(seed);
    build(0.3, seed, /*arp_requests=*/8);
    ping(a_, kB, 1);
    EXPECT_TRUE(run_until([&] { return reachable(a_, kB); }, 9s)) << "unresolved";
    const auto requests = a_.ip->arp_counters().get(ArpCounter::kTxRequests);
    EXPECT_GE(requests, 1u);
    EXPECT_LE(requests, 8u);
    total_requests_ += requests;
    a_ = Side{};
    b_ = Side{};
    pair_.reset();
  }
  // Over eight seeds at 30% loss each way, some first attempts must have failed.
  EXPECT_GT(total_requests_, 8u) << "no retry was ever needed: is the loss applied?";
}

TEST_F(IpRingPair, BlackholedPeerIsUnresolvedWithinRetryBudget) {
  build(1.0, 7);  // everything A sends is lost
  for (std::uint16_t seq = 1; seq <= 3; ++seq)
    EXPECT_EQ(ping(a_, kB, seq), OutputResult::kQueuedForResolution);
  const Instant start = clock_.now();
  // 3 requests, 1 s apart, then one more interval to give up.
  EXPECT_TRUE(
      run_until([&] { return a_.ip->arp_counters().get(ArpCounter::kResolveFailed) == 1; }, 5s));
  EXPECT_LE(clock_.now() - start, Duration(3s + 10ms));
  EXPECT_EQ(a_.ip->arp_counters().get(ArpCounter::kTxRequests), 3u);
  EXPECT_EQ(a_.ip->arp_counters().get(ArpCounter::kQueuedDropped), 3u);
  EXPECT_FALSE(a_.ip->neighbors().find(kB).has_value() && reachable(a_, kB));
  EXPECT_EQ(a_.replies, 0u);
}

}  // namespace
}  // namespace shardtcp
