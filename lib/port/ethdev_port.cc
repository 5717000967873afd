#include "port/ethdev_port.h"

#include <rte_cycles.h>
#include <rte_errno.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "common/log.h"
#include "port/tx_zero_copy.h"

namespace shardtcp {

namespace {

std::string err(std::uint16_t port, const std::string& what, int rc) {
  std::ostringstream s;
  s << "port " << port << ": " << what << " failed: " << rte_strerror(rc < 0 ? -rc : rc);
  return s.str();
}

std::string mac_text(const rte_ether_addr& mac) {
  char buf[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_format_addr(buf, sizeof buf, &mac);
  return buf;
}

// Largest frame an MTU needs in one RX buffer: Ethernet header, two VLAN tags, CRC.
std::uint32_t frame_len_for_mtu(std::uint16_t mtu) {
  return mtu + RTE_ETHER_HDR_LEN + 2 * RTE_VLAN_HLEN + RTE_ETHER_CRC_LEN;
}

// Programs our key and a RETA spreading over `nb_queues` (entry i -> i % nb_queues).
// True only when the device took both: a device that keeps its own key or RETA
// delivers flows to queues our FlowOwnership does not predict.
bool program_rss(std::uint16_t pid, const rte_eth_dev_info& dev, const EthdevConfig& c,
                 std::uint64_t rss_hf, std::vector<std::uint8_t>* key_out,
                 std::vector<std::uint16_t>* reta_out) {
  const char* drv = dev.driver_name;
  if (c.rss_key.empty() || dev.hash_key_size < c.rss_key.size() || dev.reta_size == 0) {
    SHARDTCP_LOG(kPort, INFO,
                 "port %u (%s): no programmable RSS (key %u bytes, RETA %u entries, hash types "
                 "0x%llx): engines steer in software\n",
                 pid, drv, dev.hash_key_size, dev.reta_size,
                 static_cast<unsigned long long>(dev.flow_type_rss_offloads));
    return false;
  }
  // Devices with longer keys (52 bytes) hash our inputs with the first 40 only; the
  // rest is padding.
  std::vector<std::uint8_t> key(dev.hash_key_size, 0);
  std::copy(c.rss_key.begin(), c.rss_key.end(), key.begin());
  rte_eth_rss_conf conf{};
  conf.rss_key = key.data();
  conf.rss_key_len = static_cast<std::uint8_t>(key.size());
  conf.rss_hf = rss_hf;
  int rc = rte_eth_dev_rss_hash_update(pid, &conf);
  if (rc != 0) {
    SHARDTCP_LOG(kPort, INFO,
                 "port %u (%s): RSS key not settable (%s): engines steer in software\n", pid, drv,
                 rte_strerror(-rc));
    return false;
  }
  std::vector<rte_eth_rss_reta_entry64> reta(dev.reta_size / RTE_ETH_RETA_GROUP_SIZE +
                                             (dev.reta_size % RTE_ETH_RETA_GROUP_SIZE != 0));
  std::vector<std::uint16_t> queues(dev.reta_size);
  for (std::uint16_t i = 0; i < dev.reta_size; ++i) {
    auto& group = reta[i / RTE_ETH_RETA_GROUP_SIZE];
    group.mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
    queues[i] = static_cast<std::uint16_t>(i % c.nb_queues);
    group.reta[i % RTE_ETH_RETA_GROUP_SIZE] = queues[i];
  }
  rc = rte_eth_dev_rss_reta_update(pid, reta.data(), dev.reta_size);
  if (rc != 0) {
    SHARDTCP_LOG(kPort, INFO, "port %u (%s): RETA not settable (%s): engines steer in software\n",
                 pid, drv, rte_strerror(-rc));
    return false;
  }
  // Read the key back: a PMD that accepts and ignores it must not be trusted.
  std::vector<std::uint8_t> back(key.size(), 0);
  rte_eth_rss_conf got{};
  got.rss_key = back.data();
  got.rss_key_len = static_cast<std::uint8_t>(back.size());
  if (rte_eth_dev_rss_hash_conf_get(pid, &got) != 0 || back != key) {
    SHARDTCP_LOG(
        kPort, INFO,
        "port %u (%s): RSS key did not read back as programmed: engines steer in software\n", pid,
        drv);
    return false;
  }
  SHARDTCP_LOG(kPort, INFO,
               "port %u (%s): RSS programmed: %zu-byte key %02x%02x%02x%02x..., hash types 0x%llx, "
               "RETA %u entries -> %u queues (entry i -> queue i %% %u)\n",
               pid, drv, key.size(), key[0], key[1], key[2], key[3],
               static_cast<unsigned long long>(rss_hf), dev.reta_size, c.nb_queues, c.nb_queues);
  *key_out = std::move(key);
  *reta_out = std::move(queues);
  return true;
}

}  // namespace

Result<std::uint16_t> EthdevPort::find(const std::string& device_name) {
  std::uint16_t id = 0;
  const int rc = rte_eth_dev_get_port_by_name(device_name.c_str(), &id);
  if (rc != 0) {
    return Result<std::uint16_t>::failure("no ethdev named '" + device_name +
                                          "' (is it in the EAL --vdev arguments?)");
  }
  return id;
}

Result<std::unique_ptr<EthdevPort>> EthdevPort::open(const EthdevConfig& c) {
  using R = Result<std::unique_ptr<EthdevPort>>;
  const std::uint16_t pid = c.port_id;
  if (!rte_eth_dev_is_valid_port(pid)) {
    return R::failure("port " + std::to_string(pid) + " is not a valid ethdev");
  }
  if (c.nb_queues == 0) return R::failure("port " + std::to_string(pid) + ": nb_queues is 0");
  if (c.rx_pools.empty() || (c.rx_pools.size() != 1 && c.rx_pools.size() != c.nb_queues)) {
    return R::failure("port " + std::to_string(pid) + ": need 1 or nb_queues RX mbuf pools");
  }
  for (rte_mempool* mp : c.rx_pools) {
    if (mp == nullptr) return R::failure("port " + std::to_string(pid) + ": null RX pool");
  }

  rte_eth_dev_info dev{};
  int rc = rte_eth_dev_info_get(pid, &dev);
  if (rc != 0) return R::failure(err(pid, "rte_eth_dev_info_get", rc));
  if (c.nb_queues > dev.max_rx_queues || c.nb_queues > dev.max_tx_queues) {
    std::ostringstream s;
    s << "port " << pid << " (" << dev.driver_name << "): " << c.nb_queues
      << " queue pairs wanted, device allows rx " << dev.max_rx_queues << " tx "
      << dev.max_tx_queues;
    return R::failure(s.str());
  }

  // What the device offers, next to the port line's what we enabled: a PMD that leaves
  // an offload out of dev_info (net_vhost's TSO and LRO) is told apart from one we
  // declined (net_tap's TSO, LRO no larger than a frame).
  SHARDTCP_LOG(kPort, INFO,
               "port %u (%s): device offers rx offloads 0x%llx (max lro %u), tx offloads 0x%llx\n",
               pid, dev.driver_name, static_cast<unsigned long long>(dev.rx_offload_capa),
               dev.max_lro_pkt_size, static_cast<unsigned long long>(dev.tx_offload_capa));

  std::unique_ptr<EthdevPort> port(new EthdevPort());
  PortInfo& info = port->info_;
  info.port_id = pid;
  info.nb_queues = c.nb_queues;

  rte_eth_conf conf{};
  // RX checksum offloads: the device marks ol_flags good/bad; upper layers trust them.
  std::uint64_t rx = 0;
  if (c.want_rx_cksum) {
    rx |= dev.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    const std::uint64_t l4 = RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
    if ((dev.rx_offload_capa & l4) == l4) rx |= l4;
  }
  // LRO frames exceed one RX buffer: they arrive as chains, so scatter comes with it.
  // A device that names an aggregate size no larger than one frame gains nothing from
  // it. A size of 0 names none: virtio (22.11) offers LRO that way, and its LRO is the
  // GUEST_TSO4/6 features (the backend hands over frames up to 64 KiB in merged
  // buffers); ethdev then wants rxmode.max_lro_pkt_size 0 (it fills in one frame, a
  // figure virtio ignores) rather than a size checked against 0.
  const std::uint32_t frame = frame_len_for_mtu(c.mtu != 0 ? c.mtu : RTE_ETHER_MTU);
  if (c.want_lro && (dev.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_LRO) != 0 &&
      (dev.max_lro_pkt_size == 0 || dev.max_lro_pkt_size > frame)) {
    rx |= RTE_ETH_RX_OFFLOAD_TCP_LRO | (dev.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER);
    conf.rxmode.max_lro_pkt_size = std::min<std::uint32_t>(dev.max_lro_pkt_size, 65535);
  }
  // TX: checksums and TSO need per-mbuf flags set by the sender, so enabling them on
  // the port costs nothing for frames that do not ask.
  std::uint64_t tx = 0;
  if (c.want_tx_cksum) {
    tx |= dev.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    const std::uint64_t l4 = RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    if ((dev.tx_offload_capa & l4) == l4) tx |= l4;
  }
  // net_tap's software TSO (DPDK 22.11) checks tso_segsz plus every header, Ethernet's
  // included, against the MTU: a full-MSS segment is 14 bytes "too long" and the whole
  // frame is dropped as an error (the interop suite's stack client crawled at 0.4 Mbit/s
  // on retransmissions alone). Its TSO is left off.
  const bool tso_broken = std::strcmp(dev.driver_name, "net_tap") == 0;
  if (c.want_tso && !tso_broken) tx |= dev.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_TSO;
  // Socket buffers are mbuf chains: ask for multi-segment TX where offered.
  tx |= dev.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  // Frees on TX completion are cheaper when all mbufs come from one pool with refcnt 1,
  // but retransmit queues hold references, so RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE is off.

  std::uint16_t mtu = c.mtu;
  if (mtu != 0) {
    if (mtu < dev.min_mtu || mtu > dev.max_mtu) {
      std::ostringstream s;
      s << "port " << pid << " (" << dev.driver_name << "): MTU " << mtu
        << " outside device range [" << dev.min_mtu << ", " << dev.max_mtu << "]";
      return R::failure(s.str());
    }
    conf.rxmode.mtu = mtu;
    // An MTU bigger than one RX buffer needs scattered RX (chained mbufs).
    const std::uint32_t room = rte_pktmbuf_data_room_size(c.rx_pools[0]) - RTE_PKTMBUF_HEADROOM;
    if (frame_len_for_mtu(mtu) > room) {
      if ((dev.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) == 0) {
        std::ostringstream s;
        s << "port " << pid << ": MTU " << mtu << " needs " << frame_len_for_mtu(mtu)
          << "-byte RX buffers (pool has " << room << ") and the device cannot scatter";
        return R::failure(s.str());
      }
      rx |= RTE_ETH_RX_OFFLOAD_SCATTER;
    }
  }
  conf.rxmode.offloads = rx;
  conf.txmode.offloads = tx;

  if (c.nb_queues > 1 && c.want_rss && dev.flow_type_rss_offloads != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = nullptr;  // device default; steering programs its own
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP |
         RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP) &
        dev.flow_type_rss_offloads;
    info.rss = conf.rx_adv_conf.rss_conf.rss_hf != 0;
    if (!info.rss) conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;
  }
  info.reta_size = dev.reta_size;
  info.hash_key_size = dev.hash_key_size;

