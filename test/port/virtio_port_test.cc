// EthdevPort on virtio-net: a net_virtio_user port (the guest's driver) against a
// net_vhost port (the vhost-user backend, tso=1) in this process, the pair the bench's
// "TCP_STREAM virtio" row runs in two. What each side negotiates is checked, because
// the PMDs do not say it the same way: virtio offers LRO with max_lro_pkt_size 0 (its
// LRO is the GUEST_TSO4/6 features, frames up to 64 KiB in merged buffers), and
// net_vhost lists checksums but no TSO or LRO in dev_info. Then a 64 KiB TSO frame
// from virtio reaches the vhost side whole, as a chain, checksum flagged good.
// Its own executable: the EAL here needs --single-file-segments (virtio_user shares its
// memory with the backend as at most 8 file descriptors).
#include <gtest/gtest.h>
#include <rte_dev.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "port/eal.h"
#include "port/ethdev_port.h"

namespace shardtcp {
namespace {

const std::string& socket_path() {
  static const std::string p = "/tmp/shardtcp-virtio-port-test." + std::to_string(getpid());
  return p;
}

rte_mempool* eal_pool() {
  static rte_mempool* pool = []() -> rte_mempool* {
    unlink(socket_path().c_str());
    TestEalOptions o;
    o.file_prefix = "virtio_port_test" + std::to_string(getpid());
    // The backend only: its socket listens from the port's configuration on, and
    // virtio_user connects when it is probed (hot-plugged by the test, after that).
    o.vdevs = {"net_vhost0,iface=" + socket_path() + ",queues=1,tso=1"};
    o.extra = {"--single-file-segments"};
    if (const Status s = eal_init_for_tests(o); !s) {
      ADD_FAILURE() << s.message();
      return nullptr;
    }
    MbufPoolOptions po;
    po.n_mbufs = 4095;
    auto mp = create_mbuf_pool("virtio_port_pool", po);
    if (!mp) {
      ADD_FAILURE() << mp.error();
      return nullptr;
    }
    return *mp;
  }();
  return pool;
}

std::unique_ptr<EthdevPort> open_port(const char* name, rte_mempool* pool) {
  auto id = EthdevPort::find(name);
  EXPECT_TRUE(id.is_ok()) << id.error();
  if (!id) return nullptr;
  EthdevConfig c;
  c.port_id = *id;
  c.rx_pools = {pool};
  c.mtu = 1500;
  c.link_timeout = std::chrono::milliseconds(0);  // vhost's link comes up with virtio's
  auto p = EthdevPort::open(c);
  EXPECT_TRUE(p.is_ok()) << p.error();
  return p ? std::move(p.value()) : nullptr;
}

// A TCP/IPv4 frame of `payload` bytes marked for TSO (MSS 1448) and checksum offload,
// as the stack hands one to a device.
rte_mbuf* tso_frame(rte_mempool* pool, std::uint32_t payload) {
  rte_mbuf* head = rte_pktmbuf_alloc(pool);
  if (head == nullptr) return nullptr;
  constexpr std::uint16_t kHdr = 14 + 20 + 20;
  auto* h = rte_pktmbuf_mtod(head, std::uint8_t*);
  std::memset(h, 0, kHdr);
  const std::uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02}, src[6] = {0x02, 0, 0, 0, 0, 0x01};
  std::memcpy(h, dst, 6);
  std::memcpy(h + 6, src, 6);
  h[12] = 0x08;
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(h + 14);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(20 + 20 + payload));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_TCP;
  ip->src_addr = rte_cpu_to_be_32(0xC6120101);
  ip->dst_addr = rte_cpu_to_be_32(0xC6120102);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(h + 14 + 20);
  tcp->src_port = rte_cpu_to_be_16(40000);
  tcp->dst_port = rte_cpu_to_be_16(5201);
  tcp->data_off = 5 << 4;
  tcp->tcp_flags = RTE_TCP_ACK_FLAG;
  tcp->rx_win = rte_cpu_to_be_16(512);
  head->data_len = head->pkt_len = kHdr;
  // The payload in further buffers, as the stack's attached send-buffer pieces.
  rte_mbuf* last = head;
  for (std::uint32_t left = payload; left > 0;) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
      rte_pktmbuf_free(head);
      return nullptr;
    }
    const std::uint16_t n = static_cast<std::uint16_t>(std::min<std::uint32_t>(left, 2048));
    std::memset(rte_pktmbuf_append(m, n), 0x5a, n);
    last->next = m;
    last = m;
    head->nb_segs++;
    head->pkt_len += n;
    left -= n;
  }
  head->l2_len = 14;
  head->l3_len = 20;
  head->l4_len = 20;
  head->tso_segsz = 1448;
  head->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_TCP_SEG;
  tcp->cksum = rte_ipv4_phdr_cksum(ip, head->ol_flags);
  return head;
}

