#include "tcp/ecn.h"

namespace shardtcp {

using namespace tcp_flags;

std::uint8_t EcnState::syn_flags(EcnMode mode, bool with_ack, bool first_transmission) const {
  if (with_ack) return enabled_ ? kEce : 0;
  return mode == EcnMode::kOn && first_transmission ? kEce | kCwr : 0;
}

bool EcnState::on_syn(EcnMode mode, const TcpSegment& syn) {
  enabled_ = mode != EcnMode::kOff && syn.has(kEce) && syn.has(kCwr);
  return enabled_;
}

bool EcnState::on_synack(bool asked, const TcpSegment& synack) {
  // ECE with CWR is not an ECN-setup SYN-ACK: a peer (or middlebox) that reflects the
  // SYN's flags has not agreed to anything (§6.1.1).
  enabled_ = asked && synack.has(kAck) && synack.has(kEce) && !synack.has(kCwr);
  return enabled_;
}

EcnState::Input EcnState::on_segment(const TcpSegment& seg, SeqNum snd_una, SeqNum snd_max,
                                     bool in_loss_recovery) {
  Input r;
  if (!enabled_) return r;
  // Receiver. CWR ends the echo before CE is looked at: a segment with both means the
  // sender reduced and then met congestion again, so the echo goes on (§6.1.3).
  if (seg.has(kCwr)) echo_ = false;
  if (seg.payload.len > 0 && (seg.ip_ecn & ip_ecn::kMask) == ip_ecn::kCe) {
    r.ce = true;
    // Only the start of an echo is urgent (Linux's quick ACK on CE): the sender cuts
    // once per window anyway, so later marks need not cost delayed ACKs.
    r.ack_now = !echo_;
    echo_ = true;
  }
  // Sender. An ECE that arrives before SND.UNA has passed the data outstanding at the
  // last reduction may echo the congestion that reduction answered: the window was
  // cut for it already (§6.1.2: at most once per window of data).
  if (seg.has(kAck) && seg.has(kEce)) {
    r.ece = true;
    if (!reduced_ || snd_una > reduce_end_) {
      reduced_ = true;
      reduce_end_ = snd_max;
      // CWR tells the receiver the window was reduced, also when loss recovery did
      // it: otherwise the echo goes on and cuts the window again after recovery.
      cwr_pending_ = true;
      r.reduce = !in_loss_recovery;
    }
  }
  return r;
}

EcnState::Marks EcnState::marks(std::uint8_t flags, std::uint32_t payload_len,
                                bool new_data) const {
  Marks m;
  if (!enabled_ || (flags & (kSyn | kRst)) != 0) return m;
  if (echo_ && (flags & kAck) != 0) m.tcp_flags |= kEce;
  // Only segments with data are ECN-capable (§6.1.4, §6.1.6): nothing answers a CE
  // mark on a pure ACK or a window probe by sending less, so they must stay
  // droppable. Re-sent
  // data is ECT too (RFC 8311 §4.3 lifts §6.1.5's ban): the network's AQM then
  // marks rather than drops it, under the very congestion that lost the original.
  if (payload_len > 0) {
    m.ip_ecn = ip_ecn::kEct0;
    if (new_data && cwr_pending_) m.tcp_flags |= kCwr;
  }
  return m;
}

}  // namespace shardtcp
