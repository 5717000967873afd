// NeighborCache as pure logic: fake packets (addresses of local objects, never
// dereferenced by the cache), a recording NeighborOutput and explicit time.
#include "ip/neighbor_cache.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "wire/ethernet.h"

namespace shardtcp {
namespace {

using namespace std::chrono_literals;

IpAddr ip(const char* s) {
  return *IpAddr::parse(s);
}
const rte_ether_addr kOurMac{{0x02, 0, 0, 0, 0, 0x01}};
const rte_ether_addr kPeerMac{{0x02, 0, 0, 0, 0, 0x02}};
const rte_ether_addr kPeerMac2{{0x02, 0, 0, 0, 0, 0x03}};

struct Recorder : NeighborOutput {
  struct Sent {
    ArpPacket p;
    rte_ether_addr dst;
  };
  std::vector<Sent> arps;
  std::vector<std::pair<rte_mbuf*, rte_ether_addr>> released;
  std::vector<rte_mbuf*> dropped;
  std::vector<IpAddr> unresolved;
  void send_arp(const ArpPacket& p, const rte_ether_addr& d) override { arps.push_back({p, d}); }
  void send_resolved(rte_mbuf* m, const rte_ether_addr& mac) override {
    released.push_back({m, mac});
  }
  void drop_unresolved(rte_mbuf* m) override { dropped.push_back(m); }
  void on_unresolved(const IpAddr& a) override { unresolved.push_back(a); }
};

// Distinct opaque handles standing in for mbufs.
std::array<int, 64> g_fake;
rte_mbuf* pkt(int i) {
  return reinterpret_cast<rte_mbuf*>(&g_fake[i]);
}

ArpPacket reply_from(const IpAddr& spa, const rte_ether_addr& sha, const IpAddr& tpa) {
  return ArpPacket{ArpOp::kReply, sha, spa, kOurMac, tpa};
}

class NeighborCacheTest : public ::testing::Test {
 protected:
  NeighborCacheTest() : cache_(cfg(), kOurMac) { cache_.add_local_address(us_); }
  static NeighborConfig cfg() {
    NeighborConfig c;
    c.max_entries = 4;
    c.max_queued_per_entry = 3;
    c.max_queued_total = 5;
    c.max_requests = 3;
    c.retry_interval = 1s;
    c.reachable_time = 30s;
    c.stale_lifetime = 60s;
    return c;
  }
  IpAddr us_ = ip("198.18.0.1");
  IpAddr peer_ = ip("198.18.0.2");
  Instant t0_{1'000'000'000};
  NeighborCache cache_;
  Recorder out_;
};

TEST_F(NeighborCacheTest, ResolvesAndReleasesQueueInOrder) {
  rte_ether_addr mac{};
  EXPECT_EQ(cache_.resolve(peer_, pkt(1), t0_, out_, &mac), NeighborCache::Resolve::kQueued);
  EXPECT_EQ(cache_.resolve(peer_, pkt(2), t0_, out_, &mac), NeighborCache::Resolve::kQueued);
  ASSERT_EQ(out_.arps.size(), 1u);  // one request, not one per packet
  EXPECT_EQ(out_.arps[0].p.op, ArpOp::kRequest);
  EXPECT_EQ(out_.arps[0].p.tpa, peer_);
  EXPECT_EQ(out_.arps[0].p.spa, us_);
  EXPECT_TRUE(mac_equal(out_.arps[0].dst, kBroadcastMac));
  EXPECT_EQ(cache_.find(peer_)->state, NeighborState::kIncomplete);
  EXPECT_EQ(cache_.queued_total(), 2u);

  cache_.on_arp(reply_from(peer_, kPeerMac, us_), t0_ + 10ms, out_);
  ASSERT_EQ(out_.released.size(), 2u);
  EXPECT_EQ(out_.released[0].first, pkt(1));
  EXPECT_EQ(out_.released[1].first, pkt(2));
  EXPECT_TRUE(mac_equal(out_.released[0].second, kPeerMac));
  EXPECT_EQ(cache_.queued_total(), 0u);
  EXPECT_EQ(cache_.find(peer_)->state, NeighborState::kReachable);
  EXPECT_EQ(cache_.resolve(peer_, pkt(3), t0_ + 20ms, out_, &mac),
            NeighborCache::Resolve::kResolved);
  EXPECT_TRUE(mac_equal(mac, kPeerMac));
  EXPECT_EQ(cache_.counters().get(ArpCounter::kResolved), 1u);
}

TEST_F(NeighborCacheTest, RetriesThenFailsAndDropsQueue) {
  rte_ether_addr mac{};
  cache_.resolve(peer_, pkt(1), t0_, out_, &mac);
  cache_.resolve(peer_, pkt(2), t0_, out_, &mac);
  EXPECT_EQ(cache_.next_deadline(), t0_ + 1s);
  cache_.on_timer(t0_ + 500ms, out_);
  EXPECT_EQ(out_.arps.size(), 1u);  // not due yet
  cache_.on_timer(t0_ + 1s, out_);
  EXPECT_EQ(out_.arps.size(), 2u);
  cache_.on_timer(t0_ + 2s, out_);
  EXPECT_EQ(out_.arps.size(), 3u);
  EXPECT_TRUE(out_.dropped.empty());
  cache_.on_timer(t0_ + 3s, out_);  // max_requests sent, one interval without answer
  EXPECT_EQ(out_.arps.size(), 3u);
  ASSERT_EQ(out_.dropped.size(), 2u);
  ASSERT_EQ(out_.unresolved.size(), 1u);
  EXPECT_EQ(out_.unresolved[0], peer_);
  EXPECT_FALSE(cache_.find(peer_));
  EXPECT_EQ(cache_.counters().get(ArpCounter::kResolveFailed), 1u);
  EXPECT_EQ(cache_.counters().get(ArpCounter::kQueuedDropped), 2u);
  EXPECT_EQ(cache_.counters().get(ArpCounter::kTxRequests), 3u);
  EXPECT_EQ(cache_.queued_total(), 0u);
}

TEST_F(NeighborCacheTest, LateReplyAfterRetryStillResolves) {
  rte_ether_addr mac{};
  cache_.resolve(peer_, pkt(1), t0_, out_, &mac);
  cache_.on_timer(t0_ + 1s, out_);
  cache_.on_arp(reply_from(peer_, kPeerMac, us_), t0_ + 1500ms, out_);
  ASSERT_EQ(out_.released.size(), 1u);
  cache_.on_timer(t0_ + 5s, out_);
  EXPECT_TRUE(out_.dropped.empty());
  EXPECT_EQ(cache_.find(peer_)->state, NeighborState::kReachable);
}

TEST_F(NeighborCacheTest, QueueLimitsPerEntryAndTotal) {
  rte_ether_addr mac{};
  const IpAddr other = ip("198.18.0.3");
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(cache_.resolve(peer_, pkt(i), t0_, out_, &mac), NeighborCache::Resolve::kQueued);
  EXPECT_EQ(cache_.resolve(peer_, pkt(3), t0_, out_, &mac), NeighborCache::Resolve::kDropped);
  EXPECT_EQ(cache_.counters().get(ArpCounter::kQueueFullEntry), 1u);
  EXPECT_EQ(cache_.resolve(other, pkt(4), t0_, out_, &mac), NeighborCache::Resolve::kQueued);
  EXPECT_EQ(cache_.resolve(other, pkt(5), t0_, out_, &mac), NeighborCache::Resolve::kQueued);
  // Total pool of 5 slots is used up although `other` has room of its own.
  EXPECT_EQ(cache_.resolve(other, pkt(6), t0_, out_, &mac), NeighborCache::Resolve::kDropped);
  EXPECT_EQ(cache_.counters().get(ArpCounter::kQueueFullTotal), 1u);
  EXPECT_EQ(cache_.queued_total(), 5u);
  // Resolving one neighbour frees its slots for others.
  cache_.on_arp(reply_from(peer_, kPeerMac, us_), t0_, out_);
  EXPECT_EQ(out_.released.size(), 3u);
  EXPECT_EQ(cache_.resolve(other, pkt(7), t0_, out_, &mac), NeighborCache::Resolve::kQueued);
}

TEST_F(NeighborCacheTest, TableFullRefusesWhenNothingIsStale) {
  rte_ether_addr mac{};
  // Two reachable neighbours and two pending resolutions (the most allowed: half).
  cache_.insert_reachable(ip("198.18.0.20"), kPeerMac, t0_, out_);
  cache_.insert_reachable(ip("198.18.0.21"), kPeerMac2, t0_, out_);
  for (int i = 0; i < 2; ++i) {
    const IpAddr a = IpAddr::v4(0xC6120010 + i);
    EXPECT_EQ(cache_.resolve(a, nullptr, t0_, out_, &mac), NeighborCache::Resolve::kQueued);
  }
  EXPECT_EQ(cache_.size(), 4u);
  EXPECT_EQ(cache_.resolve(ip("198.18.0.99"), pkt(1), t0_, out_, &mac),
            NeighborCache::Resolve::kDropped);
  EXPECT_EQ(cache_.counters().get(ArpCounter::kIncompleteLimit), 1u);
  EXPECT_EQ(cache_.incomplete(), 2u);
}

// Traffic to many addresses that never answer (RSTs and SYN-ACKs to a flood's spoofed
// on-link sources) holds at most half the table: the peer a connection uses keeps its
// entry even once stale, and new neighbours still resolve.
TEST_F(NeighborCacheTest, UnresolvableFloodCannotPushOutNeighboursInUse) {
  rte_ether_addr mac{};
  cache_.insert_reachable(peer_, kPeerMac, t0_, out_);
  cache_.on_timer(t0_ + 31s, out_);  // stale, and in use
  const Instant t = t0_ + 31s;
  for (int i = 0; i < 40; ++i)
    cache_.resolve(IpAddr::v4(0xC6120100 + i), nullptr, t + std::chrono::milliseconds(i), out_,
                   &mac);
  EXPECT_EQ(cache_.incomplete(), 2u);
  EXPECT_EQ(cache_.counters().get(ArpCounter::kIncompleteLimit), 38u);
  EXPECT_EQ(cache_.resolve(peer_, nullptr, t + 1s, out_, &mac), NeighborCache::Resolve::kResolved);
  EXPECT_TRUE(rte_is_same_ether_addr(&mac, &kPeerMac));
  // A new neighbour that answers: its resolution starts once the flood's time out.
  for (int s = 1; s <= 5; ++s) cache_.on_timer(t + std::chrono::seconds(s), out_);
  EXPECT_EQ(cache_.incomplete(), 0u);
  EXPECT_EQ(cache_.resolve(ip("198.18.0.7"), pkt(2), t + 5s, out_, &mac),
            NeighborCache::Resolve::kQueued);
}

TEST_F(NeighborCacheTest, AnswersRequestForUsAndLearnsSender) {
  ArpPacket req{ArpOp::kRequest, kPeerMac, peer_, rte_ether_addr{}, us_};
  cache_.on_arp(req, t0_, out_);
  ASSERT_EQ(out_.arps.size(), 1u);
  const auto& r = out_.arps[0];
  EXPECT_EQ(r.p.op, ArpOp::kReply);
  EXPECT_TRUE(mac_equal(r.p.sha, kOurMac));
  EXPECT_EQ(r.p.spa, us_);
  EXPECT_TRUE(mac_equal(r.p.tha, kPeerMac));
  EXPECT_EQ(r.p.tpa, peer_);
  EXPECT_TRUE(mac_equal(r.dst, kPeerMac));
  auto e = cache_.find(peer_);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, NeighborState::kReachable);
  EXPECT_TRUE(mac_equal(e->mac, kPeerMac));
  EXPECT_EQ(cache_.counters().get(ArpCounter::kLearned), 1u);
  EXPECT_EQ(cache_.counters().get(ArpCounter::kTxReplies), 1u);
}

TEST_F(NeighborCacheTest, IgnoresRequestsForOthersAndBadSenders) {
  ArpPacket req{ArpOp::kRequest, kPeerMac, peer_, rte_ether_addr{}, ip("198.18.0.77")};
  cache_.on_arp(req, t0_, out_);
  EXPECT_TRUE(out_.arps.empty());
  EXPECT_FALSE(cache_.find(peer_));  // not learned: it was not talking to us
  EXPECT_EQ(cache_.counters().get(ArpCounter::kRxNotForUs), 1u);

  ArpPacket bad{ArpOp::kRequest, kBroadcastMac, peer_, rte_ether_addr{}, us_};
  cache_.on_arp(bad, t0_, out_);
  EXPECT_TRUE(out_.arps.empty());
  EXPECT_EQ(cache_.counters().get(ArpCounter::kRxBadSender), 1u);

  ArpPacket conflict{ArpOp::kReply, kPeerMac, us_, kOurMac, us_};
  cache_.on_arp(conflict, t0_, out_);
  EXPECT_EQ(cache_.counters().get(ArpCounter::kRxAddressConflict), 1u);
}

TEST_F(NeighborCacheTest, GratuitousArpUpdatesExistingBindingOnly) {
  ASSERT_TRUE(cache_.insert_reachable(peer_, kPeerMac, t0_, out_));
  ArpPacket garp{ArpOp::kRequest, kPeerMac2, peer_, rte_ether_addr{}, peer_};
  cache_.on_arp(garp, t0_ + 1s, out_);
  EXPECT_TRUE(mac_equal(cache_.find(peer_)->mac, kPeerMac2));
  EXPECT_EQ(cache_.counters().get(ArpCounter::kUpdated), 1u);
  ArpPacket stranger{ArpOp::kRequest, kPeerMac, ip("198.18.0.50"), rte_ether_addr{},
                     ip("198.18.0.50")};
  cache_.on_arp(stranger, t0_ + 1s, out_);
  EXPECT_FALSE(cache_.find(ip("198.18.0.50")));
  EXPECT_TRUE(out_.arps.empty());
}

TEST_F(NeighborCacheTest, RequestsComeFromTheAddressOnTheTargetsSubnet) {
  NeighborCache c(cfg(), kOurMac);
  c.add_local_address(ip("198.18.0.1"), 24);
  c.add_local_address(ip("198.19.1.1"), 24);
  rte_ether_addr mac{};
  c.resolve(ip("198.19.1.5"), nullptr, t0_, out_, &mac);
  c.resolve(ip("198.18.0.5"), nullptr, t0_, out_, &mac);
  ASSERT_EQ(out_.arps.size(), 2u);
  EXPECT_EQ(out_.arps[0].p.spa, ip("198.19.1.1"));
  EXPECT_EQ(out_.arps[1].p.spa, ip("198.18.0.1"));
  c.remove_local_address(ip("198.19.1.1"));
  EXPECT_FALSE(c.is_local(ip("198.19.1.1")));
  EXPECT_TRUE(c.is_local(ip("198.18.0.1")));
}

TEST_F(NeighborCacheTest, AnnouncesEachLocalAddress) {
  cache_.add_local_address(ip("198.18.1.1"));
  cache_.announce(out_);
  ASSERT_EQ(out_.arps.size(), 2u);
  for (const auto& a : out_.arps) {
    EXPECT_TRUE(a.p.is_gratuitous());
    EXPECT_TRUE(mac_equal(a.dst, kBroadcastMac));
    EXPECT_TRUE(mac_equal(a.p.sha, kOurMac));
  }
  EXPECT_EQ(out_.arps[1].p.spa, ip("198.18.1.1"));
  EXPECT_EQ(cache_.counters().get(ArpCounter::kTxGratuitous), 2u);
}

TEST_F(NeighborCacheTest, AgeingReachableToStaleProbeAndExpiry) {
  ASSERT_TRUE(cache_.insert_reachable(peer_, kPeerMac, t0_, out_));
  cache_.on_timer(t0_ + 30s, out_);
  EXPECT_EQ(cache_.find(peer_)->state, NeighborState::kStale);
  // Using a stale entry keeps the old MAC and sends one unicast probe.
  rte_ether_addr mac{};
  EXPECT_EQ(cache_.resolve(peer_, pkt(1), t0_ + 31s, out_, &mac),
            NeighborCache::Resolve::kResolved);
  EXPECT_TRUE(mac_equal(mac, kPeerMac));
  ASSERT_EQ(out_.arps.size(), 1u);
  EXPECT_TRUE(mac_equal(out_.arps[0].dst, kPeerMac));
  cache_.resolve(peer_, pkt(2), t0_ + 31s + 1ms, out_, &mac);
  EXPECT_EQ(out_.arps.size(), 1u);  // one probe round at a time
  // The reply makes it reachable again.
  cache_.on_arp(reply_from(peer_, kPeerMac, us_), t0_ + 31s + 2ms, out_);
  EXPECT_EQ(cache_.find(peer_)->state, NeighborState::kReachable);

  // Unused stale entries disappear after stale_lifetime.
  cache_.on_timer(t0_ + 62s, out_);
  EXPECT_EQ(cache_.find(peer_)->state, NeighborState::kStale);
  cache_.on_timer(t0_ + 31s + 2ms + 60s, out_);
  EXPECT_FALSE(cache_.find(peer_));
  EXPECT_EQ(cache_.counters().get(ArpCounter::kAgedOut), 1u);
}

TEST_F(NeighborCacheTest, UnansweredProbesRemoveStaleEntry) {
  ASSERT_TRUE(cache_.insert_reachable(peer_, kPeerMac, t0_, out_));
  cache_.on_timer(t0_ + 30s, out_);
  rte_ether_addr mac{};
  cache_.resolve(peer_, nullptr, t0_ + 30s, out_, &mac);
  for (int s = 31; s <= 33; ++s) cache_.on_timer(t0_ + std::chrono::seconds(s), out_);
  EXPECT_EQ(cache_.counters().get(ArpCounter::kTxProbes), 3u);
  EXPECT_FALSE(cache_.find(peer_));
}

TEST_F(NeighborCacheTest, FullTableEvictsLeastRecentlyUsedStale) {
  for (int i = 0; i < 4; ++i)
    cache_.insert_reachable(IpAddr::v4(0xC6120010 + i), kPeerMac, t0_ + std::chrono::seconds(i),
                            out_);
  cache_.on_timer(t0_ + 40s, out_);  // all stale now
  rte_ether_addr mac{};
  EXPECT_EQ(cache_.resolve(ip("198.18.0.99"), pkt(1), t0_ + 40s, out_, &mac),
            NeighborCache::Resolve::kQueued);
  EXPECT_EQ(cache_.counters().get(ArpCounter::kEvicted), 1u);
  EXPECT_FALSE(cache_.find(IpAddr::v4(0xC6120010)));  // the oldest one
  EXPECT_TRUE(cache_.find(IpAddr::v4(0xC6120013)));
}

bool reachable(const NeighborCache& cache, const IpAddr& ip) {
  const auto info = cache.find(ip);
  return info && info->state == NeighborState::kReachable;
}

// epoch() moves whenever a binding that a prebuilt header could hold stops holding: the
// entry leaves kReachable, its MAC changes, or it goes. A refresh of the same binding
// leaves it alone.
TEST_F(NeighborCacheTest, EpochMovesWhenABindingStopsHolding) {
  rte_ether_addr mac{};
  cache_.resolve(peer_, nullptr, t0_, out_, &mac);
  cache_.on_arp(reply_from(peer_, kPeerMac, us_), t0_ + 10ms, out_);
  ASSERT_TRUE(reachable(cache_, peer_));
  bool confirmed = false;
  EXPECT_EQ(cache_.resolve(peer_, nullptr, t0_ + 20ms, out_, &mac, &confirmed),
            NeighborCache::Resolve::kResolved);
  EXPECT_TRUE(confirmed);  // resolve says what a prebuilt header may rely on
  std::uint32_t e = cache_.epoch();
  cache_.on_arp(reply_from(peer_, kPeerMac, us_), t0_ + 1s, out_);  // the same binding again
  EXPECT_EQ(cache_.epoch(), e);
  cache_.on_timer(t0_ + 2s, out_);  // nothing due
  EXPECT_EQ(cache_.epoch(), e);
  // Another MAC for the peer.
  const rte_ether_addr other{{0x02, 0, 0, 0, 0, 0x99}};
  cache_.on_arp(reply_from(peer_, other, us_), t0_ + 3s, out_);
  EXPECT_NE(cache_.epoch(), e);
  EXPECT_TRUE(reachable(cache_, peer_));
  // Reachable -> stale when the confirmation ages.
  e = cache_.epoch();
  cache_.on_timer(t0_ + 3s + 31s, out_);
  EXPECT_FALSE(reachable(cache_, peer_));
  EXPECT_NE(cache_.epoch(), e);
  EXPECT_EQ(cache_.resolve(peer_, nullptr, t0_ + 35s, out_, &mac, &confirmed),
            NeighborCache::Resolve::kResolved);  // still usable, being re-confirmed
  EXPECT_FALSE(confirmed);
  // Removed.
  e = cache_.epoch();
  ASSERT_TRUE(cache_.erase(peer_, out_));
  EXPECT_NE(cache_.epoch(), e);
  EXPECT_FALSE(reachable(cache_, peer_));
}

}  // namespace
}  // namespace shardtcp
