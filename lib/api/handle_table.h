// The table of sockets behind <sockets.h> handles.
//
// A handle is a positive int that encodes the socket's slot, the engine that owned it
// when it was created, and a generation:
//
//   bit 31: 0 | bits 30..24: generation (1..127) | bits 23..20: engine | bits 19..0: slot
//
// so a handle that was never issued, was closed (its slot's generation moved on), is
// negative, names another engine or a slot beyond the table is rejected (ENOTSOCK) in
// O(1) with one load, no lock. Handles do not fit a glibc fd_set: <sockets.h> gives
// select() its own set of handles, as Winsock does.
//
// Slots live in chunks of 4096 entries, created on demand (lock-free: a fetch_add for
// the next fresh slot, a CAS to publish the chunk) and kept until the table goes, so an
// entry's address never changes and up to 2^20 sockets can be open. Freed slots go to
// the back of a FIFO free list, so a slot (and its handle's generation) is reused as
// late as possible. Requests carry the generation they validated, and the owning
// engine re-checks it before acting, so a request racing a close never touches the
// socket that next takes the slot.
//
// Fields below "engine-owned" are read and written only on the owning engine's thread
// (inside requests and native-layer callbacks). The atomics are what other threads
// read: readiness (select), the event counter blocking calls sleep on, and options
// kept on the API side (non-blocking, timeouts).
#pragma once

#include <boost/lockfree/queue.hpp>

#include <algorithm>
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
// Hang-ups, as Linux's tcp_poll() derives them from sk_shutdown and the state: the
// receive side is shut (the peer's FIN, shutdown(SHUT_RD), a reset or the end of the
// connection), and both sides are (that and shutdown(SHUT_WR), or the connection is
// gone: reset, refused, timed out, fully closed).
inline constexpr std::uint32_t kRdHupBit = 8;
inline constexpr std::uint32_t kHupBit = 16;

// A listening socket's listeners, one per engine (each engine accepts the connections
// whose SYN it owns). `acceptable` has bit k set while engine k's accept queue is not
// empty; only engine k's thread changes bit k.
struct ListenGroup {
  std::vector<TcpConnId> ids;  // index: engine
  std::atomic<std::uint32_t> acceptable{0};
  std::atomic<std::uint32_t> next{0};  // where accept() starts looking: fairness
};

struct ReadinessSet;

struct SocketEntry {
  std::atomic<std::uint32_t> state{0};   // generation, engine, live (HandleTable::state_word)
  std::atomic<std::uint32_t> events{0};  // bumped on every event; blocking calls wait on it
  std::atomic<std::uint32_t> ready{0};
  std::atomic<std::uint32_t> waiters{0};  // threads asleep on `events`
  std::atomic<bool> nonblock{false};
  std::atomic<std::int64_t> rcvtimeo_ns{0};  // 0: wait forever
  std::atomic<std::int64_t> sndtimeo_ns{0};
  // AF_INET6 only: IPV6_V6ONLY. Off, the socket is dual-stack as a Linux `::` socket is
  // by default: bound to `::` it takes IPv4 too, and IPv4 peers and addresses appear
  // v4-mapped (::ffff:a.b.c.d). Read by the calls' address parsing on the caller's
  // thread; changed only before the socket has a port.
  std::atomic<bool> v6only{true};
  std::uint16_t engine = 0;  // owner; set before the entry goes live
  int type = 0;              // SOCK_STREAM / SOCK_DGRAM
  int family = 0;

  // ---- engine-owned
  TcpConnId tcp;
  UdpSocketId udp;
  bool listening = false;
  std::unique_ptr<ListenGroup> group;  // a listener's per-engine listeners
  bool connecting = false;             // a TCP connect was started and has not been reported
  bool connected = false;              // established (TCP) / has a peer (UDP)
  bool connect_failed = false;         // the handshake failed; the error is pending
  bool peer_fin = false;
  bool closed = false;     // the native layer reported kClosed
  int last_error = 0;      // a failed connect's error, once read (repeated by connect)
  bool has_error = false;  // a kError was reported and not yet read (SO_ERROR / a call)
  bool rd_shut = false;
  bool wr_shut = false;
  // The most send space ever seen free (the send buffer's size, learnt): the socket is
  // writable again once a third of it is free, not at every freed byte, so a blocked
  // sender is woken once per stretch of ACKs (hysteresis, as Linux's sk_stream_wspace).
  long send_space_max = 0;
  // Option shadows for getsockopt (the native layer has setters only).
  int keepalive = 0, reuseaddr = 0, nodelay = 0, rcvbuf = 0, sndbuf = 0;
  int linger_on = 0, linger_sec = 0;
  // IPPROTO_TCP ones (0: the default).
  int cork = 0, maxseg = 0, keepidle_s = 0, keepintvl_s = 0, keepcnt = 0, user_timeout_ms = 0;
  std::uint32_t notsent_lowat = UINT32_MAX;
  std::int64_t connect_timeout_ns = 0;
  // The application's event callback (shardtcp_set_event_callback).
  void (*event_fn)(int s, int event, int value, void* user) = nullptr;
  void* event_user = nullptr;

