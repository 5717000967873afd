// One Engine per lcore: a run-to-completion poll loop over one queue of a PacketPort
// (or, in embedding mode, over frames an application passes in). Each iteration:
// rx_burst -> handler.on_frames -> handler.on_timers -> flush the TX buffer with one
// tx_burst. The engine owns its TX buffer and counters; nothing is shared with other
// engines. See include/shardtcp/engine.h for the embedding-mode example.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "common/counters.h"
#include "common/time.h"
#include "engine/packet_handler.h"
#include "port/packet_port.h"

namespace shardtcp {

enum class EngineCounter : std::uint8_t {
  kRxFrames,    // frames received from the port or injected
  kTxFrames,    // frames the port accepted (or the application drained)
  kTxDropped,   // frames freed: refused by tx_burst, or the TX buffer was full
  kEmptyPolls,  // iterations that received nothing
  kIterations,
  kCount
};

struct EngineConfig {
  std::uint16_t engine_id = 0;
  std::uint16_t queue = 0;             // the port queue pair this engine owns
  std::uint16_t rx_burst = 32;         // frames per rx_burst (<= kMaxBurst)
  std::uint16_t tx_buffer_size = 512;  // frames buffered between flushes
};

class Engine final : public FrameSink {
 public:
  static constexpr std::uint16_t kMaxBurst = 64;

  // Port mode. All references must outlive the engine.
  Engine(PacketPort& port, rte_mempool* pool, PacketHandler& handler, Clock& clock,
         const EngineConfig& config = {});
  // Embedding mode: no port. The application injects received frames and drains the
  // frames to send; `clock` is the application's.
  Engine(rte_mempool* pool, PacketHandler& handler, Clock& clock, const EngineConfig& config = {});
  ~Engine() override;  // frees frames still buffered for TX
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // One loop iteration: the poll hooks, rx_burst -> handler -> timers -> flush.
  // Returns the work done: frames received (0 in embedding mode) plus what the hooks
  // reported, so a caller can tell an idle iteration from a busy one.
  unsigned poll_once();

  // Work the engine runs at the start of every iteration on its own thread: draining
  // the sockets API's request ring, frames steered from other engines. `fn(arg)`
  // returns how much it did. Register before the engine runs (not thread-safe
  // against a running loop). False when all kMaxPollHooks slots are taken.
  static constexpr std::size_t kMaxPollHooks = 4;
  using PollHookFn = unsigned (*)(void* arg);
  bool add_poll_hook(PollHookFn fn, void* arg);
  // Removes every hook registered with `arg` (before the arg goes away).
  void remove_poll_hooks(void* arg);
  // poll_once until `stop` becomes true.
  void run(const std::atomic<bool>& stop);

  // Embedding mode: hands received frames (ownership included) to the handler now,
  // at the engine clock's current time. Also valid in port mode (e.g. frames steered
  // from another engine).
  void inject(rte_mbuf** frames, std::uint16_t n);
  // Embedding mode: moves up to `max` frames the engine wants sent into `out`, oldest
  // first; the caller owns them. In port mode the buffer is flushed to the port instead.
  std::uint16_t drain_tx(rte_mbuf** out, std::uint16_t max);

  // FrameSink: buffers the frame for the next flush (takes ownership).
  void send(rte_mbuf* frame) override;

  bool embedded() const { return port_ == nullptr; }
  std::uint16_t id() const { return config_.engine_id; }
  std::uint16_t queue() const { return config_.queue; }
  rte_mempool* pool() const { return pool_; }
  Clock& clock() { return clock_; }
  std::uint16_t tx_pending() const { return tx_count_; }
  // What transports keep of this engine (see EngineServices).
  EngineServices services() { return EngineServices{this, pool_, &clock_, config_.engine_id}; }
  const CounterGroup& counters() const { return counters_; }
  std::uint64_t counter(EngineCounter c) const { return counters_.get(c); }

 private:
  PacketContext make_context();
  void flush();

  PacketPort* port_;
  rte_mempool* pool_;
  PacketHandler& handler_;
  Clock& clock_;
  EngineConfig config_;
  std::vector<rte_mbuf*> tx_;  // sized once; never grows on the packet path
  std::uint16_t tx_count_ = 0;
  CounterGroup counters_;
  struct PollHook {
    PollHookFn fn = nullptr;
    void* arg = nullptr;
  };
  std::array<PollHook, kMaxPollHooks> hooks_{};
  std::size_t hook_count_ = 0;
};

}  // namespace shardtcp
