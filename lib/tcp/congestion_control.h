// Congestion control behind one interface, so NewReno (RFC 5681/6582) and CUBIC
// (RFC 9438, the default) are interchangeable per connection. Pure: time is passed in.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "common/time.h"

namespace shardtcp {

class CongestionControl {
 public:
  virtual ~CongestionControl() = default;
  virtual std::string_view name() const = 0;

  // Current congestion window and slow-start threshold, in bytes.
  virtual std::uint32_t cwnd() const = 0;
  virtual std::uint32_t ssthresh() const = 0;

  // New data acknowledged (not during fast recovery). `rtt` is the latest sample (0 if none).
  virtual void on_ack(std::uint32_t acked_bytes, std::uint32_t bytes_in_flight, Duration rtt,
                      Instant now) = 0;
  // Loss detected by duplicate ACKs or SACK: enter recovery.
  virtual void on_enter_recovery(std::uint32_t bytes_in_flight, Instant now) = 0;
  // Recovery finished (the recovery point was acknowledged).
  virtual void on_exit_recovery(Instant now) = 0;
  // The retransmission timer expired.
  virtual void on_rto(std::uint32_t bytes_in_flight, Instant now) = 0;
  // The connection was idle longer than an RTO (RFC 5681 §4.1 restart window).
  virtual void on_idle_restart(Instant now) = 0;
  // The MSS changed (path MTU discovery).
  virtual void set_mss(std::uint32_t mss) = 0;
};

enum class CongestionAlgorithm : std::uint8_t { kCubic, kNewReno };

// Initial window is 10 segments (RFC 6928). Allocation happens at connection setup,
// never per packet.
std::unique_ptr<CongestionControl> make_congestion_control(CongestionAlgorithm algo,
                                                           std::uint32_t mss);

}  // namespace shardtcp
