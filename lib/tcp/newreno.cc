#include "tcp/newreno.h"

#include <algorithm>
#include <cstdint>

namespace shardtcp {

NewReno::NewReno(std::uint32_t mss)
    : mss_(std::max<std::uint32_t>(mss, 1)),
      cwnd_(initial_window()),
      ssthresh_(UINT32_MAX) {}  // RFC 5681: "arbitrarily high" until the first loss

void NewReno::on_ack(std::uint32_t acked_bytes, std::uint32_t /*bytes_in_flight*/, Duration /*rtt*/,
                     Instant /*now*/) {
  if (acked_bytes == 0) return;
  if (cwnd_ < ssthresh_) {
    // Slow start with ABC: grow by the bytes acknowledged, at most L*SMSS per ACK so
    // that a stretch ACK cannot burst the window open.
    const std::uint32_t inc = std::min(acked_bytes, kAbcLimitSegments * mss_);
    const std::uint64_t grown = std::uint64_t{cwnd_} + inc;
    // Do not overshoot ssthresh by more than the increment of this ACK allows.
    cwnd_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(grown, UINT32_MAX));
    return;
  }
  // Congestion avoidance: one SMSS per window's worth of acknowledged bytes.
  bytes_acked_ += acked_bytes;
  if (bytes_acked_ >= cwnd_) {
    bytes_acked_ -= cwnd_;
    if (cwnd_ <= UINT32_MAX - mss_) cwnd_ += mss_;
  }
}

void NewReno::on_enter_recovery(std::uint32_t bytes_in_flight, Instant /*now*/) {
  // RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2*SMSS). The window during
  // recovery is ssthresh; the sender compares its pipe estimate (RFC 6675 SetPipe,
  // or FlightSize minus one SMSS per duplicate ACK without SACK, which equals
  // RFC 6582's inflation) against it.
  ssthresh_ = std::max(bytes_in_flight / 2, 2 * mss_);
  cwnd_ = ssthresh_;
  bytes_acked_ = 0;
}

void NewReno::on_exit_recovery(Instant /*now*/) {
  // RFC 6582 §3.2 step 6, option 2: deflate the window to ssthresh.
  cwnd_ = ssthresh_;
  bytes_acked_ = 0;
}

void NewReno::on_rto(std::uint32_t bytes_in_flight, Instant /*now*/) {
  // RFC 5681 §3.1: ssthresh from FlightSize, cwnd = loss window (1 SMSS).
  ssthresh_ = std::max(bytes_in_flight / 2, 2 * mss_);
  cwnd_ = mss_;
  bytes_acked_ = 0;
}

void NewReno::on_idle_restart(Instant /*now*/) {
  // RFC 5681 §4.1: RW = min(IW, cwnd).
  cwnd_ = std::min(cwnd_, initial_window());
  bytes_acked_ = 0;
}

void NewReno::set_mss(std::uint32_t mss) {
  mss = std::max<std::uint32_t>(mss, 1);
  if (mss == mss_) return;
  // Keep the window's size in segments: that is what the network's queue sees.
  const std::uint64_t segs = std::max<std::uint64_t>(cwnd_ / mss_, 1);
  cwnd_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(segs * mss, UINT32_MAX));
  if (ssthresh_ != UINT32_MAX) {
    const std::uint64_t ss = std::max<std::uint64_t>(ssthresh_ / mss_, 2);
    ssthresh_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(ss * mss, UINT32_MAX - 1));
  }
  mss_ = mss;
  bytes_acked_ = 0;
}

}  // namespace shardtcp
