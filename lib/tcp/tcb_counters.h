// Per-engine TCP counters in the style of Linux's TCP MIB / TcpExt. The engine owns one
// CounterGroup made with make_tcp_counters() and passes it to every TCB it runs.
#pragma once

#include <cstddef>
#include <span>

#include "common/counters.h"

namespace shardtcp {

enum class TcpCounter : std::size_t {
  kActiveOpens,
  kPassiveOpens,
  kAttemptFails,
  kEstabResets,
  kInSegs,
  kOutSegs,
  kRetransSegs,
  kFastRetrans,
  kSackRecoveries,
  kRenoRecoveries,
  kTlpProbes,
  kTlpRecoveries,
  kRackLosses,
  kRescueRetrans,
  kPrrSegments,
  kRtoTimeouts,
  kSynRetrans,
  kOfoQueued,
  kOfoDrop,
  kChallengeAcks,
  kChallengeAckLimited,
  kPawsRejected,
  kDropOutOfWindow,
  kDropAckTooNew,
  kDropAckTooOld,
  kDropNoAck,
  kDropRecvQueueFull,
  kDropBadSynSent,
  kDropAfterClose,
  kZeroWindowProbes,
  kKeepaliveProbes,
  kKeepaliveTimeouts,
  kRetransTimeouts,
  kConnectTimeouts,
  kDsackRecv,
  kDsackSent,
  kDelayedAcks,
  kEcnNegotiated,   // connections that agreed to use ECN
  kEcnCeReceived,   // data segments that arrived marked CE
  kEcnEceReceived,  // ACKs that echoed congestion (ECE)
  kEcnReductions,   // congestion windows reduced for ECE (no retransmission)
  kResetsSent,
  kResetsReceived,
  kFinWait2Timeouts,
  kStateChanges,
  kPredictedSegs,  // in-order data taken by header prediction (tcb_fast_path.cc)
  kCount,
};

std::span<const char* const> tcp_counter_names();

inline CounterGroup make_tcp_counters() {
  return CounterGroup("tcp", tcp_counter_names());
}

}  // namespace shardtcp
