#include "tcp/tcp_layer.h"

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/engine.h"
#include "engine/flow_ownership.h"
#include "ip/mbuf_reference.h"
#include "wire/icmp.h"
#include "wire/tcp.h"

namespace shardtcp {
namespace {

constexpr std::uint32_t kGenerationMask = (1u << (32 - TcpConnId::kSlotBits)) - 1;

bool is_any(const IpAddr& a) {
  return a.is_none() || a.is_unspecified();
}

TcpLayerCounter drop_counter(TcpWireDrop why) {
  switch (why) {
    case TcpWireDrop::kTruncated:
      return TcpLayerCounter::kRxTruncated;
    case TcpWireDrop::kBadDataOffset:
      return TcpLayerCounter::kRxBadDataOffset;
    default:
      return TcpLayerCounter::kRxBadChecksum;
  }
}

// The window shift a Tcb with this config announces (Tcb::reset_connection_state):
// a SYN-cookie SYN-ACK must promise the same one the connection later uses.
std::uint8_t window_shift(const TcpConfig& cfg) {
  std::uint8_t ws = 0;
  if (cfg.window_scaling)
    while (ws < 14 && (cfg.recv_buffer >> ws) > 65535) ++ws;
  return ws;
}

// IPv6 headers take 60 bytes with TCP's (1440 at a 1500 MTU), IPv4 40.
std::uint16_t advertised_mss(std::uint32_t mtu, bool ipv6) {
  const std::uint32_t hdr = ipv6 ? 60 : 40;
  return static_cast<std::uint16_t>(
      std::min<std::uint32_t>(mtu > hdr + 64 ? mtu - hdr : 64, 65495));
}

}  // namespace

TcpLayer::TcpLayer(IpStack& ip, const TcpEnv& env, const TcpLayerConfig& config)
    : ip_(ip),
      env_(env),
      config_(config),
      key_(config.key ? *config.key : SipKey::random()),
      ops_(env.pool, config.mbuf_reserve, config.send_chunk_pool),
      emitter_(ip, TcpEmitterConfig{config.tx_cksum_offload, config.zero_copy_tx, 512}, counters_),
      tcb_counters_(make_tcp_counters()),
      slots_(std::clamp<std::size_t>(config.max_connections, 1, TcpConnId::kSlotMask)),
      conn_table_(slots_.capacity(), key_),
      listeners_(slots_.capacity(), key_),
      time_wait_(std::max<std::size_t>(config.time_wait_capacity, 1), 2 * config.defaults.msl,
                 key_),
      isn_(key_),
      cookies_(key_),
      ports_(config.ports, key_),
      rst_limit_(config.rst_per_second, config.rst_burst),
      wheel_(env.clock != nullptr ? env.clock->now() : Instant{}) {
  slot_gauges_.set(TcpSlotGauge::kCapacity, slots_.capacity());
  slot_gauges_.set(TcpSlotGauge::kTimeWaitCapacity,
                   std::max<std::size_t>(config.time_wait_capacity, 1));
  if (config_.tso) config_.defaults.tso_max = TcpLayerConfig::kTsoMaxPayload;
  // Reserved, not touched: the free list's pages are committed as slots come back.
  free_slots_.reserve(slots_.capacity());
}

TcpLayer::TcpLayer(IpStack& ip, Engine& engine, const TcpLayerConfig& config)
    : TcpLayer(ip, engine.services(), config) {}

TcpLayer::~TcpLayer() {
  for (Slot& s : slots_) {
    wheel_.cancel(s.timer);
    s.tcb.reset();  // returns retained payloads and send chunks to the pool
  }
}

// ---------------------------------------------------------------- slots

TcpLayer::Slot* TcpLayer::find(TcpConnId id) {
  if (!id.valid() || id.slot() >= slots_.constructed()) return nullptr;
  Slot& s = slots_[id.slot()];
  if (s.kind == Kind::kFree || !s.app_owned || s.generation != id.generation()) return nullptr;
  return &s;
}

const TcpLayer::Slot* TcpLayer::find(TcpConnId id) const {
  return const_cast<TcpLayer*>(this)->find(id);
}

TcpConnId TcpLayer::id_of(std::uint32_t slot) const {
  return TcpConnId{(slots_[slot].generation << TcpConnId::kSlotBits) | slot};
}

PacketContext TcpLayer::make_context() const {
  PacketContext ctx;
  ctx.now = env_.clock != nullptr ? env_.clock->now() : Instant{};
  ctx.tx = env_.tx;
  ctx.pool = env_.pool;
  ctx.engine_id = env_.engine_id;
  return ctx;
}

TcpOutput& TcpLayer::begin_output() {
  // process() gives its output back before dispatching events, so callbacks that call
  // into the API nest at most a level or two; the array bounds that.
  TcpOutput& out = outs_[std::min<std::size_t>(out_depth_, outs_.size() - 1)];
  ++out_depth_;
  out.clear();
  return out;
}

bool TcpLayer::slot_available() const {
  return !free_slots_.empty() || !slots_.full();
}

std::uint32_t TcpLayer::alloc_slot(Kind kind) {
  std::uint32_t i;
  if (!free_slots_.empty()) {
    // Freed slots first (most recently freed: its memory is warm in cache).
    i = free_slots_.back();
    free_slots_.pop_back();
  } else if (!slots_.full()) {
    // Slots are constructed the first time the count of open ones reaches them, so
    // memory follows the most connections ever open, not --max-connections.
    i = static_cast<std::uint32_t>(slots_.constructed());
    slots_.construct_next().timer.tag = i;
  } else {
    counters_.inc(TcpLayerCounter::kNoSlot);
    return kNone;
  }
  Slot& s = slots_[i];
  s.kind = kind;
  s.cfg = config_.defaults;
  s.cb = {};
  s.local = Endpoint{};
  s.remote = Endpoint{};
  s.bound = s.ephemeral = s.reuse_addr = s.in_table = s.app_owned = s.finished = false;
  s.shut_wr = s.shut_rd = false;  // a reused slot keeps nothing of its last connection
  s.error = 0;
  s.busy = 0;
  s.free_pending = false;
  s.backlog = s.syn_count = s.accept_count = 0;
  s.accept_head = s.accept_tail = kNone;
  s.last_cookie.reset();
  s.parent = kNone;
  s.parent_generation = 0;
  s.next = kNone;
  s.queued = s.half_open = false;
  s.burst_epoch = 0;
  s.deferred = 0;
  s.deferred_readable = s.deferred_acked = 0;
  ++in_use_;
  return i;
}

void TcpLayer::detach(Slot& s, bool keep_bind, std::optional<std::uint64_t> tuple_hash) {
  if (s.in_table) {
    const TcpTuple t{s.local, s.remote};
    if (s.kind == Kind::kListener)
      listeners_.erase(s.local);
    else {
      conn_table_.erase(t, tuple_hash ? *tuple_hash : hash_tuple(key_, t));
      recent_v4_.forget_slot(slot_index(s));
    }
    s.in_table = false;
  }
  if (s.ephemeral) {
    ports_.release_connect(s.local.addr, s.local.port);
    s.ephemeral = false;
  }
  if (s.bound && !keep_bind) {
    ports_.release_bind(s.bound_addr, s.local.port);
    s.bound = false;
  }
  wheel_.cancel(s.timer);
}

void TcpLayer::unlink_from_parent(Slot& s) {
  if (s.parent == kNone) return;
  Slot& l = slots_[s.parent];
  const std::uint32_t me = slot_index(s);
  if (l.kind == Kind::kListener && l.generation == s.parent_generation) {
    if (s.half_open && l.syn_count > 0) --l.syn_count;
    if (s.queued) {
      std::uint32_t prev = kNone;
      for (std::uint32_t i = l.accept_head; i != kNone; prev = i, i = slots_[i].next) {
        if (i != me) continue;
        if (prev == kNone)
          l.accept_head = s.next;
        else
          slots_[prev].next = s.next;
        if (l.accept_tail == me) l.accept_tail = prev;
        --l.accept_count;
        break;
      }
    }
  }
  s.parent = kNone;
  if (s.half_open) --half_open_;
  s.half_open = s.queued = false;
  s.next = kNone;
}

void TcpLayer::release_slot(std::uint32_t i) {
  Slot& s = slots_[i];
  if (s.kind == Kind::kFree) return;
  s.app_owned = false;
  if (s.busy > 0) {
    s.free_pending = true;
    return;
  }
  if (s.kind == Kind::kListener) {
    // Unaccepted children go with their listener (RST, as Linux does).
    const PacketContext base = make_context();
    for (std::uint32_t c = 0; c < slots_.constructed(); ++c) {
      Slot& ch = slots_[c];
      if (ch.kind != Kind::kConnection || ch.parent != i || ch.parent_generation != s.generation)
        continue;
      unlink_from_parent(ch);
      if (ch.tcb && !ch.finished) {
        PacketContext ctx = base;
        TcpOutput& out = begin_output();
        ch.tcb->abort(ctx.now, out);
        process(c, out, ctx);
      }
      if (slots_[c].kind != Kind::kFree) release_slot(c);
    }
  }
  unlink_from_parent(s);
  detach(s);
  s.tcb.reset();
  s.kind = Kind::kFree;
  s.cb = {};
  s.free_pending = false;
  s.generation = (s.generation + 1) & kGenerationMask;
  if (s.generation == 0) s.generation = 1;
  free_slots_.push_back(i);
  --in_use_;
}

void TcpLayer::maybe_release(std::uint32_t i) {
  Slot& s = slots_[i];
  if (s.kind == Kind::kFree || s.busy > 0) return;
  if (s.free_pending) {
    release_slot(i);
    return;
  }
  // Orphans (closed by the app, or children dropped before accept) go once the TCB
  // is done; an app-owned slot stays until close() so its data and error can be read.
  if (!s.app_owned && s.parent == kNone && s.kind == Kind::kConnection && (s.finished || !s.tcb))
    release_slot(i);
}

// ---------------------------------------------------------------- output and events

OutputResult TcpLayer::transmit(Slot& s, TcpOutput& out, PacketContext& ctx) {
  OutputResult worst = OutputResult::kSent;
  const SendBuffer* sb = s.tcb ? &s.tcb->send_buffer() : nullptr;
  for (std::size_t i = 0; i < out.segment_count(); ++i) {
    const OutSegment& o = out.segment(i);
    const OutputResult r = emitter_.emit(o, sb, s.local.addr, s.remote.addr, ctx, &s.path);
    switch (r) {
      case OutputResult::kSent:
      case OutputResult::kQueuedForResolution:
        if (o.tso_segsz != 0) {
          counters_.inc(TcpLayerCounter::kTxTsoFrames);
          counters_.inc(TcpLayerCounter::kTxTsoBytes, o.payload_len);
        }
        break;
      case OutputResult::kNoBuffer:
        counters_.inc(TcpLayerCounter::kNoBufferTx);
        worst = r;
        break;
      case OutputResult::kNoRoute:
        counters_.inc(TcpLayerCounter::kTxNoRoute);
        if (worst != OutputResult::kNoBuffer) worst = r;
        break;
      case OutputResult::kDropped:
        counters_.inc(TcpLayerCounter::kTxDropped);
        break;
    }
  }
  // A segment that could not leave is lost like one dropped on the wire: the TCB's
  // retransmission timer covers it.
  return worst;
}

void TcpLayer::arm(Slot& s) {
  const Instant d = s.tcb ? s.tcb->next_deadline() : Instant::never();
  if (d == Instant::never())
    wheel_.cancel(s.timer);
  else if (!s.timer.armed() || s.timer.expiry() != d) {
    wheel_.schedule(s.timer, d);
    if (d < timers_due_) timers_due_ = d;
  }
}

void TcpLayer::fire(std::uint32_t i, TcpSocketEvent ev, std::uint32_t value) {
  Slot& s = slots_[i];
  if (!s.app_owned || !s.cb) return;
  const TcpCallback cb = s.cb;
  ++s.busy;
  cb.fn(cb.user, id_of(i), ev, value);
  --s.busy;
}

void TcpLayer::fire_or_defer(std::uint32_t i, TcpSocketEvent ev, std::uint32_t value) {
  Slot& s = slots_[i];
  if (!in_burst_ || s.burst_epoch != burst_epoch_) {
    fire(i, ev, value);
    return;
  }
  defer(s, ev, value);
}

void TcpLayer::defer(Slot& s, TcpSocketEvent ev, std::uint32_t value) {
  switch (ev) {
    case TcpSocketEvent::kReadable:
      s.deferred |= kDeferredReadable;
      s.deferred_readable += value;
      break;
    case TcpSocketEvent::kWritable:
      s.deferred |= kDeferredWritable;
      break;
    default:
      s.deferred |= kDeferredAcked;
      s.deferred_acked += value;
      break;
  }
}

void TcpLayer::fire_deferred(std::uint32_t i) {
  Slot& s = slots_[i];
  const std::uint8_t bits = s.deferred;
  const std::uint32_t readable = s.deferred_readable, acked = s.deferred_acked;
  s.deferred = 0;
  s.deferred_readable = s.deferred_acked = 0;
  if (bits & kDeferredAcked) fire(i, TcpSocketEvent::kAcked, acked);
  if ((bits & kDeferredReadable) && s.kind != Kind::kFree)
    fire(i, TcpSocketEvent::kReadable, readable);
  if ((bits & kDeferredWritable) && s.kind != Kind::kFree) fire(i, TcpSocketEvent::kWritable);
}

void TcpLayer::join_burst(std::uint32_t i) {
  if (burst_count_ == burst_.size()) return;  // processed as outside a burst
  Slot& s = slots_[i];
  s.burst_epoch = burst_epoch_;
  burst_[burst_count_++] = BurstMember{i, s.generation};
  s.tcb->begin_ack_batch();
}

void TcpLayer::end_burst(PacketContext& ctx) {
  // The runs first: their segments join the burst (join_burst) as they go in.
  while (gro_.any_open()) flush_run(*gro_.oldest(), ctx);
  in_burst_ = false;
  for (std::size_t k = 0; k < burst_count_; ++k) {
    const BurstMember m = burst_[k];
    Slot& s = slots_[m.slot];
    if (s.kind == Kind::kFree || s.generation != m.generation) continue;
    // Events first: a reader woken here may answer, and its segment carries the ACK.
    if (s.deferred != 0) {
      ++s.busy;
      fire_deferred(m.slot);
      --s.busy;
      maybe_release(m.slot);
      if (s.kind == Kind::kFree || s.generation != m.generation) continue;
    }
    if (!s.tcb || s.finished) continue;
    // The burst left the slot's timer to here (process() skips arm() in a burst).
    if (s.tcb->end_ack_batch() && held_ack_count_ < held_acks_.size()) {
      held_acks_[held_ack_count_++] = m;
      arm(s);  // the delayed-ACK timer backs the held ACK up
      continue;
    }
    TcpOutput& out = begin_output();
    s.tcb->send_held_ack(ctx.now, out);  // owed when the held list is full
    process(m.slot, out, ctx);
  }
  burst_count_ = 0;
  if (++burst_epoch_ == 0) burst_epoch_ = 1;  // 0 is a fresh slot's "no burst"
}

unsigned TcpLayer::send_held_acks(PacketContext& ctx) {
  const std::size_t n = held_ack_count_;
  held_ack_count_ = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const BurstMember m = held_acks_[k];
    Slot& s = slots_[m.slot];
    if (s.kind == Kind::kFree || s.generation != m.generation || !s.tcb || s.finished) continue;
    if (!s.tcb->ack_held()) continue;  // a segment of the application's carried it
    TcpOutput& out = begin_output();
    s.tcb->send_held_ack(ctx.now, out);
    process(m.slot, out, ctx);
  }
  return static_cast<unsigned>(n);
}