  // ---- the readiness set watching this socket (shardtcp_epoll_ctl), if any: what it
  // wants, the caller's data, the handle it knows the socket by, and whether the handle
  // sits in the set's queue (at most once).
  std::atomic<ReadinessSet*> watcher{nullptr};
  std::atomic<std::uint32_t> watch_events{0};
  void* watch_data = nullptr;
  int watch_handle = 0;
  std::atomic<bool> queued{false};
};

class HandleTable {
 public:
  static constexpr int kSlotBits = 20;
  static constexpr int kEngineBits = 4;
  static constexpr int kGenerationBits = 7;
  static constexpr std::uint32_t kMaxSlots = 1u << kSlotBits;
  static constexpr std::uint16_t kMaxEngines = 1u << kEngineBits;
  static constexpr std::uint32_t kChunkBits = 12;
  static constexpr std::uint32_t kChunkSize = 1u << kChunkBits;

  HandleTable();
  ~HandleTable();
  HandleTable(const HandleTable&) = delete;
  HandleTable& operator=(const HandleTable&) = delete;

  // A fresh entry owned by `engine` (< kMaxEngines), not yet live, and the handle it
  // will answer to; -1 when all kMaxSlots are in use.
  int allocate(std::uint16_t engine);
  // Publishes an allocated entry: it answers to its handle from now on.
  void make_live(int handle);
  // Retires the entry (a live one stops answering) and returns its slot to the free list.
  void release(int handle);
  // The live entry of `handle`, or null (ENOTSOCK). *generation gets the entry's state
  // word as validated, for still().
  SocketEntry* lookup(int handle, std::uint32_t* generation = nullptr);
  // The entry of an allocated handle (live or not yet).
  SocketEntry& at(int handle) { return *entry_of(slot_of(handle)); }
  // True while the entry is still the live socket that lookup() validated.
  bool still(int handle, std::uint32_t generation) {
    SocketEntry* e = entry_of(slot_of(handle));
    return e != nullptr && e->state.load(std::memory_order_acquire) == generation;
  }
  int live_count() const { return live_.load(std::memory_order_relaxed); }
  // Calls f(handle) for every live handle (snapshot; entries may close meanwhile).
  template <class F>
  void for_each_live(F&& f) {
    const std::uint32_t n = std::min(fresh_.load(std::memory_order_acquire), kMaxSlots);
    for (std::uint32_t slot = 0; slot < n; ++slot) {
      SocketEntry* e = entry_of(slot);
      if (e == nullptr) continue;
      const std::uint32_t st = e->state.load(std::memory_order_acquire);
      if ((st & 1u) != 0)
        f(encode(st >> kStateGenShift, static_cast<std::uint16_t>((st >> 1) & (kMaxEngines - 1)),
                 slot));
    }
  }

  static int encode(std::uint32_t generation, std::uint16_t engine, std::uint32_t slot) {
    return static_cast<int>((generation << (kSlotBits + kEngineBits)) |
                            (std::uint32_t{engine} << kSlotBits) | slot);
  }
  // The entry's state word: generation, the engine the handle names, live.
  static constexpr int kStateGenShift = 1 + kEngineBits;
  static std::uint32_t state_word(std::uint32_t generation, std::uint16_t engine, bool live) {
    return (generation << kStateGenShift) | (std::uint32_t{engine} << 1) | (live ? 1u : 0u);
  }
  static std::uint32_t slot_of(int handle) {
    return static_cast<std::uint32_t>(handle) & (kMaxSlots - 1);
  }

 private:
  SocketEntry* entry_of(std::uint32_t slot) const {
    SocketEntry* chunk = chunks_[slot >> kChunkBits].load(std::memory_order_acquire);
    return chunk == nullptr ? nullptr : chunk + (slot & (kChunkSize - 1));
  }
  SocketEntry* fresh_slot(std::uint32_t* slot);

  std::array<std::atomic<SocketEntry*>, kMaxSlots / kChunkSize> chunks_{};
  std::atomic<std::uint32_t> fresh_{0};  // slots below it have been handed out once
  boost::lockfree::queue<std::uint32_t> free_{kChunkSize};
  std::atomic<int> live_{0};
};

}  // namespace shardtcp::sockets
