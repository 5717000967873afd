// IPv6 output of IpStack: routing with the path-MTU cache, the fixed header,
// fragmentation (UDP/ICMP; TCP never), neighbour resolution through the NDP cache,
// ND messages, ICMPv6 errors (RFC 4443 §2.4), ping, and the start-up work of RFC 4862
// (link-local address, DAD) and RFC 4861 (router solicitation).
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>

#include "ip/icmp_error_buffer.h"
#include "ip/ip_stack.h"
#include "ip/ip_stack_sink.h"
#include "ip/wire_size.h"
#include "wire/ethernet.h"
#include "wire/icmpv6.h"
#include "wire/ipv4.h"
#include "wire/ipv6.h"
#include "wire/tcp.h"

namespace shardtcp {
namespace {

constexpr std::uint16_t kEthLen = EthernetView::kHeaderLen;
constexpr std::size_t kIp6Len = Ipv6View::kHeaderLen;
constexpr std::uint16_t kMaxFragments = 64;

IpAddr unspecified6() {
  const std::uint8_t z[16] = {};
  return IpAddr::v6(&z[0]);
}

}  // namespace

// ---------------------------------------------------------------- set-up and timers

void IpStack::setup_ipv6() {
  if (!ipv6_ && !cfg_.ipv6) return;
  ipv6_ = true;
  link_local_ = ipv6_link_local_from_mac(cfg_.port.mac);
  if (!routes_.is_local(link_local_)) add_address(link_local_, 64);
  if (cfg_.gateway.is_v6()) router6_ = cfg_.gateway;
  if (cfg_.gateway6.is_v6()) router6_ = cfg_.gateway6;
}

bool IpStack::dad_pending(const IpAddr& a) const {
  for (const auto& d : dad_)
    if (d.addr == a) return !d.done;
  return false;
}

bool IpStack::dad_failed(const IpAddr& a) const {
  for (const auto& d : dad_)
    if (d.addr == a) return d.duplicate;
  return false;
}

void IpStack::start_ipv6(PacketContext& ctx) {
  for (auto& d : dad_)
    if (!d.done && d.sent == 0) d.next = ctx.now;
  next_rs_ = ctx.now;
  ipv6_timers(ctx);
}

void IpStack::ipv6_timers(PacketContext& ctx) {
  for (std::size_t i = 0; i < dad_.size(); ++i) {
    Dad& d = dad_[i];
    if (d.done || ctx.now < d.next) continue;
    if (d.sent < cfg_.dad_transmits) {
      if (d.sent == 0) ipv6_c_.inc(Ipv6Counter::kDadStarted);
      ++d.sent;
      d.next = ctx.now + cfg_.dad_interval;
      const IpAddr target = d.addr;  // send_ns may not touch dad_, but keep a copy
      send_ns(target, unspecified6(), nullptr, ctx);
    } else {
      d.done = true;
      ipv6_c_.inc(Ipv6Counter::kDadSucceeded);
    }
  }
  if (!ra_seen_ && cfg_.accept_router_advert && !(cfg_.gateway.is_v6() || cfg_.gateway6.is_v6()) &&
      rs_sent_ < cfg_.router_solicitations && ctx.now >= next_rs_ && !link_local_.is_none() &&
      routes_.is_local(link_local_)) {
    std::uint8_t rs[16];
    const std::size_t n = emit_router_solicit(rs, sizeof(rs), &cfg_.port.mac);
    const IpAddr to = ipv6_all_routers();
    set_icmpv6_checksum(link_local_, to, rs, n);
    send_nd(rs, n, link_local_, to, ipv6_multicast_mac(to), ctx);
    ++rs_sent_;
    ipv6_c_.inc(Ipv6Counter::kRsSent);
    next_rs_ = ctx.now + cfg_.router_solicitation_interval;
  }
  if (router6_from_ra_ && ctx.now >= router6_expires_) {
    routes_.clear_default_gateway(IpFamily::kV6);
    router6_ = IpAddr{};
    router6_from_ra_ = false;
    ipv6_c_.inc(Ipv6Counter::kRaRouterExpired);
  }
}

// ---------------------------------------------------------------- path MTU

std::optional<RouteResult> IpStack::route(const IpAddr& dst) const {
  auto rt = routes_.lookup(dst);
  if (rt && dst.is_v6()) {
    const std::uint16_t p = path_mtu(dst, now_);
    if (p != 0 && p < rt->mtu) rt->mtu = p;
  }
  return rt;
}

std::uint16_t IpStack::path_mtu(const IpAddr& dst, Instant now) const {
  for (const auto& p : pmtu_)
    if (p.mtu != 0 && p.dst == dst && now < p.expires) return p.mtu;
  return 0;
}

void IpStack::update_pmtu(const IpAddr& dst, std::uint32_t mtu, Instant now) {
  if (mtu >= mtu_) return;
  Pmtu* slot = nullptr;
  for (auto& p : pmtu_) {
    if (p.mtu != 0 && p.dst == dst) {
      slot = &p;
      break;
    }
    // Reuse a free or expired slot, else the one expiring first.
    if (slot == nullptr || p.mtu == 0 || p.expires < slot->expires) slot = &p;
  }
  if (slot->dst == dst && slot->mtu != 0 && slot->mtu <= mtu && now < slot->expires) return;
  slot->dst = dst;
  slot->mtu = static_cast<std::uint16_t>(mtu);
  slot->expires = now + cfg_.pmtu_lifetime;
  ipv6_c_.inc(Ipv6Counter::kPmtuUpdated);
}

// ---------------------------------------------------------------- output

OutputResult IpStack::output6(rte_mbuf* m, const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                              PacketContext& ctx, std::uint8_t hop_limit, std::uint8_t tclass) {
  if (!ipv6_ || (!src.is_none() && !src.is_v6()) || dst.is_unspecified()) {
    ipv6_c_.inc(Ipv6Counter::kTxBadArgs);
    rte_pktmbuf_free(m);
    return OutputResult::kDropped;
  }
  IpAddr from, next_hop;
  std::uint16_t mtu = mtu_;
  if (dst.is_multicast()) {
    from = src.is_none() ? link_local_ : src;
    next_hop = dst;
  } else {
    const auto rt = route(dst);
    if (!rt) {
      ipv6_c_.inc(Ipv6Counter::kTxNoRoute);
      rte_pktmbuf_free(m);
      return OutputResult::kNoRoute;
    }
    from = src.is_none() ? rt->source : src;
    next_hop = rt->next_hop;
    mtu = rt->mtu;
  }
  const std::uint32_t l4_len = m->pkt_len;
  if (!routes_.is_local(from) || l4_len > 0xffff) {
    ipv6_c_.inc(Ipv6Counter::kTxBadArgs);
    rte_pktmbuf_free(m);
    return OutputResult::kDropped;
  }
  const bool too_big = largest_wire_packet(m, kIp6Len) > mtu;
  if (too_big && proto == kIpProtoTcp) {
    ipv6_c_.inc(Ipv6Counter::kTxTooBig);
    rte_pktmbuf_free(m);
    return OutputResult::kDropped;
  }
  auto* hdr = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_prepend(m, kIp6Len));
  if (hdr == nullptr) {
    ipv6_c_.inc(Ipv6Counter::kTxNoBuffer);
    rte_pktmbuf_free(m);
    return OutputResult::kNoBuffer;
  }
  Ipv6Header h;
  h.src = from;
  h.dst = dst;
  h.next_header = proto;
  h.hop_limit = hop_limit != 0 ? hop_limit : cfg_.ttl;
  h.traffic_class = tclass;
  h.payload_len = static_cast<std::uint16_t>(l4_len);
  emit_ipv6(hdr, kIp6Len, h);
  m->l2_len = kEthLen;
  m->l3_len = kIp6Len;
  m->ol_flags |= RTE_MBUF_F_TX_IPV6;
  if (too_big) return fragment6_and_send(m, dst, next_hop, mtu, ctx);
  return send_ip6(m, dst, next_hop, ctx);
}

