// TCP_INFO of the native API: the state and the figures `ss -ti` shows of a
// connection (the sockets layer copies them into Linux's struct tcp_info).
#pragma once

#include <cstdint>

#include "tcp/tcp_state.h"

namespace shardtcp {

struct TcpInfo {
  TcpState state = TcpState::kClosed;
  bool sack = false, timestamps = false, window_scaling = false;
  bool ecn = false;  // ECN negotiated (RFC 3168)
  std::uint8_t snd_wscale = 0, rcv_wscale = 0;
  std::uint32_t rto_us = 0;
  std::uint32_t rtt_us = 0, rttvar_us = 0;  // smoothed; 0 before the first sample
  std::uint32_t snd_mss = 0;                // what we send per segment
  std::uint32_t rcv_mss = 0;                // what we announced
  std::uint32_t cwnd = 0, ssthresh = 0;     // bytes
  std::uint32_t snd_wnd = 0, rcv_wnd = 0;   // bytes
  std::uint32_t bytes_in_flight = 0;        // sent, not acknowledged
  std::uint32_t notsent_bytes = 0;          // queued, never sent
  std::uint32_t retransmits = 0;            // consecutive timeouts now
  std::uint64_t total_retransmits = 0;      // segments retransmitted, ever
  bool in_recovery = false;
};

}  // namespace shardtcp