bool TcpLayer::on_time_wait(Slot& s, const TimeWaitInfo& info, Instant now) {
  TimeWaitState st;
  st.snd_nxt = info.snd_nxt;
  st.rcv_nxt = info.rcv_nxt;
  if (info.ts_enabled) st.ts_recent = info.ts_recent;
  const TcpTuple t{info.local, info.remote};
  const std::uint64_t h = hash_tuple(key_, t);  // one hash for both tables
  if (time_wait_.insert(t, h, st, now)) counters_.inc(TcpLayerCounter::kTimeWaitEvicted);
  counters_.inc(TcpLayerCounter::kTimeWaitCreated);
  s.finished = true;
  detach(s, false, t == TcpTuple{s.local, s.remote} ? std::optional(h) : std::nullopt);
  return true;
}

bool TcpLayer::defer_all(Slot& s, const TcpOutput& out) {
  if (!in_burst_ || s.burst_epoch != burst_epoch_ || out.segment_count() != 0) return false;
  const std::size_t n = out.event_count();
  for (std::size_t k = 0; k < n; ++k) {
    const TcpEventKind kind = out.event(k).kind;
    if (kind == TcpEventKind::kReadable
            ? s.shut_rd
            : kind != TcpEventKind::kWritable && kind != TcpEventKind::kAcked)
      return false;
  }
  for (std::size_t k = 0; k < n; ++k) {
    const TcpEvent& ev = out.event(k);
    defer(s,
          ev.kind == TcpEventKind::kReadable   ? TcpSocketEvent::kReadable
          : ev.kind == TcpEventKind::kWritable ? TcpSocketEvent::kWritable
                                               : TcpSocketEvent::kAcked,
          ev.value);
  }
  return true;
}

void TcpLayer::process(std::uint32_t i, TcpOutput& out, PacketContext& ctx) {
  // An in-order segment inside a receive burst: nothing to send (its ACK waits for
  // end_burst), only level events, which wait too. No callback runs, so the events
  // need no copy and the slot no busy guard; and its timer waits too: end_burst
  // processes every slot of the burst (arm() included) before timers can run.
  if (defer_all(slots_[i], out)) {
    end_output();
    maybe_release(i);
    return;
  }
  dispatch(i, out, ctx);
}