OutputResult IpStack::fragment6_and_send(rte_mbuf* m, const IpAddr& dst, const IpAddr& next_hop,
                                         std::uint16_t mtu, PacketContext& ctx) {
  auto* h = rte_pktmbuf_mtod(m, rte_ipv6_hdr*);
  if (m->ol_flags & (RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM)) {
    // A device cannot finish an L4 checksum across fragments: do it here, once.
    const bool udp = (m->ol_flags & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_UDP_CKSUM;
    const std::uint16_t ck_off =
        udp ? offsetof(rte_udp_hdr, dgram_cksum) : offsetof(rte_tcp_hdr, cksum);
    std::uint16_t zero = 0;
    auto* ck = rte_pktmbuf_mtod_offset(m, std::uint8_t*, kIp6Len + ck_off);
    std::memcpy(ck, &zero, sizeof(zero));
    const std::uint16_t c = l4_checksum_ipv6_mbuf(m, h, kIp6Len);  // UDP's 0 as 0xffff
    std::memcpy(ck, &c, sizeof(c));
    m->ol_flags &= ~RTE_MBUF_F_TX_L4_MASK;
  }
  if (ctx.pool == nullptr) {
    ipv6_c_.inc(Ipv6Counter::kTxFragmentFailed);
    rte_pktmbuf_free(m);
    return OutputResult::kNoBuffer;
  }
  // Every fragment but the last carries a multiple of 8 bytes (RFC 8200 §4.5).
  const auto frag_mtu = static_cast<std::uint16_t>(kIp6Len + 8 + ((mtu - kIp6Len - 8) & ~7u));
  rte_mbuf* frags[kMaxFragments];
  const std::int32_t n =
      rte_ipv6_fragment_packet(m, frags, kMaxFragments, frag_mtu, ctx.pool, ctx.pool);
  rte_pktmbuf_free(m);
  if (n <= 0) {
    ipv6_c_.inc(Ipv6Counter::kTxFragmentFailed);
    return n == -ENOMEM ? OutputResult::kNoBuffer : OutputResult::kDropped;
  }
  ipv6_c_.inc(Ipv6Counter::kTxFragmented);
  // Our own identification (unpredictable enough for a host, never reused soon).
  const std::uint32_t id = next_id6_++;
  OutputResult result = OutputResult::kSent;
  for (std::int32_t i = 0; i < n; ++i) {
    rte_mbuf* f = frags[i];
    auto* fh = rte_pktmbuf_mtod_offset(f, std::uint8_t*, kIp6Len);
    fh[4] = static_cast<std::uint8_t>(id >> 24);
    fh[5] = static_cast<std::uint8_t>(id >> 16);
    fh[6] = static_cast<std::uint8_t>(id >> 8);
    fh[7] = static_cast<std::uint8_t>(id);
    f->l2_len = kEthLen;
    f->l3_len = kIp6Len + 8;
    f->ol_flags = RTE_MBUF_F_TX_IPV6;
    ipv6_c_.inc(Ipv6Counter::kTxFragments);
    const OutputResult r = send_ip6(f, dst, next_hop, ctx);
    if (r != OutputResult::kSent) result = r;
  }
  return result;
}

OutputResult IpStack::send_ip6(rte_mbuf* m, const IpAddr& dst, const IpAddr& next_hop,
                               PacketContext& ctx) {
  auto* eth = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_prepend(m, kEthLen));
  if (eth == nullptr) {
    ipv6_c_.inc(Ipv6Counter::kTxNoBuffer);
    rte_pktmbuf_free(m);
    return OutputResult::kNoBuffer;
  }
  EthernetHeader eh{rte_ether_addr{}, cfg_.port.mac, kEtherTypeIpv6};
  if (dst.is_multicast()) eh.dst = ipv6_multicast_mac(dst);
  emit_ethernet(eth, kEthLen, eh);
  ipv6_c_.inc(Ipv6Counter::kTxPackets);
  if (dst.is_multicast()) {
    transmit(m, ctx);
    return OutputResult::kSent;
  }
  Sink sink(*this, ctx);
  rte_ether_addr mac;
  switch (neighbors6_.resolve(next_hop, m, ctx.now, sink, &mac)) {
    case NeighborCache::Resolve::kResolved:
      std::memcpy(eth + offsetof(rte_ether_hdr, dst_addr), mac.addr_bytes, RTE_ETHER_ADDR_LEN);
      transmit(m, ctx);
      return OutputResult::kSent;
    case NeighborCache::Resolve::kQueued:
      ipv6_c_.inc(Ipv6Counter::kTxQueuedForResolution);
      return OutputResult::kQueuedForResolution;
    case NeighborCache::Resolve::kDropped:
      break;
  }
  ipv6_c_.inc(Ipv6Counter::kTxResolutionDropped);
  rte_pktmbuf_free(m);
  return OutputResult::kDropped;
}

