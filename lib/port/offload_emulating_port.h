// Wraps a port without offloads (a ring pair) and plays a NIC that has them, so the
// stack's TSO, LRO and checksum-offload paths run in tests, byte for byte:
//  - TX: every frame is checked against what a driver expects of the offload flags
//    (l2/l3/l4 lengths, RTE_MBUF_F_TX_IPV4/IPV6, the pseudo-header sum left in the L4
//    checksum field, with or without the length; a frame without L4 flags must carry a
//    valid checksum); TSO frames (RTE_MBUF_F_TX_TCP_SEG) are cut into tso_segsz-byte
//    segments (FIN and PSH on the last only, CWR on the first only, IPv4 ids counting
//    up); every checksum left to the device is filled in, so the wire carries only
//    finished frames.
//  - RX: IPv4 header and TCP/UDP checksums are verified and reported in ol_flags
//    (RTE_MBUF_F_RX_*_CKSUM_GOOD/BAD), and in-order TCP segments of one flow that
//    arrive next to each other in a burst are coalesced into one frame of up to 64 KiB,
//    an mbuf chain, as LRO does: same ACK, window and options, no flag but ACK (PSH
//    ends a run). As with LRO NICs and Linux GRO, the merged frame's TCP checksum field
//    is left stale: the GOOD flag vouches for the segments it was built from.
// info() is the inner port's with checksum offloads, TSO, multi-segment TX and LRO on.
#pragma once

#include <array>
#include <cstdint>

#include "port/packet_port.h"

namespace shardtcp {

struct OffloadEmulationStats {
  std::uint64_t tx_frames = 0;      // frames the stack sent
  std::uint64_t tx_tso_frames = 0;  // of them, marked for segmentation
  std::uint64_t tx_segments = 0;    // frames put on the wire
  std::uint64_t tx_largest = 0;     // longest of them, bytes (Ethernet header included)
  std::uint64_t tx_l4_filled = 0;   // L4 checksums filled in (TSO segments included)
  std::uint64_t tx_ip_filled = 0;   // IPv4 header checksums filled in
  // Frames whose offload metadata a driver would not accept (wrong lengths, a missing
  // IPV4/IPV6 flag, a wrong pseudo-header sum, a bad checksum left unflagged).
  std::uint64_t tx_flag_errors = 0;
  std::uint64_t tx_alloc_failed = 0;  // segments lost for want of an mbuf
  std::uint64_t rx_frames = 0;        // frames from the wire
  std::uint64_t rx_delivered = 0;     // frames handed to the stack
  std::uint64_t rx_coalesced = 0;     // segments merged into the frame before them
  std::uint64_t rx_largest = 0;       // longest frame handed up, bytes
  std::uint64_t rx_bad_cksum = 0;     // frames flagged with a bad checksum
};

class OffloadEmulatingPort final : public PacketPort {
 public:
  // `inner` must outlive the wrapper.
  explicit OffloadEmulatingPort(PacketPort& inner);

  std::uint16_t rx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) override;
  // Takes every frame (returns n): the segments the inner port refuses are dropped and
  // counted by it being a wire, as a NIC's full ring would.
  std::uint16_t tx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) override;
  const PortInfo& info() const override { return info_; }

  const OffloadEmulationStats& stats() const { return stats_; }
  std::uint64_t wire_drops() const { return wire_drops_; }

 private:
  static constexpr std::uint16_t kTxBatch = 64;
  // Frames on their way to the inner port, sent whenever the batch fills.
  struct Batch {
    std::uint16_t queue;
    std::array<rte_mbuf*, kTxBatch> out;
    std::uint16_t count;
  };
  // Checks and finishes one frame (a TSO frame: its segments) into the batch.
  void transmit_one(rte_mbuf* m, Batch& batch);
  void put(rte_mbuf* m, Batch& batch);
  void flush(Batch& batch);

  PacketPort& inner_;
  PortInfo info_;
  OffloadEmulationStats stats_;
  std::uint64_t wire_drops_ = 0;
};

}  // namespace shardtcp