  rc = rte_eth_dev_configure(pid, c.nb_queues, c.nb_queues, &conf);
  if (rc != 0) return R::failure(err(pid, "rte_eth_dev_configure", rc));

  std::uint16_t nb_rxd = c.nb_rx_desc;
  std::uint16_t nb_txd = c.nb_tx_desc;
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nb_rxd, &nb_txd);
  if (rc != 0) return R::failure(err(pid, "rte_eth_dev_adjust_nb_rx_tx_desc", rc));

  const int socket = rte_eth_dev_socket_id(pid);
  const unsigned qsocket = socket < 0 ? SOCKET_ID_ANY : static_cast<unsigned>(socket);
  for (std::uint16_t q = 0; q < c.nb_queues; ++q) {
    rte_eth_rxconf rxq = dev.default_rxconf;
    rxq.offloads = rx;
    rte_mempool* mp = c.rx_pools.size() == 1 ? c.rx_pools[0] : c.rx_pools[q];
    rc = rte_eth_rx_queue_setup(pid, q, nb_rxd, qsocket, &rxq, mp);
    if (rc != 0)
      return R::failure(err(pid, "rte_eth_rx_queue_setup(" + std::to_string(q) + ")", rc));
    rte_eth_txconf txq = dev.default_txconf;
    txq.offloads = tx;
    rc = rte_eth_tx_queue_setup(pid, q, nb_txd, qsocket, &txq);
    if (rc != 0)
      return R::failure(err(pid, "rte_eth_tx_queue_setup(" + std::to_string(q) + ")", rc));
  }

