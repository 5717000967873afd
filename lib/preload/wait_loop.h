// The loop behind poll(), select() and epoll_wait() over stack sockets and kernel
// descriptors together: each round runs the stack's engines once (when this thread
// runs them), reads the stack sockets' readiness and asks the kernel about its
// descriptors with a zero timeout; it ends when something is ready, an error or a
// signal comes, or the deadline passes. The engines are polled (run to completion),
// so a waiting program keeps its core busy, as a DPDK program does; after a stretch of
// idle rounds each round also yields the CPU, so a peer on the same core is not
// starved.
#pragma once

#include <cerrno>
#include <cstdint>
#include <ctime>

#include "preload/signals.h"

namespace shardtcp::preload {

// Monotonic nanoseconds.
std::int64_t mono_ns();

// Calls `round()` until it returns non-zero (a count, or -1 with errno set), a signal
// handler runs (-1, EINTR), or `timeout_ns` passes (< 0: no limit; 0: one round).
// Returns the last round's result.
template <class Round>
int wait_rounds(std::int64_t timeout_ns, Round&& round);

// One idle step between rounds: runs the engines if this thread owns them, and yields
// the CPU after many idle rounds in a row (`idle` counts them).
void idle_step(unsigned& idle);
// One engine round (inside the library's guard); no-op on threads that do not run it.
void run_engines();

template <class Round>
int wait_rounds(std::int64_t timeout_ns, Round&& round) {
  const std::int64_t deadline = timeout_ns > 0 ? mono_ns() + timeout_ns : 0;
  const std::uint32_t signals = signals_delivered();
  unsigned idle = 0;
  for (;;) {
    run_engines();
    const int n = round();
    if (n != 0 || timeout_ns == 0) return n;
    // A handler ran while nothing was ready: EINTR, as the kernel's wait returns.
    if (signals_delivered() != signals) {
      errno = EINTR;
      return -1;
    }
    if (deadline != 0 && mono_ns() >= deadline) return 0;
    idle_step(idle);
  }
}

// A round's zero-timeout kernel call failed with EINTR: a signal came during it, maybe
// one the program does not handle (DPDK's TAP SIGIO). Not the round's failure:
// wait_rounds() returns EINTR if a program handler ran.
inline bool kernel_interrupted() {
  return errno == EINTR;
}

// Milliseconds (poll, epoll: < 0 forever), timeval and timespec (null: forever) as
// the nanoseconds wait_rounds() takes.
std::int64_t ms_to_ns(int ms);
std::int64_t tv_to_ns(const timeval* tv);
std::int64_t ts_to_ns(const timespec* ts);

}  // namespace shardtcp::preload
