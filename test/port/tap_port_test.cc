// EthdevPort on a real kernel peer: a net_tap device inside a network namespace this
// process makes for itself (unshare before EAL init, so the TAP and every address
// vanish with the process, also when a test fails).
#include <gtest/gtest.h>
#include <rte_arp.h>
#include <rte_ether.h>
#include <sched.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "eal_fixture.h"
#include "port/ethdev_port.h"

namespace shardtcp {
namespace {

constexpr const char* kIface = "engtap0";
// 198.18.0.0/15 only: kernel side .1, our side .2.
constexpr std::uint32_t kKernelIp = 0xC6120501;  // 198.18.5.1
constexpr std::uint32_t kOurIp = 0xC6120502;     // 198.18.5.2

bool own_namespace() {
  static const bool ok = unshare(CLONE_NEWNET) == 0;
  return ok;
}

rte_mbuf* arp_request(rte_mempool* mp, const rte_ether_addr& our_mac) {
  rte_mbuf* m = rte_pktmbuf_alloc(mp);
  if (m == nullptr) return nullptr;
  auto* eth = reinterpret_cast<rte_ether_hdr*>(
      rte_pktmbuf_append(m, sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)));
  std::memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
  eth->src_addr = our_mac;
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = 4;
  arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
  arp->arp_data.arp_sha = our_mac;
  arp->arp_data.arp_sip = rte_cpu_to_be_32(kOurIp);
  std::memset(&arp->arp_data.arp_tha, 0, RTE_ETHER_ADDR_LEN);
  arp->arp_data.arp_tip = rte_cpu_to_be_32(kKernelIp);
  return m;
}

// Polls until an ARP frame with `opcode` and sender IP `sip` arrives.
bool wait_for_arp(EthdevPort& port, std::uint16_t opcode, std::uint32_t sip, rte_ether_addr* sha) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    rte_mbuf* in[32];
    const std::uint16_t n = port.rx_burst(0, in, 32);
    bool found = false;
    for (std::uint16_t i = 0; i < n; ++i) {
      const auto* eth = rte_pktmbuf_mtod(in[i], const rte_ether_hdr*);
      if (!found && rte_pktmbuf_data_len(in[i]) >= sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr) &&
          eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
        const auto* arp = reinterpret_cast<const rte_arp_hdr*>(eth + 1);
        if (arp->arp_opcode == rte_cpu_to_be_16(opcode) &&
            arp->arp_data.arp_sip == rte_cpu_to_be_32(sip)) {
          found = true;
          if (sha != nullptr) *sha = arp->arp_data.arp_sha;
        }
      }
    }
    rte_pktmbuf_free_bulk(in, n);
    if (found) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST(TapPort, TalksArpWithTheLinuxKernel) {
  if (!own_namespace()) GTEST_SKIP() << "cannot unshare a network namespace (need root)";
  rte_mempool* pool = testing::test_eal("engtap", {std::string("net_tap0,iface=") + kIface});
  ASSERT_NE(pool, nullptr);
  auto id = EthdevPort::find("net_tap0");
  ASSERT_TRUE(id.is_ok()) << id.error();
  EthdevConfig c;
  c.port_id = *id;
  c.rx_pools = {pool};
  c.mtu = 1400;
  c.link_timeout = std::chrono::milliseconds(0);
  auto port = EthdevPort::open(c);
  ASSERT_TRUE(port.is_ok()) << port.error();
  const PortInfo& info = (*port)->info();
  EXPECT_EQ(info.mtu, 1400);
  // net_tap offers checksum offloads and TSO; negotiation must have taken the checksum
  // offloads and left TSO off (its software TSO drops full-MSS segments: see
  // EthdevPort::open).
  EXPECT_TRUE(info.rx_ipv4_cksum);
  EXPECT_TRUE(info.rx_l4_cksum);
  EXPECT_TRUE(info.tx_ipv4_cksum);
  EXPECT_TRUE(info.tx_l4_cksum);
  EXPECT_FALSE(info.tx_tso);
  // It sends chains, but sums TCP per segment itself: payloads are copied there.
  EXPECT_TRUE(info.tx_multi_seg);
  EXPECT_FALSE(info.tx_zero_copy);

  const std::string up =
      std::string("ip link set ") + kIface + " up && ip addr add 198.18.5.1/24 dev " + kIface;
  ASSERT_EQ(std::system(up.c_str()), 0);
  // rte_eth_dev_set_mtu reached the kernel interface. (/sys/class/net shows the
  // namespace sysfs was mounted in, so ask ip.)
  EXPECT_EQ(std::system((std::string("ip link show ") + kIface + " | grep -q 'mtu 1400 '").c_str()),
            0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!(*port)->link_up() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE((*port)->link_up());

  // Kernel -> us: pinging our address makes the kernel ask for it.
  ASSERT_EQ(std::system("(timeout 3 ping -c 3 -i 0.3 198.18.5.2 >/dev/null 2>&1 &)"), 0);
  EXPECT_TRUE(wait_for_arp(**port, RTE_ARP_OP_REQUEST, kKernelIp, nullptr));

  // Us -> kernel -> us: the kernel answers our request for its address.
  rte_mbuf* req = arp_request(pool, info.mac);
  ASSERT_NE(req, nullptr);
  ASSERT_EQ((*port)->tx_burst(0, &req, 1), 1);
  rte_ether_addr kernel_mac{};
  EXPECT_TRUE(wait_for_arp(**port, RTE_ARP_OP_REPLY, kKernelIp, &kernel_mac));
  EXPECT_FALSE(rte_is_zero_ether_addr(&kernel_mac));
}

}  // namespace
}  // namespace shardtcp
