// NewReno congestion control: RFC 5681 slow start and congestion avoidance with
// appropriate byte counting (RFC 3465, L = 2), the RFC 6582 recovery hooks, the
// RFC 6928 initial window and the RFC 5681 §4.1 restart window.
//
// A plain value type (no virtual functions, no allocation): CongestionController in
// congestion_control.h holds it in a std::variant, so choosing an algorithm per
// connection costs no heap allocation. Pure: time is passed in, never read.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/time.h"

namespace shardtcp {

class NewReno {
 public:
  static constexpr std::uint32_t kInitialWindowSegments = 10;  // RFC 6928
  static constexpr std::uint32_t kAbcLimitSegments = 2;        // RFC 3465 L

  explicit NewReno(std::uint32_t mss);

  std::string_view name() const { return "newreno"; }
  std::uint32_t cwnd() const { return cwnd_; }
  std::uint32_t ssthresh() const { return ssthresh_; }
  std::uint32_t mss() const { return mss_; }
  bool in_slow_start() const { return cwnd_ < ssthresh_; }

  void on_ack(std::uint32_t acked_bytes, std::uint32_t bytes_in_flight, Duration rtt, Instant now);
  void on_enter_recovery(std::uint32_t bytes_in_flight, Instant now);
  void on_exit_recovery(Instant now);
  void on_rto(std::uint32_t bytes_in_flight, Instant now);
  void on_idle_restart(Instant now);
  void set_mss(std::uint32_t mss);

 private:
  std::uint32_t initial_window() const { return kInitialWindowSegments * mss_; }

  std::uint32_t mss_;
  std::uint32_t cwnd_;
  std::uint32_t ssthresh_;
  std::uint32_t bytes_acked_ = 0;  // congestion-avoidance byte counter (RFC 3465)
};

}  // namespace shardtcp
