// RFC 6298 retransmission timeout: SRTT/RTTVAR smoothing, RTO = SRTT + max(G, 4*RTTVAR)
// clamped to [min_rto, max_rto], with exponential backoff. Karn's rule is applied by
// the caller (no samples from retransmitted segments unless timestamps disambiguate).
#pragma once

#include <cstdint>

#include "common/time.h"

namespace shardtcp {

class RttEstimator {
 public:
  RttEstimator(Duration initial_rto, Duration min_rto, Duration max_rto)
      : rto_(initial_rto), min_rto_(min_rto), max_rto_(max_rto) {}

  void sample(Duration rtt);
  // Doubles the timeout (RFC 6298 §5.5) up to max_rto.
  void backoff();
  // New data was acknowledged: forget the backoff (the base RTO stands).
  void reset_backoff() { shift_ = 0; }

  Duration rto() const;  // including backoff
  Duration base_rto() const { return rto_; }
  Duration srtt() const { return srtt_; }
  Duration rttvar() const { return rttvar_; }
  // The smallest sample of the connection (RACK's min_RTT, RFC 8985 §6.2).
  Duration min_rtt() const { return min_rtt_; }
  bool has_sample() const { return has_sample_; }
  std::uint32_t backoff_shift() const { return shift_; }

  void set_min_rto(Duration d) { min_rto_ = d; }
  void set_max_rto(Duration d) { max_rto_ = d; }

 private:
  Duration srtt_{0};
  Duration rttvar_{0};
  Duration min_rtt_{0};
  Duration rto_;
  Duration min_rto_;
  Duration max_rto_;
  std::uint32_t shift_ = 0;
  bool has_sample_ = false;
};

}  // namespace shardtcp