// Out of line: its frame (the events' copy, six saved registers) is what a burst's
// in-order segment, which process() settles above, should not pay for.
[[gnu::noinline]] void TcpLayer::dispatch(std::uint32_t i, TcpOutput& out, PacketContext& ctx) {
  Slot& s = slots_[i];
  if (out.segment_count() > 0) transmit(s, out, ctx);
  // The events are copied out so the output can be given back before callbacks run
  // (they may call into the layer, which takes an output of its own). Only the ones
  // there are: a zero-filled array of 16 and a TimeWaitInfo cost more than the rest of
  // an in-order segment's dispatch.
  union Events {
    Events() {}
    TcpEvent at[TcpOutput::kMaxEvents];
  } evs;
  const std::size_t n = out.event_count();
  bool has_tw = false;
  for (std::size_t k = 0; k < n; ++k) {
    evs.at[k] = out.event(k);
    has_tw |= evs.at[k].kind == TcpEventKind::kTimeWait;
  }
  std::optional<TimeWaitInfo> tw;
  if (has_tw) tw = out.time_wait();
  end_output();
  if (!s.finished) arm(s);

  ++s.busy;
  for (std::size_t k = 0; k < n && s.kind != Kind::kFree; ++k) {
    const TcpEvent& ev = evs.at[k];
    const bool level = ev.kind == TcpEventKind::kReadable || ev.kind == TcpEventKind::kWritable ||
                       ev.kind == TcpEventKind::kAcked;
    // What was held comes first: the application sees events in their order.
    if (!level && s.deferred != 0) fire_deferred(i);
    switch (ev.kind) {
      case TcpEventKind::kConnected:
        fire(i, TcpSocketEvent::kConnected);
        break;
      case TcpEventKind::kAccepted:
        if (s.parent != kNone)
          complete_child(i);
        else
          fire(i, TcpSocketEvent::kConnected);  // simultaneous open of an active socket
        break;
      case TcpEventKind::kReadable:
        if (s.shut_rd)
          discard_input(i);
        else
          fire_or_defer(i, TcpSocketEvent::kReadable, ev.value);
        break;
      case TcpEventKind::kWritable:
        fire_or_defer(i, TcpSocketEvent::kWritable, ev.value);
        break;
      case TcpEventKind::kAcked:
        fire_or_defer(i, TcpSocketEvent::kAcked, ev.value);
        break;
      case TcpEventKind::kPeerFin:
        fire(i, TcpSocketEvent::kPeerFin);
        break;
      case TcpEventKind::kError:
        s.error = static_cast<int>(ev.value);
        fire(i, TcpSocketEvent::kError, ev.value);
        break;
      case TcpEventKind::kTimeWait:
        if (tw && !s.finished) on_time_wait(s, *tw, ctx.now);
        break;
      case TcpEventKind::kClosed:
        if (!s.finished) {
          s.finished = true;
          detach(s);
        }
        unlink_from_parent(s);
        fire(i, TcpSocketEvent::kClosed);
        break;
    }
  }
  --s.busy;
  maybe_release(i);
}

void TcpLayer::complete_child(std::uint32_t i) {
  Slot& c = slots_[i];
  Slot& l = slots_[c.parent];
  if (l.kind != Kind::kListener || l.generation != c.parent_generation) {
    unlink_from_parent(c);  // listener gone: an orphan that finishes on its own
    return;
  }
  if (c.half_open) {
    c.half_open = false;
    --half_open_;
    if (l.syn_count > 0) --l.syn_count;
  }
  if (l.accept_count >= l.backlog) {
    counters_.inc(TcpLayerCounter::kListenOverflows);
    unlink_from_parent(c);
    PacketContext ctx = make_context();
    TcpOutput& out = begin_output();
    c.tcb->abort(ctx.now, out);
    process(i, out, ctx);
    return;
  }
  c.queued = true;
  c.next = kNone;
  if (l.accept_tail == kNone)
    l.accept_head = i;
  else
    slots_[l.accept_tail].next = i;
  l.accept_tail = i;
  ++l.accept_count;
  fire(c.parent, TcpSocketEvent::kAcceptable);
}

// ---------------------------------------------------------------- API: opening

TcpConnId TcpLayer::open(const TcpCallback& cb, int* error) {
  const std::uint32_t i = alloc_slot(Kind::kSocket);
  if (i == kNone) {
    if (error) *error = -ENOBUFS;
    return {};
  }
  slots_[i].cb = cb;
  slots_[i].app_owned = true;
  if (error) *error = 0;
  return id_of(i);
}

int TcpLayer::bind(TcpConnId id, const Endpoint& local) {
  Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  if (s->kind != Kind::kSocket || s->bound) return -EINVAL;
  // IpAddr{} stays the dual-family wildcard: a listener on it takes SYNs of both.
  const IpAddr& addr = local.addr;
  if (!is_any(addr) && !ip_.routes().is_local(addr)) return -EADDRNOTAVAIL;
  const PortAllocator::Result r = ports_.bind(addr, local.port, s->reuse_addr);
  if (r.error != 0) return -r.error;
  s->local = Endpoint{addr, r.port};
  s->bound_addr = addr;
  s->bound = true;
  return 0;
}

int TcpLayer::listen(TcpConnId id, std::uint32_t backlog) {
  Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  if (s->kind == Kind::kListener) {
    s->backlog = std::max<std::uint32_t>(backlog, 1);
    return 0;
  }
  if (s->kind != Kind::kSocket) return -EINVAL;
  if (!s->bound) {
    if (const int r = bind(id, Endpoint{IpAddr{}, 0}); r != 0) return r;
  }
  if (const int r = listeners_.insert(s->local, s); r != 0) return -r;
  s->in_table = true;
  s->kind = Kind::kListener;
  s->backlog = std::max<std::uint32_t>(backlog, 1);
  return 0;
}

TcpConnId TcpLayer::listen(const Endpoint& local, std::uint32_t backlog, const TcpCallback& cb,
                           int* error) {
  int e = 0;
  TcpConnId id = open(cb, &e);
  if (!id.valid()) {
    if (error) *error = e;
    return {};
  }
  e = bind(id, local);
  if (e == 0) e = listen(id, backlog);
  if (e != 0) {
    release_slot(id.slot());
    if (error) *error = e;
    return {};
  }
  if (error) *error = 0;
  return id;
}

int TcpLayer::connect(TcpConnId id, const Endpoint& remote, std::uint16_t* owner_engine) {
  Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  if (s->kind == Kind::kListener) return -EOPNOTSUPP;
  if (s->kind == Kind::kConnection) {
    if (s->tcb && s->tcb->state() == TcpState::kSynSent) return -EALREADY;
    return -EISCONN;
  }
  if (!remote.addr.is_v4() && !remote.addr.is_v6()) return -EAFNOSUPPORT;
  if (s->bound && !s->local.addr.is_none() && s->local.addr.family() != remote.addr.family())
    return -EAFNOSUPPORT;
  if (is_any(remote.addr) || remote.port == 0) return -EDESTADDRREQ;
  if (remote.addr.is_broadcast() || remote.addr.is_multicast()) return -EADDRNOTAVAIL;
  const auto rt = ip_.route(remote.addr);
  if (!rt) {
    counters_.inc(TcpLayerCounter::kTxNoRoute);
    return -ENETUNREACH;
  }
  if (ops_.exhausted()) {
    counters_.inc(TcpLayerCounter::kConnectNoBuffer);
    return -ENOBUFS;
  }
  const std::uint32_t i = id.slot();
  const IpAddr local_addr = s->bound && !is_any(s->local.addr) ? s->local.addr : rt->source;
  TcpTuple t{Endpoint{local_addr, s->local.port}, remote};
  const Instant now = env_.clock != nullptr ? env_.clock->now() : Instant{};
  std::optional<SeqNum> reuse_isn;
  std::optional<std::uint64_t> t_hash;  // hash_tuple(key_, t), once known
  if (s->bound && s->local.port != 0) {
    const std::uint16_t owner = ownership_ != nullptr ? ownership_->owner(t) : env_.engine_id;
    if (owner != env_.engine_id) {
      if (owner_engine != nullptr) *owner_engine = owner;
      return kNotOwner;
    }
    t_hash = hash_tuple(key_, t);  // one hash for both tables and the insert below
    if (conn_table_.find(t, *t_hash) != nullptr || time_wait_.find(t, *t_hash)) return -EADDRINUSE;
  } else {
    // The search's last candidate is the port it returns: its hash and TIME_WAIT
    // record are kept for the insert below (one hash per candidate, not four).
    TcpTuple last{};
    std::uint64_t last_hash = 0;
    std::optional<TimeWaitState> last_tw;
    auto in_use = [&](const TcpTuple& c) {
      last = c;
      last_hash = hash_tuple(key_, c);
      last_tw.reset();
      if (conn_table_.find(c, last_hash) != nullptr) return true;
      last_tw = time_wait_.find(c, last_hash);
      return last_tw.has_value() && !time_wait_reusable(*last_tw, now);
    };
    const PortAllocator::Result r =
        ports_.connect(local_addr, remote, in_use, [&](std::uint16_t port) {
          return ownership_ == nullptr ||
                 ownership_->owner(TcpTuple{Endpoint{local_addr, port}, remote}) == env_.engine_id;
        });
    if (r.error != 0) return -r.error;
    t.local.port = r.port;
    s->ephemeral = true;
    if (!(last == t)) {  // not expected: the allocator returns its last candidate
      last_hash = hash_tuple(key_, t);
      last_tw = time_wait_.find(t, last_hash);
    }
    t_hash = last_hash;
    if (last_tw) {
      // A TIME_WAIT tuple the search found reusable: the new incarnation's sequence
      // space starts above the old one's (as Linux: old SND.NXT + 65535 + 2).
      reuse_isn = last_tw->snd_nxt + 65537u;
      time_wait_.erase(t, *t_hash);
      counters_.inc(TcpLayerCounter::kTimeWaitReusedByConnect);
    }
  }
  s->local = t.local;
  s->remote = remote;
  if (!t_hash) t_hash = hash_tuple(key_, t);
  if (const int r = conn_table_.insert(t, *t_hash, s); r != 0) {
    detach(*s, /*keep_bind=*/true);
    s->local = s->bound ? Endpoint{s->bound_addr, s->local.port} : Endpoint{};
    return -r;
  }
  s->in_table = true;
  s->kind = Kind::kConnection;
  s->finished = false;
  if (rt->mtu != 0) s->cfg.mtu = rt->mtu;
  s->cfg.ipv6 = remote.addr.is_v6();
  s->tcb.emplace(s->cfg, ops_, &tcb_counters_);

  PacketContext ctx = make_context();
  TcpOutput& out = begin_output();
  s->tcb->open_active(t.local, remote, reuse_isn.value_or(isn_.generate(t, ctx.now)), ctx.now, out);
  const OutputResult tx = transmit(*s, out, ctx);
  if (tx == OutputResult::kNoBuffer || tx == OutputResult::kNoRoute) {
    // The SYN never left: undo, so the socket can try again (as after a failed connect).
    end_output();
    detach(*s, /*keep_bind=*/true);
    s->tcb.reset();
    s->kind = Kind::kSocket;
    s->local = s->bound ? Endpoint{s->bound_addr, s->local.port} : Endpoint{};
    if (tx == OutputResult::kNoBuffer) counters_.inc(TcpLayerCounter::kConnectNoBuffer);
    return tx == OutputResult::kNoBuffer ? -ENOBUFS : -ENETUNREACH;
  }
  out.clear();  // segments already sent; no events come from open_active
  process(i, out, ctx);
  return 0;
}

