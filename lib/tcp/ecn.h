// Explicit Congestion Notification for one connection: RFC 3168 §6.1 with the
// relaxations of RFC 8311 (retransmissions may be ECN-capable, §4.3).
//
// Pure and tiny (a few flags and one sequence number, kept by value in the TCB). The
// TCB tells it what arrives and asks it how to mark what leaves; it never touches the
// congestion controller itself: it only says when the TCB should reduce.
//
// The three parts:
//  - negotiation (§6.1.1): an ECN-setup SYN carries ECE and CWR, an ECN-setup SYN-ACK
//    ECE without CWR; only both make an ECN connection.
//  - receiver (§6.1.3): a data segment that arrived with CE in its IP header makes
//    every later ACK carry ECE, until a segment with CWR arrives.
//  - sender (§6.1.2): an ACK with ECE reduces the window at most once per window of
//    data; the first new data segment after the reduction carries CWR. Data segments
//    carry ECT(0); pure ACKs, SYNs, RSTs and window probes (no payload) are Not-ECT.
#pragma once

#include <cstdint>

#include "tcp/tcp_segment.h"
#include "wire/seq_num.h"

namespace shardtcp {

// TcpConfig::ecn, as Linux's net.ipv4.tcp_ecn: 0 off, 2 passive, 1 on.
enum class EcnMode : std::uint8_t {
  kOff,      // never: an ECN-setup SYN is answered with a plain SYN-ACK
  kPassive,  // accept an ECN-setup SYN, never send one (Linux's default)
  kOn,       // request ECN on active opens too
};

// The ECN field of the IP header (low two bits of the IPv4 TOS / IPv6 traffic class).
namespace ip_ecn {
inline constexpr std::uint8_t kNotEct = 0;
inline constexpr std::uint8_t kEct1 = 1;
inline constexpr std::uint8_t kEct0 = 2;
inline constexpr std::uint8_t kCe = 3;
inline constexpr std::uint8_t kMask = 3;
}  // namespace ip_ecn

class EcnState {
 public:
  // What ECN adds to one outgoing segment.
  struct Marks {
    std::uint8_t tcp_flags = 0;             // ECE and/or CWR
    std::uint8_t ip_ecn = ip_ecn::kNotEct;  // codepoint for the IP header
  };
  // What an arriving segment meant.
  struct Input {
    bool ce = false;       // a CE-marked data segment (counted)
    bool ack_now = false;  // the echo just began: tell the sender without delay
    bool ece = false;      // the peer echoed congestion (counted)
    bool reduce = false;   // reduce the congestion window now, once for this window
  };

  bool enabled() const { return enabled_; }
  bool echoing() const { return echo_; }

  // ---- negotiation
  // Flags of our SYN (`with_ack` false) or SYN-ACK. An active open asks only on its
  // first SYN: a retransmitted one goes without, in case a middlebox drops ECN-setup
  // SYNs (RFC 3168 §6.1.1.1; Linux's tcp_ecn_fallback).
  std::uint8_t syn_flags(EcnMode mode, bool with_ack, bool first_transmission) const;
  // Passive open: the peer's SYN. True when the connection will use ECN.
  bool on_syn(EcnMode mode, const TcpSegment& syn);
  // Active open: the SYN-ACK. `asked`: every SYN we sent was ECN-setup (a SYN-ACK
  // with ECE may answer an earlier SYN than the plain one that fell back). A SYN
  // without ACK (simultaneous open) never enables ECN, as on Linux. True when the
  // connection will use ECN.
  bool on_synack(bool asked, const TcpSegment& synack);

  // ---- established
  // An acceptable segment whose ACK was processed. `snd_una`/`snd_max` after that
  // processing; `in_loss_recovery`: the window was reduced for a loss already.
  Input on_segment(const TcpSegment& seg, SeqNum snd_una, SeqNum snd_max, bool in_loss_recovery);
  // Marks for a segment about to go out. `new_data`: its payload was never sent before
  // (only that carries CWR, §6.1.2). Call sent() once it is really queued.
  Marks marks(std::uint8_t flags, std::uint32_t payload_len, bool new_data) const;
  void sent(const Marks& m) {
    if (m.tcp_flags & tcp_flags::kCwr) cwr_pending_ = false;
  }

 private:
  bool enabled_ = false;
  bool echo_ = false;         // receiver: set ECE on every ACK (CE seen, no CWR since)
  bool cwr_pending_ = false;  // sender: the next new data segment carries CWR
  bool reduced_ = false;      // sender: reduce_end_ is valid
  SeqNum reduce_end_;         // sender: ECE is not acted on again until SND.UNA passes it
};

}  // namespace shardtcp
