#include "tcp/tlp.h"

namespace shardtcp {

Duration TailLossProbe::pto(bool have_srtt, Duration srtt, bool one_segment) {
  if (!have_srtt) return kPtoNoSample;
  return 2 * srtt + (one_segment ? kWcDelAckT : Duration{0});
}

void TailLossProbe::on_probe(SeqNum end_seq, bool retransmission, std::uint32_t flight) {
  end_seq_ = end_seq;
  retransmission_ = retransmission;
  flight_ = flight;
}

bool TailLossProbe::repaired_loss(SeqNum ack, const std::optional<SackBlock>& dsack,
                                  bool pure_dup) {
  if (!end_seq_ || ack < *end_seq_) return false;
  // The probe resent the segment ending at TLP.end_seq (less a FIN it may carry).
  const bool probe_duplicated = dsack && dsack->left < *end_seq_ && *end_seq_ - 1 <= dsack->right;
  if (!retransmission_ || probe_duplicated) {
    // New data probed (its ACK carries no loss information), or the D-SACK shows
    // the original arrived too: nothing was lost.
    end_seq_.reset();
    return false;
  }
  if (ack > *end_seq_) {
    // Acknowledged beyond the probe with no D-SACK for it: only the probe arrived,
    // so the original was lost and the probe repaired it.
    end_seq_.reset();
    return true;
  }
  // A duplicate ACK at TLP.end_seq: the original and the probe both arrived.
  if (pure_dup) end_seq_.reset();
  return false;
}

}  // namespace shardtcp
