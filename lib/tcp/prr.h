// Proportional Rate Reduction (RFC 6937): how much a sender in SACK-based loss
// recovery may transmit on each ACK. Instead of RFC 6675's "send while pipe < cwnd"
// -- which sends nothing for half a window and then bursts, or bursts at once when
// many segments were lost -- PRR spreads the window reduction over the recovery
// round (proportional part while pipe > ssthresh) and lets pipe grow back towards
// ssthresh by at most one segment more than was delivered (the slow-start reduction
// bound, PRR-SSRB). Pure value type, bytes throughout.
#pragma once

#include <cstdint>

namespace shardtcp {

class Prr {
 public:
  // Recovery starts: `recover_fs` is the flight size when the loss was detected.
  void start(std::uint32_t recover_fs);
  // One ACK during recovery: `delivered` is DeliveredData (the advance of SND.UNA plus
  // the change in SACKed bytes), `pipe` the RFC 6675 estimate after the ACK. Sets the
  // allowance for what the sender may now transmit.
  void on_ack(std::uint32_t delivered, std::uint32_t pipe, std::uint32_t ssthresh,
              std::uint32_t mss);
  // Bytes sent (new data or retransmissions) during recovery.
  void on_sent(std::uint32_t bytes);
  // What may still be sent on behalf of the last ACK.
  std::uint32_t allowance() const { return sndcnt_; }

  std::uint64_t delivered() const { return prr_delivered_; }
  std::uint64_t out() const { return prr_out_; }

 private:
  std::uint64_t prr_delivered_ = 0;
  std::uint64_t prr_out_ = 0;
  std::uint32_t recover_fs_ = 1;
  std::uint32_t sndcnt_ = 0;
};

}  // namespace shardtcp
