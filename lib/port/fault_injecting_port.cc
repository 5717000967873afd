#include "port/fault_injecting_port.h"

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <algorithm>

namespace shardtcp {

namespace {

constexpr const char* kFaultCounterNames[] = {
    "frames",    "dropped", "duplicated", "corrupted",    "ce_marked",
    "reordered", "delayed", "overflow",   "alloc_failed",
};
static_assert(std::size(kFaultCounterNames) == static_cast<std::size_t>(FaultCounter::kCount));

// Fixed-capacity FIFO allocated once, so holding frames never allocates.
template <typename T>
class Fifo {
 public:
  explicit Fifo(std::size_t capacity) : slots_(std::max<std::size_t>(capacity, 1)) {}
  bool empty() const { return size_ == 0; }
  bool full() const { return size_ == slots_.size(); }
  std::size_t size() const { return size_; }
  const T& front() const { return slots_[head_]; }
  const T& at(std::size_t i) const { return slots_[(head_ + i) % slots_.size()]; }
  void drop_front(std::size_t k) {
    head_ = (head_ + k) % slots_.size();
    size_ -= k;
  }
  void push(const T& v) {
    slots_[(head_ + size_) % slots_.size()] = v;
    ++size_;
  }
  T pop() {
    T v = slots_[head_];
    head_ = (head_ + 1) % slots_.size();
    --size_;
    return v;
  }

 private:
  std::vector<T> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

struct Delayed {
  rte_mbuf* m;
  Instant due;
};

struct Held {
  rte_mbuf* m;
  std::uint32_t countdown;  // frames still to overtake this one
  Instant since;
};

constexpr std::size_t kReadyCapacity = 4096;

bool shared_or_indirect(const rte_mbuf* m) {
  for (const rte_mbuf* s = m; s != nullptr; s = s->next) {
    if (rte_mbuf_refcnt_read(s) > 1 || RTE_MBUF_CLONED(s) || RTE_MBUF_HAS_EXTBUF(s)) return true;
  }
  return false;
}

// The byte holding an IP frame's ECN field and that field's shift in it (IPv4: the
// TOS byte; IPv6: the traffic class straddles the first two bytes). Null for frames
// that are not IP (or tagged, or too short).
std::uint8_t* ecn_byte(rte_mbuf* m, unsigned* shift) {
  if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(rte_ipv6_hdr)) return nullptr;
  const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  auto* ip = rte_pktmbuf_mtod_offset(m, std::uint8_t*, RTE_ETHER_HDR_LEN);
  if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
    *shift = 0;
    return ip + offsetof(rte_ipv4_hdr, type_of_service);
  }
  if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)) {
    *shift = 4;
    return ip + 1;
  }
  return nullptr;
}

bool is_ect(rte_mbuf* m) {
  unsigned shift = 0;
  const std::uint8_t* b = ecn_byte(m, &shift);
  if (b == nullptr) return false;
  const unsigned ecn = (*b >> shift) & 3u;
  return ecn == 1 || ecn == 2;  // ECT(1), ECT(0)
}

void set_ce(rte_mbuf* m) {
  unsigned shift = 0;
  std::uint8_t* b = ecn_byte(m, &shift);
  *b = static_cast<std::uint8_t>(*b | (3u << shift));
  if (shift == 0 && (m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM) == 0) {
    // A device that is asked to fill the checksum will; otherwise it is ours to fix.
    auto* h = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
    h->hdr_checksum = 0;
    h->hdr_checksum = rte_ipv4_cksum(h);
  }
}

}  // namespace

struct FaultInjectingPort::Lane {
  Lane(std::uint64_t seed, std::size_t delay_capacity)
      : rng(seed),
        delayed(delay_capacity),
        ready(kReadyCapacity),
        counters("fault", kFaultCounterNames) {}
  Prng rng;
  Fifo<Delayed> delayed;
  Fifo<rte_mbuf*> ready;  // passed all impairments; waiting to be handed on
  std::array<Held, kMaxReorderWindow> held{};
  std::uint32_t n_held = 0;
  CounterGroup counters;
};

FaultInjectingPort::FaultInjectingPort(PacketPort& inner, Clock& clock,
                                       const ImpairmentConfig& config)
    : inner_(inner), clock_(clock), config_(config), active_(config.active()) {
  config_.reorder_window = std::min(config_.reorder_window, kMaxReorderWindow);
  const std::uint16_t nq = std::max<std::uint16_t>(inner.info().nb_queues, 1);
  lanes_.reserve(2u * nq);
  for (std::uint32_t i = 0; i < 2u * nq; ++i) {
    // Distinct, reproducible streams per lane.
    lanes_.push_back(
        std::make_unique<Lane>(config.seed * 0x100000001b3ULL + i, config.delay_capacity));
  }
}

