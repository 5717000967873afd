#include "engine/timer_wheel.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

namespace shardtcp {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr Instant kStart{1'000'000'000};

struct Fired {
  std::vector<std::uintptr_t> tags;
  std::vector<Instant> at;
};

TEST(TimerWheel, FiresAtExpiryNeverBefore) {
  TimerWheel wheel(kStart, milliseconds(1));
  Timer t;
  t.tag = 7;
  wheel.schedule(t, kStart + milliseconds(10) + std::chrono::microseconds(300));
  EXPECT_TRUE(t.armed());
  EXPECT_EQ(wheel.size(), 1u);
  int fired = 0;
  auto count = [&](Timer& x) {
    EXPECT_EQ(x.tag, 7u);
    EXPECT_FALSE(x.armed());
    ++fired;
  };
  wheel.advance(kStart + milliseconds(10), count);
  EXPECT_EQ(fired, 0);
  wheel.advance(kStart + milliseconds(10) + std::chrono::microseconds(299), count);
  EXPECT_EQ(fired, 0);
  wheel.advance(kStart + milliseconds(11), count);  // next tick boundary: due
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(wheel.size(), 0u);
  wheel.advance(kStart + seconds(5), count);
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, PastExpiryFiresOnNextAdvance) {
  TimerWheel wheel(kStart);
  wheel.advance(kStart + milliseconds(100), [](Timer&) {});
  Timer t;
  wheel.schedule(t, kStart);  // already past
  int fired = 0;
  wheel.advance(kStart + milliseconds(100), [&](Timer&) { ++fired; });
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, CancelAndReschedule) {
  TimerWheel wheel(kStart);
  Timer a, b;
  wheel.schedule(a, kStart + milliseconds(5));
  wheel.schedule(b, kStart + milliseconds(5));
  wheel.cancel(a);
  EXPECT_FALSE(a.armed());
  wheel.cancel(a);                                // idempotent
  wheel.schedule(b, kStart + milliseconds(500));  // reschedule later
  EXPECT_EQ(wheel.size(), 1u);
  std::vector<Timer*> fired;
  wheel.advance(kStart + milliseconds(499), [&](Timer& t) { fired.push_back(&t); });
  EXPECT_TRUE(fired.empty());
  wheel.advance(kStart + milliseconds(500), [&](Timer& t) { fired.push_back(&t); });
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0], &b);
}

TEST(TimerWheel, DestroyingArmedTimerCancelsIt) {
  TimerWheel wheel(kStart);
  {
    Timer t;
    wheel.schedule(t, kStart + milliseconds(3));
    EXPECT_EQ(wheel.size(), 1u);
  }
  EXPECT_EQ(wheel.size(), 0u);
  int fired = 0;
  wheel.advance(kStart + seconds(1), [&](Timer&) { ++fired; });
  EXPECT_EQ(fired, 0);
}

TEST(TimerWheel, CancelDuringFireOfSameSlotAndOtherSlot) {
  TimerWheel wheel(kStart);
  Timer first, second, later;
  first.tag = 1;
  second.tag = 2;
  later.tag = 3;
  wheel.schedule(first, kStart + milliseconds(7));
  wheel.schedule(second, kStart + milliseconds(7));  // same slot, behind `first`
  wheel.schedule(later, kStart + milliseconds(9));
  std::vector<std::uintptr_t> fired;
  wheel.advance(kStart + milliseconds(20), [&](Timer& t) {
    fired.push_back(t.tag);
    if (t.tag == 1) {
      wheel.cancel(second);
      wheel.cancel(later);
    }
  });
  EXPECT_EQ(fired, std::vector<std::uintptr_t>{1});
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheel, CallbackMayRearmItself) {
  TimerWheel wheel(kStart);
  Timer t;
  int fired = 0;
  wheel.schedule(t, kStart + milliseconds(10));
  auto periodic = [&](Timer& x) {
    ++fired;
    wheel.schedule(x, wheel.current() + milliseconds(10));
  };
  for (int ms = 1; ms <= 100; ++ms) wheel.advance(kStart + milliseconds(ms), periodic);
  EXPECT_EQ(fired, 10);
  EXPECT_TRUE(t.armed());
}

