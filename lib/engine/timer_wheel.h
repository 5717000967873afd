// A hierarchical timer wheel for very many timers (one or more per TCP connection,
// ARP entries): O(1) schedule, cancel and reschedule through intrusive Timer handles
// embedded in their owners, so arming a timer never allocates.
//
// Four levels of 256, 64, 64 and 64 slots cover 2^26 ticks (18.6 hours at 1 ms);
// timers further out park in the last level and are re-filed when it turns. A timer
// fires at the first advance() whose `now` is at or past its expiry, never earlier,
// and at most one tick late.
#pragma once

#include <array>
#include <cstdint>

#include "common/time.h"

namespace shardtcp {

class TimerWheel;

// Embed one in the object the timer belongs to. Not copyable or movable (the wheel
// links to it); destroying an armed timer cancels it.
class Timer {
 public:
  Timer() = default;
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  bool armed() const { return wheel_ != nullptr; }
  Instant expiry() const { return expiry_; }

  // Free for the owner: e.g. which of its timers this is.
  std::uintptr_t tag = 0;

 private:
  friend class TimerWheel;
  void unlink() {
    prev_->next_ = next_;
    next_->prev_ = prev_;
    prev_ = next_ = this;
  }
  Timer* prev_ = this;
  Timer* next_ = this;
  TimerWheel* wheel_ = nullptr;
  std::uint64_t expiry_tick_ = 0;
  Instant expiry_{};
};

class TimerWheel {
 public:
  // `start`: the current time; `tick`: the granularity (1 ms suits TCP).
  explicit TimerWheel(Instant start, Duration tick = std::chrono::milliseconds(1));
  ~TimerWheel();  // disarms every timer still scheduled
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms `t` to fire at `expiry`; re-arms it if it was already scheduled (on this
  // wheel or another). An expiry in the past fires at the next advance().
  void schedule(Timer& t, Instant expiry);
  // Disarms `t` if armed; safe from inside a firing callback, for any timer.
  void cancel(Timer& t);

  // Fires, in expiry-tick order, every timer due at `now`: calls fn(Timer&) with the
  // timer already disarmed, so the callback may re-arm it, cancel others or schedule
  // new ones. Timers armed by a callback for a time <= now fire at the next advance.
  template <typename F>
  void advance(Instant now, F&& fn);

  std::size_t size() const { return count_; }
  Duration tick() const { return Duration{tick_ns_}; }
  // The current tick's time (what the wheel thinks `now` is, rounded down).
  Instant current() const {
    return Instant{origin_ns_ + static_cast<std::int64_t>(now_tick_) * tick_ns_};
  }

 private:
  static constexpr int kLevel0Bits = 8;
  static constexpr int kLevelBits = 6;
  static constexpr int kLevels = 4;
  static constexpr std::size_t kLevel0Size = 1u << kLevel0Bits;
  static constexpr std::size_t kLevelSize = 1u << kLevelBits;
  static constexpr std::size_t kSlots = kLevel0Size + (kLevels - 1) * kLevelSize;
  static constexpr std::uint64_t kMaxDelta =
      (std::uint64_t{1} << (kLevel0Bits + (kLevels - 1) * kLevelBits)) - 1;

  std::uint64_t tick_of(Instant t) const;  // ceil: a timer never fires early
  void file(Timer& t, bool cascading);     // puts an armed timer in its slot
  void cascade(int level);
  static void push_back(Timer& head, Timer& t) {
    t.prev_ = head.prev_;
    t.next_ = &head;
    head.prev_->next_ = &t;
    head.prev_ = &t;
  }
  // Moves every timer of `from` onto the (empty) list `to`.
  static void splice(Timer& from, Timer& to);
  template <typename F>
  void fire_list(Timer& list, F& fn);

  std::int64_t origin_ns_;
  std::int64_t tick_ns_;
  std::uint64_t now_tick_ = 0;
  std::size_t count_ = 0;
  std::array<Timer, kSlots> slots_;  // list heads (sentinels)
  Timer expired_;                    // armed for a tick already passed: fire next advance
};

template <typename F>
void TimerWheel::fire_list(Timer& list, F& fn) {
  // Fire from a private list: callbacks may cancel (unlink) any timer, including the
  // ones still waiting here, and re-arm into the wheel without disturbing this walk.
  while (list.next_ != &list) {
    Timer* t = list.next_;
    t->unlink();
    t->wheel_ = nullptr;
    --count_;
    fn(*t);
  }
}

template <typename F>
void TimerWheel::advance(Instant now, F&& fn) {
  if (expired_.next_ != &expired_) {
    Timer due;
    splice(expired_, due);
    fire_list(due, fn);
  }
  const std::int64_t since = now.ns - origin_ns_;
  if (since < 0) return;
  const auto target = static_cast<std::uint64_t>(since / tick_ns_);
  while (now_tick_ < target) {
    if (count_ == 0) {  // nothing armed: jump instead of walking empty slots
      now_tick_ = target;
      break;
    }
    ++now_tick_;
    if ((now_tick_ & (kLevel0Size - 1)) == 0) {
      for (int level = 1; level < kLevels; ++level) {
        cascade(level);
        const int shift = kLevel0Bits + (level - 1) * kLevelBits;
        if (((now_tick_ >> shift) & (kLevelSize - 1)) != 0) break;
      }
    }
    Timer& slot = slots_[now_tick_ & (kLevel0Size - 1)];
    if (slot.next_ != &slot) {
      Timer due;
      splice(slot, due);
      fire_list(due, fn);
    }
  }
}

}  // namespace shardtcp
