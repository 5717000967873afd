#include "tcp/rack.h"

#include <algorithm>

namespace shardtcp {

namespace {

// RFC 8985 RACK_sent_after: ordered by transmit time, ties by sequence (segments sent
// in one burst share a time).
bool sent_after(Instant t1, SeqNum end1, Instant t2, SeqNum end2) {
  return t1 > t2 || (t1 == t2 && end1 > end2);
}

}  // namespace

Rack::Rack(BlockPool& pool, std::size_t max_records)
    : ring_(pool, static_cast<std::uint32_t>(std::max<std::size_t>(max_records, 2))) {}

void Rack::reset(SeqNum una) {
  ring_.clear();
  xmit_ordered_ = true;
  lost_pending_ = 0;
  have_ref_ = false;
  ref_end_ = fack_ = una;
  reordering_seen_ = false;
  have_min_rtt_ = false;
  min_rtt_ = Duration{0};
  reo_wnd_mult_ = 1;
  reo_wnd_persist_ = 0;
  dsack_round_.reset();
}

void Rack::set_lost(Record& r) {
  if (!(r.flags & kLost)) ++lost_pending_;
  r.flags = static_cast<std::uint8_t>((r.flags | kLost | kWasLost) & ~kRetrans);
}

void Rack::clear_lost(Record& r) {
  if (r.flags & kLost) --lost_pending_;
  r.flags &= static_cast<std::uint8_t>(~kLost);
}

bool Rack::split(std::size_t i, SeqNum seq) {
  if (!ring_.push_back(ring_.back())) return false;
  for (std::size_t k = ring_.size() - 1; k > i + 1; --k) at(k) = at(k - 1);
  Record& lo = at(i);
  Record& hi = at(i + 1);
  hi = lo;
  hi.start = seq;
  lo.end = seq;
  if (lo.flags & kLost) ++lost_pending_;  // both halves await retransmission
  return true;
}

void Rack::on_sent(SeqNum start, SeqNum end, Instant now) {
  if (!(start < end)) return;
  if (ring_.empty() || ring_.back().end <= start) {
    if (!ring_.push_back(Record{start, end, now, 0}) && !ring_.empty()) {
      // Full (the bound, or no pool block): the new segment joins the last record,
      // which takes the newer time (so it is declared lost later rather than too
      // early). With no record at all it goes unrecorded, as a delivered one would.
      Record& last = ring_.back();
      clear_lost(last);
      last.end = end;
      last.xmit = now;
      last.flags = 0;
    }
    return;
  }
  // A retransmission: stamp the records it covers, splitting one that it covers only
  // in part so the rest keeps its own state.
  xmit_ordered_ = false;
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    Record& r = at(i);
    if (r.end <= start) continue;
    if (end <= r.start) break;
    if (r.start < start && split(i, start)) continue;  // stamp the upper half next
    if (end < r.end) split(i, end);
    Record& s = at(i);
    clear_lost(s);
    s.xmit = now;
    s.flags |= kRetrans;
  }
}

void Rack::on_sent_segments(SeqNum start, std::uint32_t payload, SeqNum end, std::uint32_t segsz,
                            Instant now) {
  if (!(start < end)) return;
  const std::uint32_t n = segsz == 0 || payload <= segsz ? 1 : (payload + segsz - 1) / segsz;
  // New data with room for every record: appended in one pass. Anything else (a
  // retransmission, a full ring) goes segment by segment.
  if ((ring_.empty() || ring_.back().end <= start) && ring_.reserve(n)) {
    SeqNum at = start;
    for (std::uint32_t k = 1; k < n; ++k, at += segsz)
      ring_.push_back(Record{at, at + segsz, now, 0});
    ring_.push_back(Record{at, end, now, 0});
    return;
  }
  SeqNum at = start;
  for (std::uint32_t k = 1; k < n; ++k, at += segsz) on_sent(at, at + segsz, now);
  on_sent(at, end, now);
}

void Rack::deliver(const Record& r, Instant now) {
  const Duration rtt = now - r.xmit;
  if (r.flags & kRetrans) {
    // §6.2 step 2: an ACK faster than any RTT seen may be for the original
    // transmission, not the retransmission; it says nothing about the latter's time
    // (taking it would declare lost everything sent before the retransmission).
    if (!have_min_rtt_ || rtt < min_rtt_) return;
  } else if (!have_min_rtt_ || rtt < min_rtt_) {
    min_rtt_ = rtt;
    have_min_rtt_ = true;
  }
  // §6.2.3: a never-retransmitted segment delivered below the highest one delivered
  // was reordered.
  if (!(r.flags & kRetrans) && r.end < fack_) reordering_seen_ = true;
  fack_ = seq_max(fack_, r.end);
  if (!have_ref_ || sent_after(r.xmit, r.end, ref_xmit_, ref_end_)) {
    have_ref_ = true;
    ref_xmit_ = r.xmit;
    ref_end_ = r.end;
    ref_rtt_ = rtt;
  }
}

