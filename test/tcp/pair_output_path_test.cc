// A connection's prebuilt output headers (IpStack::output_via, Ipv4OutputPath): its
// segments after the first leave without a route or neighbour lookup, and the headers
// are built again as soon as the neighbour's binding or the route table changes, so
// no frame goes out with a MAC the stack no longer holds.
#include <gtest/gtest.h>

#include <string>

#include "pair_harness.h"
#include "wire/arp.h"
#include "wire/ethernet.h"

namespace shardtcp::testing {
namespace {

class TcpPairOutputPath : public TcpPairTest {
 protected:
  std::uint64_t a_via_path() const { return a_.ip->ipv4_counters().get(Ipv4Counter::kTxViaPath); }
  std::uint64_t a_tx_packets() const { return a_.ip->ipv4_counters().get(Ipv4Counter::kTxPackets); }
  std::uint64_t b_not_our_mac() const {
    return b_.ip->eth_counters().get(EthCounter::kRxNotOurMac);
  }
  // An ARP reply to A that binds B's address to `mac`, put on the wire from B's side.
  void tell_a_b_is_at(const rte_ether_addr& mac) {
    rte_mbuf* m = rte_pktmbuf_alloc(tcp_pair_pool());
    ASSERT_NE(m, nullptr);
    auto* frame = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(m, 14 + ArpView::kLen));
    ASSERT_NE(frame, nullptr);
    ArpPacket p;
    p.op = ArpOp::kReply;
    p.sha = mac;
    p.spa = kAddrB;
    p.tha = a_.ip->neighbors().mac();
    p.tpa = kAddrA;
    ASSERT_EQ(emit_ethernet(frame, 14, EthernetHeader{p.tha, mac, kEtherTypeArp}), 14u);
    ASSERT_EQ(emit_arp(frame + 14, ArpView::kLen, p), ArpView::kLen);
    ASSERT_EQ(pair_->b().tx_burst(0, &m, 1), 1u);
  }
  // A sends `n` bytes on `c` and runs once; B does not run.
  void a_sends(TcpConnId c, std::size_t n) {
    const std::string data(n, 'p');
    ASSERT_EQ(a_.tcp->send(c, data.data(), data.size()), static_cast<long>(n));
    clock_.advance(20us);
    a_.engine->poll_once();
  }
};

TEST_F(TcpPairOutputPath, SegmentsUseThePathUntilTheNeighbourOrRoutesChange) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  a.tcp.defaults.nodelay = b.tcp.defaults.nodelay = true;
  build(a, b);
  TcpConnId c, s;
  open_a_to_b(7001, &c, &s);
  if (HasFatalFailure()) return;
  run_for(100ms);
  const rte_ether_addr b_mac = b_.ip->neighbors().mac();

  // Steady state: each segment A sends goes through its connection's path.
  std::uint64_t via = a_via_path(), sent = a_tx_packets();
  a_sends(c, 100);
  EXPECT_EQ(a_tx_packets() - sent, 1u);
  EXPECT_EQ(a_via_path() - via, 1u);

  // B's address moves to another MAC (an ARP reply says so): A's very next segment is
  // built the long way and goes to the new MAC, which B's port does not answer to.
  const rte_ether_addr moved{{0x02, 0x00, 0x5e, 0x10, 0x20, 0x30}};
  tell_a_b_is_at(moved);
  clock_.advance(20us);
  a_.engine->poll_once();  // A learns the new binding
  ASSERT_EQ(a_.ip->neighbors().find(kAddrB)->mac.addr_bytes[5], 0x30);
  via = a_via_path();
  std::uint64_t not_ours = b_not_our_mac();
  a_sends(c, 100);
  EXPECT_EQ(a_via_path(), via);  // the path was stale: output() sent it and rebuilt it
  clock_.advance(20us);
  b_.engine->poll_once();
  EXPECT_EQ(b_not_our_mac() - not_ours, 1u);  // to `moved`, not to B
  // The rebuilt path holds the new MAC: the next segment takes it, to the same place.
  a_sends(c, 100);
  EXPECT_EQ(a_via_path() - via, 1u);
  clock_.advance(20us);
  b_.engine->poll_once();
  EXPECT_EQ(b_not_our_mac() - not_ours, 2u);

  // Back to B's real MAC: the path follows again, and the lost bytes are resent to B.
  tell_a_b_is_at(b_mac);
  clock_.advance(20us);
  a_.engine->poll_once();
  ASSERT_TRUE(run_until([&] { return b_.tcp->readable_bytes(s) == 300; }));
  EXPECT_EQ(read_all(*b_.tcp, s), std::string(300, 'p'));

  // A route table change (another address on A) invalidates the path too: one
  // segment the long way, then the path again.
  ASSERT_TRUE(a_.ip->add_address(IpAddr::v4(0xC6120101), 24));
  via = a_via_path();
  a_sends(c, 10);
  EXPECT_EQ(a_via_path(), via);
  a_sends(c, 10);
  EXPECT_EQ(a_via_path() - via, 1u);
  ASSERT_TRUE(run_until([&] { return b_.tcp->readable_bytes(s) == 20; }));
}

}  // namespace
}  // namespace shardtcp::testing
