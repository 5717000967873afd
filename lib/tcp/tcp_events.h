// What the pure TCP core emits from one call: segments to transmit and events for the
// application. Fixed capacity, no allocation; the engine drains it after every call.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "common/time.h"
#include "tcp/tcp_segment.h"
#include "wire/ip_addr.h"
#include "wire/seq_num.h"

namespace shardtcp {

enum class TcpEventKind : std::uint8_t {
  kConnected,  // active open reached ESTABLISHED
  kAccepted,   // passive open reached ESTABLISHED (ready for the accept queue)
  kReadable,   // new in-order bytes (or the peer's FIN) can be read
  kWritable,   // send-buffer space freed after send() had been short
  kAcked,      // `value` bytes of our data were acknowledged
  kPeerFin,    // the peer will send no more data (read returns 0 after the data)
  kClosed,     // the TCB reached CLOSED: the owner may free it
  kError,      // `value` is an errno code: ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH
  kTimeWait,   // entered TIME_WAIT: `time_wait` holds what a compact record needs
};

// Everything a TIME_WAIT table needs to answer for the connection after the TCB is
// freed (RFC 9293 §3.6.1, RFC 7323 §5.8 for the timestamp).
struct TimeWaitInfo {
  Endpoint local;
  Endpoint remote;
  SeqNum snd_nxt;
  SeqNum rcv_nxt;
  std::uint32_t ts_recent = 0;
  bool ts_enabled = false;
  std::uint16_t window = 0;  // raw window field to put on re-ACKs
  Instant expiry;
};

struct TcpEvent {
  TcpEventKind kind;
  std::uint32_t value = 0;
};

// One segment to transmit. `seg` carries the header and options; its payload is empty.
// The payload is `payload_len` bytes of the connection's send stream starting at
// `stream_offset` (see SendBuffer::copy / for_each_chunk): the emitter copies or
// references those bytes into mbufs, the core never does.
// With `tso_segsz` set, the payload is longer than one segment: the device (TSO) cuts
// it into segments of `tso_segsz` bytes, each with a copy of the header.
struct OutSegment {
  TcpSegment seg;
  std::uint64_t stream_offset = 0;
  std::uint32_t payload_len = 0;
  std::uint32_t tso_segsz = 0;
};

class TcpOutput {
  static_assert(std::is_trivially_copyable_v<OutSegment>, "next_segment() copies a blank");
  static constexpr OutSegment kBlankSegment{};

 public:
  static constexpr std::size_t kMaxSegments = 64;
  static constexpr std::size_t kMaxEvents = 16;

  std::size_t segment_count() const { return nseg_; }
  const OutSegment& segment(std::size_t i) const { return segs_[i]; }
  const OutSegment* segments_begin() const { return segs_.data(); }
  const OutSegment* segments_end() const { return segs_.data() + nseg_; }
  bool segments_full() const { return nseg_ == kMaxSegments; }

  std::size_t event_count() const { return nev_; }
  const TcpEvent& event(std::size_t i) const { return evs_[i]; }
  // Valid when a kTimeWait event was emitted.
  const TimeWaitInfo& time_wait() const { return time_wait_; }

  bool has_event(TcpEventKind k) const {
    for (std::size_t i = 0; i < nev_; ++i)
      if (evs_[i].kind == k) return true;
    return false;
  }

  void clear() {
    nseg_ = 0;
    nev_ = 0;
    payload_refs_offered_ = payload_adopted_ = false;
  }

  // Set by whoever hands the TCB a segment (Tcb::on_segment) with this output: it offers
  // its own reference to each payload buffer, so a receive queue that takes the whole
  // payload keeps those instead of taking references of its own, and notes that it
  // did (payload_adopted: the caller then gives up none of them). Not offered, or not
  // adopted, the caller still holds its references.
  void offer_payload_refs() { payload_refs_offered_ = true; }
  bool payload_refs_offered() const { return payload_refs_offered_; }
  bool payload_adopted() const { return payload_adopted_; }
  void note_payload_adopted() { payload_adopted_ = true; }

  // Returns false (and drops the segment) when full; callers stop emitting then.
  bool add_segment(const OutSegment& s) {
    if (nseg_ == kMaxSegments) return false;
    segs_[nseg_++] = s;
    return true;
  }
  // The same built in place, not on the caller's stack and then copied (an OutSegment
  // is 200-odd bytes, and a stream's receiver builds one per ACK): next_segment() is
  // the next slot, cleared, valid until commit_segment() adds it or another call
  // takes it again. Only when !segments_full().
  OutSegment& next_segment() {
    // Copied from a blank, not assigned `OutSegment{}`: GCC clears the slot for the
    // latter with `rep stos` (18 iterations, and slow to start), and expands this copy
    // of a known-zero object into a few vector stores.
    std::memcpy(&segs_[nseg_], &kBlankSegment, sizeof(OutSegment));
    return segs_[nseg_];
  }
  void commit_segment() { ++nseg_; }
  // Readable/writable/acked are level-like: one of each per drain is enough, so they
  // coalesce instead of taking slots (acked values add up).
  void add_event(TcpEventKind k, std::uint32_t value = 0) {
    if (k == TcpEventKind::kReadable || k == TcpEventKind::kWritable || k == TcpEventKind::kAcked) {
      for (std::size_t i = 0; i < nev_; ++i) {
        if (evs_[i].kind == k) {
          evs_[i].value += value;
          return;
        }
      }
    }
    if (nev_ == kMaxEvents)
      return;  // cannot happen: at most one of each non-coalescing kind per call
    evs_[nev_++] = TcpEvent{k, value};
  }
  void set_time_wait(const TimeWaitInfo& info) {
    time_wait_ = info;
    add_event(TcpEventKind::kTimeWait);
  }

 private:
  bool payload_refs_offered_ = false;
  bool payload_adopted_ = false;
  std::array<OutSegment, kMaxSegments> segs_{};
  std::array<TcpEvent, kMaxEvents> evs_{};
  std::size_t nseg_ = 0;
  std::size_t nev_ = 0;
  TimeWaitInfo time_wait_{};
};

}  // namespace shardtcp