TEST(TimerWheel, FarFutureTimersBeyondWheelRange) {
  // 1 s ticks: the wheel spans 2^26 s (~777 days); 1000 days must park and re-file.
  TimerWheel wheel(kStart, seconds(1));
  Timer near, far, farther;
  wheel.schedule(near, kStart + hours(24 * 3));
  wheel.schedule(far, kStart + hours(24 * 1000));
  wheel.schedule(farther, kStart + hours(24 * 1500) + seconds(1));
  std::map<Timer*, Instant> fired_at;
  auto record = [&](Timer& t) { fired_at[&t] = wheel.current(); };
  for (int day = 1; day <= 1501; ++day) wheel.advance(kStart + hours(24 * day), record);
  ASSERT_EQ(fired_at.size(), 3u);
  EXPECT_EQ(fired_at[&near], kStart + hours(24 * 3));
  EXPECT_EQ(fired_at[&far], kStart + hours(24 * 1000));
  // current() inside the callback is the tick being fired: exactly the expiry here.
  EXPECT_EQ(fired_at[&farther], kStart + hours(24 * 1500) + seconds(1));
}

// Random schedules, cancels and reschedules against a model: each timer must fire
// exactly once, at the first advance whose tick reaches ceil(expiry / tick).
TEST(TimerWheel, MatchesModelUnderRandomOperations) {
  constexpr int kTimers = 4000;
  const Duration tick = milliseconds(1);
  TimerWheel wheel(kStart, tick);
  std::vector<std::unique_ptr<Timer>> timers;
  std::vector<std::optional<Instant>> model(kTimers);
  for (int i = 0; i < kTimers; ++i) {
    timers.push_back(std::make_unique<Timer>());
    timers.back()->tag = static_cast<std::uintptr_t>(i);
  }
  std::mt19937_64 rng(42);
  Instant now = kStart;
  auto due_tick = [&](Instant e) {
    const std::int64_t since = e.ns - kStart.ns;
    return since <= 0 ? 0 : (since + tick.count() - 1) / tick.count();
  };
  std::size_t fired_total = 0;
  for (int step = 0; step < 3000; ++step) {
    for (int op = 0; op < 10; ++op) {
      const int i = static_cast<int>(rng() % kTimers);
      const int kind = static_cast<int>(rng() % 4);
      if (kind == 0) {
        wheel.cancel(*timers[i]);
        model[i].reset();
      } else {
        // Mostly near (ms..s), sometimes minutes: exercises all levels.
        const std::int64_t range = kind == 3 ? 600'000 : 3000;
        const Instant e = now + milliseconds(static_cast<std::int64_t>(rng() % range)) +
                          std::chrono::microseconds(static_cast<std::int64_t>(rng() % 1000));
        wheel.schedule(*timers[i], e);
        model[i] = e;
      }
    }
    now = now + milliseconds(static_cast<std::int64_t>(1 + rng() % 400));
    const std::int64_t now_tick = (now.ns - kStart.ns) / tick.count();
    wheel.advance(now, [&](Timer& t) {
      const auto i = static_cast<int>(t.tag);
      ASSERT_TRUE(model[i].has_value()) << "timer " << i << " fired but was not armed";
      ASSERT_LE(due_tick(*model[i]), now_tick) << "timer " << i << " fired early";
      ASSERT_EQ(t.expiry(), *model[i]);
      model[i].reset();
      ++fired_total;
    });
    // Everything due by now must have fired.
    for (int i = 0; i < kTimers; ++i) {
      if (model[i]) {
        ASSERT_GT(due_tick(*model[i]), now_tick) << "timer " << i << " missed at step " << step;
      }
    }
    std::size_t armed = 0;
    for (int i = 0; i < kTimers; ++i) armed += model[i].has_value();
    ASSERT_EQ(wheel.size(), armed);
  }
  EXPECT_GT(fired_total, 10000u);
}

}  // namespace
}  // namespace shardtcp
