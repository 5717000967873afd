// The receive side of a connection: in-order payloads queued by reference until the
// application reads them (no copy before that), a bounded out-of-order queue, and the
// SACK blocks (RFC 2018, most recent first) and D-SACK (RFC 2883) derived from them.
// The payload bytes stay in the buffers they arrived in; the lists of pieces take
// BlockPool storage only while pieces are queued and return it when they drain, so an
// idle connection holds none. The window is still advertised from `capacity`.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "tcp/tcp_buffer.h"
#include "tcp/tcp_segment.h"
#include "wire/seq_num.h"

namespace shardtcp {

class TcpReceiver {
 public:
  TcpReceiver(BufferOps& ops, std::uint32_t capacity_bytes, std::uint32_t max_segments,
              std::uint32_t ooo_max_segments);
  ~TcpReceiver();
  TcpReceiver(const TcpReceiver&) = delete;
  TcpReceiver& operator=(const TcpReceiver&) = delete;

  void reset(SeqNum rcv_nxt);
  SeqNum rcv_nxt() const { return rcv_nxt_; }
  // Moves RCV.NXT over a control flag (SYN, FIN); only valid with nothing queued above.
  void advance_control(std::uint32_t n) { rcv_nxt_ += n; }

  struct InsertResult {
    std::uint32_t advanced = 0;  // bytes by which RCV.NXT moved
    bool out_of_order = false;   // queued above a hole
    bool filled_gap = false;     // RCV.NXT advanced over previously queued data
    bool duplicate = false;      // every byte was already held (a D-SACK was recorded)
    bool dropped = false;        // no room: the segment was not queued
  };
  // Queues `p` starting at `seq` (already trimmed to the receive window by the caller).
  // Retains p.handle for every piece kept. Bytes already held out of order are recorded
  // for a D-SACK (the whole segment when `duplicate`, else the overlap). A payload in
  // pieces (Payload::pieces) is queued piece by piece (a D-SACK then names the last
  // duplicate piece).
  InsertResult insert(SeqNum seq, const Payload& p);
  // Header prediction's insert: `p` starts at RCV.NXT and nothing is held out of
  // order, so its bytes only join the in-order queue, piece by piece for a payload in
  // pieces, as insert() would queue them. False, changing nothing, when the queue has
  // no room for all of it (insert() would drop it, or part of it).
  // `adopt_refs`: the caller gives its reference to each buffer up to the queue, which
  // takes none of its own (TcpOutput::offer_payload_refs); only for a payload
  // without `skip` (pieces a skip passes over would keep the caller's references).
  bool append_inorder(const Payload& p, bool adopt_refs = false) {
    if (p.pieces == nullptr) {
      if (!push_inorder(Piece{rcv_nxt_, p.len, p.data, p.handle})) return false;
      if (!adopt_refs) ops_.retain(p.handle);
      return true;
    }
    if (!ring_.reserve(p.piece_count)) return false;
    if (p.skip == 0) {  // for_each_piece without its per-piece copy and skip step
      // RCV.NXT and the readable count move once, after the pieces.
      const Payload* const pieces = p.pieces;
      std::uint32_t left = p.len;
      SeqNum seq = rcv_nxt_;
      const std::uint32_t queued =
          ring_.push_back_reserved(p.piece_count, [&](std::uint32_t i, Piece& slot) {
            if (left == 0) return false;
            const std::uint32_t n = pieces[i].len < left ? pieces[i].len : left;
            slot = Piece{seq, n, pieces[i].data, pieces[i].handle};
            seq += n;
            left -= n;
            return true;
          });
      readable_ += p.len - left;
      rcv_nxt_ = seq;
      if (adopt_refs) {
        // Pieces past the payload's end (trimmed off) are not queued: references
        // adopted with them go now.
        for (std::uint32_t i = queued; i < p.piece_count; ++i) ops_.release(pieces[i].handle);
      } else {
        for (std::uint32_t i = 0; i < queued; ++i) ops_.retain(pieces[i].handle);
      }
      return true;
    }
    p.for_each_piece([&](std::uint32_t, const Payload& piece) {
      push_inorder(Piece{rcv_nxt_, piece.len, piece.data, piece.handle});  // room reserved
      ops_.retain(piece.handle);
    });
    return true;
  }
  // Nothing for an ACK's SACK option: no D-SACK pending and no out-of-order data.
  bool no_sack_blocks() const { return !dsack_pending_ && ooo_.empty(); }
  // Records a duplicate below RCV.NXT for the next ACK's D-SACK block.
  void note_duplicate(SeqNum left, SeqNum right);

