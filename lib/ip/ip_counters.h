// Counter names of the L2/L3 layers: one CounterGroup per layer (eth, arp, ipv4,
// icmp) per engine. Every drop has its own named reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>

namespace shardtcp {

enum class EthCounter : std::uint8_t {
  kRxFrames,
  kRxTruncated,
  kRxNotOurMac,
  kRxMulticastNotJoined,
  kRxUnknownEtherType,
  kRxIpv6Unsupported,
  kRxVlanUnsupported,
  kTxFrames,
  kTxNoMbuf,
  kCount
};
inline constexpr const char* kEthCounterNames[] = {
    "rx_frames",
    "rx_truncated",
    "rx_not_our_mac",
    "rx_multicast_not_joined",
    "rx_unknown_ethertype",
    "rx_ipv6_unsupported",
    "rx_vlan_unsupported",
    "tx_frames",
    "tx_no_mbuf",
};
static_assert(std::size(kEthCounterNames) == static_cast<std::size_t>(EthCounter::kCount));

enum class ArpCounter : std::uint8_t {
  kRxRequests,
  kRxReplies,
  kRxTruncated,
  kRxBadHardware,
  kRxBadProtocol,
  kRxBadOpcode,
  kRxBadSender,        // sender MAC multicast/broadcast, or sender IP not unicast
  kRxAddressConflict,  // someone else claims one of our addresses
  kRxNotForUs,         // request for an address we do not own, from a stranger
  kTxRequests,
  kTxReplies,
  kTxGratuitous,
  kTxProbes,  // unicast re-confirmations of stale entries
  kLearned,
  kUpdated,
  kResolved,
  kResolveFailed,  // retries exhausted
  kQueued,
  kQueueFullEntry,
  kQueueFullTotal,
  kQueuedDropped,  // packets dropped because their next hop did not resolve
  kTableFull,
  kEvicted,
  kAgedOut,
  kIncompleteLimit,  // a resolution not started: too many already pending (a flood)
  kCount
};
inline constexpr const char* kArpCounterNames[] = {
    "rx_requests",      "rx_replies",    "rx_truncated",     "rx_bad_hardware",
    "rx_bad_protocol",  "rx_bad_opcode", "rx_bad_sender",    "rx_address_conflict",
    "rx_not_for_us",    "tx_requests",   "tx_replies",       "tx_gratuitous",
    "tx_probes",        "learned",       "updated",          "resolved",
    "resolve_failed",   "queued",        "queue_full_entry", "queue_full_total",
    "queued_dropped",   "table_full",    "evicted",          "aged_out",
    "incomplete_limit",
};
static_assert(std::size(kArpCounterNames) == static_cast<std::size_t>(ArpCounter::kCount));

enum class Ipv4Counter : std::uint8_t {
  kRxPackets,
  kRxDelivered,
  kRxTruncated,
  kRxBadVersion,
  kRxBadIhl,
  kRxBadLength,
  kRxBadChecksum,
  kRxBadSource,  // multicast/broadcast/loopback/our own source
  kRxNotForUs,
  kRxMulticastNotJoined,
  kRxTtlExpired,
  kRxUnknownProtocol,
  kRxFragments,
  kRxReassembled,
  kRxReassemblyFailed,  // table full, overlap, too many fragments
  kRxReassemblyTimeout,
  kTxPackets,
  kTxNoRoute,
  kTxNoBuffer,
  kTxBadArgs,
  kTxTooBig,      // larger than the MTU with DF (TCP)
  kTxFragmented,  // datagrams split
  kTxFragments,   // fragments sent
  kTxFragmentFailed,
  kTxQueuedForResolution,
  kTxResolutionDropped,
  kTxViaPath,  // sent with a connection's prebuilt headers (IpStack::output_via)
  kCount
};
inline constexpr const char* kIpv4CounterNames[] = {
    "rx_packets",
    "rx_delivered",
    "rx_truncated",
    "rx_bad_version",
    "rx_bad_ihl",
    "rx_bad_length",
    "rx_bad_checksum",
    "rx_bad_source",
    "rx_not_for_us",
    "rx_multicast_not_joined",
    "rx_ttl_expired",
    "rx_unknown_protocol",
    "rx_fragments",
    "rx_reassembled",
    "rx_reassembly_failed",
    "rx_reassembly_timeout",
    "tx_packets",
    "tx_no_route",
    "tx_no_buffer",
    "tx_bad_args",
    "tx_too_big",
    "tx_fragmented",
    "tx_fragments",
    "tx_fragment_failed",
    "tx_queued_for_resolution",
    "tx_resolution_dropped",
    "tx_via_path",
};
static_assert(std::size(kIpv4CounterNames) == static_cast<std::size_t>(Ipv4Counter::kCount));

enum class IcmpCounter : std::uint8_t {
  kRxMessages,
  kRxTruncated,
  kRxBadChecksum,
  kRxEchoRequests,
  kRxEchoReplies,
  kRxEchoReplyUnsolicited,  // no ping callback installed
  kRxBroadcastEchoIgnored,
  kRxDestUnreachable,
  kRxTimeExceeded,
  kRxParameterProblem,
  kRxBadQuote,
  kRxErrorNotOurs,  // quoted source is not one of our addresses
  kRxErrorNoTransport,
  kRxErrorsDelivered,
  kRxUnknownType,
  kTxEchoReplies,
  kTxEchoRequests,
  kTxDestUnreachable,
  kTxRateLimited,
  kTxNoBuffer,
  kCount
};
inline constexpr const char* kIcmpCounterNames[] = {
    "rx_messages",
    "rx_truncated",
    "rx_bad_checksum",
    "rx_echo_requests",
    "rx_echo_replies",
    "rx_echo_reply_unsolicited",
    "rx_broadcast_echo_ignored",
    "rx_dest_unreachable",
    "rx_time_exceeded",
    "rx_parameter_problem",
    "rx_bad_quote",
    "rx_error_not_ours",
    "rx_error_no_transport",
    "rx_errors_delivered",
    "rx_unknown_type",
    "tx_echo_replies",
    "tx_echo_requests",
    "tx_dest_unreachable",
    "tx_rate_limited",
    "tx_no_buffer",
};
static_assert(std::size(kIcmpCounterNames) == static_cast<std::size_t>(IcmpCounter::kCount));

// IPv6 and Neighbor Discovery (the cache itself counts under "ndp" with the ARP
// names: requests = solicitations, replies = advertisements).
enum class Ipv6Counter : std::uint8_t {
  kRxPackets,
  kRxDelivered,
  kRxTruncated,
  kRxBadVersion,
  kRxBadLength,
  kRxBadSource,
  kRxNotForUs,
  kRxMulticastNotJoined,
  kRxExtTruncated,   // an extension header runs past the packet (or past 256 bytes)
  kRxOptionDiscard,  // an unknown option whose action says discard
  kRxTooManyExt,
  kRxParameterProblem,  // dropped with an ICMPv6 parameter problem (RFC 8200 §4)
  kRxNoNextHeader,
  kRxUnknownProtocol,
  kRxFragments,
  kRxReassembled,
  kRxReassemblyFailed,
  kRxFragmentUnsupported,  // fragment header not right after the fixed header
  kTxPackets,
  kTxNoRoute,
  kTxNoBuffer,
  kTxBadArgs,
  kTxTooBig,
  kTxFragmented,
  kTxFragments,
  kTxFragmentFailed,
  kTxQueuedForResolution,
  kTxResolutionDropped,
  kNdInvalid,  // NS/NA/RA failing RFC 4861 validation (hop limit, code, options)
  kNsReceived,
  kNaReceived,
  kNaSent,
  kNaDefended,  // answered another node's DAD for an address we hold
  kDadStarted,
  kDadSucceeded,
  kDadDuplicate,
  kRsSent,
  kRaReceived,
  kRaDefaultRouter,
  kRaRouterExpired,
  kPmtuUpdated,
  kTxParameterProblem,
  kCount
};
inline constexpr const char* kIpv6CounterNames[] = {
    "rx_packets",
    "rx_delivered",
    "rx_truncated",
    "rx_bad_version",
    "rx_bad_length",
    "rx_bad_source",
    "rx_not_for_us",
    "rx_multicast_not_joined",
    "rx_ext_truncated",
    "rx_option_discard",
    "rx_too_many_ext",
    "rx_parameter_problem",
    "rx_no_next_header",
    "rx_unknown_protocol",
    "rx_fragments",
    "rx_reassembled",
    "rx_reassembly_failed",
    "rx_fragment_unsupported",
    "tx_packets",
    "tx_no_route",
    "tx_no_buffer",
    "tx_bad_args",
    "tx_too_big",
    "tx_fragmented",
    "tx_fragments",
    "tx_fragment_failed",
    "tx_queued_for_resolution",
    "tx_resolution_dropped",
    "nd_invalid",
    "ns_received",
    "na_received",
    "na_sent",
    "na_defended",
    "dad_started",
    "dad_succeeded",
    "dad_duplicate",
    "rs_sent",
    "ra_received",
    "ra_default_router",
    "ra_router_expired",
    "pmtu_updated",
    "tx_parameter_problem",
};
static_assert(std::size(kIpv6CounterNames) == static_cast<std::size_t>(Ipv6Counter::kCount));

}  // namespace shardtcp