void FaultInjectingPort::set_drop(double probability) {
  config_.drop = probability;
  // Once active, always: turning the lanes off would strand the frames they hold.
  active_ = active_ || config_.active();
}

FaultInjectingPort::~FaultInjectingPort() {
  for (auto& l : lanes_) {
    while (!l->delayed.empty()) rte_pktmbuf_free(l->delayed.pop().m);
    while (!l->ready.empty()) rte_pktmbuf_free(l->ready.pop());
    for (std::uint32_t i = 0; i < l->n_held; ++i) rte_pktmbuf_free(l->held[i].m);
    l->n_held = 0;
  }
}

std::uint64_t FaultInjectingPort::total(FaultCounter which) const {
  std::uint64_t sum = 0;
  for (const auto& l : lanes_) sum += l->counters.get(which);
  return sum;
}

std::vector<const CounterGroup*> FaultInjectingPort::counter_groups() const {
  std::vector<const CounterGroup*> out;
  for (const auto& l : lanes_) out.push_back(&l->counters);
  return out;
}

std::size_t FaultInjectingPort::held() const {
  std::size_t n = 0;
  for (const auto& l : lanes_) n += l->delayed.size() + l->ready.size() + l->n_held;
  return n;
}

rte_mbuf* FaultInjectingPort::private_copy(Lane& l, rte_mbuf* m) {
  rte_mbuf* c = rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX);
  if (c == nullptr) l.counters.inc(FaultCounter::kAllocFailed);
  return c;
}

bool FaultInjectingPort::make_private(Lane& l, rte_mbuf*& m) {
  // Never write bytes someone else still references (a retransmit queue's clone).
  if (!shared_or_indirect(m)) return true;
  rte_mbuf* c = private_copy(l, m);
  if (c == nullptr) return false;
  rte_pktmbuf_free(m);
  m = c;
  return true;
}

// Appends a frame that overtakes every held one. Held frames leave in the order they
// were held, each once at least its countdown of frames has overtaken it (and after
// every frame held before it). Held frames never overtake each other, so a frame is
// overtaken only by frames appended here while it waits: at most reorder_window.
void FaultInjectingPort::to_ready(Lane& l, rte_mbuf* m) {
  push_ready(l, m);
  for (std::uint32_t i = 0; i < l.n_held; ++i) {
    if (l.held[i].countdown > 0) --l.held[i].countdown;
  }
  std::uint32_t released = 0;
  while (released < l.n_held && l.held[released].countdown == 0)
    push_ready(l, l.held[released++].m);
  if (released > 0) {
    std::copy(l.held.begin() + released, l.held.begin() + l.n_held, l.held.begin());
    l.n_held -= released;
  }
}

void FaultInjectingPort::push_ready(Lane& l, rte_mbuf* m) {
  if (l.ready.full()) {
    l.counters.inc(FaultCounter::kOverflow);
    rte_pktmbuf_free(m);
  } else {
    l.ready.push(m);
  }
}

// After drop/corrupt/duplicate: delay, then reorder.
void FaultInjectingPort::pass_on(Lane& l, rte_mbuf* m, Instant now) {
  if (config_.delay.count() > 0 && l.rng.chance(config_.delay_probability)) {
    if (l.delayed.full()) {
      l.counters.inc(FaultCounter::kOverflow);
      rte_pktmbuf_free(m);
      return;
    }
    l.counters.inc(FaultCounter::kDelayed);
    l.delayed.push(Delayed{m, now + config_.delay});
    return;
  }
  reorder_or_ready(l, m, now);
}

void FaultInjectingPort::reorder_or_ready(Lane& l, rte_mbuf* m, Instant now) {
  if (config_.reorder_window > 0 && l.n_held < config_.reorder_window &&
      l.rng.chance(config_.reorder)) {
    const auto k = static_cast<std::uint32_t>(1 + l.rng.below(config_.reorder_window));
    l.held[l.n_held++] = Held{m, k, now};
    l.counters.inc(FaultCounter::kReordered);
    return;
  }
  to_ready(l, m);
}