TEST(VirtioPort, NegotiatesChecksumsTsoAndLroAndCarriesATsoFrameWhole) {
  rte_mempool* pool = eal_pool();
  ASSERT_NE(pool, nullptr);
  auto vhost = open_port("net_vhost0", pool);
  ASSERT_TRUE(vhost);
  ASSERT_EQ(rte_eal_hotplug_add(
                "vdev", "net_virtio_user0",
                ("path=" + socket_path() + ",queues=1,mrg_rxbuf=1,in_order=1").c_str()),
            0);
  auto virtio = open_port("net_virtio_user0", pool);
  ASSERT_TRUE(virtio);

  const PortInfo& v = virtio->info();
  EXPECT_TRUE(v.rx_l4_cksum);
  EXPECT_TRUE(v.tx_l4_cksum);
  EXPECT_TRUE(v.tx_tso);
  EXPECT_TRUE(v.rx_lro) << "virtio offers LRO with max_lro_pkt_size 0: it must be taken";
  EXPECT_TRUE(v.tx_multi_seg);
  EXPECT_TRUE(v.tx_zero_copy);  // payloads attached, not copied (port/tx_zero_copy.h)
  const PortInfo& h = vhost->info();
  EXPECT_TRUE(h.rx_l4_cksum);
  EXPECT_TRUE(h.tx_l4_cksum);
  EXPECT_FALSE(h.tx_tso);  // not in net_vhost's dev_info (DPDK 22.11)

  // Once the backend has the rings (asynchronously, from vhost's own thread), a TSO
  // frame sent by virtio arrives at the vhost side whole: one 64 KiB frame, not cut.
  constexpr std::uint32_t kPayload = 65000;
  rte_mbuf* got = nullptr;
  for (int i = 0; i < 500 && got == nullptr; ++i) {
    if (vhost->link_up()) {
      rte_mbuf* m = tso_frame(pool, kPayload);
      ASSERT_NE(m, nullptr);
      if (virtio->tx_burst(0, &m, 1) != 1) rte_pktmbuf_free(m);
      for (int k = 0; k < 100 && got == nullptr; ++k) {
        if (vhost->rx_burst(0, &got, 1) == 0) got = nullptr;
      }
    }
    if (got == nullptr) usleep(10000);
  }
  ASSERT_NE(got, nullptr) << "no frame reached the vhost side";
  EXPECT_EQ(got->pkt_len, 14u + 20 + 20 + kPayload);
  EXPECT_GT(got->nb_segs, 1);  // a chain of RX buffers
  const std::uint64_t l4 = got->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
  EXPECT_TRUE(l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD || l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE)
      << "L4 checksum flags 0x" << std::hex << l4;
  rte_pktmbuf_free(got);
  virtio.reset();
  rte_eal_hotplug_remove("vdev", "net_virtio_user0");
  vhost.reset();
  unlink(socket_path().c_str());
}

}  // namespace
}  // namespace shardtcp
