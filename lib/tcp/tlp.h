// Tail Loss Probe (RFC 8985 §7): when the last segments of a flight are lost no ACK
// follows to trigger recovery, and the sender would wait a full RTO and then restart
// from one segment. Instead, after a probe timeout (PTO, about two round trips) it
// sends one probe -- new data if it can, else its last segment -- whose ACK (or SACK)
// lets RACK or fast recovery repair the tail within a round trip. This holds the
// probe's bookkeeping and the §7.4 verdict on whether it repaired a loss. Pure.
#pragma once

#include <cstdint>
#include <optional>

#include "common/time.h"
#include "tcp/tcp_segment.h"
#include "wire/seq_num.h"

namespace shardtcp {

class TailLossProbe {
 public:
  // The worst-case delayed-ACK time a lone segment's ACK may take (WCDelAckT, §7.2).
  static constexpr Duration kWcDelAckT = std::chrono::milliseconds(200);
  // With no RTT sample yet (§7.2).
  static constexpr Duration kPtoNoSample = std::chrono::seconds(1);

  // PTO = 2·SRTT, plus WCDelAckT when only one segment is in flight (its ACK may be
  // delayed by the receiver).
  static Duration pto(bool have_srtt, Duration srtt, bool one_segment);

  // A probe was sent: TLP.end_seq is SND.NXT after it; `retransmission` when it
  // resent old data; `flight` the flight size then (for the congestion response).
  void on_probe(SeqNum end_seq, bool retransmission, std::uint32_t flight);
  // No probe outstanding any more (recovery or an RTO takes over).
  void cancel() { end_seq_.reset(); }
  bool outstanding() const { return end_seq_.has_value(); }
  std::uint32_t flight() const { return flight_; }

  // §7.4.2 on each ACK: true when the probe repaired a loss (the sender then reacts
  // once, as to any loss). `dsack` is the ACK's D-SACK block, if any; `pure_dup` when
  // the ACK neither advanced SND.UNA nor SACKed anything new.
  bool repaired_loss(SeqNum ack, const std::optional<SackBlock>& dsack, bool pure_dup);

 private:
  std::optional<SeqNum> end_seq_;
  bool retransmission_ = false;
  std::uint32_t flight_ = 0;
};

}  // namespace shardtcp
