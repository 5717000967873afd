// RFC 6675 scoreboard over merged byte ranges. The ranges are kept sorted and
// disjoint, so every query is a walk over at most kMaxBlocks entries; nothing here
// allocates. Because the data above an un-SACKed byte is the same for every byte of
// the same hole, IsLost() is constant over a hole, which lets SetPipe() and
// NextSeg() work per hole instead of per segment.
#include "tcp/sack_scoreboard.h"

#include <algorithm>

namespace shardtcp {

namespace {

std::uint32_t span_len(SeqNum left, SeqNum right) {
  return right > left ? static_cast<std::uint32_t>(right - left) : 0u;
}

}  // namespace

void SackScoreboard::reset(SeqNum una) {
  blocks_.clear();
  una_ = una;
  high_sacked_ = una;
  sacked_bytes_ = 0;
}

void SackScoreboard::advance_una(SeqNum una) {
  if (una <= una_) return;
  una_ = una;
  std::uint32_t out = 0;
  for (std::uint32_t i = 0; i < blocks_.size(); ++i) {
    SackBlock b = blocks_[i];
    if (b.right <= una) {
      sacked_bytes_ -= span_len(b.left, b.right);
      continue;
    }
    if (b.left < una) {
      sacked_bytes_ -= span_len(b.left, una);
      b.left = una;
    }
    blocks_[out++] = b;
  }
  // Dropping the tail; all of it returns the block (erase at 0 only ever empties).
  blocks_.erase(out, blocks_.size() - out);
}

std::uint32_t SackScoreboard::insert(SackBlock nb) {
  // Find the first block whose right edge reaches nb.left (adjacent blocks merge).
  std::size_t i = 0;
  while (i < blocks_.size() && blocks_[i].right < nb.left) ++i;
  // Absorb every block that overlaps or touches nb.
  std::size_t j = i;
  std::uint32_t covered = 0;  // bytes of nb already SACKed
  SackBlock merged = nb;
  while (j < blocks_.size() && blocks_[j].left <= nb.right) {
    const SackBlock& b = blocks_[j];
    const SeqNum lo = seq_max(b.left, nb.left);
    const SeqNum hi = seq_min(b.right, nb.right);
    covered += span_len(lo, hi);
    merged.left = seq_min(merged.left, b.left);
    merged.right = seq_max(merged.right, b.right);
    ++j;
  }
  const std::uint32_t added = span_len(nb.left, nb.right) - covered;
  if (j > i) {
    // Replace blocks [i, j) by the merged one.
    blocks_[static_cast<std::uint32_t>(i)] = merged;
    const std::size_t removed = j - i - 1;
    if (removed > 0)
      blocks_.erase(static_cast<std::uint32_t>(i + 1), static_cast<std::uint32_t>(removed));
    sacked_bytes_ += added;
    return added;
  }
  // A new disjoint block at position i.
  if (blocks_.size() == kMaxBlocks) {
    // Full: forgetting a SACK only costs a spurious retransmission, whereas
    // merging across a hole would claim bytes the peer never reported. Drop the
    // highest range (the peer repeats recent blocks in later ACKs anyway) unless
    // the new block is itself the highest.
    if (i == blocks_.size()) return 0;
    sacked_bytes_ -= span_len(blocks_.back().left, blocks_.back().right);
    blocks_.pop_back();
  }
  if (!blocks_.insert(static_cast<std::uint32_t>(i), nb)) return 0;
  sacked_bytes_ += added;
  return added;
}

SackScoreboard::AckResult SackScoreboard::on_ack(SeqNum una, SeqNum snd_nxt,
                                                 std::span<const SackBlock> blocks) {
  AckResult result;
  // RFC 2883 §4: the first block reports a duplicate when it lies below the
  // cumulative ACK, or inside the second block. Linux uses the same two tests.
  std::size_t first = 0;
  if (!blocks.empty()) {
    const SackBlock& b0 = blocks[0];
    if (b0.left < b0.right) {
      if (b0.left < una) {
        result.dsack = true;
      } else if (blocks.size() > 1) {
        const SackBlock& b1 = blocks[1];
        if (b1.left <= b0.left && b0.right <= b1.right) result.dsack = true;
      }
    }
    if (result.dsack) first = 1;
  }

  advance_una(una);

  for (std::size_t k = first; k < blocks.size(); ++k) {
    SackBlock b = blocks[k];
    // Blocks must be non-empty, end at or below SND.NXT and reach above SND.UNA.
    // Anything else is stale or bogus (RFC 6675 §5: ignore, don't act on it).
    if (!(b.left < b.right)) continue;
    if (b.right > snd_nxt) continue;
    if (b.right <= una_) continue;
    if (b.left < una_) b.left = una_;
    // A block wider than a window of sequence space cannot be genuine.
    if (static_cast<std::uint32_t>(b.right - b.left) > (1u << 30)) continue;
    result.newly_sacked += insert(b);
  }
  high_sacked_ = !blocks_.empty() ? blocks_.back().right : una_;
  return result;
}

bool SackScoreboard::is_sacked(SeqNum seq) const {
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    if (seq < blocks_[i].left) return false;
    if (seq < blocks_[i].right) return true;
  }
  return false;
}

