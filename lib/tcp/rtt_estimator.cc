#include "tcp/rtt_estimator.h"

#include <algorithm>

namespace shardtcp {

namespace {
constexpr Duration kClockGranularity = std::chrono::milliseconds(1);
}

void RttEstimator::sample(Duration rtt) {
  if (rtt < Duration{0}) return;
  if (!has_sample_ || rtt < min_rtt_) min_rtt_ = rtt;
  if (!has_sample_) {
    srtt_ = rtt;
    rttvar_ = rtt / 2;
    has_sample_ = true;
  } else {
    // beta = 1/4, alpha = 1/8
    Duration err = srtt_ > rtt ? srtt_ - rtt : rtt - srtt_;
    rttvar_ = (rttvar_ * 3 + err) / 4;
    srtt_ = (srtt_ * 7 + rtt) / 8;
  }
  rto_ = std::clamp(srtt_ + std::max(kClockGranularity, rttvar_ * 4), min_rto_, max_rto_);
}

void RttEstimator::backoff() {
  if (shift_ < 30) ++shift_;
}

Duration RttEstimator::rto() const {
  Duration r = rto_;
  for (std::uint32_t i = 0; i < shift_ && r < max_rto_; ++i) r *= 2;
  return std::min(r, max_rto_);
}

}  // namespace shardtcp
