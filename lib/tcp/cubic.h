// CUBIC congestion control (RFC 9438): W_cubic(t) = C*(t-K)^3 + W_max with C = 0.4
// and beta = 0.7, fast convergence, and the Reno-friendly region (W_est with
// alpha = 3(1-beta)/(1+beta), switching to 1 once W_est reaches cwnd_prior).
// Slow start is RFC 5681 with ABC (L = 2); HyStart is not implemented.
//
// Like NewReno, a plain value type held by CongestionController (no virtuals, no
// allocation). The window is tracked in (fractional) segments, as RFC 9438 writes
// its equations; cwnd() reports bytes. Pure: time is passed in.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/time.h"

namespace shardtcp {

class Cubic {
 public:
  static constexpr double kC = 0.4;
  static constexpr double kBeta = 0.7;
  static constexpr std::uint32_t kInitialWindowSegments = 10;  // RFC 6928
  static constexpr std::uint32_t kAbcLimitSegments = 2;

  explicit Cubic(std::uint32_t mss, bool fast_convergence = true);

  std::string_view name() const { return "cubic"; }
  std::uint32_t cwnd() const;
  std::uint32_t ssthresh() const { return ssthresh_; }
  std::uint32_t mss() const { return mss_; }
  bool in_slow_start() const { return cwnd() < ssthresh_; }

  void on_ack(std::uint32_t acked_bytes, std::uint32_t bytes_in_flight, Duration rtt, Instant now);
  void on_enter_recovery(std::uint32_t bytes_in_flight, Instant now);
  void on_exit_recovery(Instant now);
  void on_rto(std::uint32_t bytes_in_flight, Instant now);
  void on_idle_restart(Instant now);
  void set_mss(std::uint32_t mss);

  // Introspection for tests and diagnostics (all in segments / seconds).
  double w_max_segments() const { return w_max_; }
  double k_seconds() const { return k_; }
  double w_est_segments() const { return w_est_; }
  double cwnd_segments() const { return w_; }
  bool in_epoch() const { return epoch_valid_; }

 private:
  // W_max and ssthresh after a congestion event (RFC 9438 §4.6, §4.7).
  void reduce();
  // W_cubic at `t` seconds after the epoch start.
  double w_cubic(double t) const;

  std::uint32_t mss_;
  bool fast_convergence_;
  double w_;                // cwnd in segments
  std::uint32_t ssthresh_;  // bytes
  double w_max_ = 0;        // segments, before the last reduction (after fast convergence)
  double cwnd_prior_ = 0;   // segments, cwnd just before the last reduction
  double origin_ = 0;       // the plateau of the current curve (W_max, or cwnd_epoch if higher)
  double k_ = 0;            // seconds
  double w_est_ = 0;        // Reno-friendly estimate, segments
  Instant t_epoch_{};
  bool epoch_valid_ = false;
};

}  // namespace shardtcp