// ---------------------------------------------------------------- ND and ICMPv6 messages

void IpStack::send_nd(const std::uint8_t* msg, std::size_t len, const IpAddr& src,
                      const IpAddr& dst, const rte_ether_addr& eth_dst, PacketContext& ctx) {
  rte_mbuf* m = ctx.pool ? rte_pktmbuf_alloc(ctx.pool) : nullptr;
  auto* buf = m ? reinterpret_cast<std::uint8_t*>(
                      rte_pktmbuf_append(m, static_cast<std::uint16_t>(kEthLen + kIp6Len + len)))
                : nullptr;
  if (buf == nullptr) {
    if (m) rte_pktmbuf_free(m);
    eth_.inc(EthCounter::kTxNoMbuf);
    return;
  }
  emit_ethernet(buf, kEthLen, {eth_dst, cfg_.port.mac, kEtherTypeIpv6});
  Ipv6Header h;
  h.src = src;
  h.dst = dst;
  h.next_header = kIpProtoIcmpv6;
  h.hop_limit = 255;  // RFC 4861: proves the sender is on-link
  h.payload_len = static_cast<std::uint16_t>(len);
  emit_ipv6(buf + kEthLen, kIp6Len, h);
  std::memcpy(buf + kEthLen + kIp6Len, msg, len);
  ipv6_c_.inc(Ipv6Counter::kTxPackets);
  transmit(m, ctx);
}

