// Counters of the TCP layer around the TCBs: what happens to segments before a TCB
// sees them (demux, listeners, SYN cookies, TIME_WAIT, resets for closed ports) and
// resource failures. What a TCB counts itself (opens, segments, retransmits, SACK
// recovery, challenge ACKs ...) lives in the engine's TcpCounter group (tcb_counters.h)
// and is not counted again here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>

namespace shardtcp {

enum class TcpLayerCounter : std::uint8_t {
  kRxSegments,       // segments handed to the layer by IP
  kRxTruncated,      // shorter than a TCP header
  kRxBadDataOffset,  // data offset outside the segment
  kRxBadChecksum,    // software checksum failed
  kRxBadChecksumHw,  // the device flagged the checksum bad
  kRxBadOptions,     // malformed options (segment still processed, as Linux does)
  kRxBroadcast,      // addressed to a broadcast address: dropped
  kRxChainTooLong,   // a chained segment of more buffers than a segment may have pieces
  kRxNoConnection,   // no connection, TIME_WAIT record or listener: answered by RST
  kRstSentNoConn,    // RSTs sent for those
  kListenSyns,       // SYNs that reached a listener
  kListenOverflows,  // SYN dropped: the accept queue was full (the application is behind)
  kListenDrops,      // SYN or ACK to a listener dropped for other reasons
  kSynQueueFull,     // no room for a half-open child: a cookie was sent instead, or dropped
  kCookiesSent,
  kCookiesValidated,     // connections a cookie created
  kCookiesFailed,        // an ACK to a listener that is not a valid cookie: RST
  kCookiesRefused,       // a valid cookie ACK with no room (accept queue, slots): RST
  kCookieAckUnexpected,  // an ACK to a listener that sent no cookies lately: RST unchecked
  kSynRefusedNoSlot,     // a SYN to a listener with every connection slot taken: RST
  kTimeWaitAcks,         // segments in TIME_WAIT answered with an ACK
  kTimeWaitDrops,
  kTimeWaitReuse,   // SYNs that reopened a TIME_WAIT tuple (RFC 6191)
  kTimeWaitKilled,  // RSTs that ended TIME_WAIT
  kTimeWaitCreated,
  kTimeWaitExpired,
  kTimeWaitEvicted,
  kTimeWaitReusedByConnect,  // connect() took a tuple out of TIME_WAIT (tcp_tw_reuse)
  kIcmpUnreachable,          // destination unreachable for a connection
  kIcmpFragNeeded,
  kIcmpIgnored,  // no connection, or the quoted sequence is not in flight
  kNoSlot,       // no free connection slot
  kNoBufferTx,   // a segment could not be sent: no mbuf
  kTxNoRoute,
  kTxDropped,        // IP dropped it (too big, ARP queue full)
  kConnectNoBuffer,  // connect refused with ENOBUFS
  kRstRateLimited,   // an RST for a segment without connection not sent: over the rate
  kRxChained,        // segments that arrived in an mbuf chain (LRO, scattered RX): kept in pieces
  kRxChainedPieces,  // the buffers those segments' payloads were queued in
  kRxCoalesced,      // segments merged into the run of the one before (software GRO)
  kTxTsoFrames,      // frames handed to the device for TCP segmentation (TSO)
  kTxTsoBytes,       // their payload bytes
  kTxZeroCopy,       // frames whose payload was attached from the send chunks, not copied
  kTxZeroCopyFallbacks,  // meant to be attached, copied instead: no mbuf to attach with
  kCount
};

inline constexpr const char* kTcpLayerCounterNames[] = {
    "rx_segments",
    "rx_truncated",
    "rx_bad_data_offset",
    "rx_bad_checksum",
    "rx_bad_checksum_hw",
    "rx_bad_options",
    "rx_broadcast",
    "rx_chain_too_long",
    "rx_no_connection",
    "rst_sent_no_conn",
    "listen_syns",
    "listen_overflows",
    "listen_drops",
    "syn_queue_full",
    "cookies_sent",
    "cookies_validated",
    "cookies_failed",
    "cookies_refused",
    "cookie_ack_unexpected",
    "syn_refused_no_slot",
    "time_wait_acks",
    "time_wait_drops",
    "time_wait_reuse",
    "time_wait_killed",
    "time_wait_created",
    "time_wait_expired",
    "time_wait_evicted",
    "time_wait_reused_by_connect",
    "icmp_unreachable",
    "icmp_frag_needed",
    "icmp_ignored",
    "no_slot",
    "tx_no_buffer",
    "tx_no_route",
    "tx_dropped",
    "connect_no_buffer",
    "rst_rate_limited",
    "rx_chained",
    "rx_chained_pieces",
    "rx_coalesced",
    "tx_tso_frames",
    "tx_tso_bytes",
    "tx_zero_copy",
    "tx_zero_copy_fallbacks",
};
static_assert(std::size(kTcpLayerCounterNames) ==
              static_cast<std::size_t>(TcpLayerCounter::kCount));

// Gauges of the layer's fixed-size tables ("tcp_slots"), refreshed every loop
// iteration; summed over engines they are the stack's totals.
enum class TcpSlotGauge : std::uint8_t {
  kCapacity,     // connection slots (TcpLayerConfig::max_connections)
  kInUse,        // slots taken: sockets, listeners, connections
  kHalfOpen,     // of which children in SYN_RECEIVED
  kConnections,  // entries of the 4-tuple table
  kTimeWait,     // TIME_WAIT records
  kTimeWaitCapacity,
  kCount
};

inline constexpr const char* kTcpSlotGaugeNames[] = {
    "capacity", "in_use", "half_open", "connections", "time_wait", "time_wait_capacity",
};
static_assert(std::size(kTcpSlotGaugeNames) == static_cast<std::size_t>(TcpSlotGauge::kCount));

}  // namespace shardtcp
