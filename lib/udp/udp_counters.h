// Counter names of the UDP layer: one CounterGroup "udp" per engine. Every dropped
// datagram and every failed send is counted under its own reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>

namespace shardtcp {

enum class UdpCounter : std::uint8_t {
  kInDatagrams,       // delivered to a socket's receive queue
  kOutDatagrams,      // handed to the IP layer (sent or waiting for ARP)
  kNoPort,            // no socket for the destination port (ICMP port unreachable sent)
  kNoPortBroadcast,   // the same for a broadcast: dropped silently
  kRxTruncated,       // fewer than 8 bytes
  kRxBadLength,       // length field < 8 or > the IP payload
  kRxBadChecksum,     // software or device found the checksum wrong
  kRxZeroChecksumV6,  // zero checksum over IPv6 (RFC 8200 §8.1)
  kRxZeroChecksum,    // zero checksum over IPv4: accepted, counted for visibility
  kRxMalformedChain,  // mbuf chain shorter than its length or unusable layout
  kRcvbufErrors,      // receive queue full (bytes or nodes): datagram dropped
  kRxPeerFiltered,    // connected socket got a datagram from another peer (not matched)
  kSendErrors,        // any send that failed, plus one of the reasons below
  kSendNoRoute,
  kSendNoBuffer,
  kSendTooBig,
  kSendDropped,         // IP layer dropped it (ARP queue full, bad arguments)
  kIcmpErrors,          // ICMP errors reported to a connected socket
  kIcmpErrorsIgnored,   // ICMP errors for no socket, an unconnected one, or a soft code
  kEphemeralExhausted,  // no free ephemeral port
  kCount
};

inline constexpr const char* kUdpCounterNames[] = {
    "in_datagrams",        "out_datagrams",       "no_port",
    "no_port_broadcast",   "rx_truncated",        "rx_bad_length",
    "rx_bad_checksum",     "rx_zero_checksum_v6", "rx_zero_checksum",
    "rx_malformed_chain",  "rcvbuf_errors",       "rx_peer_filtered",
    "send_errors",         "send_no_route",       "send_no_buffer",
    "send_too_big",        "send_dropped",        "icmp_errors",
    "icmp_errors_ignored", "ephemeral_exhausted",
};
static_assert(std::size(kUdpCounterNames) == static_cast<std::size_t>(UdpCounter::kCount));

}  // namespace shardtcp
