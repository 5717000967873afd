#include "api/handle_table.h"

namespace shardtcp::sockets {

namespace {

constexpr std::uint32_t kMaxGeneration = (1u << HandleTable::kGenerationBits) - 1;

}  // namespace

HandleTable::HandleTable() = default;

HandleTable::~HandleTable() {
  for (auto& c : chunks_) delete[] c.load();
}

SocketEntry* HandleTable::fresh_slot(std::uint32_t* slot) {
  const std::uint32_t s = fresh_.fetch_add(1, std::memory_order_acq_rel);
  if (s >= kMaxSlots) {
    fresh_.fetch_sub(1, std::memory_order_acq_rel);
    return nullptr;
  }
  std::atomic<SocketEntry*>& chunk = chunks_[s >> kChunkBits];
  if (chunk.load(std::memory_order_acquire) == nullptr) {
    // Several threads may race to create the same chunk: one CAS wins, the others
    // free theirs. Not the packet path: socket() and accept() only.
    auto* fresh = new SocketEntry[kChunkSize];
    SocketEntry* expected = nullptr;
    if (!chunk.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) delete[] fresh;
  }
  *slot = s;
  return entry_of(s);
}

int HandleTable::allocate(std::uint16_t engine) {
  if (engine >= kMaxEngines) return -1;
  std::uint32_t slot = 0;
  SocketEntry* e = nullptr;
  if (free_.pop(slot)) {
    e = entry_of(slot);
  } else {
    e = fresh_slot(&slot);
    if (e == nullptr) return -1;
  }
  // Reset the engine-owned part; the atomics keep counting (waiters compare values).
  e->tcp = {};
  e->udp = {};
  e->group.reset();
  e->listening = e->connecting = e->connected = e->connect_failed = false;
  e->peer_fin = e->closed = e->rd_shut = e->wr_shut = e->has_error = false;
  e->keepalive = e->reuseaddr = e->nodelay = e->rcvbuf = e->sndbuf = 0;
  e->linger_on = e->linger_sec = 0;
  e->cork = e->maxseg = e->keepidle_s = e->keepintvl_s = e->keepcnt = e->user_timeout_ms = 0;
  e->notsent_lowat = UINT32_MAX;
  e->connect_timeout_ns = 0;
  e->send_space_max = 0;
  e->last_error = 0;
  e->event_fn = nullptr;
  e->event_user = nullptr;
  e->watcher.store(nullptr, std::memory_order_relaxed);
  e->watch_events.store(0, std::memory_order_relaxed);
  e->watch_data = nullptr;
  e->queued.store(false, std::memory_order_relaxed);
  e->ready.store(0, std::memory_order_relaxed);
  e->nonblock.store(false, std::memory_order_relaxed);
  e->rcvtimeo_ns.store(0, std::memory_order_relaxed);
  e->sndtimeo_ns.store(0, std::memory_order_relaxed);
  e->v6only.store(true, std::memory_order_relaxed);
  e->engine = engine;
  // The next generation (1..kMaxGeneration, never 0, so a handle is never 0), kept
  // not-live until make_live().
  const std::uint32_t gen =
      (e->state.load(std::memory_order_relaxed) >> kStateGenShift) % kMaxGeneration + 1;
  e->state.store(state_word(gen, engine, false), std::memory_order_release);
  return encode(gen, engine, slot);
}

void HandleTable::make_live(int handle) {
  SocketEntry& e = at(handle);
  e.state.store(e.state.load(std::memory_order_relaxed) | 1u, std::memory_order_release);
  live_.fetch_add(1, std::memory_order_relaxed);
}

void HandleTable::release(int handle) {
  SocketEntry& e = at(handle);
  const std::uint32_t st = e.state.load(std::memory_order_relaxed);
  if ((st & 1u) != 0) {
    e.state.store(st & ~1u, std::memory_order_release);
    live_.fetch_sub(1, std::memory_order_relaxed);
  }
  free_.push(slot_of(handle));
}

SocketEntry* HandleTable::lookup(int handle, std::uint32_t* generation) {
  if (handle <= 0) return nullptr;
  const auto h = static_cast<std::uint32_t>(handle);
  const std::uint32_t gen = h >> (kSlotBits + kEngineBits);
  const auto engine = static_cast<std::uint16_t>((h >> kSlotBits) & (kMaxEngines - 1));
  SocketEntry* e = entry_of(slot_of(handle));
  if (e == nullptr || gen == 0) return nullptr;
  // One load checks liveness, generation and engine together.
  const std::uint32_t want = state_word(gen, engine, true);
  if (e->state.load(std::memory_order_acquire) != want) return nullptr;
  if (generation != nullptr) *generation = want;
  return e;
}

}  // namespace shardtcp::sockets
