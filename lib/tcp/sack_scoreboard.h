// The sender's SACK scoreboard (RFC 6675): which bytes above SND.UNA the peer has
// reported holding, and from that IsLost(), NextSeg() and the pipe estimate that
// drive SACK-based loss recovery. Its ranges live in a BlockPool block taken with the
// first SACKed range and returned when SND.UNA passes the last one: a connection
// without loss holds none.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "tcp/block_pool.h"
#include "tcp/pooled_ring.h"
#include "tcp/tcp_segment.h"
#include "wire/seq_num.h"

namespace shardtcp {

class SackScoreboard {
 public:
  static constexpr std::size_t kMaxBlocks = 32;  // merged, disjoint ranges kept
  static constexpr std::uint32_t kDupThresh = 3;

  struct AckResult {
    std::uint32_t newly_sacked = 0;  // bytes that became SACKed with this ACK
    bool dsack = false;              // the first block was a D-SACK (RFC 2883)
  };

  explicit SackScoreboard(BlockPool& pool) : blocks_(pool, kMaxBlocks) {}

  // Forget everything; SND.UNA becomes `una`.
  void reset(SeqNum una);
  // Processes one ACK: drops state below the new SND.UNA, merges the SACK blocks
  // (ignoring blocks outside (una, snd_nxt]), detects D-SACK.
  AckResult on_ack(SeqNum una, SeqNum snd_nxt, std::span<const SackBlock> blocks);

  bool is_sacked(SeqNum seq) const;
  // RFC 6675 IsLost(seq): DupThresh discontiguous SACKed segments, or more than
  // (DupThresh-1)*MSS SACKed bytes, lie above seq.
  bool is_lost(SeqNum seq, std::uint32_t mss) const;
  // RFC 6675 NextSeg() rule 1: the next un-SACKed range at or above `high_rxt`
  // (and SND.UNA) that lies below the highest SACKed octet and IsLost, clipped to
  // mss. nullopt when none. Rule 2 (new data) is the sender's.
  struct Range {
    SeqNum seq;
    std::uint32_t len;
  };
  std::optional<Range> next_lost(SeqNum una, SeqNum high_rxt, SeqNum snd_nxt,
                                 std::uint32_t mss) const;
  // NextSeg() rule 3: as rule 1 without the IsLost test (1.c) -- a hole below the
  // highest SACKed octet that is not (yet) deemed lost.
  std::optional<Range> next_unsacked(SeqNum una, SeqNum high_rxt, SeqNum snd_nxt,
                                     std::uint32_t mss) const;
  // NextSeg() rule 4 (rescue): one segment of up to mss ending at the highest
  // un-SACKed octet below `top` (e.g. SND.NXT). nullopt when all is SACKed.
  std::optional<Range> highest_unsacked(SeqNum una, SeqNum top, std::uint32_t mss) const;
  // RFC 6675 SetPipe(): bytes believed to be in the network.
  std::uint32_t pipe(SeqNum una, SeqNum high_rxt, SeqNum snd_nxt, std::uint32_t mss) const;

  std::uint32_t sacked_bytes() const { return sacked_bytes_; }
  // Highest SACKed sequence (one past), or `una` when nothing is SACKed.
  SeqNum high_sacked() const { return high_sacked_; }
  std::size_t block_count() const { return blocks_.size(); }
  // The merged SACKed ranges, sorted by sequence.
  std::span<const SackBlock> blocks() const {
    if (blocks_.empty()) return {};
    return {blocks_.contiguous_data(), blocks_.size()};
  }
  std::size_t storage_bytes() const { return blocks_.storage_bytes(); }

 private:
  // Rule 1 with or without its IsLost test (1.c).
  std::optional<Range> next_hole(SeqNum una, SeqNum high_rxt, SeqNum snd_nxt, std::uint32_t mss,
                                 bool need_lost) const;
  // Drops or trims ranges below a new SND.UNA.
  void advance_una(SeqNum una);
  // Merges one validated range; returns the bytes it newly SACKed. When all
  // kMaxBlocks slots are used, the highest disjoint range is forgotten; with no pool
  // block for the first range, the range is (a spurious retransmission, not an error).
  std::uint32_t insert(SackBlock block);

  // Sorted, disjoint, all above una_; only ever inserted into and erased from at
  // positions, never popped from the front, so blocks() can hand out one array.
  PooledRing<SackBlock> blocks_;
  SeqNum una_;
  SeqNum high_sacked_;
  std::uint32_t sacked_bytes_ = 0;
};

}  // namespace shardtcp