void Rack::on_ack(SeqNum una, std::span<const SackBlock> sacked, Instant now) {
  while (ring_.size() > 0 && at(0).end <= una) {
    Record& r = at(0);
    if (!(r.flags & kSacked)) deliver(r, now);
    clear_lost(r);
    ring_.pop_front();  // the last one returns the ring's storage
  }
  if (ring_.empty()) xmit_ordered_ = true;
  if (ring_.size() > 0 && at(0).start < una) at(0).start = una;
  // Both lists are sorted by sequence: one merged walk.
  std::size_t j = 0;
  for (std::size_t i = 0; i < ring_.size() && j < sacked.size(); ++i) {
    Record& r = at(i);
    while (j < sacked.size() && sacked[j].right <= r.start) ++j;
    if (j == sacked.size()) break;
    if ((r.flags & kSacked) || r.start < sacked[j].left || sacked[j].right < r.end) continue;
    clear_lost(r);
    r.flags |= kSacked;
    deliver(r, now);
  }
}

void Rack::on_dsack(SeqNum una, SeqNum snd_nxt) {
  if (dsack_round_ && una >= *dsack_round_) dsack_round_.reset();
  if (dsack_round_) return;
  dsack_round_ = snd_nxt;
  ++reo_wnd_mult_;
  reo_wnd_persist_ = 16;
}

void Rack::on_recovery_end() {
  if (reo_wnd_persist_ > 0 && --reo_wnd_persist_ == 0) reo_wnd_mult_ = 1;
}

Duration Rack::reo_wnd(bool in_recovery, bool dupthresh_met, Duration min_rtt,
                       Duration srtt) const {
  if (!reordering_seen_ && (in_recovery || dupthresh_met)) return Duration{0};
  return std::min(reo_wnd_mult_ * (min_rtt / 4), srtt);
}

Rack::LossResult Rack::detect_loss(Instant now, Duration reo_wnd) {
  LossResult res;
  if (!have_ref_) return res;
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    Record& r = at(i);
    if (r.flags & (kSacked | kLost)) continue;
    // Sent before the reference; never one sent this instant, whatever the tie-break
    // says: nothing can be known about it yet. In transmit order, no record behind
    // the first one sent after the reference was sent before it.
    if (!sent_after(ref_xmit_, ref_end_, r.xmit, r.end)) {
      if (xmit_ordered_) break;
      continue;
    }
    if (r.xmit >= now) continue;
    const Duration remaining = (r.xmit + ref_rtt_ + reo_wnd) - now;
    if (remaining <= Duration{0}) {
      set_lost(r);
      ++res.newly_lost;
    } else {
      res.timeout = std::max(res.timeout, remaining);
    }
  }
  return res;
}

void Rack::mark_lost(SeqNum seq) {
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    Record& r = at(i);
    if (seq < r.start) return;
    if (seq < r.end) {
      if (!(r.flags & (kSacked | kRetrans))) set_lost(r);
      return;
    }
  }
}

void Rack::on_rto(bool forget_sacks) {
  lost_pending_ = 0;
  const std::uint8_t keep = forget_sacks ? 0 : kSacked;
  for (std::size_t i = 0; i < ring_.size(); ++i) at(i).flags &= keep;
}

std::uint32_t Rack::pipe() const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    const Record& r = at(i);
    if (r.flags & kSacked) continue;
    const std::uint32_t len = static_cast<std::uint32_t>(r.end - r.start);
    if (!(r.flags & kWasLost)) total += len;
    if (r.flags & kRetrans) total += len;
  }
  return total > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(total);
}

std::optional<Rack::Range> Rack::next_lost() const {
  if (lost_pending_ == 0) return std::nullopt;
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    const Record& r = at(i);
    if ((r.flags & kLost) && !(r.flags & kSacked))
      return Range{r.start, static_cast<std::uint32_t>(r.end - r.start)};
  }
  return std::nullopt;
}

}  // namespace shardtcp