bool TcpLayer::time_wait_reusable(const TimeWaitState& tw, Instant now) const {
  return config_.time_wait_reuse && tw.ts_recent.has_value() &&
         now - tw.since >= std::chrono::seconds(1);
}

TcpConnId TcpLayer::connect(const Endpoint& remote, const TcpCallback& cb, int* error,
                            const std::optional<Endpoint>& local) {
  int e = 0;
  TcpConnId id = open(cb, &e);
  if (!id.valid()) {
    if (error) *error = e;
    return {};
  }
  if (local) e = bind(id, *local);
  if (e == 0) e = connect(id, remote);
  if (e != 0) {
    release_slot(id.slot());
    if (error) *error = e;
    return {};
  }
  if (error) *error = 0;
  return id;
}

TcpConnId TcpLayer::accept(TcpConnId listener, int* error, Endpoint* peer) {
  Slot* l = find(listener);
  if (l == nullptr || l->kind != Kind::kListener) {
    if (error) *error = l == nullptr ? -EBADF : -EINVAL;
    return {};
  }
  if (l->accept_head == kNone) {
    if (error) *error = -EAGAIN;
    return {};
  }
  const std::uint32_t c = l->accept_head;
  Slot& ch = slots_[c];
  unlink_from_parent(ch);
  ch.app_owned = true;
  if (peer) *peer = ch.remote;
  if (error) *error = 0;
  return id_of(c);
}

bool TcpLayer::has_pending_accept(TcpConnId listener) {
  Slot* l = find(listener);
  return l != nullptr && l->kind == Kind::kListener && l->accept_head != kNone;
}

// ---------------------------------------------------------------- API: data

long TcpLayer::send(TcpConnId id, const void* data, std::size_t len, bool more) {
  Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  if (s->kind != Kind::kConnection) return s->kind == Kind::kListener ? -EOPNOTSUPP : -ENOTCONN;
  if (s->error != 0) {
    const int e = s->error;
    s->error = 0;
    return -e;
  }
  if (s->finished || s->shut_wr) return -EPIPE;
  if (data == nullptr && len > 0) return -EFAULT;
  if (len == 0) return 0;
  const auto want = static_cast<std::uint32_t>(std::min<std::size_t>(len, UINT32_MAX));
  s->tcb->set_more(more);
  const std::uint32_t n = s->tcb->send(static_cast<const std::uint8_t*>(data), want);
  if (n == 0) return -EAGAIN;
  PacketContext ctx = make_context();
  TcpOutput& out = begin_output();
  s->tcb->flush(ctx.now, out);
  process(id.slot(), out, ctx);
  return n;
}

long TcpLayer::recv(TcpConnId id, void* buf, std::size_t len, bool peek) {
  auto* dst = static_cast<std::uint8_t*>(buf);
  return read_with(id, len, peek, buf == nullptr,
                   [&](Tcb& tcb, std::uint32_t want) { return tcb.recv(dst, want, peek); });
}

long TcpLayer::recv_in_place(TcpConnId id, std::size_t len, bool peek, InPlaceReader reader,
                             void* arg) {
  return read_with(id, len, peek, false, [&](Tcb& tcb, std::uint32_t want) {
    return tcb.recv_in_place(want, peek, [&](const std::uint8_t* data, std::uint32_t n) {
      if (reader != nullptr) reader(arg, data, n);
    });
  });
}

// recv()'s checks and results around one way of taking the bytes: `take(tcb, want)`
// reads up to `want` of them and returns how many it read. `no_destination`: the
// caller's buffer is missing (EFAULT when bytes are asked for).
template <typename Take>
long TcpLayer::read_with(TcpConnId id, std::size_t len, bool peek, bool no_destination,
                         Take&& take) {
  Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  if (s->kind == Kind::kListener) return -EINVAL;
  if (s->kind != Kind::kConnection || !s->tcb) return -ENOTCONN;
  if (no_destination && len > 0) return -EFAULT;
  if (s->shut_rd) return 0;
  if (s->tcb->readable_bytes() > 0 && len > 0) {
    const auto want = static_cast<std::uint32_t>(std::min<std::size_t>(len, UINT32_MAX));
    const std::uint32_t n = take(*s->tcb, want);
    if (!peek && !s->finished) {
      // A grown window may need announcing.
      PacketContext ctx = make_context();
      TcpOutput& out = begin_output();
      s->tcb->flush(ctx.now, out);
      process(id.slot(), out, ctx);
    }
    return n;
  }
  if (s->error != 0) {
    const int e = s->error;
    s->error = 0;
    return -e;
  }
  if (s->tcb->peer_closed() || s->finished) return 0;
  return len == 0 ? 0 : -EAGAIN;
}

long TcpLayer::readable_bytes(TcpConnId id) const {
  const Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  return s->tcb ? static_cast<long>(s->tcb->readable_bytes()) : 0;
}

long TcpLayer::writable_bytes(TcpConnId id) const {
  const Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  if (!s->tcb || s->finished || s->shut_wr) return 0;
  return static_cast<long>(s->tcb->writable_bytes());
}

// ---------------------------------------------------------------- API: closing

int TcpLayer::shutdown_write(TcpConnId id) {
  Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  if (s->kind != Kind::kConnection) return -ENOTCONN;
  if (s->finished || s->shut_wr) return 0;
  s->shut_wr = true;
  PacketContext ctx = make_context();
  TcpOutput& out = begin_output();
  s->tcb->shutdown_write(ctx.now, out);
  process(id.slot(), out, ctx);
  return 0;
}

int TcpLayer::shutdown_read(TcpConnId id) {
  Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  if (s->kind != Kind::kConnection) return -ENOTCONN;
  s->shut_rd = true;
  discard_input(id.slot());
  return 0;
}

void TcpLayer::discard_input(std::uint32_t i) {
  Slot& s = slots_[i];
  if (!s.tcb || s.tcb->readable_bytes() == 0) return;
  s.tcb->recv(nullptr, s.tcb->readable_bytes());  // no copy: the payloads are released
  if (!s.finished) flush_slot(i);                 // the window reopens
}

void TcpLayer::flush_slot(std::uint32_t i) {
  PacketContext ctx = make_context();
  TcpOutput& out = begin_output();
  slots_[i].tcb->flush(ctx.now, out);
  process(i, out, ctx);
}

int TcpLayer::close(TcpConnId id) {
  Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  const std::uint32_t i = id.slot();
  if (s->kind != Kind::kConnection || s->finished || !s->tcb) {
    release_slot(i);
    return 0;
  }
  s->app_owned = false;
  PacketContext ctx = make_context();
  TcpOutput& out = begin_output();
  s->tcb->close(ctx.now, out);
  process(i, out, ctx);  // releases the slot once the TCB is done
  return 0;
}

int TcpLayer::abort(TcpConnId id) {
  Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  const std::uint32_t i = id.slot();
  if (s->kind == Kind::kConnection && !s->finished && s->tcb) {
    s->app_owned = false;
    PacketContext ctx = make_context();
    TcpOutput& out = begin_output();
    s->tcb->abort(ctx.now, out);
    process(i, out, ctx);
  }
  if (slots_[i].kind != Kind::kFree && slots_[i].generation == id.generation()) release_slot(i);
  return 0;
}

// ---------------------------------------------------------------- API: options

int TcpLayer::setopt_check(TcpConnId id, Slot** out, bool before_open) {
  Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  if (before_open && s->kind == Kind::kConnection) return -EISCONN;
  *out = s;
  return 0;
}

int TcpLayer::set_callback(TcpConnId id, const TcpCallback& cb) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, false); r != 0) return r;
  s->cb = cb;
  return 0;
}

