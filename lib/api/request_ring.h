// Requests that ordinary threads post to an engine: a bounded Boost.Lockfree queue of
// pointers to requests living on the poster's stack. The engine runs each request's
// function once per loop iteration and completes it; the poster spins briefly, then
// sleeps on the request's own futex word. No lock and no allocation on either side.
#pragma once

#include <emmintrin.h>

#include <boost/lockfree/queue.hpp>

#include <atomic>
#include <cstdint>

namespace shardtcp::sockets {

// Futex wait/wake on a 32-bit atomic (private to the process). `timeout_ns` < 0: none.
// Returns false on timeout.
bool futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::int64_t timeout_ns);
void futex_wake_all(std::atomic<std::uint32_t>* word);
// Wakes the calling thread has issued (futex_wake_all calls): a driver thread that woke
// someone yields its CPU, in case the woken thread waits for that very CPU.
std::uint64_t wakes_issued();

// How long a waiter spins (in pause instructions) at most before it sleeps: an engine
// on another CPU usually answers well within it, and a sleep costs two system calls
// and a scheduler round trip.
inline constexpr int kSpinPauses = 4000;

// Spins until `done()`, for at most kSpinPauses. True when done() came true.
// (Spinning only while the answering thread visibly makes progress was tried: with two
// busy threads per CPU, as in the benchmark's pairs, the answering thread is often
// preempted for a moment, the waiter then slept far more often, and a woken waiter
// waited for the busy thread on its CPU to give it up: 8x fewer transactions.)
template <class Done>
bool spin_until(Done&& done) {
  for (int i = 0; i < kSpinPauses; ++i) {
    if (done()) return true;
    _mm_pause();
  }
  return done();
}

struct Request {
  // done: kPending, then kSleeping if the poster went to sleep on it, then kDone.
  static constexpr std::uint32_t kPending = 0, kDone = 1, kSleeping = 2;
  long (*fn)(void* arg) = nullptr;
  void* arg = nullptr;
  long result = 0;
  std::atomic<std::uint32_t> done{kPending};
};

class RequestRing {
 public:
  static constexpr std::size_t kDefaultCapacity = 1024;

  // The ring of `engine`, holding at most `capacity` requests (nodes are allocated
  // here, once: posting never allocates).
  explicit RequestRing(std::uint16_t engine, std::size_t capacity = kDefaultCapacity)
      : engine_(engine), queue_(capacity) {}
  // False when the ring is full (back-pressure: the caller retries or fails ENOBUFS).
  bool post(Request* r) {
    if (!queue_.bounded_push(r)) return false;
    pending_.fetch_add(1, std::memory_order_relaxed);
    posted_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  // Requests ever posted (tests: the inline owner's calls post none).
  std::uint64_t posted() const { return posted_.load(std::memory_order_relaxed); }
  // Requests posted and not yet taken by drain() (a snapshot, for tests and dumps).
  std::size_t pending() const { return pending_.load(std::memory_order_relaxed); }
  // Runs and completes every request queued now; returns how many.
  unsigned drain();
  bool empty() const { return queue_.empty(); }
  std::uint16_t engine() const { return engine_; }

 private:
  std::uint16_t engine_;
  std::atomic<std::size_t> pending_{0};
  std::atomic<std::uint64_t> posted_{0};
  boost::lockfree::queue<Request*, boost::lockfree::fixed_sized<true>> queue_;
};

// What a waiter does besides waiting. An engine's thread (`serve` set) keeps serving
// its own engine (draining its ring, or a whole iteration) and never sleeps, so two
// engines asking each other at once cannot deadlock. Another thread spins briefly
// unless `spin` is false (the engine that answers runs on the caller's own CPU: a spin
// would only delay it), then sleeps.
struct WaitHelp {
  unsigned (*serve)(void* arg) = nullptr;
  void* arg = nullptr;
  bool spin = true;
  // Counted up while the caller sleeps, when the thread that answers runs on the
  // caller's CPU: that thread then gives up the CPU after waking it (null: not so).
  std::atomic<int>* same_cpu_sleepers = nullptr;
};

// Sleeps on `word` while it holds `expected` (futex_wait), counted in
// help.same_cpu_sleepers when set.
bool sleep_on(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::int64_t timeout_ns,
              const WaitHelp& help);

// Waits until the engine completed `r` (see WaitHelp).
void wait_done(Request& r, const WaitHelp& help = {});

}  // namespace shardtcp::sockets
