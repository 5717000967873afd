// RACK time-based loss detection (RFC 8985 §6): a segment is lost once a segment sent
// after it has been delivered (cumulatively ACKed or SACKed) and more than RACK.rtt +
// reo_wnd has passed since it was sent. Unlike counting duplicate ACKs this detects
// a lost retransmission, and a loss with fewer than three segments SACKed above it.
//
// It needs each segment's (latest) transmit time: a ring of records from the engine's
// BlockPool, one per transmitted segment in sequence order, taken when data is first
// in flight and returned when all of it is acknowledged. When the ring is at its bound
// (or the pool is out) the newest segment joins the last record (coarser, never a
// heap allocation). The records also carry the "lost, to be retransmitted" marks the sender
// acts on. Pure: time is passed in.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "common/time.h"
#include "tcp/block_pool.h"
#include "tcp/pooled_ring.h"
#include "tcp/sack_scoreboard.h"
#include "wire/seq_num.h"

namespace shardtcp {

class Rack {
 public:
  using Range = SackScoreboard::Range;
  struct LossResult {
    std::uint32_t newly_lost = 0;  // segments marked lost by this call
    Duration timeout{0};           // when to look again (the reordering timer); 0: none
  };

  // At most `max_records` records, stored in `pool` blocks while there are any.
  Rack(BlockPool& pool, std::size_t max_records);
  Rack(const Rack&) = delete;
  Rack& operator=(const Rack&) = delete;

  // Forgets every record; SND.UNA becomes `una`.
  void reset(SeqNum una);
  // A segment [start, end) was transmitted at `now`; below what was sent before, it is
  // a retransmission of the records it covers.
  void on_sent(SeqNum start, SeqNum end, Instant now);
  // [start, end) went out at `now` as a TSO frame: its `payload` bytes cut into
  // segments of `segsz` (0: one segment), the last one also taking whatever follows
  // the payload (a FIN). One record per segment, as on_sent per segment would keep,
  // with the room for new data taken once.
  void on_sent_segments(SeqNum start, std::uint32_t payload, SeqNum end, std::uint32_t segsz,
                        Instant now);
  // An ACK: records below `una` and those inside `sacked` are delivered; the most
  // recently sent of them becomes RACK's reference (§6.2 steps 1-3).
  void on_ack(SeqNum una, std::span<const SackBlock> sacked, Instant now);
  // A D-SACK arrived (§6.2.4): a retransmission was needless, so the reordering window
  // widens by a step, at most once per round trip (until `una` passes `snd_nxt`).
  void on_dsack(SeqNum una, SeqNum snd_nxt);
  // Recovery ended: after 16 recoveries without a D-SACK the window is narrow again.
  void on_recovery_end();
  // RACK.min_RTT: the smallest RTT of a never-retransmitted delivered segment, measured
  // on the transmit records' own clock; `fallback` (the handshake's RTT, say) until
  // there is one. The RTT estimator's samples will not do: with timestamps they come
  // in whole milliseconds, often 0 on a fast path.
  Duration min_rtt(Duration fallback) const { return have_min_rtt_ ? min_rtt_ : fallback; }
  // RFC 6675 SetPipe() with RACK's marks for "lost" (RFC 8985 replaces IsLost()): each
  // un-SACKed segment counts unless it was deemed lost, and once more while a
  // retransmission of it is in flight.
  std::uint32_t pipe() const;
  // RACK.reo_wnd (§6.2.4): none while no reordering was seen and the sender is in
  // recovery or DupThresh segments are SACKed; else reo_wnd_mult·min_RTT/4, capped at
  // SRTT.
  Duration reo_wnd(bool in_recovery, bool dupthresh_met, Duration min_rtt, Duration srtt) const;
  // §6.2 step 5: marks lost each segment sent before the reference whose time is up.
  LossResult detect_loss(Instant now, Duration reo_wnd);
  // Marks the segment holding `seq` lost, unless it is SACKed or was retransmitted
  // (the fast retransmission at the start of recovery, a partial ACK).
  void mark_lost(SeqNum seq);
  // The retransmission timer fired: go-back-N resends everything, so no record is
  // lost or retransmitted any more; SACK marks go too when the scoreboard was reset.
  void on_rto(bool forget_sacks);

  // The lowest segment marked lost and not yet retransmitted.
  std::optional<Range> next_lost() const;
  // Calls fn(seq, len) for each segment marked lost and not yet retransmitted.
  template <typename Fn>
  void for_each_lost(Fn&& fn) const {
    if (lost_pending_ == 0) return;
    for (std::size_t i = 0; i < ring_.size(); ++i) {
      const Record& r = at(i);
      if ((r.flags & kLost) && !(r.flags & kSacked))
        fn(r.start, static_cast<std::uint32_t>(r.end - r.start));
    }
  }
  bool reordering_seen() const { return reordering_seen_; }
  std::size_t record_count() const { return ring_.size(); }
  std::size_t storage_bytes() const { return ring_.storage_bytes(); }

 private:
  static constexpr std::uint8_t kSacked = 1;   // delivered above SND.UNA
  static constexpr std::uint8_t kLost = 2;     // deemed lost, awaiting retransmission
  static constexpr std::uint8_t kRetrans = 4;  // xmit is a retransmission's time
  static constexpr std::uint8_t kWasLost = 8;  // the original (or a retransmission) was lost
  struct Record {
    SeqNum start;
    SeqNum end;
    Instant xmit;
    std::uint8_t flags = 0;
  };

  Record& at(std::size_t i) { return ring_[static_cast<std::uint32_t>(i)]; }
  const Record& at(std::size_t i) const { return ring_[static_cast<std::uint32_t>(i)]; }
  // Splits record i at `seq` (inside it); false when the ring is full.
  bool split(std::size_t i, SeqNum seq);
  void deliver(const Record& r, Instant now);
  void set_lost(Record& r);
  void clear_lost(Record& r);

  PooledRing<Record> ring_;  // in sequence order
  // The records are in transmit order too (by time, ties by sequence) until a
  // retransmission stamps one: new data only ever goes behind the last. True again
  // once the ring empties. While true, detect_loss stops at the first record not sent
  // before the reference instead of walking the whole flight on every ACK.
  bool xmit_ordered_ = true;
  std::uint32_t lost_pending_ = 0;

  // RACK.xmit_ts / end_seq / rtt of the most recently sent delivered segment.
  bool have_ref_ = false;
  Instant ref_xmit_;
  SeqNum ref_end_;
  Duration ref_rtt_{0};
  SeqNum fack_;  // highest delivered sequence (RACK.fack)
  bool reordering_seen_ = false;
  bool have_min_rtt_ = false;
  Duration min_rtt_{0};
  std::uint32_t reo_wnd_mult_ = 1;
  std::uint32_t reo_wnd_persist_ = 0;
  std::optional<SeqNum> dsack_round_;
};

}  // namespace shardtcp