int TcpLayer::set_nodelay(TcpConnId id, bool on) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, false); r != 0) return r;
  s->cfg.nodelay = on;
  if (s->tcb) {
    s->tcb->set_nodelay(on);
    if (on && !s->finished) flush_slot(id.slot());
  }
  return 0;
}

int TcpLayer::set_keepalive(TcpConnId id, bool on, Duration idle, Duration interval,
                            std::uint32_t count) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, false); r != 0) return r;
  if (on && (idle.count() <= 0 || interval.count() <= 0 || count == 0)) return -EINVAL;
  s->cfg.keepalive = on;
  s->cfg.keepalive_idle = idle;
  s->cfg.keepalive_interval = interval;
  s->cfg.keepalive_count = count;
  if (s->tcb && !s->finished) {
    const Instant now = make_context().now;
    s->tcb->set_keepalive(on, idle, interval, count, now);
    arm(*s);
  }
  return 0;
}

int TcpLayer::set_send_buffer(TcpConnId id, std::uint32_t bytes) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, false); r != 0) return r;
  if (bytes == 0) return -EINVAL;
  if (s->tcb)
    s->tcb->set_send_buffer(std::min(bytes, s->cfg.send_buffer));
  else
    s->cfg.send_buffer = bytes;
  return 0;
}

int TcpLayer::set_recv_buffer(TcpConnId id, std::uint32_t bytes) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, false); r != 0) return r;
  if (bytes == 0) return -EINVAL;
  if (s->tcb)
    s->tcb->set_recv_buffer(std::min(bytes, s->cfg.recv_buffer));
  else
    s->cfg.recv_buffer = bytes;
  return 0;
}

int TcpLayer::set_linger_zero(TcpConnId id, bool on) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, false); r != 0) return r;
  s->cfg.linger_zero = on;
  if (s->tcb) s->tcb->set_linger_zero(on);
  return 0;
}

int TcpLayer::set_congestion(TcpConnId id, CongestionAlgorithm algo) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, true); r != 0) return r;
  s->cfg.congestion = algo;
  return 0;
}

int TcpLayer::set_connect_timeout(TcpConnId id, Duration d) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, true); r != 0) return r;
  s->cfg.connect_timeout = d;
  return 0;
}

int TcpLayer::set_min_rto(TcpConnId id, Duration d) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, false); r != 0) return r;
  if (d.count() <= 0) return -EINVAL;
  s->cfg.min_rto = d;
  if (s->tcb) s->tcb->set_min_rto(d);
  return 0;
}

int TcpLayer::set_reuse_addr(TcpConnId id, bool on) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, true); r != 0) return r;
  if (s->bound) return -EINVAL;
  s->reuse_addr = on;
  return 0;
}

int TcpLayer::set_cork(TcpConnId id, bool on) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, false); r != 0) return r;
  s->cfg.cork = on;
  if (s->tcb) {
    s->tcb->set_cork(on);
    if (!on && !s->finished) flush_slot(id.slot());
  }
  return 0;
}

int TcpLayer::set_max_segment(TcpConnId id, std::uint32_t mss) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, true); r != 0) return r;
  if (mss < 88 || mss > 32767) return -EINVAL;  // Linux's bounds
  s->cfg.user_mss = static_cast<std::uint16_t>(mss);
  return 0;
}

int TcpLayer::set_user_timeout(TcpConnId id, Duration d) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, false); r != 0) return r;
  if (d.count() < 0) return -EINVAL;
  s->cfg.user_timeout = d;
  if (s->tcb) s->tcb->set_user_timeout(d);
  return 0;
}

int TcpLayer::set_notsent_lowat(TcpConnId id, std::uint32_t bytes) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, false); r != 0) return r;
  s->cfg.notsent_lowat = bytes;
  if (s->tcb) s->tcb->set_notsent_lowat(bytes);
  return 0;
}

int TcpLayer::set_ecn(TcpConnId id, EcnMode mode) {
  Slot* s = nullptr;
  if (const int r = setopt_check(id, &s, true); r != 0) return r;
  s->cfg.ecn = mode;
  return 0;
}

// ---------------------------------------------------------------- introspection

int TcpLayer::info(TcpConnId id, TcpInfo* out) const {
  const Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  *out = TcpInfo{};
  out->state = state(id);
  if (s->kind != Kind::kConnection || !s->tcb) return -ENOTCONN;
  const Tcb& t = *s->tcb;
  auto us = [](Duration d) {
    return static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  };
  out->sack = t.sack_enabled();
  out->timestamps = t.timestamps_enabled();
  out->ecn = t.ecn_enabled();
  out->window_scaling = t.snd_wscale() != 0 || t.rcv_wscale() != 0;
  out->snd_wscale = t.snd_wscale();
  out->rcv_wscale = t.rcv_wscale();
  out->rto_us = us(t.rtt().rto());
  out->rtt_us = us(t.rtt().srtt());
  out->rttvar_us = us(t.rtt().rttvar());
  out->snd_mss = t.mss();
  out->rcv_mss = t.advertised_mss();
  out->cwnd = t.cwnd();
  out->ssthresh = t.ssthresh();
  out->snd_wnd = t.snd_wnd();
  out->rcv_wnd = t.rcv_wnd();
  out->bytes_in_flight = t.bytes_in_flight();
  out->notsent_bytes = t.notsent_bytes();
  out->retransmits = t.consecutive_timeouts();
  out->total_retransmits = t.retransmitted_segments();
  out->in_recovery = t.in_recovery();
  return 0;
}

int TcpLayer::pending_error(TcpConnId id) {
  Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  const int e = s->error;
  s->error = 0;
  return e;
}

int TcpLayer::local_endpoint(TcpConnId id, Endpoint* out) const {
  const Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  if (out) *out = s->local;
  return 0;
}

int TcpLayer::remote_endpoint(TcpConnId id, Endpoint* out) const {
  const Slot* s = find(id);
  if (s == nullptr) return -EBADF;
  if (s->kind != Kind::kConnection) return -ENOTCONN;
  if (out) *out = s->remote;
  return 0;
}

TcpState TcpLayer::state(TcpConnId id) const {
  const Slot* s = find(id);
  if (s == nullptr) return TcpState::kClosed;
  if (s->kind == Kind::kListener) return TcpState::kListen;
  if (!s->tcb) return TcpState::kClosed;
  return s->tcb->state();
}

bool TcpLayer::is_listener(TcpConnId id) const {
  const Slot* s = find(id);
  return s != nullptr && s->kind == Kind::kListener;
}

const Tcb* TcpLayer::tcb(TcpConnId id) const {
  const Slot* s = find(id);
  return s != nullptr && s->tcb ? &*s->tcb : nullptr;
}

// ---------------------------------------------------------------- receive path

void TcpLayer::on_l4(rte_mbuf* m, const L3Meta& meta, PacketContext& ctx) {
  counters_.inc(TcpLayerCounter::kRxSegments);
  // The next segment of an open run (software GRO) joins it from its wire bytes, before
  // anything else is done with it: no decode, no frame of the general path's size.
  // IPv4 ones were offered to offer_ipv4 already.
  if (gro_.any_open() && !gro_flushing_ && m->nb_segs == 1 && !meta.src.is_v4() &&
      join_run(m, meta))
    return;
  segment_arrived(m, meta, ctx);
}

bool TcpLayer::offer_ipv4(rte_mbuf* m, const rte_ipv4_hdr& ip, std::uint16_t l4_len,
                          L4Checksum l4) {
  // A run is open only inside a burst, and opened by a segment that passed
  // segment_arrived's checks to the same unicast destination. A bad checksum goes on to
  // segment_arrived, which counts and drops it.
  if (!gro_.any_open() || gro_flushing_ || l4 == L4Checksum::kBad ||
      l4_len < RxCoalescer::kHeaderBytes)
    return false;
  const auto* l4_hdr = reinterpret_cast<const std::uint8_t*>(&ip + 1);
  std::uint64_t pair;
  std::memcpy(&pair, &ip.src_addr, sizeof(pair));  // the destination follows the source
  RxCoalescer::Run* r = gro_.run_of_v4(pair, load_be32(l4_hdr));
  if (r == nullptr ||
      (l4 != L4Checksum::kGood &&
       !l4_checksum_ok_v4(ip.src_addr, ip.dst_addr, IPPROTO_TCP, l4_hdr, l4_len)) ||
      !append_to_run(*r, m, l4_hdr, l4_len, ip.type_of_service))
    return false;
  counters_.inc(TcpLayerCounter::kRxSegments);
  return true;
}

