// Two back-to-back ethdevs in one process: a cable made of rte_rings (A's TX queue q
// is B's RX queue q and vice versa), for stack-pair tests without privileges.
#pragma once

#include <rte_ring.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "port/ethdev_port.h"

namespace shardtcp {

struct RingPairOptions {
  std::string name = "ringpair";  // unique per pair: device and ring names derive from it
  std::uint16_t nb_queues = 1;
  unsigned ring_size = 1024;    // frames in flight per direction and queue (power of 2)
  rte_mempool* pool = nullptr;  // RX pool for both ports (net_ring does not allocate)
  std::uint16_t mtu = 0;        // recorded in PortInfo (rings carry any length)
  // net_ring ports start with an all-zero MAC; each side gets a distinct locally
  // administered one (02:72:70:NN:00:01 and :02, NN a per-process serial) unless given.
  std::optional<rte_ether_addr> mac_a;
  std::optional<rte_ether_addr> mac_b;
};

// The same cable without opening the ports: two net_ring ethdevs by name, for code
// that opens its device itself (a Stack given `device = a_name()`). The rings outlive
// the ports: destroy the cable after whatever opened them has closed them.
struct RingCableOptions {
  std::string name = "cable";
  std::uint16_t nb_queues = 1;
  unsigned ring_size = 1024;
  // Several producers per ring: needed when a wrapper on the sending side picks the
  // receiving queue itself (DeliveryPolicyPort), so engines share TX rings.
  bool multi_producer = false;
};

class RingCable {
 public:
  static Result<std::unique_ptr<RingCable>> create(const RingCableOptions& options);
  // Frees the rings. Frames still on them are not freed: their pools (the stacks')
  // may be gone by now; call discard_in_flight() first, while they are alive.
  ~RingCable();
  // Frees the frames on the wire (engines stopped, pools alive).
  void discard_in_flight();
  RingCable(const RingCable&) = delete;
  RingCable& operator=(const RingCable&) = delete;

  // EAL device names ("net_ring_<name>_a") for StackConfig::device.
  const std::string& a_name() const { return a_name_; }
  const std::string& b_name() const { return b_name_; }
  // Their ethdev port ids.
  std::uint16_t a_port() const { return a_port_; }
  std::uint16_t b_port() const { return b_port_; }

 private:
  RingCable() = default;
  std::vector<rte_ring*> rings_;
  std::string a_name_, b_name_;
  std::uint16_t a_port_ = 0, b_port_ = 0;
};

class RingPair {
 public:
  static Result<std::unique_ptr<RingPair>> create(const RingPairOptions& options);
  ~RingPair();  // closes both ports, then frees the rings (and any frames left in them)
  RingPair(const RingPair&) = delete;
  RingPair& operator=(const RingPair&) = delete;

  EthdevPort& a() { return *a_; }
  EthdevPort& b() { return *b_; }

 private:
  RingPair() = default;
  std::unique_ptr<RingCable> cable_;  // declared before the ports: destroyed after them
  std::unique_ptr<EthdevPort> a_;
  std::unique_ptr<EthdevPort> b_;
};

}  // namespace shardtcp
