// A packet port: bursts of frames in and out on numbered queues.
// EthdevPort (a DPDK ethdev: TAP, ring, virtio_user, af_packet, a NIC) implements it,
// and wrappers (fault injection, pcapng capture) wrap any PacketPort, so they compose.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>

#include <cstdint>

namespace shardtcp {

struct PortInfo {
  std::uint16_t port_id = 0;  // DPDK port id (UINT16_MAX for a port that is not an ethdev)
  rte_ether_addr mac{};
  std::uint16_t mtu = 1500;
  std::uint16_t nb_queues = 1;  // RX/TX queue pairs configured
  bool rx_ipv4_cksum = false;   // device verifies IPv4 header checksums (ol_flags valid)
  bool rx_l4_cksum = false;     // device verifies TCP/UDP checksums
  bool tx_ipv4_cksum = false;   // device fills IPv4 header checksums
  bool tx_l4_cksum = false;     // device fills TCP/UDP checksums (pseudo-header set by us)
  bool tx_tso = false;          // device cuts TCP frames marked RTE_MBUF_F_TX_TCP_SEG
  bool rx_lro = false;          // device coalesces TCP segments: frames above the MTU, chains
  bool rss = false;             // device spreads flows over queues by a programmable hash
  bool tx_multi_seg = false;    // device sends mbuf chains (else the sender linearises)
  // Frames may carry payload attached from send storage (indirect mbufs) rather than
  // copied: chains the device reads as they are (port/tx_zero_copy.h).
  bool tx_zero_copy = false;
  std::uint16_t reta_size = 0;     // RSS redirection table entries (0: none)
  std::uint8_t hash_key_size = 0;  // RSS hash key bytes (0: device default / none)
  // Our key and RETA (queue i % nb_queues) are programmed: flows arrive on the queue of
  // the engine that owns them (engines still verify; see engine/steering.h).
  bool rss_active = false;
};

class PacketPort {
 public:
  virtual ~PacketPort() = default;
  // Receives up to n frames from `queue`; the caller owns what is returned.
  virtual std::uint16_t rx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) = 0;
  // Sends up to n frames; frames [0, returned) now belong to the port, the rest stay
  // with the caller (who frees or retries them).
  virtual std::uint16_t tx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) = 0;
  virtual const PortInfo& info() const = 0;
};

}  // namespace shardtcp