void FaultInjectingPort::process(Lane& l, rte_mbuf* m, Instant now) {
  l.counters.inc(FaultCounter::kFrames);
  if (l.rng.chance(config_.drop)) {
    l.counters.inc(FaultCounter::kDropped);
    rte_pktmbuf_free(m);
    return;
  }
  // Rolled only for ECT frames, so a run without ECN traffic keeps its random stream.
  if (config_.ce_mark > 0 && is_ect(m) && l.rng.chance(config_.ce_mark) && make_private(l, m)) {
    set_ce(m);
    l.counters.inc(FaultCounter::kCeMarked);
  }
  if (l.rng.chance(config_.corrupt) && rte_pktmbuf_pkt_len(m) > RTE_ETHER_HDR_LEN) {
    if (make_private(l, m)) {
      const std::uint32_t span = rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN;
      std::uint32_t off = RTE_ETHER_HDR_LEN + static_cast<std::uint32_t>(l.rng.below(span));
      rte_mbuf* seg = m;
      while (off >= seg->data_len) {
        off -= seg->data_len;
        seg = seg->next;
      }
      const auto flip = static_cast<std::uint8_t>(1 + l.rng.below(255));  // never a no-op
      *rte_pktmbuf_mtod_offset(seg, std::uint8_t*, off) ^= flip;
      l.counters.inc(FaultCounter::kCorrupted);
    }
  }
  if (l.rng.chance(config_.duplicate)) {
    // A real copy, not a refcount: the receiver edits frames in place.
    rte_mbuf* dup = private_copy(l, m);
    if (dup != nullptr) {
      l.counters.inc(FaultCounter::kDuplicated);
      pass_on(l, m, now);
      pass_on(l, dup, now);
      return;
    }
  }
  pass_on(l, m, now);
}

void FaultInjectingPort::release_due(Lane& l, Instant now) {
  while (!l.delayed.empty() && l.delayed.front().due <= now) {
    // A delayed frame may still be reordered, like any other.
    reorder_or_ready(l, l.delayed.pop().m, now);
  }
  // Held frames nobody overtook in time leave now, oldest first.
  std::uint32_t released = 0;
  while (released < l.n_held && l.held[released].since + config_.reorder_max_hold <= now) {
    push_ready(l, l.held[released++].m);
  }
  if (released > 0) {
    std::copy(l.held.begin() + released, l.held.begin() + l.n_held, l.held.begin());
    l.n_held -= released;
  }
}

void FaultInjectingPort::flush_tx(std::uint16_t queue, Lane& l) {
  rte_mbuf* burst[64];
  while (!l.ready.empty()) {
    // Peek, send, then pop only what was taken: refused frames stay first in line.
    const auto n =
        static_cast<std::uint16_t>(std::min<std::size_t>(std::size(burst), l.ready.size()));
    for (std::uint16_t i = 0; i < n; ++i) burst[i] = l.ready.at(i);
    const std::uint16_t sent = inner_.tx_burst(queue, burst, n);
    l.ready.drop_front(sent);
    if (sent < n) break;
  }
}

void FaultInjectingPort::service(std::uint16_t queue) {
  if (!active_ || queue >= lanes_.size() / 2) return;
  const Instant now = clock_.now();
  release_due(lane(queue, false), now);
  Lane& tx = lane(queue, true);
  release_due(tx, now);
  flush_tx(queue, tx);
}

std::uint16_t FaultInjectingPort::tx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) {
  if (!active_ || config_.direction == ImpairmentConfig::Direction::kRx) {
    if (active_) service(queue);
    return inner_.tx_burst(queue, pkts, n);
  }
  const Instant now = clock_.now();
  Lane& l = lane(queue, true);
  release_due(l, now);
  for (std::uint16_t i = 0; i < n; ++i) process(l, pkts[i], now);
  flush_tx(queue, l);
  return n;
}

std::uint16_t FaultInjectingPort::rx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) {
  if (!active_) return inner_.rx_burst(queue, pkts, n);
  service(queue);  // also moves this queue's held TX frames along
  if (config_.direction == ImpairmentConfig::Direction::kTx) {
    return inner_.rx_burst(queue, pkts, n);
  }
  const Instant now = clock_.now();
  Lane& l = lane(queue, false);
  // Leave room for duplicates so receiving never overflows the ready queue.
  const std::size_t room = (kReadyCapacity - l.ready.size()) / 2;
  const auto want = static_cast<std::uint16_t>(std::min<std::size_t>(n, room));
  const std::uint16_t got = want > 0 ? inner_.rx_burst(queue, pkts, want) : 0;
  for (std::uint16_t i = 0; i < got; ++i) process(l, pkts[i], now);
  std::uint16_t out = 0;
  while (out < n && !l.ready.empty()) pkts[out++] = l.ready.pop();
  return out;
}

}  // namespace shardtcp
