// A DPDK ethdev as a PacketPort: whatever the EAL arguments named (net_tap, net_ring,
// virtio_user, af_packet, a real NIC). open() configures one RX/TX queue pair per
// engine, negotiates checksum/TSO offloads from dev_info and records the outcome in
// PortInfo, so upper layers know whether to compute checksums in software.
#pragma once

#include <rte_ethdev.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "port/packet_port.h"

namespace shardtcp {

struct EthdevConfig {
  std::uint16_t port_id = 0;
  std::uint16_t nb_queues = 1;      // RX/TX queue pairs: one per engine
  std::uint16_t nb_rx_desc = 1024;  // clamped to the device's limits
  std::uint16_t nb_tx_desc = 1024;
  // RX buffers: one pool for all queues, or one per queue (size nb_queues).
  std::vector<rte_mempool*> rx_pools;
  std::uint16_t mtu = 0;              // 0: keep the device's
  std::optional<rte_ether_addr> mac;  // set the device MAC (else keep the device's)
  bool promiscuous = false;           // off: the stack only wants frames for its MAC
  bool allmulticast = true;           // IPv6 neighbour discovery needs multicast frames
  // Offloads wanted; each is enabled only where dev_info offers it.
  bool want_rx_cksum = true;
  bool want_tx_cksum = true;
  bool want_tso = true;
  // LRO: the device hands over coalesced TCP segments (frames above the MTU, in mbuf
  // chains), which the TCP layer takes in pieces without linearising.
  bool want_lro = true;
  bool want_rss = true;  // only meaningful with nb_queues > 1
  // RSS programming (nb_queues > 1, want_rss): this Toeplitz key (empty: keep the
  // device's) and a RETA of the device's size mapping entry i to queue i % nb_queues,
  // for TCP and UDP over IPv4 and IPv6 where dev_info offers them. PortInfo::rss_active
  // says whether the device took both; otherwise engines steer in software.
  std::vector<std::uint8_t> rss_key;
  std::chrono::milliseconds link_timeout{1000};  // wait this long for link up
  bool require_link_up = false;                  // fail open() if the link stays down
};

class EthdevPort final : public PacketPort {
 public:
  // Configures and starts the port. Never aborts: errors come back as a message.
  static Result<std::unique_ptr<EthdevPort>> open(const EthdevConfig& config);
  // The port id of a device by its EAL name ("net_tap0", "net_ring_a").
  static Result<std::uint16_t> find(const std::string& device_name);

  ~EthdevPort() override;  // stops and closes the device
  EthdevPort(const EthdevPort&) = delete;
  EthdevPort& operator=(const EthdevPort&) = delete;

  std::uint16_t rx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) override {
    return rte_eth_rx_burst(info_.port_id, queue, pkts, n);
  }
  std::uint16_t tx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) override;
  const PortInfo& info() const override { return info_; }

  bool link_up() const;
  // What open() programmed for RSS (empty when rss_active is false).
  const std::vector<std::uint8_t>& rss_key() const { return rss_key_; }
  const std::vector<std::uint16_t>& rss_reta() const { return rss_reta_; }
  std::uint64_t tx_offloads() const { return tx_offloads_; }
  std::uint64_t rx_offloads() const { return rx_offloads_; }

 private:
  EthdevPort() = default;
  PortInfo info_;
  std::uint64_t rx_offloads_ = 0;
  std::uint64_t tx_offloads_ = 0;
  bool started_ = false;
  std::vector<std::uint8_t> rss_key_;
  std::vector<std::uint16_t> rss_reta_;
};

}  // namespace shardtcp