// on_l4 for a segment that joined no run: every check, the decode, and the input (or
// a run opened with it). Out of line, so on_l4's joining path keeps a small frame.
[[gnu::noinline]] void TcpLayer::segment_arrived(rte_mbuf* m, const L3Meta& meta,
                                                 PacketContext& ctx) {
  if (meta.dst_is_broadcast || meta.dst.is_multicast()) {
    counters_.inc(TcpLayerCounter::kRxBroadcast);
    rte_pktmbuf_free(m);
    return;
  }
  if (meta.l4_cksum_bad) {
    counters_.inc(TcpLayerCounter::kRxBadChecksumHw);
    rte_pktmbuf_free(m);
    return;
  }
  if (m->nb_segs > 1) {
    chain_input(m, meta, ctx);
    return;
  }
  const std::size_t len = std::min<std::size_t>(meta.l4_len, rte_pktmbuf_data_len(m));
  const auto* l4 = rte_pktmbuf_mtod(m, const std::uint8_t*);
  // In a burst, a segment of a stream may join or open its flow's run (software GRO,
  // rx_coalescer.h); the run of its flow goes in before any segment that does not.
  auto input = [&](TcpSegment& seg, bool common_header) {
    if (seg.payload.len > 0) seg.payload.handle = m;
    seg.ip_ecn = meta.tos & ip_ecn::kMask;
    if (in_burst_) {
      if (common_header && !gro_flushing_ && RxCoalescer::can_open(seg)) {
        open_run(seg, meta, l4, ctx);  // the run holds `m` now
        return;
      }
      flush_flow_of(seg, meta, ctx);
    }
    // The receive queue keeps our reference to `m` (header prediction), or took one of
    // its own if it kept the payload.
    if (!segment_input(seg, meta.src, meta.dst, ctx, true)) release_single_mbuf(m);
  };
  // A stream's segment is decoded inline, no call, no option loop, no zeroing first;
  // any other header goes through decode_tcp, which judges and counts it as before.
  if (is_common_tcp_header(l4, len)) {
    if (!meta.l4_cksum_good && !l4_checksum_ok(meta.src, meta.dst, IPPROTO_TCP, l4, len)) {
      counters_.inc(drop_counter(TcpWireDrop::kBadChecksum));
      rte_pktmbuf_free(m);
      return;
    }
    if (rx_segment_busy_) {  // an on_l4 nested in a callback of the outer one's
      TcpSegment seg = decode_common_tcp_header(l4, len);
      input(seg, true);
      return;
    }
    refill_common_tcp_header(l4, len, rx_segment_);
    rx_segment_busy_ = true;
    input(rx_segment_, true);
    rx_segment_busy_ = false;
    return;
  }
  TcpSegment seg;
  TcpOptionStatus ost = TcpOptionStatus::kOk;
  const TcpWireDrop why = decode_tcp(meta.src, meta.dst, l4, len, !meta.l4_cksum_good, seg, &ost);
  if (why != TcpWireDrop::kNone) {
    counters_.inc(drop_counter(why));
    rte_pktmbuf_free(m);
    return;
  }
  if (ost != TcpOptionStatus::kOk) counters_.inc(TcpLayerCounter::kRxBadOptions);
  input(seg, false);
}

// A segment in an mbuf chain (LRO-coalesced, or scattered by the device): decoded from
// its first buffer (IP pulled the headers up there), its checksum verified over the
// chain unless the device did, and its payload queued piece by piece, each piece by
// reference to its own buffer. Never linearised: a 64 KiB frame fits no single mbuf,
// and copying it would undo what the device saved.
void TcpLayer::chain_input(rte_mbuf* m, const L3Meta& meta, PacketContext& ctx) {
  constexpr std::uint16_t kMaxPieces = 128;
  if (m->nb_segs > kMaxPieces) {
    counters_.inc(TcpLayerCounter::kRxChainTooLong);
    rte_pktmbuf_free(m);
    return;
  }
  const std::uint32_t l4_len = std::min<std::uint32_t>(meta.l4_len, m->pkt_len);
  if (!meta.l4_cksum_good && l4_checksum_mbuf(m, l4_len, meta.src, meta.dst, IPPROTO_TCP) != 0) {
    counters_.inc(drop_counter(TcpWireDrop::kBadChecksum));
    rte_pktmbuf_free(m);
    return;
  }
  const std::uint32_t first = std::min<std::uint32_t>(rte_pktmbuf_data_len(m), l4_len);
  TcpSegment seg;
  TcpOptionStatus ost = TcpOptionStatus::kOk;
  const TcpWireDrop why = decode_tcp(meta.src, meta.dst, rte_pktmbuf_mtod(m, const std::uint8_t*),
                                     first, false, seg, &ost);
  if (why != TcpWireDrop::kNone) {
    counters_.inc(drop_counter(why));
    rte_pktmbuf_free(m);
    return;
  }
  if (ost != TcpOptionStatus::kOk) counters_.inc(TcpLayerCounter::kRxBadOptions);
  // Unchain: each buffer becomes a packet of its own, so the receive queue can hold
  // and free each one independently (rte_pktmbuf_free would walk a chain).
  std::array<Payload, kMaxPieces> pieces;
  std::array<rte_mbuf*, kMaxPieces> bufs;
  std::uint16_t nbufs = 0, npieces = 0;
  std::uint32_t left = l4_len - first, total = seg.payload.len;
  if (seg.payload.len > 0) pieces[npieces++] = Payload{seg.payload.data, seg.payload.len, m};
  for (rte_mbuf* b = m; b != nullptr; ++nbufs) {
    rte_mbuf* next = b->next;
    b->next = nullptr;
    b->nb_segs = 1;
    b->pkt_len = b->data_len;
    bufs[nbufs] = b;
    const std::uint32_t take = std::min<std::uint32_t>(b->data_len, left);
    if (b != m && take > 0) {  // every piece holds bytes (software GRO counts on it)
      pieces[npieces++] = Payload{rte_pktmbuf_mtod(b, const std::uint8_t*), take, b};
      left -= take;
      total += take;
    }
    b = next;
  }
  seg.payload = Payload{};
  if (total > 0) {
    seg.payload.pieces = pieces.data();
    seg.payload.piece_count = npieces;
    seg.payload.len = total;
  }
  seg.ip_ecn = meta.tos & ip_ecn::kMask;
  counters_.inc(TcpLayerCounter::kRxChained);
  counters_.inc(TcpLayerCounter::kRxChainedPieces, npieces);
  if (in_burst_) {
    const auto* l4 = rte_pktmbuf_mtod(m, const std::uint8_t*);
    // A run compares the first RxCoalescer::kHeaderBytes of a header: a first buffer
    // shorter than that (headers alone) keeps its chain out of runs.
    if (!gro_flushing_ && first >= RxCoalescer::kHeaderBytes && is_common_tcp_header(l4, first) &&
        coalesce_pieces(seg, meta, l4, ctx)) {
      // The run holds the buffers with payload (the pieces, in buffer order); the rest
      // go now.
      for (std::uint16_t i = 0, j = 0; i < nbufs; ++i) {
        if (j < npieces && pieces[j].handle == bufs[i])
          ++j;
        else
          rte_pktmbuf_free(bufs[i]);
      }
      return;
    }
    flush_flow_of(seg, meta, ctx);
  }
  segment_input(seg, meta.src, meta.dst, ctx);
  for (std::uint16_t i = 0; i < nbufs; ++i) rte_pktmbuf_free(bufs[i]);
}

bool TcpLayer::coalesce_pieces(const TcpSegment& seg, const L3Meta& meta, const std::uint8_t* l4,
                               PacketContext& ctx) {
  if (RxCoalescer::Run* r =
          gro_.run_of(meta.src, meta.dst, RxCoalescer::ports_of(seg.src_port, seg.dst_port))) {
    const std::uint16_t n = seg.payload.pieces != nullptr ? seg.payload.piece_count : 1;
    if (gro_.append(*r, l4, r->header_len + seg.payload.len, seg.ip_ecn, n)) {
      seg.payload.for_each_piece([&](std::uint32_t, const Payload& p) {
        RxCoalescer::add_piece(*r, p.data, p.len, p.handle);
      });
      return true;  // a run that takes no more waits for its flush, as in join_run
    }
    flush_run(*r, ctx);  // what the run holds goes in before this segment
  }
  if (!RxCoalescer::can_open(seg)) return false;
  open_run(seg, meta, l4, ctx);
  return true;
}

bool TcpLayer::join_run(rte_mbuf* m, const L3Meta& meta) {
  const auto* l4 = rte_pktmbuf_mtod(m, const std::uint8_t*);
  const std::size_t len = std::min<std::size_t>(meta.l4_len, rte_pktmbuf_data_len(m));
  if (len < RxCoalescer::kHeaderBytes) return false;
  RxCoalescer::Run* r = gro_.run_of(meta.src, meta.dst, load_be32(l4));
  // The run was opened by a segment that passed segment_arrived's checks, to the same
  // unicast destination; a bad checksum goes on to segment_arrived, which counts and
  // drops it.
  return r != nullptr && !meta.l4_cksum_bad &&
         (meta.l4_cksum_good || l4_checksum_ok(meta.src, meta.dst, IPPROTO_TCP, l4, len)) &&
         append_to_run(*r, m, l4, static_cast<std::uint32_t>(len), meta.tos);
}

bool TcpLayer::append_to_run(RxCoalescer::Run& r, rte_mbuf* m, const std::uint8_t* l4,
                             std::uint32_t len, std::uint8_t tos) {
  if (!gro_.append(r, l4, len, tos & ip_ecn::kMask)) return false;
  RxCoalescer::add_piece(r, l4 + r.header_len, len - r.header_len, m);
  return true;  // a run PSH ended, or full, waits for its flush: append refuses more
}

void TcpLayer::open_run(const TcpSegment& seg, const L3Meta& meta, const std::uint8_t* l4,
                        PacketContext& ctx) {
  // The flow's run, if one is open (a segment that did not join it came), goes in first.
  flush_flow_of(seg, meta, ctx);
  if (gro_.open(meta.src, meta.dst, seg, l4) != nullptr) return;
  flush_run(*gro_.oldest(), ctx);
  gro_.open(meta.src, meta.dst, seg, l4);
}

