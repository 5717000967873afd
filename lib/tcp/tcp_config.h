// Per-connection knobs of the TCP core: socket options and protocol constants.
// A connection refers to an engine-wide interned copy (tcp_config_registry.h), shared
// with every connection whose config is equal.
#pragma once

#include <chrono>
#include <cstdint>

#include "common/time.h"
#include "tcp/congestion_control.h"
#include "tcp/ecn.h"

namespace shardtcp {

using namespace std::chrono_literals;

struct TcpConfig {
  // SO_SNDBUF / SO_RCVBUF in payload bytes. Storage is bounded by these.
  std::uint32_t send_buffer = 256 * 1024;
  std::uint32_t recv_buffer = 256 * 1024;
  // Path MTU of the route at open; the advertised MSS is derived from it.
  std::uint32_t mtu = 1500;
  bool ipv6 = false;

  bool nodelay = false;        // TCP_NODELAY: disables Nagle
  bool cork = false;           // TCP_CORK: only full segments go out (and the FIN's last one)
  std::uint16_t user_mss = 0;  // TCP_MAXSEG: bounds the MSS we announce and send; 0 none
  // TCP_NOTSENT_LOWAT: the socket is writable only while fewer bytes than this wait
  // unsent (bounds the latency of what the application queues); UINT32_MAX off.
  std::uint32_t notsent_lowat = UINT32_MAX;
  bool linger_zero = false;    // SO_LINGER {1, 0}: close() sends RST
  bool sack = true;            // offer SACK-permitted (RFC 2018)
  bool timestamps = true;      // offer timestamps (RFC 7323)
  bool window_scaling = true;  // offer window scaling (RFC 7323)
  CongestionAlgorithm congestion = CongestionAlgorithm::kCubic;
  // ECN (RFC 3168): passive by default, as Linux's tcp_ecn=2 -- a peer that asks gets
  // it, but our SYNs do not ask, since some paths still drop ECN-setup SYNs.
  EcnMode ecn = EcnMode::kPassive;

  // SO_KEEPALIVE + TCP_KEEPIDLE/KEEPINTVL/KEEPCNT.
  bool keepalive = false;
  Duration keepalive_idle = 7200s;
  Duration keepalive_interval = 75s;
  std::uint32_t keepalive_count = 9;

  // RFC 6298 retransmission timer.
  Duration initial_rto = 1s;
  Duration min_rto = 200ms;
  Duration max_rto = 120s;
  std::uint32_t max_retransmits = 15;  // consecutive RTOs before ETIMEDOUT
  std::uint32_t syn_retries = 6;       // SYN / SYN-ACK retransmissions
  Duration connect_timeout = 75s;      // whole active open, ETIMEDOUT after
  Duration user_timeout = 0s;          // TCP_USER_TIMEOUT (RFC 5482); 0 = off
  // RACK-TLP (RFC 8985) with SACK, as Linux's default; off leaves RFC 6675 + PRR alone.
  bool rack_tlp = true;

  Duration delayed_ack = 40ms;       // bound on ACK delay (RFC 9293 §3.8.6.3: < 0.5 s)
  Duration fin_wait2_timeout = 60s;  // orphaned FIN_WAIT_2 (after close())
  Duration msl = 30s;                // TIME_WAIT lasts 2*MSL
  Duration persist_min = 200ms;
  Duration persist_max = 60s;

  // Out-of-order queue bound in segments (bytes are bounded by the window); 0 sizes it
  // from recv_buffer (one slot per 1 KiB, 32..2048).
  std::uint32_t ooo_max_segments = 0;
  // In-order segments kept by reference before the application reads them; 0 sizes it
  // from recv_buffer (one slot per 512 bytes, 64..4096), which keeps per-connection
  // metadata small while full-sized segments can always fill the window.
  std::uint32_t recv_max_segments = 0;

  // TCP segmentation offload: new data may leave in frames of up to this many payload
  // bytes (whole multiples of the MSS) that the device cuts into MSS-sized segments;
  // 0: every frame is one segment. Set by the TCP layer when the port offers TSO.
  std::uint32_t tso_max = 0;

  // Header prediction (tcb_fast_path.cc) for in-order data. Off, every segment takes
  // the general path: the tests compare the two, segment by segment.
  bool header_prediction = true;

  // RFC 5961 §7: challenge ACKs per second per connection.
  std::uint32_t challenge_ack_limit = 10;

  bool operator==(const TcpConfig&) const = default;
};

}  // namespace shardtcp