  bool software_mac = false;
  if (c.mac) {
    rte_ether_addr mac = *c.mac;
    rc = rte_eth_dev_default_mac_addr_set(pid, &mac);
    if (rc == -ENOTSUP) {
      // Software devices without a MAC filter (net_ring) deliver every frame; the
      // address is the stack's, so record it and let the stack filter.
      SHARDTCP_LOG(kPort, INFO, "port %u: device cannot set its MAC; using %s in software\n", pid,
                   mac_text(mac).c_str());
      software_mac = true;
    } else if (rc != 0) {
      return R::failure(err(pid, "setting MAC " + mac_text(mac), rc));
    }
  }

  if (mtu != 0) {
    rc = rte_eth_dev_set_mtu(pid, mtu);
    if (rc == -ENOTSUP) {
      // Software devices without an MTU (net_ring) carry any frame; the MTU is ours.
      SHARDTCP_LOG(kPort, INFO, "port %u: device has no MTU setting; using %u in software\n", pid,
                   mtu);
    } else if (rc != 0) {
      return R::failure(err(pid, "rte_eth_dev_set_mtu(" + std::to_string(mtu) + ")", rc));
    }
    info.mtu = mtu;
  } else {
    std::uint16_t cur = 0;
    if (rte_eth_dev_get_mtu(pid, &cur) == 0 && cur != 0) info.mtu = cur;
  }