bool SackScoreboard::is_lost(SeqNum seq, std::uint32_t mss) const {
  if (mss == 0) mss = 1;
  std::uint32_t bytes = 0;
  std::uint32_t segments = 0;
  // Walk from the top: the answer is usually decided by the highest few blocks.
  for (std::size_t i = blocks_.size(); i-- > 0;) {
    const SackBlock& b = blocks_[i];
    if (b.right <= seq + 1) break;
    const SeqNum lo = seq_max(b.left, seq + 1);  // octets strictly greater than seq
    const std::uint32_t len = span_len(lo, b.right);
    bytes += len;
    segments += (len + mss - 1) / mss;
    if (segments >= kDupThresh || bytes > (kDupThresh - 1) * mss) return true;
  }
  return false;
}

std::optional<SackScoreboard::Range> SackScoreboard::next_lost(SeqNum una, SeqNum high_rxt,
                                                               SeqNum snd_nxt,
                                                               std::uint32_t mss) const {
  return next_hole(una, high_rxt, snd_nxt, mss, true);
}

std::optional<SackScoreboard::Range> SackScoreboard::next_unsacked(SeqNum una, SeqNum high_rxt,
                                                                   SeqNum snd_nxt,
                                                                   std::uint32_t mss) const {
  return next_hole(una, high_rxt, snd_nxt, mss, false);
}

std::optional<SackScoreboard::Range> SackScoreboard::next_hole(SeqNum una, SeqNum high_rxt,
                                                               SeqNum snd_nxt, std::uint32_t mss,
                                                               bool need_lost) const {
  if (mss == 0) return std::nullopt;
  SeqNum s = seq_max(una, high_rxt);
  s = seq_max(s, una_);
  // Skip SACKed ranges to the first un-SACKed octet at or above s.
  std::size_t i = 0;
  while (i < blocks_.size() && blocks_[i].right <= s) ++i;
  if (i < blocks_.size() && blocks_[i].left <= s) {
    s = blocks_[i].right;
    ++i;
  }
  // Rule 1.b: S2 must lie below the highest SACKed octet, i.e. in a hole that has a
  // SACKed block above it (i < blocks_.size()).
  if (i >= blocks_.size() || s >= snd_nxt) return std::nullopt;
  // Rule 1.c: IsLost is constant over a hole and only falls for higher holes, so the
  // first candidate decides.
  if (need_lost && !is_lost(s, mss)) return std::nullopt;
  const std::uint32_t hole = span_len(s, blocks_[i].left);
  return Range{s, std::min(hole, mss)};
}

std::optional<SackScoreboard::Range> SackScoreboard::highest_unsacked(SeqNum una, SeqNum top,
                                                                      std::uint32_t mss) const {
  // The highest hole ends at `top` when the octet below it is un-SACKed, else at the
  // left edge of the SACKed run that covers it.
  SeqNum bottom = seq_max(una, una_);
  std::size_t i = blocks_.size();
  while (i > 0 && blocks_[i - 1].right >= top) {
    top = seq_min(top, blocks_[i - 1].left);
    --i;
  }
  if (i > 0) bottom = seq_max(bottom, blocks_[i - 1].right);
  if (mss == 0 || !(bottom < top)) return std::nullopt;
  const std::uint32_t len = std::min(span_len(bottom, top), mss);
  return Range{top - len, len};
}

std::uint32_t SackScoreboard::pipe(SeqNum una, SeqNum high_rxt, SeqNum snd_nxt,
                                   std::uint32_t mss) const {
  // SetPipe(): every un-SACKed octet in [una, snd_nxt) counts once if not lost and
  // once more if it was retransmitted (below HighRxt).
  SeqNum start = seq_max(una, una_);
  if (snd_nxt <= start) return 0;
  std::uint64_t total = 0;
  auto add_hole = [&](SeqNum lo, SeqNum hi, bool lost) {
    if (hi > snd_nxt) hi = snd_nxt;
    if (!(lo < hi)) return;
    if (!lost) total += span_len(lo, hi);
    if (lo < high_rxt) total += span_len(lo, seq_min(hi, high_rxt));
  };
  SeqNum cur = start;
  for (std::size_t i = 0; i < blocks_.size() && cur < snd_nxt; ++i) {
    const SackBlock& b = blocks_[i];
    if (b.right <= cur) continue;
    if (cur < b.left) add_hole(cur, b.left, is_lost(cur, mss));
    cur = seq_max(cur, b.right);
  }
  // The tail above the highest SACK has nothing SACKed above it: never lost.
  if (cur < snd_nxt) add_hole(cur, snd_nxt, false);
  return total > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(total);
}

}  // namespace shardtcp