// Out of line: on_l4 calls it once a run, and its frame would be every segment's.
[[gnu::noinline]] void TcpLayer::flush_run(RxCoalescer::Run& r, PacketContext& ctx) {
  // No run opens while this one's segment is input: a nested on_l4 could otherwise
  // reuse `r`, whose segment and pieces segment_input is reading.
  const bool outer = gro_flushing_;
  gro_flushing_ = true;
  counters_.inc(TcpLayerCounter::kRxCoalesced, r.segments - 1u);  // counted here, once a run
  const TcpSegment& seg = gro_.take(r);
  const std::uint16_t n = seg.payload.pieces != nullptr ? seg.payload.piece_count : 1;
  // A run of several segments that is out of order for its connection goes in segment
  // by segment (each draws its duplicate ACK): segment_input declines it for that.
  bool out_of_order = false;
  const bool adopted =
      segment_input(seg, r.src, r.dst, ctx, true, r.segments > 1 ? &out_of_order : nullptr);
  if (out_of_order)
    RxCoalescer::for_each_segment(
        r, seg, [&](const TcpSegment& part) { segment_input(part, r.src, r.dst, ctx); });
  if (!adopted)  // the receive queue holds references of its own to what it kept
    for (std::uint16_t i = 0; i < n; ++i)
      release_single_mbuf(static_cast<rte_mbuf*>(r.pieces[i].handle));
  gro_flushing_ = outer;
}

bool TcpLayer::segment_input(const TcpSegment& seg, const IpAddr& src, const IpAddr& dst,
                             PacketContext& ctx, bool offer_refs, bool* out_of_order) {
#ifndef NDEBUG
  // A second Toeplitz hash of every segment (steering already did one): checked in
  // debug builds, where the tests read it, not on the release packet path.
  if (ownership_ != nullptr &&
      ownership_->owner(TcpTuple{Endpoint{dst, seg.dst_port}, Endpoint{src, seg.src_port}}) !=
          env_.engine_id)
    ++segments_not_owned_;
#endif
  // The next segment of an IPv4 run is known from its addresses and ports (recent_v4_):
  // no tuple built, no slot index divided out of a pointer.
  std::uint32_t i = recent_v4_.find(src, dst, seg.src_port, seg.dst_port);
  if (i == RecentV4Flow::kNoSlot) {
    const TcpTuple t{Endpoint{dst, seg.dst_port}, Endpoint{src, seg.src_port}};
    // The table remembers the tuple of the previous segment too (IPv6 runs use that).
    Slot* c = conn_table_.recent(t);
    std::uint64_t h = 0;
    bool hashed = false;
    if (c == nullptr) {
      h = hash_tuple(key_, t);  // one hash for both tables
      hashed = true;
      c = conn_table_.find_and_remember(t, h);
    }
    if (c == nullptr || !c->tcb) {
      unconnected_input(seg, t, hashed ? std::optional(h) : std::nullopt, ctx);
      return false;
    }
    i = slot_index(*c);
    recent_v4_.remember(src, dst, seg.src_port, seg.dst_port, i);
  }
  Slot& c = slots_[i];
  if (!c.tcb) {
    unconnected_input(seg, TcpTuple{Endpoint{dst, seg.dst_port}, Endpoint{src, seg.src_port}},
                      std::nullopt, ctx);
    return false;
  }
  if (out_of_order != nullptr && c.tcb->rcv_nxt() != seg.seq) {
    *out_of_order = true;
    return false;
  }
  if (in_burst_ && c.burst_epoch != burst_epoch_) join_burst(i);
  TcpOutput& out = begin_output();
  if (offer_refs) out.offer_payload_refs();
  c.tcb->on_segment(seg, ctx.now, out);
  const bool adopted = out.payload_adopted();
  process(i, out, ctx);
  return adopted;
}

// A segment of no connection: TIME_WAIT, a listener, or a reset. Out of line, so the
// connection's path above keeps a small frame. `tuple_hash`: hash_tuple of `t` when
// the caller has it.
[[gnu::noinline]] void TcpLayer::unconnected_input(const TcpSegment& seg, const TcpTuple& t,
                                                   std::optional<std::uint64_t> tuple_hash,
                                                   PacketContext& ctx) {
  std::optional<SeqNum> reuse_isn;
  if (time_wait_.size() > 0) {
    const std::uint64_t h = tuple_hash ? *tuple_hash : hash_tuple(key_, t);
    const TimeWaitAction a = time_wait_.on_segment(t, h, seg, ctx.now);
    switch (a.kind) {
      case TimeWaitAction::Kind::kNone:
        break;
      case TimeWaitAction::Kind::kDrop:
        counters_.inc(TcpLayerCounter::kTimeWaitDrops);
        return;
      case TimeWaitAction::Kind::kAck: {
        counters_.inc(TcpLayerCounter::kTimeWaitAcks);
        TcpSegment ack;
        ack.src_port = seg.dst_port;
        ack.dst_port = seg.src_port;
        ack.seq = a.seq;
        ack.ack = a.ack;
        ack.flags = tcp_flags::kAck;
        ack.window = 0xffff;
        // No timestamp option: our TS clock is per connection (offset from the ISS) and
        // the record does not keep it, and a made-up TSval could fail the peer's PAWS
        // check. Peers accept ACKs without timestamps (RFC 7323 §3.2 allows it; Linux
        // and our Tcb do), and a re-ACK only has to end the peer's LAST_ACK.
        emitter_.emit_control(ack, t.local.addr, t.remote.addr, ctx);
        return;
      }
      case TimeWaitAction::Kind::kReuse:
        counters_.inc(TcpLayerCounter::kTimeWaitReuse);
        reuse_isn = a.reuse_isn;
        break;
      case TimeWaitAction::Kind::kKilled:
        counters_.inc(TcpLayerCounter::kTimeWaitKilled);
        return;
    }
  }
  if (Slot* l = listeners_.find(t.local); l != nullptr) {
    listener_input(*l, seg, t, reuse_isn, ctx);
    return;
  }
  counters_.inc(TcpLayerCounter::kRxNoConnection);
  send_reset_for(seg, t, ctx);
}

void TcpLayer::send_reset_for(const TcpSegment& seg, const TcpTuple& t, PacketContext& ctx) {
  auto r = Tcb::make_reset_for(seg);
  if (!r) return;
  // Checked after make_reset_for: an RST (which is never answered) spends no token.
  if (!rst_limit_.try_take(ctx.now)) {
    counters_.inc(TcpLayerCounter::kRstRateLimited);
    return;
  }
  counters_.inc(TcpLayerCounter::kRstSentNoConn);
  tcb_counters_.inc(TcpCounter::kResetsSent);
  tcb_counters_.inc(TcpCounter::kOutSegs);
  emitter_.emit_control(*r, t.local.addr, t.remote.addr, ctx);
}

std::uint32_t TcpLayer::new_child(Slot& l, const TcpTuple& t) {
  const std::uint32_t li = slot_index(l);
  const std::uint32_t i = alloc_slot(Kind::kConnection);
  if (i == kNone) return kNone;
  Slot& c = slots_[i];
  Slot& lis = slots_[li];
  c.cfg = lis.cfg;
  c.cb = lis.cb;
  c.local = t.local;
  c.remote = t.remote;
  c.parent = li;
  c.parent_generation = lis.generation;
  if (const auto rt = ip_.route(t.remote.addr); rt && rt->mtu != 0) c.cfg.mtu = rt->mtu;
  c.cfg.ipv6 = t.remote.addr.is_v6();
  if (conn_table_.insert(t, &c) != 0) {
    c.parent = kNone;
    release_slot(i);
    return kNone;
  }
  c.in_table = true;
  c.tcb.emplace(c.cfg, ops_, &tcb_counters_);
  return i;
}

void TcpLayer::listener_input(Slot& l, const TcpSegment& seg, const TcpTuple& t,
                              std::optional<SeqNum> reuse_isn, PacketContext& ctx) {
  using namespace tcp_flags;
  if (seg.has(kRst)) {
    counters_.inc(TcpLayerCounter::kListenDrops);
    return;
  }
  if (seg.has(kAck)) {
    if (!seg.has(kSyn) && config_.syn_cookies && cookies_recent(l, ctx.now)) {
      cookie_ack(l, seg, t, ctx);
    } else {
      if (!seg.has(kSyn)) counters_.inc(TcpLayerCounter::kCookieAckUnexpected);
      counters_.inc(TcpLayerCounter::kRxNoConnection);
      send_reset_for(seg, t, ctx);
    }
    return;
  }
  if (!seg.has(kSyn) || seg.has(kFin)) {
    counters_.inc(TcpLayerCounter::kListenDrops);
    return;
  }
  counters_.inc(TcpLayerCounter::kListenSyns);
  // A full accept queue is the application's doing: even a completed handshake could
  // not be handed over, so no SYN-ACK at all (the peer retransmits and may find room),
  // never a handshake whose data would then be dropped.
  if (l.accept_count >= l.backlog) {
    counters_.inc(TcpLayerCounter::kListenOverflows);
    return;
  }
  // Every connection slot taken by established connections: refuse visibly
  // (ECONNREFUSED at the peer) rather than complete a handshake no slot can hold. While
  // half-open children hold slots (a flood), a cookie may still find one freed by the
  // time its ACK comes; if not, that ACK is answered by RST.
  if (!slot_available() && (half_open_ == 0 || !config_.syn_cookies)) {
    counters_.inc(TcpLayerCounter::kNoSlot);
    counters_.inc(TcpLayerCounter::kSynRefusedNoSlot);
    send_reset_for(seg, t, ctx);
    return;
  }
  // Half-open children count against the backlog too (each needs a place in the accept
  // queue once established). Whatever keeps a SYN from having its own child (the
  // backlog's room held by half-open ones, the SYN queue full, the pool low), it gets a
  // cookie: a flood of SYNs never makes the listener refuse the legitimate ones.
  const bool room = l.accept_count + l.syn_count < l.backlog && l.syn_count < config_.syn_queue &&
                    !ops_.exhausted();
  const std::uint32_t i = room ? new_child(l, t) : kNone;
  if (i == kNone) {
    counters_.inc(TcpLayerCounter::kSynQueueFull);
    if (config_.syn_cookies)
      send_syn_cookie(l, seg, t, ctx);
    else
      counters_.inc(TcpLayerCounter::kListenDrops);
    return;
  }
  Slot& c = slots_[i];
  c.half_open = true;
  ++half_open_;
  ++slots_[c.parent].syn_count;
  const SeqNum iss = reuse_isn ? *reuse_isn : isn_.generate(t, ctx.now);
  TcpOutput& out = begin_output();
  c.tcb->accept_syn(seg, t.local, t.remote, iss, ctx.now, out);
  process(i, out, ctx);
}

