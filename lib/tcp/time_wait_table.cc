#include "tcp/time_wait_table.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace shardtcp {

namespace {
constexpr std::size_t kNpos = static_cast<std::size_t>(-1);
}  // namespace

TimeWaitTable::TimeWaitTable(std::size_t capacity, Duration duration, const SipKey& key)
    // 2 MiB pages: the index is touched at random, and the ring would fault every 64
    // records as its tail first reaches a page (reserved_memory::Paging).
    : ring_(2 * std::max<std::size_t>(capacity, 1), reserved_memory::Paging::kHuge),
      index_(std::bit_ceil(2 * std::max<std::size_t>(capacity, 1)), reserved_memory::Paging::kHuge),
      capacity_(std::max<std::size_t>(capacity, 1)),
      duration_(duration),
      key_(key) {}

bool TimeWaitTable::matches(const Record& r, const TcpTuple& t) const {
  if (r.family != static_cast<std::uint8_t>(t.local.addr.family())) return false;
  const std::size_t n = t.local.addr.size();
  return r.local_port == t.local.port && r.remote_port == t.remote.port &&
         t.remote.addr.family() == t.local.addr.family() &&
         std::memcmp(r.local_addr, t.local.addr.bytes(), n) == 0 &&
         std::memcmp(r.remote_addr, t.remote.addr.bytes(), n) == 0;
}

TcpTuple TimeWaitTable::tuple_of(const Record& r) const {
  TcpTuple t;
  if (r.family == static_cast<std::uint8_t>(IpFamily::kV6)) {
    t.local.addr = IpAddr::v6(&r.local_addr[0]);
    t.remote.addr = IpAddr::v6(&r.remote_addr[0]);
  } else {
    std::uint32_t l, rm;
    std::memcpy(&l, r.local_addr, 4);
    std::memcpy(&rm, r.remote_addr, 4);
    t.local.addr = IpAddr::v4_be(l);
    t.remote.addr = IpAddr::v4_be(rm);
  }
  t.local.port = r.local_port;
  t.remote.port = r.remote_port;
  return t;
}

std::size_t TimeWaitTable::slot_of(const TcpTuple& t, std::uint64_t hash) const {
  const std::size_t mask = index_.size() - 1;
  const auto h = static_cast<std::uint32_t>(hash);
  for (std::size_t s = h & mask;; s = (s + 1) & mask) {
    if (index_[s] == kEmpty) return kNpos;
    const std::uint32_t ri = index_[s] - 1;
    if (ring_[ri].hash == h && matches(ring_[ri], t)) return s;
  }
}

void TimeWaitTable::index_remove(std::size_t slot) {
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  const std::size_t mask = index_.size() - 1;
  std::size_t hole = slot;
  for (std::size_t s = (slot + 1) & mask; index_[s] != kEmpty; s = (s + 1) & mask) {
    const std::size_t home = ring_[index_[s] - 1].hash & mask;
    // Move entry s into the hole if its home is not within (hole, s].
    const bool between = hole <= s ? (home > hole && home <= s) : (home > hole || home <= s);
    if (!between) {
      index_[hole] = index_[s];
      hole = s;
    }
  }
  index_[hole] = kEmpty;
}

void TimeWaitTable::remove_record(std::uint32_t ri) {
  Record& r = ring_[ri];
  if (r.family == 0) return;
  const std::size_t s = slot_of(tuple_of(r), r.hash);  // the index keys on the low 32 bits
  if (s != kNpos) index_remove(s);
  r.family = 0;
  --size_;
}

bool TimeWaitTable::insert(const TcpTuple& t, std::uint64_t h, const TimeWaitState& st,
                           Instant now) {
  if (t.local.addr.is_none() || t.local.addr.family() != t.remote.addr.family()) return false;
  erase(t, h);  // a refresh goes to the tail, keeping the ring in expiry order
  bool evicted = false;
  if (size_ == capacity_) {
    // Full: the oldest live record goes (dead ring positions before it go too).
    while (!evicted) {
      if (ring_[head_].family != 0) {
        remove_record(static_cast<std::uint32_t>(head_));
        ++evictions_;
        evicted = true;
      }
      head_ = (head_ + 1) % ring_.size();
      --used_;
    }
    skip_dead_head();
  }
  // The ring has room for 2x capacity positions, so compaction (squeezing out the
  // positions of erased records) runs at most once per `capacity` erasures.
  if (used_ == ring_.size()) compact();
  const std::uint32_t ri = static_cast<std::uint32_t>(tail_);
  Record& r = ring_[ri];
  std::memset(&r, 0, sizeof(r));
  std::memcpy(r.local_addr, t.local.addr.bytes(), t.local.addr.size());
  std::memcpy(r.remote_addr, t.remote.addr.bytes(), t.remote.addr.size());
  r.local_port = t.local.port;
  r.remote_port = t.remote.port;
  r.family = static_cast<std::uint8_t>(t.local.addr.family());
  r.has_ts = st.ts_recent.has_value();
  r.snd_nxt = st.snd_nxt.raw();
  r.rcv_nxt = st.rcv_nxt.raw();
  r.ts_recent = st.ts_recent.value_or(0);
  r.expiry_ns = (now + duration_).ns;
  r.hash = static_cast<std::uint32_t>(h);
  tail_ = (tail_ + 1) % ring_.size();
  ++used_;
  ++size_;
  const std::size_t mask = index_.size() - 1;
  std::size_t s = r.hash & mask;
  while (index_[s] != kEmpty) s = (s + 1) & mask;
  index_[s] = ri + 1;
  return evicted;
}

