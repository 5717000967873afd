// The seam between the IP layer and the transports (TCP, UDP) above it.
// IpStack hands each transport the datagrams of its protocol, and the ICMP errors
// quoting packets of its protocol, for one registered protocol number each.
#pragma once

#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cstdint>

#include "engine/packet_handler.h"
#include "wire/ip_addr.h"

namespace shardtcp {

// What the device said about a datagram's L4 checksum (only when the port's RX L4
// checksum offload is on; otherwise kUnverified). RTE_MBUF_F_RX_L4_CKSUM_NONE counts as
// good: the data's integrity is known, only the checksum field is not filled in.
// virtio-net reports it for frames the host's kernel sent with a partial checksum
// (VIRTIO_NET_HDR_F_NEEDS_CSUM).
enum class L4Checksum : std::uint8_t { kUnverified, kGood, kBad };

inline L4Checksum l4_checksum_status(std::uint64_t ol_flags, bool offload_on) {
  if (!offload_on) return L4Checksum::kUnverified;
  switch (ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
    case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
    case RTE_MBUF_F_RX_L4_CKSUM_NONE:
      return L4Checksum::kGood;
    case RTE_MBUF_F_RX_L4_CKSUM_BAD:
      return L4Checksum::kBad;
    default:
      return L4Checksum::kUnverified;
  }
}

// What the IP layer learned about a delivered datagram.
struct L3Meta {
  IpAddr src, dst;
  std::uint8_t protocol = 0;
  std::uint8_t ttl = 0;
  std::uint8_t tos = 0;
  // The IP header still sits just before the mbuf's data (l3_len bytes), so a
  // transport may quote it (send_dest_unreachable) without copying.
  std::uint16_t l3_len = 0;
  std::uint16_t l4_len = 0;       // bytes of L4 header + payload (== m->pkt_len)
  bool dst_is_broadcast = false;  // limited or directed broadcast
  bool l4_cksum_good = false;     // device vouches for the L4 data (see set_l4_cksum_from)
  bool l4_cksum_bad = false;      // device found it wrong; the transport drops and counts

  // l4_checksum_status, as the two flags above.
  void set_l4_cksum_from(std::uint64_t ol_flags, bool offload_on) {
    const L4Checksum status = l4_checksum_status(ol_flags, offload_on);
    l4_cksum_good = status == L4Checksum::kGood;
    l4_cksum_bad = status == L4Checksum::kBad;
  }
};

// A received ICMP error that quotes one of our packets.
struct IcmpErrorInfo {
  std::uint8_t type = 0;  // 3 dest unreachable, 11 time exceeded, 12 parameter problem
  std::uint8_t code = 0;
  std::uint16_t next_hop_mtu = 0;  // type 3 code 4 (RFC 1191), 0 if the router did not say
  IpAddr reporter;                 // who sent the ICMP error
  IpAddr src, dst;                 // the quoted packet's addresses (src is ours)
  std::uint8_t protocol = 0;
  std::uint16_t src_port = 0, dst_port = 0;  // host order
  std::uint32_t l4_word1 = 0;                // quoted bytes 4..7 (TCP sequence number)
};

class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  // m's data starts at the L4 header (IP header already validated and adjusted off);
  // takes ownership.
  virtual void on_l4(rte_mbuf* m, const L3Meta& meta, PacketContext& ctx) = 0;
  // IPv4's fast path (IpStack::ipv4_fast_input) offers each datagram it accepted here
  // first, before it builds an L3Meta or moves m's data past the headers: `ip` is its
  // 20-byte header, `l4_len` bytes of L4 header and payload follow it in m's one buffer.
  // A transport that can take it with less than on_l4's work (TCP: the next segment of
  // an open receive run) does and returns true, holding m; false, and IP delivers it to
  // on_l4 as any other. Per frame: must decline in a few instructions.
  virtual bool offer_ipv4(rte_mbuf* /*m*/, const rte_ipv4_hdr& /*ip*/, std::uint16_t /*l4_len*/,
                          L4Checksum) {
    return false;
  }
  // A received ICMP error quoting one of our packets.
  virtual void on_icmp_error(const IcmpErrorInfo& err, PacketContext& ctx) = 0;
};

}  // namespace shardtcp
