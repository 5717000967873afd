// Time as the stack sees it: nanoseconds from an injected clock.
// The TCP core and the timer wheel never read a clock themselves; the engine
// passes `now` in, so tests drive time with a VirtualClock.
#pragma once

#include <chrono>
#include <cstdint>

namespace shardtcp {

using Duration = std::chrono::nanoseconds;

// A point on the engine's clock. Zero is "the epoch of this clock", not wall time.
struct Instant {
  std::int64_t ns = 0;

  friend constexpr bool operator==(Instant, Instant) = default;
  friend constexpr auto operator<=>(Instant, Instant) = default;
  constexpr Instant operator+(Duration d) const { return Instant{ns + d.count()}; }
  constexpr Instant operator-(Duration d) const { return Instant{ns - d.count()}; }
  constexpr Duration operator-(Instant o) const { return Duration{ns - o.ns}; }
  static constexpr Instant never() { return Instant{INT64_MAX}; }
};

// Where an engine gets `now` from. Production uses the TSC; tests use VirtualClock;
// an embedding application may supply its own.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Instant now() = 0;
};

// A clock that moves only when told to: deterministic timer tests.
class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(Instant start = Instant{1'000'000'000}) : now_(start) {}
  Instant now() override { return now_; }
  void advance(Duration d) { now_ = now_ + d; }
  void set(Instant t) { now_ = t; }

 private:
  Instant now_;
};

}  // namespace shardtcp
