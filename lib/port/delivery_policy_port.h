// A sending-side wrapper that plays the receiving NIC's queue choice: each frame sent
// on any queue goes out on the queue the policy names, which (over a RingCable) is the
// peer's RX queue. It lets in-process stack pairs exercise both ends of sharding:
//   kEmulatedRss  the peer's NIC hashes with a Toeplitz key and RETA (ours): flows
//                 arrive on their owner's queue and software steering stays idle
//   kAllToQueue0  a NIC without RSS: everything on queue 0, engine 0 steers the rest
//   kRandomQueue  the worst: any frame on any queue (seeded), even within one flow
//   kSameQueue    pass-through (what a plain ring cable does)
// The underlying rings must accept several producers (RingCableOptions::multi_producer).
// Frames the underlying port refuses are freed and counted as wire drops, so tx_burst
// always takes everything (as a NIC's full ring would, from the stack's view).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "engine/flow_ownership.h"
#include "port/packet_port.h"

namespace shardtcp {

enum class DeliveryPolicy : std::uint8_t { kSameQueue, kEmulatedRss, kAllToQueue0, kRandomQueue };

class DeliveryPolicyPort final : public PacketPort {
 public:
  // `rss`: the receiving NIC's hash and RETA (kEmulatedRss); its RETA entries must be
  // below the inner port's queue count.
  DeliveryPolicyPort(PacketPort& inner, DeliveryPolicy policy,
                     std::optional<FlowOwnership> rss = std::nullopt, std::uint64_t seed = 1);

  std::uint16_t rx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) override {
    return inner_.rx_burst(queue, pkts, n);
  }
  std::uint16_t tx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) override;
  const PortInfo& info() const override { return inner_.info(); }

  // The queue a NIC with this hash would pick for a frame (TCP/UDP: 4-tuple; other IP:
  // addresses; anything else: queue 0).
  static std::uint16_t rss_queue(const rte_mbuf* m, const FlowOwnership& rss);

  std::uint64_t wire_drops() const { return wire_drops_.load(std::memory_order_relaxed); }

 private:
  std::uint16_t pick(std::uint16_t queue, const rte_mbuf* m);

  PacketPort& inner_;
  DeliveryPolicy policy_;
  std::optional<FlowOwnership> rss_;
  std::atomic<std::uint64_t> seed_;  // engines on several threads send through one wrapper
  std::atomic<std::uint64_t> wire_drops_{0};
};

}  // namespace shardtcp
