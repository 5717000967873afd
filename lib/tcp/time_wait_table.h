// TIME_WAIT without TCBs: when a connection enters TIME_WAIT the engine frees its
// TCB and keeps a 64-byte record (one cache line: the tuple with room for IPv6,
// SND.NXT, RCV.NXT, TS.Recent, the expiry) here. Bounded: when full, the oldest
// record is evicted (it is the one closest to expiring anyway).
//
// Records live in a ring (2x capacity positions) in insertion order; with the usual constant 2*MSL
// the ring is also expiry order, so expire(now) pops from the head. A linear-probing index
// (backward-shift deletion, no tombstones) finds a tuple in O(1). Nothing allocates
// after construction, and memory is committed only as the ring first reaches it
// (ZeroedArray), so the capacity may be sized for the connection rate (2*MSL x rate)
// without paying for it before that rate comes.
// Pure: time is passed in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/reserved_array.h"
#include "common/time.h"
#include "tcp/isn_generator.h"
#include "tcp/tcp_segment.h"
#include "wire/seq_num.h"

namespace shardtcp {

struct TimeWaitState {
  SeqNum snd_nxt;                          // our next sequence number (after our FIN)
  SeqNum rcv_nxt;                          // next expected from the peer (after its FIN)
  std::optional<std::uint32_t> ts_recent;  // when timestamps were in use
  Instant since;  // when the record was made or last refreshed (filled by find())
};

// What to do with a segment that hit a TIME_WAIT record.
struct TimeWaitAction {
  enum class Kind : std::uint8_t {
    kNone,    // no record for the tuple: handle as usual
    kDrop,    // silently drop
    kAck,     // re-send the last ACK (seq/ack/tsecr below), record kept
    kReuse,   // RFC 6191: the SYN may open a new incarnation; record removed
    kKilled,  // an acceptable RST ended TIME_WAIT (RFC 9293); record removed
  };
  Kind kind = Kind::kNone;
  SeqNum seq;                          // for kAck: SND.NXT
  SeqNum ack;                          // for kAck: RCV.NXT
  std::optional<std::uint32_t> tsecr;  // for kAck: TS.Recent to echo
  SeqNum reuse_isn;                    // for kReuse: an ISN above the old SND.NXT
};

class TimeWaitTable {
 public:
  struct Record {  // 64 bytes
    std::uint8_t local_addr[16];
    std::uint8_t remote_addr[16];
    std::uint16_t local_port;
    std::uint16_t remote_port;
    std::uint8_t family;  // IpFamily; 0 = free slot of the ring
    std::uint8_t has_ts;
    std::uint16_t reserved;
    std::uint32_t snd_nxt;
    std::uint32_t rcv_nxt;
    std::uint32_t ts_recent;
    // hash_tuple of the record's tuple (low bits): deletion and compaction move index
    // entries by their home slot without hashing every record along the probe chain
    // again (that rehash was 3% of a TCP_CRR run).
    std::uint32_t hash;
    std::int64_t expiry_ns;
  };
  static_assert(sizeof(Record) == 64);

  // `capacity` records at most; `duration` is 2*MSL (Linux uses 60 s). `key` seeds
  // the index hash so remote peers cannot aim collisions.
  TimeWaitTable(std::size_t capacity, Duration duration, const SipKey& key);

  // Adds (or refreshes) the record for `t`, expiring at now + duration. Evicts the
  // oldest record when full. Returns true if an older record was evicted.
  bool insert(const TcpTuple& t, const TimeWaitState& s, Instant now) {
    return insert(t, hash_tuple(key_, t), s, now);
  }
  // Each call that takes `h` is the one without, given hash_tuple(key, t) under the
  // table's key already computed (the TCP layer hashes a tuple once for all tables).
  bool insert(const TcpTuple& t, std::uint64_t h, const TimeWaitState& s, Instant now);
  // The record for `t`, if any. Lookups do not check expiry: the engine runs
  // expire(now) from its timers (next_expiry()).
  std::optional<TimeWaitState> find(const TcpTuple& t) const {
    return find(t, hash_tuple(key_, t));
  }
  std::optional<TimeWaitState> find(const TcpTuple& t, std::uint64_t h) const;
  bool erase(const TcpTuple& t) { return erase(t, hash_tuple(key_, t)); }
  bool erase(const TcpTuple& t, std::uint64_t h);
  // Drops every record whose expiry is at or before `now`; returns how many.
  std::size_t expire(Instant now);
  // Earliest expiry, Instant::never() when empty (for the engine's timer).
  Instant next_expiry() const;

  // A segment arrived for `t` (RFC 9293 §3.10.7.4 TIME-WAIT rules, RFC 6191 for SYNs).
  // FIN retransmissions are re-ACKed and restart the 2*MSL timer.
  TimeWaitAction on_segment(const TcpTuple& t, const TcpSegment& seg, Instant now) {
    return on_segment(t, hash_tuple(key_, t), seg, now);
  }
  TimeWaitAction on_segment(const TcpTuple& t, std::uint64_t h, const TcpSegment& seg, Instant now);

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  std::uint64_t evictions() const { return evictions_; }

 private:
  static constexpr std::uint32_t kEmpty = 0;  // index entries hold ring position + 1
  std::size_t slot_of(const TcpTuple& t, std::uint64_t h) const;  // index slot of t, or npos
  bool matches(const Record& r, const TcpTuple& t) const;
  void index_remove(std::size_t slot);
  void remove_record(std::uint32_t ri);  // frees the ring slot and its index entry
  TcpTuple tuple_of(const Record& r) const;
  void compact();         // squeezes erased positions out of the ring, rebuilds the index
  void skip_dead_head();  // keeps head_ on a live record (or the ring empty)

  // Both sized once for the capacity but backed by memory only as records use them.
  ZeroedArray<Record> ring_;          // 2 * capacity positions
  ZeroedArray<std::uint32_t> index_;  // power of two >= 2 * capacity; ring positions + 1
  std::size_t head_ = 0;              // oldest live-or-dead position
  std::size_t tail_ = 0;              // next insert position
  std::size_t used_ = 0;              // ring positions between head and tail (incl. dead)
  std::size_t size_ = 0;              // live records
  std::size_t capacity_;
  std::uint64_t evictions_ = 0;
  Duration duration_;
  SipKey key_;
};

}  // namespace shardtcp
