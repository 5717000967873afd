#include "tcp/tcb_counters.h"

#include <array>

namespace shardtcp {

namespace {
constexpr std::array<const char*, static_cast<std::size_t>(TcpCounter::kCount)> kNames = {
    "ActiveOpens",
    "PassiveOpens",
    "AttemptFails",
    "EstabResets",
    "InSegs",
    "OutSegs",
    "RetransSegs",
    "TCPFastRetrans",
    "TCPSackRecovery",
    "TCPRenoRecovery",
    "TCPLossProbes",
    "TCPLossProbeRecovery",
    "TCPRackLosses",
    "TCPRescueRetrans",
    "TCPPrrSegs",
    "TCPTimeouts",
    "TCPSynRetrans",
    "TCPOFOQueue",
    "TCPOFODrop",
    "TCPChallengeACK",
    "TCPChallengeACKLimited",
    "PAWSEstabRejected",
    "DropOutOfWindow",
    "DropAckTooNew",
    "DropAckTooOld",
    "DropNoAck",
    "TCPRcvQDrop",
    "DropBadSynSent",
    "DropAfterClose",
    "TCPWinProbe",
    "TCPKeepAlive",
    "TCPAbortOnKeepalive",
    "TCPAbortOnTimeout",
    "TCPConnectTimeout",
    "TCPDSACKRecv",
    "TCPDSACKSent",
    "DelayedACKs",
    "TCPEcnNegotiated",
    "TCPEcnCeReceived",
    "TCPEcnEceReceived",
    "TCPEcnReductions",
    "OutRsts",
    "InRsts",
    "TCPAbortOnFinWait2",
    "StateChanges",
    "TCPHPHits",
};
}  // namespace

std::span<const char* const> tcp_counter_names() {
  return kNames;
}

}  // namespace shardtcp
