// Requests that ordinary threads post to an engine: a bounded Boost.Lockfree queue of
// pointers to requests living on the poster's stack. The engine runs each request's
// function once per loop iteration and completes it; the poster spins briefly, then
// sleeps on the request's own futex word. No lock and no allocation on either side.
#pragma once

#include <boost/lockfree/queue.hpp>

#include <atomic>
#include <cstdint>

namespace shardtcp::sockets {

// Futex wait/wake on a 32-bit atomic (private to the process). `timeout_ns` < 0: none.
// Returns false on timeout.
bool futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::int64_t timeout_ns);
void futex_wake_all(std::atomic<std::uint32_t>* word);

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

// Waits until the engine completed `r`: spins briefly (the engine usually answers
// within one loop iteration), then sleeps on r->done. `help`, when not null, is the
// caller's own engine ring (the caller is another engine's thread): it keeps being
// drained while waiting and the caller never sleeps, so two engines asking each
// other at once cannot deadlock.
void wait_done(Request& r, RequestRing* help = nullptr);

}  // namespace shardtcp::sockets
