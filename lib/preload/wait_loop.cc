// The idle behaviour of the mixed waits.
#include "preload/wait_loop.h"

#include <sched.h>
#include <sys/time.h>

#include "preload/preload_state.h"
#include "sockets.h"

namespace shardtcp::preload {

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void run_engines() {
  if (!stack_up() || !engine_thread()) return;
  Inside in;
  shardtcp_poll();
}

void idle_step(unsigned& idle) {
  // About 50 us of busy rounds first (a reply usually comes that fast), then yield on
  // every round: with two cores shared by the program, its kernel peer and others, a
  // pure spin would take the core the peer needs to answer.
  constexpr unsigned kSpinRounds = 64;
  if (++idle > kSpinRounds) sched_yield();
}

std::int64_t ms_to_ns(int ms) {
  return ms < 0 ? -1 : std::int64_t{ms} * 1000000;
}

std::int64_t tv_to_ns(const timeval* tv) {
  if (tv == nullptr) return -1;
  return std::int64_t{tv->tv_sec} * 1000000000 + std::int64_t{tv->tv_usec} * 1000;
}

std::int64_t ts_to_ns(const timespec* ts) {
  if (ts == nullptr) return -1;
  return std::int64_t{ts->tv_sec} * 1000000000 + ts->tv_nsec;
}

}  // namespace shardtcp::preload
