// RACK time-based loss detection (RFC 8985 §6): a segment is lost once a segment sent
// after it has been delivered (cumulatively ACKed or SACKed) and more than RACK.rtt +
// reo_wnd has passed since it was sent. Unlike counting duplicate ACKs this detects
// a lost retransmission, and a loss with fewer than three segments SACKed above it.
//
// It needs each segment's (latest) transmit time: SentRecords keeps them in a ring
// sized once at construction, one record per transmitted segment in sequence order.
// When the ring is full the newest segment joins the last record (coarser, never an
// allocation). The records also carry the "lost, to be retransmitted" marks the sender
// acts on. Pure: time is passed in.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/time.h"
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

  explicit Rack(std::size_t max_records);
  // A copy would not keep the reserved capacity the ring relies on.
  Rack(const Rack&) = delete;
  Rack& operator=(const Rack&) = delete;

  // Forgets every record; SND.UNA becomes `una`.
  void reset(SeqNum una);
  // A segment [start, end) was transmitted at `now`; below what was sent before, it is
  // a retransmission of the records it covers.
  void on_sent(SeqNum start, SeqNum end, Instant now);
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
    for (std::size_t i = 0; i < count_; ++i) {
      const Record& r = at(i);
      if ((r.flags & kLost) && !(r.flags & kSacked))
        fn(r.start, static_cast<std::uint32_t>(r.end - r.start));
    }
  }
  bool reordering_seen() const { return reordering_seen_; }
  std::size_t record_count() const { return count_; }

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

  // Positions are first used in order (records only ever join at the tail, and the
  // tail moves one position at a time), so a position not yet constructed is always
  // the next one: it is appended into the reserved storage (no reallocation).
  Record& at(std::size_t i) {
    const std::size_t p = (head_ + i) % cap_;
    if (p == ring_.size()) ring_.emplace_back();
    return ring_[p];
  }
  const Record& at(std::size_t i) const { return ring_[(head_ + i) % cap_]; }
  // Splits record i at `seq` (inside it); false when the ring is full.
  bool split(std::size_t i, SeqNum seq);
  void deliver(const Record& r, Instant now);
  void set_lost(Record& r);
  void clear_lost(Record& r);

  // Storage reserved at construction, never reallocated; records are constructed as
  // the ring first reaches them, so opening a connection costs an allocation, not the
  // initialisation of every record (which a short connection never uses).
  std::vector<Record> ring_;
  std::size_t cap_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
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
