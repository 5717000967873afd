// What a FaultInjectingPort does to frames. Plain values so the option parser
// (--impair drop=P,dup=P,...) can fill it without depending on the port.
#pragma once

#include <cstdint>

#include "common/time.h"

namespace shardtcp {

struct ImpairmentConfig {
  enum class Direction : std::uint8_t { kBoth, kRx, kTx };

  double drop = 0;                   // probability a frame is freed instead of passed
  double duplicate = 0;              // probability a frame is copied and both are passed
  double corrupt = 0;                // probability one byte past the Ethernet header is flipped
  double ce_mark = 0;                // probability an ECT frame is marked CE, as by an AQM
  double reorder = 0;                // probability a frame is held back ...
  std::uint32_t reorder_window = 0;  // ... until 1..window later frames have overtaken it
  Duration delay{0};                 // hold frames this long (FIFO: a fixed delay keeps order)
  double delay_probability = 1;      // fraction of frames delayed when delay > 0
  std::uint64_t seed = 1;
  Direction direction = Direction::kBoth;
  // A reordered frame waits at most this long for later frames (so the last frame of
  // a burst is not held forever when traffic stops).
  Duration reorder_max_hold = std::chrono::milliseconds(1);
  std::uint32_t delay_capacity = 16384;  // frames held for delay per queue and direction

  bool active() const {
    return drop > 0 || duplicate > 0 || corrupt > 0 || ce_mark > 0 ||
           (reorder > 0 && reorder_window > 0) || delay.count() > 0;
  }
};

}  // namespace shardtcp