  rc = rte_eth_dev_start(pid);
  if (rc != 0) return R::failure(err(pid, "rte_eth_dev_start", rc));
  port->started_ = true;

  if (conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS) {
    info.rss_active = program_rss(pid, dev, c, conf.rx_adv_conf.rss_conf.rss_hf, &port->rss_key_,
                                  &port->rss_reta_);
  } else if (c.nb_queues > 1) {
    SHARDTCP_LOG(kPort, INFO,
                 "port %u (%s): %u queues without RSS (hash types 0x%llx): engines steer in "
                 "software\n",
                 pid, dev.driver_name, c.nb_queues,
                 static_cast<unsigned long long>(dev.flow_type_rss_offloads));
  }

  // Promiscuous/allmulticast are best effort: some PMDs cannot change them, and
  // promiscuous-on is harmless for a stack that filters by MAC anyway.
  rc = c.promiscuous ? rte_eth_promiscuous_enable(pid) : rte_eth_promiscuous_disable(pid);
  if (rc != 0 && rc != -ENOTSUP) {
    SHARDTCP_LOG(kPort, WARNING, "port %u: promiscuous %s: %s\n", pid, c.promiscuous ? "on" : "off",
                 rte_strerror(-rc));
  }
  rc = c.allmulticast ? rte_eth_allmulticast_enable(pid) : rte_eth_allmulticast_disable(pid);
  if (rc != 0 && rc != -ENOTSUP) {
    SHARDTCP_LOG(kPort, WARNING, "port %u: allmulticast: %s\n", pid, rte_strerror(-rc));
  }

