#include "api/request_ring.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>

#include <emmintrin.h>

namespace shardtcp::sockets {

bool futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::int64_t timeout_ns) {
  timespec ts{};
  timespec* tp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
    tp = &ts;
  }
  const long r = syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_PRIVATE,
                         expected, tp, nullptr, 0);
  return !(r == -1 && errno == ETIMEDOUT);
}

void futex_wake_all(std::atomic<std::uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
          nullptr, 0);
}

unsigned RequestRing::drain() {
  unsigned n = 0;
  Request* r = nullptr;
  while (queue_.pop(r)) {
    r->result = r->fn(r->arg);
    r->done.store(1, std::memory_order_release);
    // The poster may already have returned (it saw done while spinning); waking a
    // futex word that is gone wakes nobody, or spuriously someone who re-checks.
    futex_wake_all(&r->done);
    ++n;
  }
  return n;
}

void wait_done(Request& r) {
  for (int i = 0; i < 4000; ++i) {
    if (r.done.load(std::memory_order_acquire) != 0) return;
    _mm_pause();
  }
  while (r.done.load(std::memory_order_acquire) == 0) futex_wait(&r.done, 0, -1);
}

}  // namespace shardtcp::sockets
