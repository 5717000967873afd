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
  long (*fn)(void* arg) = nullptr;
  void* arg = nullptr;
  long result = 0;
  std::atomic<std::uint32_t> done{0};
};

class RequestRing {
 public:
  static constexpr std::size_t kCapacity = 1024;

  // False when the ring is full (back-pressure: the caller retries or fails ENOBUFS).
  bool post(Request* r) { return queue_.bounded_push(r); }
  // Runs and completes every request queued now; returns how many.
  unsigned drain();
  bool empty() const { return queue_.empty(); }

 private:
  boost::lockfree::queue<Request*, boost::lockfree::capacity<kCapacity>> queue_;
};

// Waits until the engine completed `r`: spins briefly (the engine usually answers
// within one loop iteration), then sleeps on r->done.
void wait_done(Request& r);

}  // namespace shardtcp::sockets