  if (software_mac) {
    info.mac = *c.mac;
  } else {
    rc = rte_eth_macaddr_get(pid, &info.mac);
    if (rc != 0) return R::failure(err(pid, "rte_eth_macaddr_get", rc));
  }

  info.rx_ipv4_cksum = (rx & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
  info.rx_l4_cksum = (rx & RTE_ETH_RX_OFFLOAD_TCP_CKSUM) != 0;
  info.tx_ipv4_cksum = (tx & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
  info.tx_l4_cksum = (tx & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) != 0;
  info.tx_tso = (tx & RTE_ETH_TX_OFFLOAD_TCP_TSO) != 0;
  info.tx_multi_seg = (tx & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
  info.tx_zero_copy = tx_zero_copy_suits(dev.driver_name, info.tx_multi_seg, info.tx_l4_cksum);
  info.rx_lro = (rx & RTE_ETH_RX_OFFLOAD_TCP_LRO) != 0;
  port->rx_offloads_ = rx;
  port->tx_offloads_ = tx;

  // Link: wait briefly (TAP's link follows the kernel interface, which a test may
  // bring up later, so "down" is a warning unless the caller requires it up).
  const std::uint64_t deadline =
      rte_get_timer_cycles() +
      rte_get_timer_hz() * static_cast<std::uint64_t>(c.link_timeout.count()) / 1000;
  bool up = port->link_up();
  while (!up && rte_get_timer_cycles() < deadline) {
    rte_delay_ms(10);
    up = port->link_up();
  }

  SHARDTCP_LOG(kPort, INFO,
               "port %u (%s): %u queue pair(s), rxd %u txd %u, mac %s, mtu %u, link %s; "
               "rx cksum ipv4=%d l4=%d, lro=%d, tx cksum ipv4=%d l4=%d, tso=%d, multiseg=%d, "
               "rss=%d (ours programmed: %d)\n",
               pid, dev.driver_name, c.nb_queues, nb_rxd, nb_txd, mac_text(info.mac).c_str(),
               info.mtu, up ? "up" : "down", info.rx_ipv4_cksum, info.rx_l4_cksum, info.rx_lro,
               info.tx_ipv4_cksum, info.tx_l4_cksum, info.tx_tso, info.tx_multi_seg, info.rss,
               info.rss_active);
  if (!up) {
    if (c.require_link_up) {
      return R::failure("port " + std::to_string(pid) + ": link still down after " +
                        std::to_string(c.link_timeout.count()) + " ms");
    }
    SHARDTCP_LOG(kPort, WARNING, "port %u: link down after %lld ms; continuing\n", pid,
                 static_cast<long long>(c.link_timeout.count()));
  }
  return R(std::move(port));
}

EthdevPort::~EthdevPort() {
  if (started_) {
    const int rc = rte_eth_dev_stop(info_.port_id);
    if (rc != 0)
      SHARDTCP_LOG(kPort, WARNING, "port %u: stop: %s\n", info_.port_id, rte_strerror(-rc));
  }
  // Close releases the queues (and, for vdevs, the device); mbufs still on the
  // queues go back to their pools.
  rte_eth_dev_close(info_.port_id);
}

std::uint16_t EthdevPort::tx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) {
  // tx_prepare fixes up offload metadata (pseudo-header checksums for some NICs) and
  // stops at the first frame the device cannot take; those stay with the caller.
  if (tx_offloads_ & (RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
                      RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)) {
    n = rte_eth_tx_prepare(info_.port_id, queue, pkts, n);
  }
  return rte_eth_tx_burst(info_.port_id, queue, pkts, n);
}

bool EthdevPort::link_up() const {
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(info_.port_id, &link) != 0) return false;
  return link.link_status == RTE_ETH_LINK_UP;
}

}  // namespace shardtcp
