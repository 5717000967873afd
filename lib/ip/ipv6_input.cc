// IPv6 input of IpStack: header and extension-header validation (RFC 8200), reassembly,
// delivery to the transports, ICMPv6 (RFC 4443) and Neighbor Discovery input
// (RFC 4861 NS/NA/RA; RFC 4862 DAD conflicts).
#include <rte_ip.h>

#include <algorithm>
#include <cstring>

#include "ip/ip_stack.h"
#include "ip/ip_stack_sink.h"
#include "ip/mbuf_pullup.h"
#include "wire/ethernet.h"
#include "wire/icmpv6.h"
#include "wire/ipv6.h"
#include "wire/tcp.h"

namespace shardtcp {
namespace {

constexpr std::uint16_t kEthLen = EthernetView::kHeaderLen;
constexpr std::size_t kIp6Len = Ipv6View::kHeaderLen;
// Header chains longer than this are dropped (counted) rather than walked in pieces.
constexpr std::size_t kMaxHeaderChain = 256;

}  // namespace

struct IpStack::RxIp6 {
  IpAddr src, dst;
  std::uint8_t hop_limit = 0, tclass = 0, proto = 0;
  std::uint32_t l3_len = 0;  // fixed header + extension headers before L4
  std::uint32_t total = 0;   // 40 + payload length
  std::uint32_t next_header_pos = 6;
  bool multicast = false;
  rte_ether_addr eth_src{};
  const std::uint8_t* hdr = nullptr;  // the header chain, l3_len bytes (valid during the call)
};

bool IpStack::joined_group(const IpAddr& g) const {
  if (!ipv6_ || !g.is_v6()) return false;
  if (g == ipv6_all_nodes()) return true;
  for (const auto& a : routes_.addresses())
    if (a.addr.is_v6() && g == ipv6_solicited_node(a.addr)) return true;
  for (const auto& d : dad_)
    if (!d.done && g == ipv6_solicited_node(d.addr)) return true;
  return false;
}

bool IpStack::joined_multicast_mac(const rte_ether_addr& mac) const {
  if (!ipv6_ || mac.addr_bytes[0] != 0x33 || mac.addr_bytes[1] != 0x33) return false;
  if (mac_equal(mac, ipv6_multicast_mac(ipv6_all_nodes()))) return true;
  for (const auto& a : routes_.addresses())
    if (a.addr.is_v6() && mac_equal(mac, ipv6_multicast_mac(ipv6_solicited_node(a.addr))))
      return true;
  for (const auto& d : dad_)
    if (!d.done && mac_equal(mac, ipv6_multicast_mac(ipv6_solicited_node(d.addr)))) return true;
  return false;
}

void IpStack::ipv6_input(rte_mbuf* m, PacketContext& ctx, bool reassembled) {
  if (!reassembled) ipv6_c_.inc(Ipv6Counter::kRxPackets);
  RxIp6 rx;
  std::memcpy(&rx.eth_src, rte_pktmbuf_mtod_offset(m, const std::uint8_t*, RTE_ETHER_ADDR_LEN),
              RTE_ETHER_ADDR_LEN);
  pullup(m, std::min<std::uint32_t>(m->pkt_len, kEthLen + kIp6Len));
  const std::size_t contiguous = m->data_len - kEthLen;
  const std::size_t total = m->pkt_len - kEthLen;
  Ipv6Error why = Ipv6Error::kNone;
  const auto ip = Ipv6View::parse(rte_pktmbuf_mtod_offset(m, const std::uint8_t*, kEthLen),
                                  contiguous, total, &why);
  if (!ip) {
    ipv6_c_.inc(why == Ipv6Error::kBadVersion  ? Ipv6Counter::kRxBadVersion
                : why == Ipv6Error::kBadLength ? Ipv6Counter::kRxBadLength
                                               : Ipv6Counter::kRxTruncated);
    rte_pktmbuf_free(m);
    return;
  }
  rx.src = ip->src();
  rx.dst = ip->dst();
  rx.hop_limit = ip->hop_limit();
  rx.tclass = ip->traffic_class();
  rx.total = static_cast<std::uint32_t>(kIp6Len + ip->payload_length());
  if (total > rx.total) rte_pktmbuf_trim(m, static_cast<std::uint16_t>(total - rx.total));

  // A packet from a multicast or loopback source, or claiming one of our addresses,
  // is forged or looped (the unspecified source is legal for DAD and RS). While DAD
  // runs for an address, its owner's defending advertisement comes from it.
  if (rx.src.is_multicast() || rx.src.is_loopback() ||
      (routes_.is_local(rx.src) && !dad_pending(rx.src))) {
    ipv6_c_.inc(Ipv6Counter::kRxBadSource);
    rte_pktmbuf_free(m);
    return;
  }
  if (rx.dst.is_multicast()) {
    if (!joined_group(rx.dst)) {
      ipv6_c_.inc(Ipv6Counter::kRxMulticastNotJoined);
      rte_pktmbuf_free(m);
      return;
    }
    rx.multicast = true;
  } else if (!routes_.is_local(rx.dst)) {
    ipv6_c_.inc(Ipv6Counter::kRxNotForUs);
    rte_pktmbuf_free(m);
    return;
  }

  std::uint8_t chain[kMaxHeaderChain];
  const auto walk_len = static_cast<std::uint32_t>(std::min<std::size_t>(rx.total, sizeof(chain)));
  const auto* h = static_cast<const std::uint8_t*>(rte_pktmbuf_read(m, kEthLen, walk_len, chain));
  Ipv6ExtInfo info;
  const Ipv6ExtResult res =
      h ? walk_ipv6_extensions(h, walk_len, rx.multicast, &info) : Ipv6ExtResult::kTruncated;
  switch (res) {
    case Ipv6ExtResult::kOk:
      break;
    case Ipv6ExtResult::kTruncated:
      ipv6_c_.inc(Ipv6Counter::kRxExtTruncated);
      rte_pktmbuf_free(m);
      return;
    case Ipv6ExtResult::kDiscard:
      ipv6_c_.inc(Ipv6Counter::kRxOptionDiscard);
      rte_pktmbuf_free(m);
      return;
    case Ipv6ExtResult::kTooManyHeaders:
      ipv6_c_.inc(Ipv6Counter::kRxTooManyExt);
      rte_pktmbuf_free(m);
      return;
    case Ipv6ExtResult::kParameterProblem:
      ipv6_c_.inc(Ipv6Counter::kRxParameterProblem);
      // Option type 11 to a multicast group was discarded by the walk; code 2 with
      // type 10 is answered even to multicast (RFC 8200 §4.2).
      send_icmpv6_error(h, kIp6Len, m, kEthLen + kIp6Len, rx.total - kIp6Len,
                        kIcmp6ParameterProblem, info.problem_code, info.problem_pointer,
                        info.problem_code == kIcmp6CodeUnknownOption, ctx);
      rte_pktmbuf_free(m);
      return;
  }

  if (info.fragment) {
    ipv6_c_.inc(Ipv6Counter::kRxFragments);
    if (info.frag_header_pos != kIp6Len) {
      // DPDK reassembles only a fragment header right after the fixed header.
      ipv6_c_.inc(Ipv6Counter::kRxFragmentUnsupported);
      rte_pktmbuf_free(m);
      return;
    }
    if (reassembly_ == nullptr || !reassembly_->ok() ||
        !pullup(m, std::min<std::uint32_t>(m->pkt_len, kEthLen + kIp6Len + 8))) {
      ipv6_c_.inc(Ipv6Counter::kRxReassemblyFailed);
      rte_pktmbuf_free(m);
      return;
    }
    m->l2_len = kEthLen;
    m->l3_len = kIp6Len + 8;
    rte_mbuf* whole = nullptr;
    switch (reassembly_->process_v6(m, ctx.now, &whole)) {
      case Ipv4Reassembly::Result::kHeld:
        return;
      case Ipv4Reassembly::Result::kDropped:
        ipv6_c_.inc(Ipv6Counter::kRxReassemblyFailed);
        return;
      case Ipv4Reassembly::Result::kComplete:
        break;
    }
    ipv6_c_.inc(Ipv6Counter::kRxReassembled);
    ipv6_input(whole, ctx, true);  // no fragment header any more: walks to L4
    return;
  }

  rx.proto = info.upper_proto;
  rx.l3_len = info.l4_offset;
  rx.next_header_pos = info.next_header_pos;
  rx.hdr = h;
  // The layer above wants its headers contiguous, right after the IP header chain.
  pullup(m, std::min<std::uint32_t>(m->pkt_len, kEthLen + rx.l3_len + 64));
  deliver6(m, rx, ctx);
}

void IpStack::deliver6(rte_mbuf* m, const RxIp6& rx, PacketContext& ctx) {
  if (rx.proto == kIpProtoIcmpv6) {
    icmpv6_input(m, rx, ctx);
    return;
  }
  if (rx.proto == kIpProtoNoNext) {
    ipv6_c_.inc(Ipv6Counter::kRxNoNextHeader);
    rte_pktmbuf_free(m);
    return;
  }
  TransportHandler* t = transports_[rx.proto];
  if (t == nullptr) {
    // RFC 8200 §4: an unrecognised next header is a parameter problem, code 1,
    // pointing at the field that named it.
    ipv6_c_.inc(Ipv6Counter::kRxUnknownProtocol);
    if (!rx.multicast)
      send_icmpv6_error(rx.hdr, kIp6Len, m, kEthLen + kIp6Len, rx.total - kIp6Len,
                        kIcmp6ParameterProblem, kIcmp6CodeUnknownNextHeader, rx.next_header_pos,
                        false, ctx);
    rte_pktmbuf_free(m);
    return;
  }
  L3Meta meta;
  meta.src = rx.src;
  meta.dst = rx.dst;
  meta.protocol = rx.proto;
  meta.ttl = rx.hop_limit;
  meta.tos = rx.tclass;
  meta.l3_len = static_cast<std::uint16_t>(rx.l3_len);
  meta.l4_len = static_cast<std::uint16_t>(rx.total - rx.l3_len);
  meta.dst_is_broadcast = false;  // multicast is visible in meta.dst
  meta.set_l4_cksum_from(m->ol_flags, cfg_.port.rx_l4_cksum);
  m->l2_len = kEthLen;
  m->l3_len = static_cast<std::uint16_t>(rx.l3_len);
  rte_pktmbuf_adj(m, static_cast<std::uint16_t>(kEthLen + rx.l3_len));
  ipv6_c_.inc(Ipv6Counter::kRxDelivered);
  t->on_l4(m, meta, ctx);
}

void IpStack::icmpv6_input(rte_mbuf* m, const RxIp6& rx, PacketContext& ctx) {
  icmp6_.inc(IcmpCounter::kRxMessages);
  const std::uint32_t off = kEthLen + rx.l3_len;
  const std::uint32_t len = rx.total - rx.l3_len;
  if (len < Icmpv6View::kHeaderLen) {
    icmp6_.inc(IcmpCounter::kRxTruncated);
    rte_pktmbuf_free(m);
    return;
  }
  if (l4_checksum_mbuf(m, len, rx.src, rx.dst, kIpProtoIcmpv6, off) != 0) {
    icmp6_.inc(IcmpCounter::kRxBadChecksum);
    rte_pktmbuf_free(m);
    return;
  }
  // Control messages are small: look at (up to) their first 1280 bytes in one piece.
  std::uint8_t buf[kIpv6MinMtu];
  const auto clen = static_cast<std::uint32_t>(std::min<std::size_t>(len, sizeof(buf)));
  const auto* msg = static_cast<const std::uint8_t*>(rte_pktmbuf_read(m, off, clen, buf));
  const std::uint8_t type = msg[0];
  switch (type) {
    case kIcmp6EchoRequest: {
      icmp6_.inc(IcmpCounter::kRxEchoRequests);
      // Answer from the address asked, or for a multicast echo from our address on
      // the way back (RFC 4443 §4.2).
      IpAddr from = rx.dst;
      if (rx.multicast) {
        const auto rt = route(rx.src);
        if (!rt || rx.src.is_unspecified()) break;
        from = rt->source;
      }
      rte_pktmbuf_adj(m, static_cast<std::uint16_t>(off));
      auto* h = rte_pktmbuf_mtod(m, std::uint8_t*);
      h[0] = kIcmp6EchoReply;
      h[2] = h[3] = 0;
      const std::uint16_t c = l4_checksum_mbuf(m, m->pkt_len, from, rx.src, kIpProtoIcmpv6);
      std::memcpy(h + 2, &c, sizeof(c));
      m->ol_flags = 0;
      icmp6_.inc(IcmpCounter::kTxEchoReplies);
      output6(m, from, rx.src, kIpProtoIcmpv6, ctx);
      return;
    }
    case kIcmp6EchoReply: {
      icmp6_.inc(IcmpCounter::kRxEchoReplies);
      if (!ping_handler_) {
        icmp6_.inc(IcmpCounter::kRxEchoReplyUnsolicited);
        break;
      }
      PingReply r;
      r.from = rx.src;
      r.ident = static_cast<std::uint16_t>((msg[4] << 8) | msg[5]);
      r.seq = static_cast<std::uint16_t>((msg[6] << 8) | msg[7]);
      r.payload_len = len - Icmpv6View::kHeaderLen;
      r.ttl = rx.hop_limit;
      if (r.payload_len >= sizeof(std::int64_t)) {
        std::int64_t stamp;
        std::memcpy(&stamp, msg + 8, sizeof(stamp));
        if (stamp > 0 && stamp <= ctx.now.ns) {
          r.has_rtt = true;
          r.rtt = Duration{ctx.now.ns - stamp};
        }
      }
      ping_handler_(r);
      break;
    }
    case kIcmp6DestUnreachable:
    case kIcmp6PacketTooBig:
    case kIcmp6TimeExceeded:
    case kIcmp6ParameterProblem:
      icmpv6_error_input(msg, clen, rx, ctx);
      break;
    case kIcmp6NeighborSolicit:
      ns_input(msg, clen, rx, rx.eth_src, ctx);
      break;
    case kIcmp6NeighborAdvert:
      na_input(msg, clen, rx, ctx);
      break;
    case kIcmp6RouterAdvert:
      ra_input(msg, clen, rx, ctx);
      break;
    case kIcmp6RouterSolicit:  // we are not a router
    case kIcmp6Redirect:       // not implemented: we keep our own next hops
    case 130:                  // MLD query/report/done and MLDv2 reports: we do not
    case 131:                  // send reports, switches flood or snoop without them
    case 132:
    case 143:
      break;
    default:
      icmp6_.inc(IcmpCounter::kRxUnknownType);
      break;
  }
  rte_pktmbuf_free(m);
}

void IpStack::icmpv6_error_input(const std::uint8_t* msg, std::size_t len, const RxIp6& rx,
                                 PacketContext& ctx) {
  const std::uint8_t type = msg[0], code = msg[1];
  const std::uint32_t word1 = (std::uint32_t{msg[4]} << 24) | (std::uint32_t{msg[5]} << 16) |
                              (std::uint32_t{msg[6]} << 8) | msg[7];
  icmp6_.inc(type == kIcmp6TimeExceeded       ? IcmpCounter::kRxTimeExceeded
             : type == kIcmp6ParameterProblem ? IcmpCounter::kRxParameterProblem
                                              : IcmpCounter::kRxDestUnreachable);
  const auto quote = parse_icmpv6_quote(msg + 8, len - 8);
  if (!quote) {
    icmp6_.inc(IcmpCounter::kRxBadQuote);
    return;
  }
  if (!routes_.is_local(quote->src)) {
    icmp6_.inc(IcmpCounter::kRxErrorNotOurs);
    return;
  }
  IcmpErrorInfo e;
  // Transports read ICMPv4 types and codes; RFC 4443's map onto them.
  switch (type) {
    case kIcmp6DestUnreachable:
      e.type = kIcmpDestUnreachable;
      e.code = code == kIcmp6CodeNoRoute           ? kIcmpCodeNetUnreachable
               : code == kIcmp6CodePortUnreachable ? kIcmpCodePortUnreachable
               : code == kIcmp6CodeAdminProhibited || code == 5 || code == 6
                   ? std::uint8_t{13}  // communication administratively prohibited
                   : kIcmpCodeHostUnreachable;
      break;
    case kIcmp6PacketTooBig: {
      // RFC 8201 §4: never below the IPv6 minimum MTU.
      const std::uint32_t mtu = std::clamp<std::uint32_t>(word1, kIpv6MinMtu, 0xffff);
      update_pmtu(quote->dst, mtu, ctx.now);
      e.type = kIcmpDestUnreachable;
      e.code = kIcmpCodeFragNeeded;
      e.next_hop_mtu = static_cast<std::uint16_t>(mtu);
      break;
    }
    case kIcmp6TimeExceeded:
      e.type = kIcmpTimeExceeded;
      e.code = code;
      break;
    default:  // parameter problem
      if (code == kIcmp6CodeUnknownNextHeader) {
        e.type = kIcmpDestUnreachable;
        e.code = kIcmpCodeProtoUnreachable;
      } else {
        e.type = kIcmpParameterProblem;
        e.code = 0;
      }
      break;
  }
  TransportHandler* t = transports_[quote->protocol];
  if (t == nullptr) {
    icmp6_.inc(IcmpCounter::kRxErrorNoTransport);
    return;
  }
  e.reporter = rx.src;
  e.src = quote->src;
  e.dst = quote->dst;
  e.protocol = quote->protocol;
  e.src_port = quote->src_port;
  e.dst_port = quote->dst_port;
  e.l4_word1 = quote->l4_word1;
  icmp6_.inc(IcmpCounter::kRxErrorsDelivered);
  t->on_icmp_error(e, ctx);
}

// ---------------------------------------------------------------- Neighbor Discovery

void IpStack::dad_conflict(const IpAddr& a) {
  for (auto& d : dad_) {
    if (d.addr == a && !d.done) {
      // RFC 4862 §5.4.5: the address is a duplicate; stop using it.
      d.done = true;
      d.duplicate = true;
      ipv6_c_.inc(Ipv6Counter::kDadDuplicate);
      remove_address(a);
      return;
    }
  }
}

void IpStack::ns_input(const std::uint8_t* msg, std::size_t len, const RxIp6& rx,
                       const rte_ether_addr& eth_src, PacketContext& ctx) {
  ipv6_c_.inc(Ipv6Counter::kNsReceived);
  const auto ns = parse_neighbor_solicit(msg, len);
  const bool from_unspecified = rx.src.is_unspecified();
  // RFC 4861 §7.1.1; a DAD probe comes from :: to a solicited-node group, bare.
  if (!ns || rx.hop_limit != 255 ||
      (from_unspecified && (!rx.dst.is_multicast() || rx.dst != ipv6_solicited_node(ns->target) ||
                            ns->options.source_link))) {
    ipv6_c_.inc(Ipv6Counter::kNdInvalid);
    return;
  }
  const bool tentative = dad_pending(ns->target);
  if (!routes_.is_local(ns->target)) {
    neighbors6_.counters().inc(ArpCounter::kRxNotForUs);
    return;
  }
  if (from_unspecified) {
    if (tentative) {
      dad_conflict(ns->target);  // both probing: both give up (§5.4.3)
    } else {
      ipv6_c_.inc(Ipv6Counter::kNaDefended);
      send_na(ns->target, ipv6_all_nodes(), ipv6_multicast_mac(ipv6_all_nodes()), false, ctx);
    }
    return;
  }
  if (ns->options.source_link) {
    Sink sink(*this, ctx);
    neighbors6_.on_solicit_source(rx.src, *ns->options.source_link, ctx.now, sink);
  }
  const rte_ether_addr to = ns->options.source_link ? *ns->options.source_link : eth_src;
  send_na(ns->target, rx.src, to, true, ctx);
}

void IpStack::na_input(const std::uint8_t* msg, std::size_t len, const RxIp6& rx,
                       PacketContext& ctx) {
  ipv6_c_.inc(Ipv6Counter::kNaReceived);
  const auto na = parse_neighbor_advert(msg, len);
  if (!na || rx.hop_limit != 255 || (rx.multicast && na->solicited)) {
    ipv6_c_.inc(Ipv6Counter::kNdInvalid);
    return;
  }
  if (routes_.is_local(na->target)) {
    if (dad_pending(na->target))
      dad_conflict(na->target);
    else
      neighbors6_.counters().inc(ArpCounter::kRxAddressConflict);
    return;
  }
  Sink sink(*this, ctx);
  neighbors6_.on_advert(na->target, na->options.target_link ? &*na->options.target_link : nullptr,
                        na->solicited, na->override_flag, ctx.now, sink);
}

void IpStack::ra_input(const std::uint8_t* msg, std::size_t len, const RxIp6& rx,
                       PacketContext& ctx) {
  ipv6_c_.inc(Ipv6Counter::kRaReceived);
  const auto ra = parse_router_advert(msg, len);
  // §6.1.2: from a link-local source, hop limit 255.
  if (!ra || rx.hop_limit != 255 || !ipv6_is_link_local(rx.src)) {
    ipv6_c_.inc(Ipv6Counter::kNdInvalid);
    return;
  }
  ra_seen_ = true;  // no more solicitations
  if (!cfg_.accept_router_advert) return;
  if (ra->options.source_link) {
    Sink sink(*this, ctx);
    neighbors6_.on_solicit_source(rx.src, *ra->options.source_link, ctx.now, sink);
  }
  for (std::uint8_t i = 0; i < ra->options.prefix_count; ++i) {
    const NdPrefix& p = ra->options.prefixes[i];
    // On-link prefixes become connected-style routes (no gateway); link-local is ours.
    if (p.on_link && p.valid_lifetime != 0 && !ipv6_is_link_local(p.prefix) &&
        p.prefix_len <= 128) {
      Route r;
      r.prefix = p.prefix;
      r.prefix_len = p.prefix_len;
      routes_.add_route(r);  // false when it is already there
    }
  }
  const bool configured = cfg_.gateway.is_v6() || cfg_.gateway6.is_v6();
  if (configured) return;  // a configured default router wins over advertisements
  if (ra->router_lifetime > 0) {
    if (router6_ != rx.src || !router6_from_ra_) {
      routes_.set_default_gateway(rx.src);
      router6_ = rx.src;
      router6_from_ra_ = true;
      ipv6_c_.inc(Ipv6Counter::kRaDefaultRouter);
    }
    router6_expires_ = ctx.now + std::chrono::seconds(ra->router_lifetime);
  } else if (router6_from_ra_ && router6_ == rx.src) {
    routes_.clear_default_gateway(IpFamily::kV6);
    router6_ = IpAddr{};
    router6_from_ra_ = false;
    ipv6_c_.inc(Ipv6Counter::kRaRouterExpired);
  }
}

}  // namespace shardtcp
