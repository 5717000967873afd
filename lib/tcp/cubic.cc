#include "tcp/cubic.h"

#include <algorithm>
#include <cmath>

namespace shardtcp {

namespace {

constexpr double kAlphaReno = 3.0 * (1.0 - Cubic::kBeta) / (1.0 + Cubic::kBeta);

double seconds(Duration d) {
  return static_cast<double>(d.count()) * 1e-9;
}

std::uint32_t clamp_bytes(double b) {
  if (!(b > 0)) return 0;
  if (b >= static_cast<double>(UINT32_MAX)) return UINT32_MAX;
  return static_cast<std::uint32_t>(b);
}

}  // namespace

Cubic::Cubic(std::uint32_t mss, bool fast_convergence)
    : mss_(std::max<std::uint32_t>(mss, 1)),
      fast_convergence_(fast_convergence),
      w_(kInitialWindowSegments),
      ssthresh_(UINT32_MAX) {}

std::uint32_t Cubic::cwnd() const {
  return std::max(clamp_bytes(w_ * mss_), mss_);
}

double Cubic::w_cubic(double t) const {
  const double d = t - k_;
  return kC * d * d * d + origin_;
}

void Cubic::on_ack(std::uint32_t acked_bytes, std::uint32_t /*bytes_in_flight*/, Duration rtt,
                   Instant now) {
  if (acked_bytes == 0) return;
  const double acked_segs = static_cast<double>(acked_bytes) / mss_;
  if (cwnd() < ssthresh_) {
    w_ += std::min(acked_segs, static_cast<double>(kAbcLimitSegments));
    return;
  }
  if (!epoch_valid_) {
    // RFC 9438 §4.2: a new congestion-avoidance stage starts here.
    epoch_valid_ = true;
    t_epoch_ = now;
    const double cwnd_epoch = w_;
    if (cwnd_epoch < w_max_) {
      k_ = std::cbrt((w_max_ - cwnd_epoch) / kC);
      origin_ = w_max_;
    } else {
      k_ = 0;
      origin_ = cwnd_epoch;
    }
    w_est_ = cwnd_epoch;
  }
  const double t = seconds(now - t_epoch_);
  const double rtt_s = rtt.count() > 0 ? seconds(rtt) : 0.0;

  // Reno-friendly estimate (§4.3): alpha_cubic until W_est reaches cwnd_prior, then 1.
  const double alpha = (cwnd_prior_ > 0 && w_est_ < cwnd_prior_) ? kAlphaReno : 1.0;
  w_est_ += alpha * acked_segs / w_;

  if (w_cubic(t) < w_est_) {
    // Reno-friendly region: behave at least as aggressively as Reno would.
    w_ = std::max(w_, w_est_);
    return;
  }
  // Concave or convex region (§4.4, §4.5): aim for W_cubic one RTT ahead, limited
  // to [cwnd, 1.5 cwnd], and close (target - cwnd)/cwnd of the gap per segment acked.
  double target = w_cubic(t + rtt_s);
  target = std::clamp(target, w_, 1.5 * w_);
  w_ += (target - w_) / w_ * acked_segs;
}

void Cubic::reduce() {
  cwnd_prior_ = w_;
  // Fast convergence (§4.7): a flow whose plateau keeps shrinking releases bandwidth.
  if (fast_convergence_ && w_ < w_max_) {
    w_max_ = w_ * (1.0 + kBeta) / 2.0;
  } else {
    w_max_ = w_;
  }
  // §4.6: ssthresh = cwnd * beta (as Linux does, rather than FlightSize, so an
  // application-limited moment does not collapse the window), at least 2 segments.
  const double ss = std::max(w_ * kBeta, 2.0);
  ssthresh_ = clamp_bytes(ss * mss_);
  epoch_valid_ = false;
}

void Cubic::on_enter_recovery(std::uint32_t /*bytes_in_flight*/, Instant /*now*/) {
  reduce();
  w_ = static_cast<double>(ssthresh_) / mss_;
}

void Cubic::on_exit_recovery(Instant /*now*/) {
  w_ = static_cast<double>(ssthresh_) / mss_;
  epoch_valid_ = false;
}

void Cubic::on_rto(std::uint32_t /*bytes_in_flight*/, Instant /*now*/) {
  // §4.8: reduce as for a loss, then restart from a loss window of one segment.
  reduce();
  w_ = 1.0;
}

void Cubic::on_idle_restart(Instant /*now*/) {
  w_ = std::min(w_, static_cast<double>(kInitialWindowSegments));
  // The curve's clock must not keep running while nothing was sent.
  epoch_valid_ = false;
}

void Cubic::set_mss(std::uint32_t mss) {
  mss = std::max<std::uint32_t>(mss, 1);
  if (mss == mss_) return;
  if (ssthresh_ != UINT32_MAX) {
    const double ss = static_cast<double>(ssthresh_) / mss_;
    ssthresh_ = std::min(clamp_bytes(ss * mss), UINT32_MAX - 1);
  }
  mss_ = mss;  // w_ is in segments and stays as is
}

}  // namespace shardtcp
