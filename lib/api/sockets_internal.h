// Internals shared by the sockets runtime and the calls: the global Runtime, posting a
// function to an engine, and the readiness bookkeeping run on the engine thread.
#pragma once

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#include "api/handle_table.h"
#include "api/request_ring.h"
#include "api/sockets_runtime.h"
#include "common/tsc_clock.h"

namespace shardtcp::sockets {

struct Runtime {
  // At process exit without detach(): stop the driver thread (a joinable std::thread
  // would terminate the process); sockets are left to the Stack's destructor.
  ~Runtime() {
    if (driver.joinable()) {
      stop.store(true);
      driver_word.fetch_add(1);
      futex_wake_all(&driver_word);
      driver.join();
    }
  }
  std::atomic<Stack*> stack{nullptr};
  // Timeouts of blocking calls and select(): the TSC, read in a few nanoseconds (a run
  // to completion loop checks its deadline on every round of the engines, and
  // clock_gettime through the vDSO cost ~9% of a TCP_CRR run). Made by attach().
  std::unique_ptr<TscClock> tsc;
  std::unique_ptr<Stack> owned;  // built by shardtcp_init
  HandleTable table;
  std::vector<std::unique_ptr<RequestRing>> rings;
  AttachOptions options;
  std::thread driver;
  std::atomic<bool> stop{false};
  std::atomic<std::uint32_t> driver_word{0};  // posters bump it to wake an idle driver
  std::atomic<bool> driver_sleeping{false};
  std::atomic<int> driver_cpu{-1};        // the CPU the driver thread last ran on (-1: none)
  std::atomic<int> same_cpu_sleepers{0};  // WaitHelp::same_cpu_sleepers
  // kPerThread: engines an application thread has claimed (claim_engine).
  std::array<std::atomic<bool>, HandleTable::kMaxEngines> claimed{};
  std::atomic<std::uint32_t> next_engine{0};
  // Bumped on every socket event; select() sleeps on it.
  std::atomic<std::uint32_t> epoch{0};
  std::atomic<std::uint32_t> epoch_waiters{0};
  // shardtcp_set_interrupt_check's function (null: blocking calls are never
  // interrupted). Kept across detach(): it is the process's, not the stack's.
  std::atomic<unsigned (*)(int)> interrupt{nullptr};
};

Runtime& runtime();
// The C calls' failure: errno = `err` (positive), -1.
inline int fail_with(int err) {
  errno = err;
  return -1;
}
// True on a thread that runs an engine (the inline owner, the driver thread, the
// embedding application's polling thread, a worker lcore).
bool on_engine_thread();

// How the calling thread waits for a socket to become ready.
enum class WaitStyle {
  kSleep,  // an ordinary thread: sleeps on the socket's futex word, an engine serves it
  kPoll,   // runs every engine itself and is not inside an engine iteration (the inline
           // owner; an embedding application between its polls): runs the engines
           // (poll_inline) until the socket is ready
  kNever,  // inside an engine iteration (a callback, a request, InsideEngine) or on a
           // worker lcore: blocking calls act as non-blocking ones
};
WaitStyle wait_style();
// Monotonic nanoseconds for deadlines (the TSC once a stack is attached).
std::int64_t now_ns();
// Waits until `word` moves past `seq` or `wait_ns` passes (< 0: no limit), the way the
// calling thread waits (wait_style): an ordinary thread sleeps on the word (`waiters`
// tells the engine someone does), the inline owner runs its engines once. kNever
// threads do not come here.
void wait_for_event(std::atomic<std::uint32_t>& word, std::atomic<std::uint32_t>& waiters,
                    std::uint32_t seq, std::int64_t wait_ns);
// A kPoll thread's wait: one iteration of every engine, then AttachOptions::extra_poll.
// Returns the frames handled.
unsigned poll_inline();
// True when the calling thread runs `engine` itself: its work runs inline.
bool runs_engine(std::uint16_t engine);
// How the calling thread waits for a request it posted (request_ring.h's WaitHelp):
// an engine's thread keeps serving its own engine, another spins unless the driver
// thread shares its CPU.
WaitHelp wait_help();
// kPerThread: the engine the calling thread claimed, in *engine; false for others.
bool thread_engine(std::uint16_t* engine);

template <class F>
long invoke_request(void* arg) {
  return (*static_cast<F*>(arg))();
}

// Runs `f` on the owning engine: inline on the engine thread, else posted to its ring
// and waited for. A full ring blocks (yields) unless `may_wait` is false: ENOBUFS.
template <class F>
long on_engine(std::uint16_t engine, F&& f, bool may_wait = true) {
  if (runs_engine(engine)) return f();
  Runtime& rt = runtime();
  using Fn = std::remove_reference_t<F>;
  Request r;
  r.fn = &invoke_request<Fn>;
  r.arg = static_cast<void*>(&f);
  while (!rt.rings[engine]->post(&r)) {
    if (!may_wait) return -ENOBUFS;
    std::this_thread::yield();
  }
  if (rt.driver_sleeping.load(std::memory_order_acquire)) {
    rt.driver_word.fetch_add(1, std::memory_order_release);
    futex_wake_all(&rt.driver_word);
  }
  wait_done(r, wait_help());
  return r.result;
}

// Engine thread: recomputes the entry's readiness from the native layer and wakes
// whoever waits on it when a readiness bit came on (not on every event: a waiter is
// woken once per change it waits for).
void refresh(SocketEntry& e);
// Wakes whoever waits on the entry (and select()), whatever changed: a close.
void wake_waiters(SocketEntry& e);
// Native-layer callbacks; `user` is the handle.
void on_tcp_event(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value);
void on_udp_event(int handle, UdpSocketId id, UdpEvent ev);

}  // namespace shardtcp::sockets
