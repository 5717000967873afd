#include "engine/timer_wheel.h"

namespace shardtcp {

Timer::~Timer() {
  if (wheel_ != nullptr) wheel_->cancel(*this);
}

TimerWheel::TimerWheel(Instant start, Duration tick)
    : origin_ns_(start.ns), tick_ns_(tick.count() > 0 ? tick.count() : 1) {}

TimerWheel::~TimerWheel() {
  auto disarm_all = [](Timer& head) {
    while (head.next_ != &head) {
      Timer* t = head.next_;
      t->unlink();
      t->wheel_ = nullptr;
    }
  };
  for (Timer& s : slots_) disarm_all(s);
  disarm_all(expired_);
}

std::uint64_t TimerWheel::tick_of(Instant t) const {
  const std::int64_t since = t.ns - origin_ns_;
  if (since <= 0) return 0;
  return static_cast<std::uint64_t>((since + tick_ns_ - 1) / tick_ns_);
}

void TimerWheel::splice(Timer& from, Timer& to) {
  if (from.next_ == &from) return;
  to.next_ = from.next_;
  to.prev_ = from.prev_;
  to.next_->prev_ = &to;
  to.prev_->next_ = &to;
  from.next_ = from.prev_ = &from;
}

void TimerWheel::file(Timer& t, bool cascading) {
  const std::uint64_t e = t.expiry_tick_;
  if (e <= now_tick_) {
    // During a cascade the current level-0 slot is about to fire, so a timer due now
    // goes there; otherwise that slot has already fired and the timer waits for the
    // next advance().
    push_back(cascading ? slots_[now_tick_ & (kLevel0Size - 1)] : expired_, t);
    return;
  }
  std::uint64_t delta = e - now_tick_;
  std::uint64_t where = e;
  if (delta > kMaxDelta) {  // beyond the wheel: park at its far end, re-filed on cascade
    delta = kMaxDelta;
    where = now_tick_ + kMaxDelta;
  }
  if (delta < kLevel0Size) {
    push_back(slots_[where & (kLevel0Size - 1)], t);
    return;
  }
  for (int level = 1; level < kLevels; ++level) {
    const int shift = kLevel0Bits + (level - 1) * kLevelBits;
    if (delta < (std::uint64_t{1} << (shift + kLevelBits)) || level == kLevels - 1) {
      const std::size_t idx =
          kLevel0Size + (level - 1) * kLevelSize + ((where >> shift) & (kLevelSize - 1));
      push_back(slots_[idx], t);
      return;
    }
  }
}

void TimerWheel::cascade(int level) {
  const int shift = kLevel0Bits + (level - 1) * kLevelBits;
  const std::size_t idx =
      kLevel0Size + (level - 1) * kLevelSize + ((now_tick_ >> shift) & (kLevelSize - 1));
  Timer list;
  splice(slots_[idx], list);
  while (list.next_ != &list) {
    Timer* t = list.next_;
    t->unlink();
    file(*t, /*cascading=*/true);
  }
}

void TimerWheel::schedule(Timer& t, Instant expiry) {
  if (t.wheel_ != nullptr) t.wheel_->cancel(t);
  t.expiry_ = expiry;
  t.expiry_tick_ = tick_of(expiry);
  t.wheel_ = this;
  ++count_;
  file(t, /*cascading=*/false);
}

void TimerWheel::cancel(Timer& t) {
  if (t.wheel_ != this) {
    if (t.wheel_ != nullptr) t.wheel_->cancel(t);
    return;
  }
  t.unlink();
  t.wheel_ = nullptr;
  --count_;
}

}  // namespace shardtcp
