#include "engine/engine.h"

#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <cstring>

namespace shardtcp {

namespace {

constexpr const char* kEngineCounterNames[] = {
    "rx_frames", "tx_frames", "tx_dropped", "empty_polls", "iterations",
};
static_assert(std::size(kEngineCounterNames) == static_cast<std::size_t>(EngineCounter::kCount));

EngineConfig sanitize(EngineConfig c) {
  c.rx_burst = std::clamp<std::uint16_t>(c.rx_burst, 1, Engine::kMaxBurst);
  c.tx_buffer_size = std::max<std::uint16_t>(c.tx_buffer_size, 1);
  return c;
}

}  // namespace

Engine::Engine(PacketPort& port, rte_mempool* pool, PacketHandler& handler, Clock& clock,
               const EngineConfig& config)
    : port_(&port),
      pool_(pool),
      handler_(handler),
      clock_(clock),
      config_(sanitize(config)),
      tx_(config_.tx_buffer_size),
      counters_("engine", kEngineCounterNames) {}

Engine::Engine(rte_mempool* pool, PacketHandler& handler, Clock& clock, const EngineConfig& config)
    : port_(nullptr),
      pool_(pool),
      handler_(handler),
      clock_(clock),
      config_(sanitize(config)),
      tx_(config_.tx_buffer_size),
      counters_("engine", kEngineCounterNames) {}

Engine::~Engine() {
  if (tx_count_ > 0) rte_pktmbuf_free_bulk(tx_.data(), tx_count_);
}

PacketContext Engine::make_context() {
  PacketContext ctx;
  ctx.now = clock_.now();
  ctx.tx = this;
  ctx.pool = pool_;
  ctx.engine_id = config_.engine_id;
  return ctx;
}

void Engine::send(rte_mbuf* frame) {
  if (tx_count_ == tx_.size() && port_ != nullptr) flush();  // full: send early, not drop
  if (tx_count_ == tx_.size()) {
    rte_pktmbuf_free(frame);
    counters_.inc(EngineCounter::kTxDropped);
    return;
  }
  tx_[tx_count_++] = frame;
}

void Engine::flush() {
  if (port_ == nullptr || tx_count_ == 0) return;
  const std::uint16_t sent = port_->tx_burst(config_.queue, tx_.data(), tx_count_);
  counters_.inc(EngineCounter::kTxFrames, sent);
  if (sent < tx_count_) {
    // The queue is full: the stack's retransmission recovers; holding frames here
    // would only add latency and grow without bound.
    rte_pktmbuf_free_bulk(tx_.data() + sent, tx_count_ - sent);
    counters_.inc(EngineCounter::kTxDropped, tx_count_ - sent);
  }
  tx_count_ = 0;
}

bool Engine::add_poll_hook(PollHookFn fn, void* arg) {
  if (hook_count_ == hooks_.size() || fn == nullptr) return false;
  hooks_[hook_count_++] = PollHook{fn, arg};
  return true;
}

void Engine::remove_poll_hooks(void* arg) {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < hook_count_; ++i)
    if (hooks_[i].arg != arg) hooks_[kept++] = hooks_[i];
  hook_count_ = kept;
}

unsigned Engine::poll_once() {
  counters_.inc(EngineCounter::kIterations);
  unsigned work = 0;
  for (std::size_t i = 0; i < hook_count_; ++i) work += hooks_[i].fn(hooks_[i].arg);
  PacketContext ctx = make_context();
  work += handler_.on_iteration_start(ctx);
  // What the application produced since the last iteration (a request, an answer, a
  // FIN from close(), the ACKs held for it) leaves before this iteration starts on new
  // input: behind a full receive burst it would wait the burst's whole processing time,
  // on every hop of a request/response exchange.
  flush();
  std::uint16_t n = 0;
  if (port_ != nullptr) {
    rte_mbuf* rx[kMaxBurst];
    n = port_->rx_burst(config_.queue, rx, config_.rx_burst);
    if (n > 0) {
      counters_.inc(EngineCounter::kRxFrames, n);
      rte_prefetch0(rte_pktmbuf_mtod(rx[0], void*));
      handler_.on_frames(rx, n, ctx);
    } else {
      counters_.inc(EngineCounter::kEmptyPolls);
    }
  }
  handler_.on_timers(ctx);
  flush();
  return work + n;
}

void Engine::run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) poll_once();
}

void Engine::inject(rte_mbuf** frames, std::uint16_t n) {
  if (n == 0) return;
  counters_.inc(EngineCounter::kRxFrames, n);
  PacketContext ctx = make_context();
  handler_.on_frames(frames, n, ctx);
}

std::uint16_t Engine::drain_tx(rte_mbuf** out, std::uint16_t max) {
  if (port_ != nullptr) {
    flush();
    return 0;
  }
  const std::uint16_t n = std::min(max, tx_count_);
  std::memcpy(out, tx_.data(), n * sizeof(rte_mbuf*));
  std::memmove(tx_.data(), tx_.data() + n, (tx_count_ - n) * sizeof(rte_mbuf*));
  tx_count_ -= n;
  counters_.inc(EngineCounter::kTxFrames, n);
  return n;
}

}  // namespace shardtcp
