// NeighborCache in NDP mode (RFC 4861 §7.3) as pure logic: solicitations go out
// through send_solicit (multicast for resolution, unicast for probes), advertisements
// come in through on_advert / on_solicit_source, and a stale entry in use goes
// through DELAY and PROBE before it is confirmed or dropped.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "ip/neighbor_cache.h"
#include "wire/ethernet.h"

namespace shardtcp {
namespace {

using namespace std::chrono_literals;

const rte_ether_addr kOurMac{{0x02, 0, 0, 0, 0, 0x01}};
const rte_ether_addr kPeerMac{{0x02, 0, 0, 0, 0, 0x02}};
const rte_ether_addr kPeerMac2{{0x02, 0, 0, 0, 0, 0x03}};

struct Recorder : NeighborOutput {
  struct Ns {
    IpAddr target, source;
    bool unicast;
  };
  std::vector<Ns> ns;
  std::vector<rte_mbuf*> released, dropped;
  int arps = 0;
  void send_arp(const ArpPacket&, const rte_ether_addr&) override { ++arps; }
  void send_resolved(rte_mbuf* m, const rte_ether_addr&) override { released.push_back(m); }
  void drop_unresolved(rte_mbuf* m) override { dropped.push_back(m); }
  void send_solicit(const IpAddr& t, const IpAddr& s, const rte_ether_addr* u) override {
    ns.push_back({t, s, u != nullptr});
  }
};

std::array<int, 16> g_fake;
rte_mbuf* pkt(int i) {
  return reinterpret_cast<rte_mbuf*>(&g_fake[i]);
}

class NdpCache : public ::testing::Test {
 protected:
  NdpCache() : cache_(cfg(), kOurMac) {
    cache_.add_local_address(us_, 64);
    cache_.add_local_address(ll_, 64);
  }
  static NeighborConfig cfg() {
    NeighborConfig c;
    c.family = IpFamily::kV6;
    c.max_queued_per_entry = 2;
    c.max_requests = 3;
    c.retry_interval = 1s;
    c.reachable_time = 30s;
    c.delay_first_probe = 5s;
    return c;
  }
  NeighborState state(const IpAddr& a) { return cache_.find(a)->state; }
  IpAddr us_ = *IpAddr::parse("2001:db8::1");
  IpAddr ll_ = *IpAddr::parse("fe80::1");
  IpAddr peer_ = *IpAddr::parse("2001:db8::2");
  Instant t0_{1'000'000'000};
  NeighborCache cache_;
  Recorder out_;
};

TEST_F(NdpCache, ResolvesWithMulticastSolicitationFromTheSameSubnet) {
  rte_ether_addr mac{};
  EXPECT_EQ(cache_.counters().group(), "ndp");
  EXPECT_EQ(cache_.resolve(peer_, pkt(1), t0_, out_, &mac), NeighborCache::Resolve::kQueued);
  EXPECT_EQ(cache_.resolve(peer_, pkt(2), t0_, out_, &mac), NeighborCache::Resolve::kQueued);
  EXPECT_EQ(cache_.resolve(peer_, pkt(3), t0_, out_, &mac), NeighborCache::Resolve::kDropped);
  ASSERT_EQ(out_.ns.size(), 1u);
  EXPECT_EQ(out_.ns[0].target, peer_);
  EXPECT_EQ(out_.ns[0].source, us_);
  EXPECT_FALSE(out_.ns[0].unicast);
  EXPECT_EQ(out_.arps, 0);
  EXPECT_EQ(state(peer_), NeighborState::kIncomplete);
  // An advertisement without a target link-layer option does not resolve.
  cache_.on_advert(peer_, nullptr, true, true, t0_, out_);
  EXPECT_EQ(state(peer_), NeighborState::kIncomplete);
  cache_.on_advert(peer_, &kPeerMac, true, true, t0_ + 10ms, out_);
  EXPECT_EQ(state(peer_), NeighborState::kReachable);
  EXPECT_EQ(out_.released, (std::vector<rte_mbuf*>{pkt(1), pkt(2)}));
  // IPv4 next hops are not this cache's.
  EXPECT_EQ(cache_.resolve(IpAddr::v4(0xC6120002), pkt(4), t0_, out_, &mac),
            NeighborCache::Resolve::kDropped);
}

TEST_F(NdpCache, StaleInUseGoesThroughDelayAndProbe) {
  cache_.insert_reachable(peer_, kPeerMac, t0_, out_);
  Instant t = t0_ + 31s;
  cache_.on_timer(t, out_);
  EXPECT_EQ(state(peer_), NeighborState::kStale);
  rte_ether_addr mac{};
  // Used while stale: sent at once with the old binding, DELAY starts.
  EXPECT_EQ(cache_.resolve(peer_, pkt(1), t, out_, &mac), NeighborCache::Resolve::kResolved);
  EXPECT_TRUE(mac_equal(mac, kPeerMac));
  EXPECT_EQ(state(peer_), NeighborState::kDelay);
  EXPECT_TRUE(out_.ns.empty());
  cache_.on_timer(t + 4s, out_);
  EXPECT_TRUE(out_.ns.empty());
  cache_.on_timer(t + 5s, out_);  // DELAY_FIRST_PROBE_TIME: unicast probe
  ASSERT_EQ(out_.ns.size(), 1u);
  EXPECT_TRUE(out_.ns[0].unicast);
  EXPECT_EQ(state(peer_), NeighborState::kProbe);
  // A solicited advertisement confirms it.
  cache_.on_advert(peer_, &kPeerMac, true, false, t + 5500ms, out_);
  EXPECT_EQ(state(peer_), NeighborState::kReachable);
}

TEST_F(NdpCache, UnansweredProbesRemoveTheEntry) {
  cache_.insert_reachable(peer_, kPeerMac, t0_, out_);
  Instant t = t0_ + 31s;
  cache_.on_timer(t, out_);
  rte_ether_addr mac{};
  cache_.resolve(peer_, nullptr, t, out_, &mac);
  for (int s = 1; s <= 10; ++s) cache_.on_timer(t + std::chrono::seconds(4 + s), out_);
  EXPECT_EQ(out_.ns.size(), 3u);  // MAX_UNICAST_SOLICIT
  EXPECT_FALSE(cache_.find(peer_).has_value());
}

TEST_F(NdpCache, AdvertisementFlagsFollowSection7_2_5) {
  cache_.insert_reachable(peer_, kPeerMac, t0_, out_);
  // Different address without override: keep it, but reachable becomes stale.
  cache_.on_advert(peer_, &kPeerMac2, false, false, t0_ + 1s, out_);
  EXPECT_EQ(state(peer_), NeighborState::kStale);
  EXPECT_TRUE(mac_equal(cache_.find(peer_)->mac, kPeerMac));
  // With override and solicited: the new address, reachable.
  cache_.on_advert(peer_, &kPeerMac2, true, true, t0_ + 2s, out_);
  EXPECT_EQ(state(peer_), NeighborState::kReachable);
  EXPECT_TRUE(mac_equal(cache_.find(peer_)->mac, kPeerMac2));
  // Unsolicited override with a new address: updated, stale.
  cache_.on_advert(peer_, &kPeerMac, false, true, t0_ + 3s, out_);
  EXPECT_EQ(state(peer_), NeighborState::kStale);
  EXPECT_TRUE(mac_equal(cache_.find(peer_)->mac, kPeerMac));
  // An advertisement for a neighbour we have no entry for is ignored.
  const IpAddr other = *IpAddr::parse("2001:db8::9");
  cache_.on_advert(other, &kPeerMac, true, true, t0_, out_);
  EXPECT_FALSE(cache_.find(other).has_value());
}

TEST_F(NdpCache, SolicitationSourceCreatesStaleAndReleasesIncomplete) {
  const IpAddr other = *IpAddr::parse("2001:db8::9");
  cache_.on_solicit_source(other, kPeerMac, t0_, out_);
  EXPECT_EQ(state(other), NeighborState::kStale);
  rte_ether_addr mac{};
  cache_.resolve(peer_, pkt(1), t0_, out_, &mac);
  cache_.on_solicit_source(peer_, kPeerMac2, t0_ + 1ms, out_);
  EXPECT_EQ(state(peer_), NeighborState::kStale);
  EXPECT_EQ(out_.released, (std::vector<rte_mbuf*>{pkt(1)}));
  // A link-local neighbour is solicited from our link-local address.
  cache_.resolve(*IpAddr::parse("fe80::2"), nullptr, t0_, out_, &mac);
  EXPECT_EQ(out_.ns.back().source, ll_);
}

}  // namespace
}  // namespace shardtcp
