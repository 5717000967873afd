// The table of sockets behind <sockets.h> handles.
//
// A handle is a small positive int (1 .. kMaxSockets-1) so that it fits an fd_set for
// select(). Each entry carries a generation and a live bit in one atomic word: a
// handle that was never issued, was closed, or is negative or too large is rejected
// (ENOTSOCK) in O(1) with one load, no lock. Freed entries go to the back of a FIFO
// free list, so a closed handle is reused as late as possible. Requests carry the
// generation they validated, and the owning engine re-checks it before acting, so a
// request racing a close never touches the socket that next takes the entry.
//
// Fields below "engine-owned" are read and written only on the owning engine's thread
// (inside requests and native-layer callbacks). The atomics are what other threads
// read: readiness (select), the event counter blocking calls sleep on, and options
// kept on the API side (non-blocking, timeouts).
#pragma once

#include <boost/lockfree/queue.hpp>

#include <array>
#include <atomic>
#include <cstdint>

#include "tcp/tcp_layer.h"
#include "udp/udp_layer.h"

namespace shardtcp::sockets {

// Readiness bits published by the engine.
inline constexpr std::uint32_t kReadable = 1;  // data, EOF, error, or (listener) a connection
inline constexpr std::uint32_t kWritable = 2;  // connected with send space, or failed connect
inline constexpr std::uint32_t kErrorBit = 4;  // a pending error (exception set)

struct SocketEntry {
  std::atomic<std::uint32_t> state{0};   // generation << 1 | live
  std::atomic<std::uint32_t> events{0};  // bumped on every event; blocking calls wait on it
  std::atomic<std::uint32_t> ready{0};
  std::atomic<std::uint32_t> waiters{0};  // threads asleep on `events`
  std::atomic<bool> nonblock{false};
  std::atomic<std::int64_t> rcvtimeo_ns{0};  // 0: wait forever
  std::atomic<std::int64_t> sndtimeo_ns{0};
  std::uint16_t engine = 0;  // owner; set before the entry goes live
  int type = 0;              // SOCK_STREAM / SOCK_DGRAM
  int family = 0;

  // ---- engine-owned
  TcpConnId tcp;
  UdpSocketId udp;
  bool listening = false;
  bool connecting = false;      // a TCP connect was started and has not been reported
  bool connected = false;       // established (TCP) / has a peer (UDP)
  bool connect_failed = false;  // the handshake failed; the error is pending
  bool acceptable = false;      // listener: kAcceptable seen, not yet drained
  bool peer_fin = false;
  bool closed = false;     // the native layer reported kClosed
  int last_error = 0;      // a failed connect's error, once read (repeated by connect)
  bool has_error = false;  // a kError was reported and not yet read (SO_ERROR / a call)
  bool rd_shut = false;
  bool wr_shut = false;
  // Option shadows for getsockopt (the native layer has setters only).
  int keepalive = 0, reuseaddr = 0, nodelay = 0, rcvbuf = 0, sndbuf = 0;
  int linger_on = 0, linger_sec = 0;
  std::int64_t connect_timeout_ns = 0;
  // The application's event callback (shardtcp_set_event_callback).
  void (*event_fn)(int s, int event, int value, void* user) = nullptr;
  void* event_user = nullptr;

  std::uint32_t generation() const { return state.load(std::memory_order_acquire) >> 1; }
};

class HandleTable {
 public:
  static constexpr int kMaxSockets = 1024;  // FD_SETSIZE: handles must fit an fd_set

  HandleTable();
  // A fresh entry (not yet live); -1 when all are in use.
  int allocate();
  // Publishes an allocated entry: it answers to its handle from now on.
  void make_live(int handle);
  // Retires a live entry (the next generation) and returns it to the free list.
  void release(int handle);
  // The live entry of `handle` and its generation, or null (ENOTSOCK).
  SocketEntry* lookup(int handle, std::uint32_t* generation = nullptr);
  SocketEntry& at(int handle) { return entries_[static_cast<std::size_t>(handle)]; }
  bool still(int handle, std::uint32_t generation) {
    return entries_[static_cast<std::size_t>(handle)].state.load(std::memory_order_acquire) ==
           ((generation << 1) | 1u);
  }
  int live_count() const { return live_.load(std::memory_order_relaxed); }

 private:
  std::array<SocketEntry, kMaxSockets> entries_;
  boost::lockfree::queue<std::uint16_t, boost::lockfree::capacity<kMaxSockets>> free_;
  std::atomic<int> live_{0};
};

}  // namespace shardtcp::sockets
