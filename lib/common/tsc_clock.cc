#include "common/tsc_clock.h"

#include <rte_cycles.h>

namespace shardtcp {

TscClock::TscClock() : base_(rte_rdtsc()), hz_(rte_get_tsc_hz()) {
  if (hz_ == 0)
    hz_ = 1'000'000'000;  // EAL not initialised: treat cycles as ns rather than divide by 0
  mult_ = (static_cast<unsigned __int128>(1'000'000'000ULL) << 32) / hz_;
}

Instant TscClock::from_tsc(std::uint64_t tsc) const {
  const std::uint64_t cycles = tsc >= base_ ? tsc - base_ : 0;
  return Instant{static_cast<std::int64_t>((cycles * mult_) >> 32)};
}

Instant TscClock::now() {
  return from_tsc(rte_rdtsc());
}

}  // namespace shardtcp
