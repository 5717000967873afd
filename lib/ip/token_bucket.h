// A token bucket on injected time: rate-limits ICMP errors (RFC 1812 §4.3.2.8) so a
// flood of bad packets cannot turn us into a flood of replies.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/time.h"

namespace shardtcp {

class TokenBucket {
 public:
  // `per_second` tokens accrue per second up to `burst`; the bucket starts full.
  TokenBucket(double per_second, double burst) : rate_(per_second), burst_(burst), tokens_(burst) {}

  bool try_take(Instant now, double n = 1.0) {
    refill(now);
    if (tokens_ < n) return false;
    tokens_ -= n;
    return true;
  }
  double tokens(Instant now) {
    refill(now);
    return tokens_;
  }

 private:
  void refill(Instant now) {
    if (!started_) {
      started_ = true;
      last_ = now;
      return;
    }
    if (now <= last_) return;
    const double secs = static_cast<double>((now - last_).count()) * 1e-9;
    tokens_ = std::min(burst_, tokens_ + secs * rate_);
    last_ = now;
  }

  double rate_;
  double burst_;
  double tokens_;
  Instant last_{};
  bool started_ = false;
};

}  // namespace shardtcp