  std::uint32_t readable() const { return readable_; }
  std::uint32_t ooo_bytes() const { return ooo_bytes_; }
  std::uint32_t ooo_segments() const { return ooo_.size(); }
  std::uint32_t capacity() const { return capacity_; }
  void set_capacity(std::uint32_t c) { capacity_ = c; }
  // Buffer space not taken by queued bytes (the basis of the advertised window).
  std::uint32_t free_space() const {
    std::uint32_t used = readable_ + ooo_bytes_;
    return used >= capacity_ ? 0 : capacity_ - used;
  }
  // Highest sequence held out of order (one past), or RCV.NXT.
  SeqNum ooo_right() const;
  // Bytes of pool storage the piece lists hold now (0 when nothing is queued).
  std::size_t storage_bytes() const { return ring_.storage_bytes() + ooo_.storage_bytes(); }

  // Copies up to `len` in-order bytes (none when `dst` is null: a discard); unless
  // `peek`, consumes them and releases payloads that are fully read.
  std::uint32_t read(std::uint8_t* dst, std::uint32_t len, bool peek) {
    return read_in_place(len, peek, [&](const std::uint8_t* data, std::uint32_t n) {
      if (dst == nullptr) return;
      std::memcpy(dst, data, n);
      dst += n;
    });
  }
  // The zero-copy read: shows up to `len` in-order bytes where they arrived, calling
  // `visit(const std::uint8_t* data, std::uint32_t n)` once per contiguous run, oldest
  // first; then, unless `peek`, consumes them as read() does. The runs stay valid only
  // during the call.
  template <typename Visit>
  std::uint32_t read_in_place(std::uint32_t len, bool peek, Visit&& visit) {
    std::uint32_t done = 0;
    // The owners of the pieces read whole go back in batches, collected on the way
    // (null handles, bytes the caller keeps alive, need nothing).
    ReleaseBatch batch;
    const std::uint32_t whole = ring_.for_each_from_front([&](Piece& p) {
      if (done >= len) return false;
      const std::uint32_t take = std::min(p.len, len - done);
      visit(static_cast<const std::uint8_t*>(p.data), take);
      done += take;
      if (take < p.len) {  // the read ends inside this piece
        if (!peek) {
          p.data += take;
          p.len -= take;
          p.seq += take;
        }
        return false;
      }
      if (!peek && p.handle != nullptr) batch.add(ops_, p.handle);
      return true;
    });
    if (!peek) {
      batch.flush(ops_);
      consumed(whole, done);
    }
    return done;
  }

  // Fills up to `max` SACK blocks for an outgoing ACK: the pending D-SACK first, then the
  // block holding the most recently received segment, then other recent ones.
  std::uint8_t sack_blocks(SackBlock* out, std::uint8_t max) const;
  bool has_dsack() const { return dsack_pending_; }
  void clear_dsack() { dsack_pending_ = false; }

 private:
  struct Piece {
    SeqNum seq;
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    void* handle = nullptr;
  };
  InsertResult insert_piece(SeqNum seq, const Payload& p);  // p has no pieces of its own
  // Queues `p` at RCV.NXT; takes over a reference already held. Inline: header
  // prediction's append is this and the retain.
  bool push_inorder(const Piece& p) {
    if (!ring_.push_back(p)) return false;
    readable_ += p.len;
    rcv_nxt_ += p.len;
    return true;
  }
  // Payload owners to release, gathered so that one BufferOps::release_many call (one
  // bulk free of mbufs) returns a reader's burst of them.
  struct ReleaseBatch {
    static constexpr std::uint32_t kSize = 32;
    void* handles[kSize];
    std::uint32_t count = 0;
    void add(BufferOps& ops, void* h) {
      handles[count++] = h;
      if (count == kSize) flush(ops);
    }
    void flush(BufferOps& ops) {
      if (count != 0) ops.release_many(handles, count);
      count = 0;
    }
  };
  // After a read: drops the `whole` pieces read whole (their owners released already)
  // and the `bytes` read.
  void consumed(std::uint32_t whole, std::uint32_t bytes);
  void drain_ooo();
  void remember_recent(SeqNum seq);

  BufferOps& ops_;
  std::uint32_t capacity_;
  SeqNum rcv_nxt_;

  PooledRing<Piece> ring_;  // in-order pieces not yet read
  std::uint32_t readable_ = 0;

  PooledRing<Piece> ooo_;  // sorted by seq, disjoint, all above rcv_nxt_
  std::uint32_t ooo_bytes_ = 0;

  std::array<SeqNum, 4> recent_{};  // seq of the latest out-of-order arrivals, newest first
  std::uint8_t recent_count_ = 0;
  bool dsack_pending_ = false;
  SackBlock dsack_{};
};

}  // namespace shardtcp