void IpStack::send_ns(const IpAddr& target, const IpAddr& src, const rte_ether_addr* unicast,
                      PacketContext& ctx) {
  const IpAddr from = src.is_none() ? unspecified6() : src;
  const bool dad = from.is_unspecified();
  std::uint8_t msg[32];
  const std::size_t n =
      emit_neighbor_solicit(msg, sizeof(msg), target, dad ? nullptr : &cfg_.port.mac);
  if (n == 0) return;
  const IpAddr to = unicast ? target : ipv6_solicited_node(target);
  set_icmpv6_checksum(from, to, msg, n);
  send_nd(msg, n, from, to, unicast ? *unicast : ipv6_multicast_mac(to), ctx);
}

void IpStack::send_na(const IpAddr& target, const IpAddr& dst, const rte_ether_addr& eth_dst,
                      bool solicited, PacketContext& ctx) {
  std::uint8_t msg[32];
  const std::size_t n =
      emit_neighbor_advert(msg, sizeof(msg), target, false, solicited, true, &cfg_.port.mac);
  set_icmpv6_checksum(target, dst, msg, n);
  ipv6_c_.inc(Ipv6Counter::kNaSent);
  send_nd(msg, n, target, dst, eth_dst, ctx);
}

bool IpStack::send_icmpv6_error(const std::uint8_t* hdr, std::size_t hdr_len, const rte_mbuf* m,
                                std::uint32_t l4_off, std::uint32_t l4_len, std::uint8_t type,
                                std::uint8_t code, std::uint32_t word1, bool allow_multicast,
                                PacketContext& ctx) {
  if (hdr == nullptr || hdr_len < kIp6Len) return false;
  const IpAddr src = IpAddr::v6(hdr + 8), dst = IpAddr::v6(hdr + 24);
  // RFC 4443 §2.4(e): never to an unspecified or multicast source, nor about a
  // packet sent to a multicast group (except packet too big and unknown options).
  if (src.is_unspecified() || src.is_multicast() || (dst.is_multicast() && !allow_multicast))
    return false;
  // §2.4(e.1): never about an ICMPv6 error.
  if (hdr_len == kIp6Len && hdr[6] == kIpProtoIcmpv6 && l4_len > 0) {
    std::uint8_t t = 0;
    const auto* p = static_cast<const std::uint8_t*>(rte_pktmbuf_read(m, l4_off, 1, &t));
    if (p == nullptr || *p < 128) return false;
  }
  if (!icmp_bucket_.try_take(ctx.now)) {
    icmp6_.inc(IcmpCounter::kTxRateLimited);
    return false;
  }
  // As much of the offending packet as fits in the minimum MTU (§2.4(c)).
  constexpr std::size_t kMaxQuote = kIpv6MinMtu - kIp6Len - Icmpv6View::kHeaderLen;
  const std::size_t hq = std::min(hdr_len, kMaxQuote);
  const std::uint32_t lq =
      std::min<std::uint32_t>(l4_len, static_cast<std::uint32_t>(kMaxQuote - hq));
  const std::size_t total = Icmpv6View::kHeaderLen + hq + lq;
  bool no_buffer = false;
  rte_mbuf* e =
      alloc_icmp_error(ctx.pool, Icmpv6View::kHeaderLen, hdr, hq, m, l4_off, lq, &no_buffer);
  if (e == nullptr) {
    if (no_buffer) icmp6_.inc(IcmpCounter::kTxNoBuffer);
    return false;
  }
  auto* buf = rte_pktmbuf_mtod(e, std::uint8_t*);
  std::uint8_t* quote = buf + Icmpv6View::kHeaderLen;
  emit_icmpv6_error(buf, total, type, code, word1, quote, hq + lq);
  IpAddr from = dst;
  if (!routes_.is_local(dst)) {
    const auto rt = route(src);
    if (!rt) {
      rte_pktmbuf_free(e);
      return false;
    }
    from = rt->source;
  }
  set_icmpv6_checksum(from, src, buf, total);
  icmp6_.inc(IcmpCounter::kTxDestUnreachable);  // counts every error we send
  if (type == kIcmp6ParameterProblem) ipv6_c_.inc(Ipv6Counter::kTxParameterProblem);
  const OutputResult r = output6(e, from, src, kIpProtoIcmpv6, ctx);
  return r == OutputResult::kSent || r == OutputResult::kQueuedForResolution;
}