bool TcpLayer::cookies_recent(const Slot& l, Instant now) const {
  // A cookie is valid for kMaxAge counts of kPeriodNs; an ACK after that cannot be one.
  constexpr std::int64_t kLifetimeNs = SynCookies::kMaxAge * SynCookies::kPeriodNs;
  return l.last_cookie && (now - *l.last_cookie).count() <= kLifetimeNs;
}

std::uint32_t TcpLayer::ts_clock(Instant now, SeqNum iss) const {
  // Mirrors Tcb::ts_now (ms clock plus a per-connection offset derived from the ISS), so
  // the TSval of a cookie SYN-ACK never runs ahead of what the connection sends later.
  return static_cast<std::uint32_t>(now.ns / 1'000'000) + iss.raw() * 2654435761u;
}

void TcpLayer::send_syn_cookie(Slot& l, const TcpSegment& syn, const TcpTuple& t,
                               PacketContext& ctx) {
  const TcpConfig& cfg = l.cfg;
  std::uint32_t mtu = cfg.mtu;
  if (const auto rt = ip_.route(t.remote.addr); rt && rt->mtu != 0) mtu = rt->mtu;
  SynCookieRequest req;
  req.peer_mss = syn.options.mss.value_or(536);
  if (cfg.window_scaling && syn.options.window_scale)
    req.peer_window_scale = *syn.options.window_scale;
  req.sack = cfg.sack && syn.options.sack_permitted;
  req.timestamps = cfg.timestamps && syn.options.timestamps.has_value();
  // The ISN does not depend on the timestamp; the TSval must follow the clock the
  // connection will use, which depends on the ISN.
  const SynCookie first = cookies_.encode(t, syn.seq, req, ctx.now);
  req.ts_now = ts_clock(ctx.now, first.isn);
  const SynCookie c = cookies_.encode(t, syn.seq, req, ctx.now);

  TcpSegment sa;
  sa.src_port = t.local.port;
  sa.dst_port = t.remote.port;
  sa.seq = c.isn;
  sa.ack = syn.seq + 1;
  // Never ECE: a cookie has no bit for the SYN's ECN request, so a cookie connection
  // does not use ECN (Tcb::open_from_cookie).
  sa.flags = tcp_flags::kSyn | tcp_flags::kAck;
  sa.window = static_cast<std::uint16_t>(std::min<std::uint32_t>(cfg.recv_buffer, 65535));
  sa.options.mss = advertised_mss(mtu, t.remote.addr.is_v6());
  if (req.peer_window_scale) sa.options.window_scale = window_shift(cfg);
  sa.options.sack_permitted = req.sack;
  if (req.timestamps && c.tsval)
    sa.options.timestamps = TcpTimestamps{*c.tsval, syn.options.timestamps->value};
  counters_.inc(TcpLayerCounter::kCookiesSent);
  l.last_cookie = ctx.now;
  tcb_counters_.inc(TcpCounter::kOutSegs);
  emitter_.emit_control(sa, t.local.addr, t.remote.addr, ctx);
}

void TcpLayer::cookie_ack(Slot& l, const TcpSegment& ack, const TcpTuple& t, PacketContext& ctx) {
  std::optional<std::uint32_t> tsecr;
  if (ack.options.timestamps) tsecr = ack.options.timestamps->echo;
  const SeqNum iss = ack.ack - 1;
  const SeqNum irs = ack.seq - 1;
  const auto opts = cookies_.validate(t, iss, irs, ctx.now, tsecr);
  if (!opts) {
    counters_.inc(TcpLayerCounter::kCookiesFailed);
    counters_.inc(TcpLayerCounter::kRxNoConnection);
    send_reset_for(ack, t, ctx);
    return;
  }
  // The peer believes it is connected: if no connection can be made now (accept queue
  // full, no slot), it must hear so (RST) instead of sending into silence.
  const std::uint32_t i = l.accept_count < l.backlog ? new_child(l, t) : kNone;
  if (i == kNone) {
    counters_.inc(TcpLayerCounter::kCookiesRefused);
    send_reset_for(ack, t, ctx);
    return;
  }
  counters_.inc(TcpLayerCounter::kCookiesValidated);
  CookieOptions co;
  co.mss = opts->mss;
  co.window_scale = opts->window_scale;
  co.sack = opts->sack;
  co.timestamps = opts->timestamps;
  TcpOutput& out = begin_output();
  slots_[i].tcb->open_from_cookie(ack, t.local, t.remote, iss, irs, co, ctx.now, out);
  process(i, out, ctx);
}

// ---------------------------------------------------------------- ICMP and timers

void TcpLayer::on_icmp_error(const IcmpErrorInfo& err, PacketContext& ctx) {
  if (err.protocol != kProtocol || err.type != kIcmpDestUnreachable) {
    counters_.inc(TcpLayerCounter::kIcmpIgnored);
    return;
  }
  const TcpTuple t{Endpoint{err.src, err.src_port}, Endpoint{err.dst, err.dst_port}};
  Slot* s = conn_table_.find(t);
  if (s == nullptr || !s->tcb || s->finished) {
    counters_.inc(TcpLayerCounter::kIcmpIgnored);
    return;
  }
  // RFC 5927 §4.1: believe only errors quoting a sequence number we have in flight.
  const SeqNum quoted(err.l4_word1);
  const Tcb& tcb = *s->tcb;
  if (quoted < tcb.snd_una() || (quoted > tcb.snd_max() && quoted != tcb.snd_una())) {
    counters_.inc(TcpLayerCounter::kIcmpIgnored);
    return;
  }
  const std::uint32_t i = slot_index(*s);
  TcpOutput& out = begin_output();
  if (err.code == kIcmpCodeFragNeeded) {
    counters_.inc(TcpLayerCounter::kIcmpFragNeeded);
    const std::uint32_t mtu = err.next_hop_mtu != 0 ? err.next_hop_mtu : 576;
    s->tcb->on_frag_needed(mtu, ctx.now, out);
  } else {
    counters_.inc(TcpLayerCounter::kIcmpUnreachable);
    // Port and protocol unreachable are hard errors (RFC 1122 §4.2.3.9); ICMPv6 port
    // unreachable and "unknown next header" reach us mapped onto these codes.
    const bool hard = err.code == kIcmpCodeProtoUnreachable || err.code == kIcmpCodePortUnreachable;
    s->tcb->on_icmp_unreachable(hard, ctx.now, out);
  }
  process(i, out, ctx);
}

void TcpLayer::on_timers(PacketContext& ctx) {
  // Nothing is due before timers_due_: an iteration without a due timer costs this
  // comparison (the wheel, TIME_WAIT and the gauges are looked at once per tick).
  if (ctx.now < timers_due_) return;
  wheel_.advance(ctx.now, [&](Timer& t) {
    const auto i = static_cast<std::uint32_t>(t.tag);
    Slot& s = slots_[i];
    if (s.kind != Kind::kConnection || !s.tcb || s.finished) return;
    TcpOutput& out = begin_output();
    s.tcb->on_timer(ctx.now, out);
    process(i, out, ctx);
  });
  if (time_wait_.size() > 0 && time_wait_.next_expiry() <= ctx.now)
    counters_.inc(TcpLayerCounter::kTimeWaitExpired, time_wait_.expire(ctx.now));
  refresh_gauges();
  // The wheel fires a timer at its expiry's tick, so the next tick is the earliest it
  // can have work (arm() lowers this for a timer armed sooner); TIME_WAIT's next
  // expiry likewise.
  timers_due_ = wheel_.current() + wheel_.tick();
  if (time_wait_.size() > 0) timers_due_ = std::min(timers_due_, time_wait_.next_expiry());
}

void TcpLayer::refresh_gauges() {
  slot_gauges_.set(TcpSlotGauge::kInUse, in_use_);
  slot_gauges_.set(TcpSlotGauge::kHalfOpen, half_open_);
  slot_gauges_.set(TcpSlotGauge::kConnections, conn_table_.size());
  slot_gauges_.set(TcpSlotGauge::kTimeWait, time_wait_.size());
}

}  // namespace shardtcp
