#include "port/ethdev_port.h"

#include <gtest/gtest.h>

#include "eal_fixture.h"
#include "port/ring_pair.h"
#include "port/tx_zero_copy.h"

namespace shardtcp {
namespace {

using testing::frame_intact;
using testing::frame_seq;
using testing::make_frame;

class EthdevPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = testing::test_eal("porttest", {"net_null0"});
    ASSERT_NE(pool_, nullptr);
    start_avail_ = rte_mempool_avail_count(pool_);
  }
  void TearDown() override { EXPECT_EQ(rte_mempool_avail_count(pool_), start_avail_); }

  // Sends `n` frames on `from` queue q and receives them on `to` queue q.
  void pass(PacketPort& from, PacketPort& to, std::uint16_t q, std::uint32_t first,
            std::uint16_t n) {
    std::vector<rte_mbuf*> out(n);
    for (std::uint16_t i = 0; i < n; ++i) out[i] = make_frame(pool_, first + i);
    ASSERT_EQ(from.tx_burst(q, out.data(), n), n);
    std::vector<rte_mbuf*> in(n + 8);
    const std::uint16_t got = to.rx_burst(q, in.data(), n + 8);
    ASSERT_EQ(got, n);
    for (std::uint16_t i = 0; i < got; ++i) {
      EXPECT_EQ(frame_seq(in[i]), first + i);
      EXPECT_TRUE(frame_intact(in[i]));
    }
    rte_pktmbuf_free_bulk(in.data(), got);
  }

  rte_mempool* pool_ = nullptr;
  unsigned start_avail_ = 0;
};

TEST_F(EthdevPortTest, RingPairPassesFramesBothWaysOnEveryQueue) {
  RingPairOptions o;
  o.name = "rp_both";
  o.nb_queues = 2;
  o.pool = pool_;
  o.mtu = 1500;
  auto pair = RingPair::create(o);
  ASSERT_TRUE(pair.is_ok()) << pair.error();
  RingPair& p = **pair;
  EXPECT_EQ(p.a().info().nb_queues, 2);
  EXPECT_EQ(p.b().info().nb_queues, 2);
  EXPECT_EQ(p.a().info().mtu, 1500);
  EXPECT_NE(p.a().info().port_id, p.b().info().port_id);
  EXPECT_FALSE(rte_is_same_ether_addr(&p.a().info().mac, &p.b().info().mac));
  EXPECT_TRUE(p.a().link_up());
  // net_ring passes the mbufs themselves: chains, attached payloads included.
  EXPECT_TRUE(p.a().info().tx_multi_seg);
  EXPECT_TRUE(p.a().info().tx_zero_copy);
  pass(p.a(), p.b(), 0, 0, 20);
  pass(p.a(), p.b(), 1, 100, 7);
  pass(p.b(), p.a(), 0, 200, 32);
  pass(p.b(), p.a(), 1, 300, 1);
  // Queues are separate wires: nothing crosses from queue 0 to queue 1.
  rte_mbuf* m = make_frame(pool_, 9);
  ASSERT_EQ(p.a().tx_burst(0, &m, 1), 1);
  rte_mbuf* in[4];
  EXPECT_EQ(p.b().rx_burst(1, in, 4), 0);
  ASSERT_EQ(p.b().rx_burst(0, in, 4), 1);
  rte_pktmbuf_free(in[0]);
}

// Zero-copy TX per PMD (port/tx_zero_copy.h): wherever chains go out, except net_tap
// summing TCP itself (segment by segment, wrong after an odd-length one) and the PMDs
// that copy every frame into a ring anyway (memif, af_packet).
TEST(TxZeroCopy, FollowsChainsExceptTapSummingItselfAndCopyingPmds) {
  for (const char* d : {"net_memif", "net_af_packet"}) {
    EXPECT_FALSE(tx_zero_copy_suits(d, true, true)) << d;
    EXPECT_FALSE(tx_zero_copy_suits(d, true, false)) << d;
  }
  for (const char* d : {"net_ring", "net_virtio_user", "net_ixgbe"}) {
    EXPECT_TRUE(tx_zero_copy_suits(d, true, true)) << d;
    EXPECT_TRUE(tx_zero_copy_suits(d, true, false)) << d;
    EXPECT_FALSE(tx_zero_copy_suits(d, false, false)) << d;
  }
  EXPECT_FALSE(tx_zero_copy_suits("net_tap", true, true));
  EXPECT_TRUE(tx_zero_copy_suits("net_tap", true, false));
  EXPECT_FALSE(tx_zero_copy_suits("net_tap", false, false));
}

TEST_F(EthdevPortTest, RingPairFreesFramesLeftInFlight) {
  RingPairOptions o;
  o.name = "rp_left";
  o.pool = pool_;
  auto pair = RingPair::create(o);
  ASSERT_TRUE(pair.is_ok()) << pair.error();
  rte_mbuf* out[5];
  for (std::uint32_t i = 0; i < 5; ++i) out[i] = make_frame(pool_, i);
  ASSERT_EQ((*pair)->a().tx_burst(0, out, 5), 5);
  pair.value().reset();  // TearDown checks the 5 frames came back to the pool
}

TEST_F(EthdevPortTest, OpenReportsClearErrors) {
  EthdevConfig c;
  c.port_id = RTE_MAX_ETHPORTS - 1;
  c.rx_pools = {pool_};
  auto bad = EthdevPort::open(c);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.error().find("not a valid ethdev"), std::string::npos) << bad.error();

  auto missing = EthdevPort::find("net_nosuchdev0");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.error().find("--vdev"), std::string::npos);
}

TEST_F(EthdevPortTest, NullDeviceNegotiatesAndRejectsBadConfig) {
  auto id = EthdevPort::find("net_null0");
  ASSERT_TRUE(id.is_ok()) << id.error();
  EthdevConfig c;
  c.port_id = *id;
  c.rx_pools = {pool_};
  c.nb_queues = 0;
  auto zero = EthdevPort::open(c);
  ASSERT_FALSE(zero.is_ok());
  EXPECT_NE(zero.error().find("nb_queues is 0"), std::string::npos);
  c.nb_queues = 1;
  c.rx_pools = {};
  EXPECT_NE(EthdevPort::open(c).error().find("RX mbuf pools"), std::string::npos);
  c.rx_pools = {pool_};
  c.nb_queues = 5000;  // beyond RTE_MAX_QUEUES_PER_PORT
  EXPECT_NE(EthdevPort::open(c).error().find("queue pairs wanted"), std::string::npos);
  c.nb_queues = 1;
  auto port = EthdevPort::open(c);
  ASSERT_TRUE(port.is_ok()) << port.error();
  const PortInfo& info = (*port)->info();
  EXPECT_EQ(info.port_id, *id);
  EXPECT_EQ(info.nb_queues, 1);
  // net_null offers no checksum offloads: upper layers must compute them in software.
  EXPECT_FALSE(info.tx_l4_cksum);
  EXPECT_FALSE(info.rx_l4_cksum);
  rte_mbuf* m = make_frame(pool_, 1);
  EXPECT_EQ((*port)->tx_burst(0, &m, 1), 1);  // net_null frees what it sends
}

}  // namespace
}  // namespace shardtcp
