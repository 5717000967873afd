#include "tcp/prr.h"

#include <algorithm>

namespace shardtcp {

void Prr::start(std::uint32_t recover_fs) {
  prr_delivered_ = 0;
  prr_out_ = 0;
  recover_fs_ = std::max<std::uint32_t>(recover_fs, 1);
  sndcnt_ = 0;
}

void Prr::on_ack(std::uint32_t delivered, std::uint32_t pipe, std::uint32_t ssthresh,
                 std::uint32_t mss) {
  prr_delivered_ += delivered;
  std::int64_t sndcnt;
  if (pipe > ssthresh) {
    // Proportional part: by the end of the round prr_out reaches ssthresh. CEIL in
    // whole segments (as Linux counts): a fraction of a segment would not go out, and
    // the share would lag one ACK behind.
    const std::uint64_t bytes = (prr_delivered_ * ssthresh + recover_fs_ - 1) / recover_fs_;
    const std::uint64_t target = (bytes + mss - 1) / mss * mss;
    sndcnt = static_cast<std::int64_t>(target) - static_cast<std::int64_t>(prr_out_);
  } else {
    // PRR-SSRB: grow pipe back towards ssthresh, but by at most one segment more than
    // the ACKs delivered (no burst after a large loss).
    const std::int64_t owed =
        static_cast<std::int64_t>(prr_delivered_) - static_cast<std::int64_t>(prr_out_);
    const std::int64_t limit = std::max<std::int64_t>(owed, delivered) + mss;
    sndcnt = std::min<std::int64_t>(ssthresh - pipe, limit);
  }
  // The first ACK of a recovery always releases the fast retransmission (as Linux and
  // RFC 6937bis do), even when the proportional share rounds to nothing.
  if (prr_out_ == 0) sndcnt = std::max<std::int64_t>(sndcnt, mss);
  sndcnt_ = static_cast<std::uint32_t>(std::clamp<std::int64_t>(sndcnt, 0, UINT32_MAX));
}

void Prr::on_sent(std::uint32_t bytes) {
  prr_out_ += bytes;
  sndcnt_ -= std::min(sndcnt_, bytes);
}

}  // namespace shardtcp
