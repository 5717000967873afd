// The production clock: the CPU's time-stamp counter, converted to nanoseconds from
// the moment the clock was made. Reading it costs a few cycles, so the engine can
// take `now` once per loop iteration.
#pragma once

#include <cstdint>

#include "common/time.h"

namespace shardtcp {

class TscClock final : public Clock {
 public:
  // Needs EAL initialised (rte_get_tsc_hz is calibrated by rte_eal_init).
  TscClock();
  Instant now() override;

  std::uint64_t hz() const { return hz_; }
  // Converts a raw TSC reading (rte_rdtsc) taken after construction to an Instant.
  Instant from_tsc(std::uint64_t tsc) const;

 private:
  std::uint64_t base_;
  std::uint64_t hz_;
  // ns = (cycles * mult_) >> 32: one multiply instead of a divide per reading.
  unsigned __int128 mult_;
};

}  // namespace shardtcp
