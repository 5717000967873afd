#include "api/request_ring.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>

#include "common/fast_tls.h"

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

namespace {
SHARDTCP_FAST_TLS thread_local std::uint64_t tl_wakes = 0;
}  // namespace

std::uint64_t wakes_issued() {
  return tl_wakes;
}

void futex_wake_all(std::atomic<std::uint32_t>* word) {
  ++tl_wakes;
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
          nullptr, 0);
}

unsigned RequestRing::drain() {
  // Every engine iteration comes here, and most find nothing: one relaxed load instead
  // of the queue's tagged-pointer pop (about 60 instructions). A request whose poster
  // has pushed it but not yet counted it is taken on the next iteration.
  if (pending_.load(std::memory_order_relaxed) == 0) return 0;
  unsigned n = 0;
  Request* r = nullptr;
  while (queue_.pop(r)) {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    r->result = r->fn(r->arg);
    // A system call only when the poster went to sleep. It may have returned already
    // (it saw kDone while re-checking); waking a futex word that is gone wakes nobody,
    // or spuriously someone who re-checks.
    if (r->done.exchange(Request::kDone, std::memory_order_acq_rel) == Request::kSleeping)
      futex_wake_all(&r->done);
    ++n;
  }
  return n;
}

void wait_done(Request& r, const WaitHelp& help) {
  if (help.serve != nullptr) {
    while (r.done.load(std::memory_order_acquire) != Request::kDone) {
      help.serve(help.arg);
      _mm_pause();
    }
    return;
  }
  if (help.spin &&
      spin_until([&] { return r.done.load(std::memory_order_acquire) == Request::kDone; }))
    return;
  std::uint32_t expected = Request::kPending;
  if (!r.done.compare_exchange_strong(expected, Request::kSleeping, std::memory_order_acq_rel))
    return;  // completed meanwhile
  while (r.done.load(std::memory_order_acquire) != Request::kDone)
    sleep_on(&r.done, Request::kSleeping, -1, help);
}

bool sleep_on(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::int64_t timeout_ns,
              const WaitHelp& help) {
  if (help.same_cpu_sleepers != nullptr) help.same_cpu_sleepers->fetch_add(1);
  const bool woken = futex_wait(word, expected, timeout_ns);
  if (help.same_cpu_sleepers != nullptr) help.same_cpu_sleepers->fetch_sub(1);
  return woken;
}

}  // namespace shardtcp::sockets