OutputResult IpStack::ping6(const IpAddr& dst, std::uint16_t ident, std::uint16_t seq,
                            std::size_t payload_len, PacketContext& ctx) {
  if (!ipv6_ || ctx.pool == nullptr || payload_len > 0xffff - Icmpv6View::kHeaderLen)
    return OutputResult::kDropped;
  IpAddr from = link_local_;
  if (!dst.is_multicast()) {
    const auto rt = route(dst);
    if (!rt) {
      ipv6_c_.inc(Ipv6Counter::kTxNoRoute);
      return OutputResult::kNoRoute;
    }
    from = rt->source;
  }
  rte_mbuf* head = rte_pktmbuf_alloc(ctx.pool);
  if (head == nullptr) return OutputResult::kNoBuffer;
  // 8-byte header, 8-byte send time, then a counting pattern (as the IPv4 ping).
  std::size_t remaining = Icmpv6View::kHeaderLen + payload_len;
  std::size_t pos = 0;
  rte_mbuf* seg = head;
  const std::int64_t stamp = ctx.now.ns;
  while (remaining > 0) {
    const std::uint16_t room = rte_pktmbuf_tailroom(seg);
    if (room == 0) {
      rte_mbuf* next = rte_pktmbuf_alloc(ctx.pool);
      if (next == nullptr || rte_pktmbuf_chain(head, next) != 0) {
        if (next) rte_pktmbuf_free(next);
        rte_pktmbuf_free(head);
        return OutputResult::kNoBuffer;
      }
      seg = next;
      continue;
    }
    const auto n = static_cast<std::uint16_t>(std::min<std::size_t>(room, remaining));
    auto* p = rte_pktmbuf_mtod_offset(seg, std::uint8_t*, seg->data_len);
    seg->data_len = static_cast<std::uint16_t>(seg->data_len + n);
    head->pkt_len += n;
    for (std::uint16_t i = 0; i < n; ++i, ++pos) {
      std::uint8_t b;
      if (pos < Icmpv6View::kHeaderLen)
        b = 0;
      else if (pos < Icmpv6View::kHeaderLen + sizeof(stamp) && payload_len >= sizeof(stamp))
        b = reinterpret_cast<const std::uint8_t*>(&stamp)[pos - Icmpv6View::kHeaderLen];
      else
        b = static_cast<std::uint8_t>(pos - Icmpv6View::kHeaderLen);
      p[i] = b;
    }
    remaining -= n;
  }
  auto* h = rte_pktmbuf_mtod(head, std::uint8_t*);
  emit_icmpv6_echo_header(h, Icmpv6View::kHeaderLen, kIcmp6EchoRequest, ident, seq);
  const std::uint16_t c = l4_checksum_mbuf(head, head->pkt_len, from, dst, kIpProtoIcmpv6);
  std::memcpy(h + 2, &c, sizeof(c));
  icmp6_.inc(IcmpCounter::kTxEchoRequests);
  return output6(head, from, dst, kIpProtoIcmpv6, ctx);
}

}  // namespace shardtcp
