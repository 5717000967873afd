// Congestion control, so NewReno (RFC 5681/6582) and CUBIC (RFC 9438, the default)
// are interchangeable per connection. Pure: time is passed in.
//
// How to hold one: a TCB keeps a `CongestionController` BY VALUE. It wraps
// std::variant<NewReno, Cubic> and forwards each call with std::visit, so a
// connection's congestion control costs no heap allocation and no virtual call.
// The abstract `CongestionControl` interface stays for code that wants to plug in
// another algorithm; `make_congestion_control()` returns a heap-allocated
// CongestionController behind it (setup time only, never per packet).
//
// Units: windows in bytes. Initial window 10 segments (RFC 6928); cwnd after an RTO
// is 1 segment. Argument meanings:
//  - on_ack(acked_bytes, bytes_in_flight, rtt, now): call for each ACK that
//    advances SND.UNA outside recovery; acked_bytes = SND.UNA advance, rtt = latest
//    sample (0 if none; CUBIC aims one RTT ahead). bytes_in_flight is accepted for
//    future use (application-limited detection) and currently ignored.
//  - on_enter_recovery(bytes_in_flight = FlightSize at the loss): cwnd becomes the
//    new ssthresh; the sender then compares its pipe (RFC 6675 SetPipe; without SACK
//    FlightSize minus one SMSS per duplicate ACK, equivalent to RFC 6582 inflation)
//    against cwnd().
//  - on_exit_recovery: cwnd = ssthresh (RFC 6582 §3.2 step 6 option 2).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <variant>

#include "common/time.h"
#include "tcp/cubic.h"
#include "tcp/newreno.h"

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

// The per-connection value type. Also usable through CongestionControl&.
class CongestionController final : public CongestionControl {
 public:
  explicit CongestionController(CongestionAlgorithm algo = CongestionAlgorithm::kCubic,
                                std::uint32_t mss = 536);

  CongestionAlgorithm algorithm() const {
    return std::holds_alternative<Cubic>(impl_) ? CongestionAlgorithm::kCubic
                                                : CongestionAlgorithm::kNewReno;
  }
  // Restarts with a fresh state of the given algorithm (e.g. after setsockopt).
  void reset(CongestionAlgorithm algo, std::uint32_t mss);

  std::string_view name() const override {
    return std::visit([](const auto& cc) { return cc.name(); }, impl_);
  }
  std::uint32_t cwnd() const override {
    return std::visit([](const auto& cc) { return cc.cwnd(); }, impl_);
  }
  std::uint32_t ssthresh() const override {
    return std::visit([](const auto& cc) { return cc.ssthresh(); }, impl_);
  }
  bool in_slow_start() const {
    return std::visit([](const auto& cc) { return cc.in_slow_start(); }, impl_);
  }
  void on_ack(std::uint32_t acked_bytes, std::uint32_t bytes_in_flight, Duration rtt,
              Instant now) override {
    std::visit([&](auto& cc) { cc.on_ack(acked_bytes, bytes_in_flight, rtt, now); }, impl_);
  }
  void on_enter_recovery(std::uint32_t bytes_in_flight, Instant now) override {
    std::visit([&](auto& cc) { cc.on_enter_recovery(bytes_in_flight, now); }, impl_);
  }
  void on_exit_recovery(Instant now) override {
    std::visit([&](auto& cc) { cc.on_exit_recovery(now); }, impl_);
  }
  void on_rto(std::uint32_t bytes_in_flight, Instant now) override {
    std::visit([&](auto& cc) { cc.on_rto(bytes_in_flight, now); }, impl_);
  }
  void on_idle_restart(Instant now) override {
    std::visit([&](auto& cc) { cc.on_idle_restart(now); }, impl_);
  }
  void set_mss(std::uint32_t mss) override {
    std::visit([&](auto& cc) { cc.set_mss(mss); }, impl_);
  }

  // The concrete algorithm, for tests and diagnostics (nullptr if another one).
  const Cubic* cubic() const { return std::get_if<Cubic>(&impl_); }
  const NewReno* newreno() const { return std::get_if<NewReno>(&impl_); }

 private:
  std::variant<Cubic, NewReno> impl_;
};

// Heap-allocated controller behind the abstract interface. Allocation happens at
// connection setup, never per packet; prefer holding CongestionController by value.
std::unique_ptr<CongestionControl> make_congestion_control(CongestionAlgorithm algo,
                                                           std::uint32_t mss);

}  // namespace shardtcp
