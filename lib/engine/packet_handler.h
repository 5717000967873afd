// The seam between an engine's poll loop and the protocol layers it runs.
// The engine receives bursts, calls on_frames, runs on_timers, and flushes what the
// handler queued on the FrameSink once per loop iteration.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>

#include "common/time.h"

namespace shardtcp {

// Frames a handler wants sent. Buffered by the engine, flushed once per iteration;
// send() takes ownership of the mbuf (frees it if the buffer is full and counts it).
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void send(rte_mbuf* frame) = 0;
};

// What an engine hands to its handler for one call: time, where to send, where to
// allocate. Valid only for the duration of the call.
struct PacketContext {
  Instant now;
  FrameSink* tx = nullptr;
  rte_mempool* pool = nullptr;
  std::uint16_t engine_id = 0;
};

// What a transport layer keeps of its engine so application calls made outside the
// poll loop (on the engine's thread) can allocate, send and read the time.
struct EngineServices {
  FrameSink* tx = nullptr;
  rte_mempool* pool = nullptr;
  Clock* clock = nullptr;
  std::uint16_t engine_id = 0;
};

class PacketHandler {
 public:
  virtual ~PacketHandler() = default;
  // Takes ownership of the n received frames.
  virtual void on_frames(rte_mbuf** frames, std::uint16_t n, PacketContext& ctx) = 0;
  // Runs expired timers; called every loop iteration (cheap when nothing is due).
  virtual void on_timers(PacketContext& ctx) = 0;
  // First in every loop iteration, before the receive burst: what the previous
  // iteration left for after the application's turn (held ACKs). Returns how much
  // work it found, so a caller deciding whether to idle counts it.
  virtual unsigned on_iteration_start(PacketContext&) { return 0; }
};

}  // namespace shardtcp