std::optional<TimeWaitState> TimeWaitTable::find(const TcpTuple& t, std::uint64_t h) const {
  const std::size_t s = slot_of(t, h);
  if (s == kNpos) return std::nullopt;
  const Record& r = ring_[index_[s] - 1];
  TimeWaitState st;
  st.snd_nxt = SeqNum(r.snd_nxt);
  st.rcv_nxt = SeqNum(r.rcv_nxt);
  if (r.has_ts) st.ts_recent = r.ts_recent;
  st.since = Instant{r.expiry_ns} - duration_;
  return st;
}

bool TimeWaitTable::erase(const TcpTuple& t, std::uint64_t h) {
  const std::size_t s = slot_of(t, h);
  if (s == kNpos) return false;
  const std::uint32_t ri = index_[s] - 1;
  index_remove(s);
  ring_[ri].family = 0;
  --size_;
  skip_dead_head();
  return true;
}

std::size_t TimeWaitTable::expire(Instant now) {
  std::size_t n = 0;
  while (used_ > 0) {
    Record& r = ring_[head_];
    if (r.family != 0) {
      if (r.expiry_ns > now.ns) break;
      remove_record(static_cast<std::uint32_t>(head_));
      ++n;
    }
    head_ = (head_ + 1) % ring_.size();
    --used_;
  }
  return n;
}

void TimeWaitTable::compact() {
  const std::size_t n = ring_.size();
  std::size_t w = head_;
  for (std::size_t i = 0, r = head_; i < used_; ++i, r = (r + 1) % n) {
    if (ring_[r].family == 0) continue;
    if (w != r) ring_[w] = ring_[r];
    w = (w + 1) % n;
  }
  for (std::size_t i = size_, p = w; i < used_; ++i, p = (p + 1) % n) ring_[p].family = 0;
  used_ = size_;
  tail_ = w;
  // Positions moved: rebuild the index.
  std::fill(index_.begin(), index_.end(), kEmpty);  // touches the whole index: rare
  const std::size_t mask = index_.size() - 1;
  for (std::size_t i = 0, p = head_; i < used_; ++i, p = (p + 1) % n) {
    std::size_t s = ring_[p].hash & mask;
    while (index_[s] != kEmpty) s = (s + 1) & mask;
    index_[s] = static_cast<std::uint32_t>(p + 1);
  }
}

void TimeWaitTable::skip_dead_head() {
  while (used_ > 0 && ring_[head_].family == 0) {
    head_ = (head_ + 1) % ring_.size();
    --used_;
  }
}

Instant TimeWaitTable::next_expiry() const {
  // The head is always a live record (skip_dead_head), so this is O(1): the engine
  // asks every loop iteration.
  return used_ > 0 ? Instant{ring_[head_].expiry_ns} : Instant::never();
}

TimeWaitAction TimeWaitTable::on_segment(const TcpTuple& t, std::uint64_t h, const TcpSegment& seg,
                                         Instant now) {
  TimeWaitAction a;
  const auto st = find(t, h);
  if (!st) return a;
  a.seq = st->snd_nxt;
  a.ack = st->rcv_nxt;
  a.tsecr = st->ts_recent;

  if (seg.has(tcp_flags::kRst)) {
    // RFC 9293 §3.10.7.4: an in-window RST closes TIME_WAIT (Linux default, i.e.
    // without the RFC 1337 hardening). Outside the window it is ignored.
    if (seg.seq == st->rcv_nxt) {
      erase(t, h);
      a.kind = TimeWaitAction::Kind::kKilled;
    } else {
      a.kind = TimeWaitAction::Kind::kDrop;
    }
    return a;
  }
  if (seg.has(tcp_flags::kSyn) && !seg.has(tcp_flags::kAck)) {
    // RFC 6191: with timestamps on both incarnations the SYN's TSval decides;
    // otherwise (RFC 1122 §4.2.2.13) its ISN must lie above RCV.NXT.
    bool ok;
    if (st->ts_recent && seg.options.timestamps) {
      ok = static_cast<std::int32_t>(seg.options.timestamps->value - *st->ts_recent) > 0;
    } else {
      ok = seg.seq > st->rcv_nxt;
    }
    if (ok) {
      erase(t, h);
      a.kind = TimeWaitAction::Kind::kReuse;
      // As Linux: start the new incarnation well above anything the old one sent.
      a.reuse_isn = st->snd_nxt + 65535u + 2u;
      return a;
    }
    a.kind = TimeWaitAction::Kind::kAck;
    return a;
  }
  if (seg.has(tcp_flags::kFin)) {
    // The peer did not get our last ACK: ACK again and restart 2*MSL.
    TimeWaitState refreshed = *st;
    if (seg.options.timestamps) refreshed.ts_recent = seg.options.timestamps->value;
    insert(t, h, refreshed, now);
    a.kind = TimeWaitAction::Kind::kAck;
    a.tsecr = refreshed.ts_recent;
    return a;
  }
  // Anything else: an old duplicate. ACK it if it is outside what we expect (a
  // peer probing), drop acceptable pure ACKs silently.
  if (seg.seq != st->rcv_nxt || seg.payload.len > 0) {
    a.kind = TimeWaitAction::Kind::kAck;
  } else {
    a.kind = TimeWaitAction::Kind::kDrop;
  }
  return a;
}

}  // namespace shardtcp
