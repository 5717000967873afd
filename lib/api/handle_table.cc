#include "api/handle_table.h"

namespace shardtcp::sockets {

HandleTable::HandleTable() {
  // Handle 0 is never issued (0 is falsy and stdin's number in the manual's world).
  for (int i = 1; i < kMaxSockets; ++i) free_.bounded_push(static_cast<std::uint16_t>(i));
}

int HandleTable::allocate() {
  std::uint16_t h = 0;
  if (!free_.pop(h)) return -1;
  SocketEntry& e = entries_[h];
  // Reset the engine-owned part; the atomics keep counting (waiters compare values).
  e.tcp = {};
  e.udp = {};
  e.listening = e.connecting = e.connected = e.connect_failed = false;
  e.acceptable = e.peer_fin = e.closed = e.rd_shut = e.wr_shut = e.has_error = false;
  e.keepalive = e.reuseaddr = e.nodelay = e.rcvbuf = e.sndbuf = 0;
  e.linger_on = e.linger_sec = 0;
  e.connect_timeout_ns = 0;
  e.last_error = 0;
  e.event_fn = nullptr;
  e.event_user = nullptr;
  e.ready.store(0, std::memory_order_relaxed);
  e.nonblock.store(false, std::memory_order_relaxed);
  e.rcvtimeo_ns.store(0, std::memory_order_relaxed);
  e.sndtimeo_ns.store(0, std::memory_order_relaxed);
  return h;
}

void HandleTable::make_live(int handle) {
  SocketEntry& e = at(handle);
  const std::uint32_t gen = (e.state.load(std::memory_order_relaxed) >> 1) + 1;
  e.state.store((gen << 1) | 1u, std::memory_order_release);
  live_.fetch_add(1, std::memory_order_relaxed);
}

void HandleTable::release(int handle) {
  SocketEntry& e = at(handle);
  const std::uint32_t st = e.state.load(std::memory_order_relaxed);
  if ((st & 1u) != 0) {
    e.state.store(st & ~1u, std::memory_order_release);
    live_.fetch_sub(1, std::memory_order_relaxed);
  }
  free_.bounded_push(static_cast<std::uint16_t>(handle));
}

SocketEntry* HandleTable::lookup(int handle, std::uint32_t* generation) {
  if (handle <= 0 || handle >= kMaxSockets) return nullptr;
  SocketEntry& e = entries_[static_cast<std::size_t>(handle)];
  const std::uint32_t st = e.state.load(std::memory_order_acquire);
  if ((st & 1u) == 0) return nullptr;
  if (generation != nullptr) *generation = st >> 1;
  return &e;
}

}  // namespace shardtcp::sockets
