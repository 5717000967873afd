#include "tcp/tcp_receiver.h"

#include <algorithm>

namespace shardtcp {

TcpReceiver::TcpReceiver(BufferOps& ops, std::uint32_t capacity_bytes, std::uint32_t max_segments,
                         std::uint32_t ooo_max_segments)
    : ops_(ops),
      capacity_(capacity_bytes),
      ring_(ops.blocks(), std::max<std::uint32_t>(max_segments, 4)),
      ooo_(ops.blocks(), std::max<std::uint32_t>(ooo_max_segments, 1)) {}

TcpReceiver::~TcpReceiver() {
  reset(rcv_nxt_);
}

void TcpReceiver::reset(SeqNum rcv_nxt) {
  for (std::uint32_t i = 0; i < ring_.size(); ++i) ops_.release(ring_[i].handle);
  for (std::uint32_t i = 0; i < ooo_.size(); ++i) ops_.release(ooo_[i].handle);
  ring_.clear();
  ooo_.clear();
  readable_ = 0;
  ooo_bytes_ = 0;
  recent_count_ = 0;
  dsack_pending_ = false;
  rcv_nxt_ = rcv_nxt;
}

SeqNum TcpReceiver::ooo_right() const {
  if (ooo_.empty()) return rcv_nxt_;
  const Piece& last = ooo_.back();
  return last.seq + last.len;
}

void TcpReceiver::note_duplicate(SeqNum left, SeqNum right) {
  dsack_ = SackBlock{left, right};
  dsack_pending_ = true;
}

void TcpReceiver::remember_recent(SeqNum seq) {
  std::size_t n = std::min<std::size_t>(recent_count_, recent_.size() - 1);
  for (std::size_t i = n; i > 0; --i) recent_[i] = recent_[i - 1];
  recent_[0] = seq;
  if (recent_count_ < recent_.size()) ++recent_count_;
}

void TcpReceiver::drain_ooo() {
  std::uint32_t i = 0;
  while (i < ooo_.size() && ooo_[i].seq <= rcv_nxt_) {
    Piece p = ooo_[i];
    std::int32_t over = rcv_nxt_ - p.seq;
    ooo_bytes_ -= p.len;
    if (static_cast<std::uint32_t>(over) >= p.len) {
      ops_.release(p.handle);
      ++i;
      continue;
    }
    p.data += over;
    p.len -= static_cast<std::uint32_t>(over);
    p.seq = rcv_nxt_;
    if (!push_inorder(p)) {
      // No ring slot: keep it out of order (trimmed) and retry after the next read.
      ooo_[i] = p;
      ooo_bytes_ += p.len;
      break;
    }
    ++i;
  }
  if (i > 0) ooo_.erase_front(i);
}

TcpReceiver::InsertResult TcpReceiver::insert(SeqNum seq, const Payload& pl) {
  if (pl.pieces == nullptr) return insert_piece(seq, pl);
  // A coalesced frame: each piece is queued by reference to its own buffer, as if the
  // segments had come one by one (they are contiguous, so at most the first can be
  // out of order relative to the rest). A piece refused for room ends the walk: the
  // rest would only queue out of order above a hole of our own making.
  InsertResult all;
  all.duplicate = true;
  bool any = false, stop = false;
  pl.for_each_piece([&](std::uint32_t off, const Payload& piece) {
    if (stop) return;
    any = true;
    const InsertResult r = insert_piece(seq + off, piece);
    all.advanced += r.advanced;
    all.out_of_order = all.out_of_order || r.out_of_order;
    all.filled_gap = all.filled_gap || r.filled_gap;
    all.duplicate = all.duplicate && r.duplicate;
    if (r.dropped) {
      all.dropped = true;
      stop = true;
    }
  });
  if (!any) all.duplicate = false;
  return all;
}

TcpReceiver::InsertResult TcpReceiver::insert_piece(SeqNum seq, const Payload& pl) {
  InsertResult r;
  if (pl.len == 0) return r;
  Piece p{seq, pl.len, pl.data, pl.handle};
  SeqNum end = seq + pl.len;
  if (end <= rcv_nxt_) {
    note_duplicate(seq, end);
    r.duplicate = true;
    return r;
  }
  if (p.seq < rcv_nxt_) {
    std::uint32_t cut = static_cast<std::uint32_t>(rcv_nxt_ - p.seq);
    p.data += cut;
    p.len -= cut;
    p.seq = rcv_nxt_;
  }
  if (p.seq == rcv_nxt_) {
    bool had_ooo = !ooo_.empty();
    SeqNum before = rcv_nxt_;
    ops_.retain(p.handle);
    if (!push_inorder(p)) {
      ops_.release(p.handle);
      r.dropped = true;
      return r;
    }
    drain_ooo();
    r.advanced = static_cast<std::uint32_t>(rcv_nxt_ - before);
    r.filled_gap = had_ooo;
    return r;
  }

  // Out of order: keep ooo_ sorted and disjoint. The new piece is trimmed against its
  // predecessor, replaces successors it covers entirely and is clipped by the next one.
  r.out_of_order = true;
  std::uint32_t pos = 0;
  while (pos < ooo_.size() && ooo_[pos].seq < p.seq) ++pos;
  if (pos > 0) {
    const Piece& prev = ooo_[pos - 1];
    SeqNum prev_end = prev.seq + prev.len;
    if (prev_end >= p.seq + p.len) {
      note_duplicate(seq, end);
      r.duplicate = true;
      return r;
    }
    if (prev_end > p.seq) {
      note_duplicate(p.seq, prev_end);  // the overlap is what the D-SACK reports
      std::uint32_t cut = static_cast<std::uint32_t>(prev_end - p.seq);
      p.data += cut;
      p.len -= cut;
      p.seq = prev_end;
    }
  }
  if (pos < ooo_.size() && ooo_[pos].seq == p.seq && ooo_[pos].len >= p.len) {
    note_duplicate(seq, end);
    r.duplicate = true;
    return r;
  }
  // Remove successors entirely covered by the new piece.
  std::uint32_t covered = 0;
  while (pos + covered < ooo_.size()) {
    const Piece& nx = ooo_[pos + covered];
    if (nx.seq + nx.len <= p.seq + p.len) {
      ++covered;
    } else {
      break;
    }
  }
  if (pos + covered < ooo_.size()) {
    const Piece& nx = ooo_[pos + covered];
    if (nx.seq <= p.seq) {
      note_duplicate(seq, end);
      r.duplicate = true;
      return r;
    }
    if (nx.seq < p.seq + p.len) {
      note_duplicate(nx.seq, p.seq + p.len);
      p.len = static_cast<std::uint32_t>(nx.seq - p.seq);
    }
  }
  // A new piece needs a slot: none left (the bound, or no pool block) drops it.
  if (covered == 0 && !ooo_.insert(pos, p)) {
    r.dropped = true;
    return r;
  }
  if (covered > 0) note_duplicate(ooo_[pos].seq, ooo_[pos].seq + ooo_[pos].len);
  for (std::uint32_t k = 0; k < covered; ++k) {
    ooo_bytes_ -= ooo_[pos + k].len;
    ops_.release(ooo_[pos + k].handle);
  }
  ops_.retain(p.handle);
  if (covered > 1) ooo_.erase(pos + 1, covered - 1);
  ooo_[pos] = p;
  ooo_bytes_ += p.len;
  remember_recent(p.seq);
  return r;
}

void TcpReceiver::consumed(std::uint32_t whole, std::uint32_t bytes) {
  // The pieces read whole leave at once (with the ring's storage when they were all).
  ring_.erase_front(whole);
  readable_ -= bytes;
  // A read may have freed ring slots that out-of-order data was waiting for.
  if (!ooo_.empty() && ooo_[0].seq <= rcv_nxt_) drain_ooo();
}

std::uint8_t TcpReceiver::sack_blocks(SackBlock* out, std::uint8_t max) const {
  std::uint8_t n = 0;
  if (max == 0) return 0;
  if (dsack_pending_) out[n++] = dsack_;
  if (ooo_.size() == 0) return n;
  // The merged run of contiguous pieces holding the piece at index i: [lo, hi].
  struct Run {
    std::uint32_t lo, hi;
  };
  auto run_of = [&](std::uint32_t i) {
    Run r{i, i};
    while (r.lo > 0 && ooo_[r.lo - 1].seq + ooo_[r.lo - 1].len == ooo_[r.lo].seq) --r.lo;
    while (r.hi + 1 < ooo_.size() && ooo_[r.hi].seq + ooo_[r.hi].len == ooo_[r.hi + 1].seq) ++r.hi;
    return r;
  };
  auto block = [&](const Run& r) {
    return SackBlock{ooo_[r.lo].seq, ooo_[r.hi].seq + ooo_[r.hi].len};
  };
  auto add = [&](const SackBlock& b) {
    for (std::uint8_t k = dsack_pending_ ? 1 : 0; k < n; ++k)
      if (out[k] == b) return;
    if (n < max) out[n++] = b;
  };
  // Pieces are sorted and disjoint: find the one holding `s` by binary search, so an
  // ACK costs O(log n) per recent block plus the walk of the runs it reports (this
  // runs for every ACK sent while holes are open, with hundreds of pieces queued).
  auto piece_holding = [&](SeqNum s) -> std::int64_t {
    std::uint32_t lo = 0, hi = ooo_.size();
    while (lo < hi) {
      const std::uint32_t mid = lo + (hi - lo) / 2;
      if (ooo_[mid].seq + ooo_[mid].len <= s) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (lo < ooo_.size() && s >= ooo_[lo].seq) return lo;
    return -1;
  };
  for (std::uint8_t r = 0; r < recent_count_ && n < max; ++r) {
    const std::int64_t i = piece_holding(recent_[r]);
    if (i >= 0) add(block(run_of(static_cast<std::uint32_t>(i))));
  }
  // Then the highest runs, each visited once.
  for (std::uint32_t i = ooo_.size(); i > 0 && n < max;) {
    const Run r = run_of(i - 1);
    add(block(r));
    i = r.lo;
  }
  return n;
}

}  // namespace shardtcp
