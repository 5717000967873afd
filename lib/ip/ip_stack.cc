#include "ip/ip_stack.h"

#include <rte_ip.h>
#include <rte_prefetch.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>

#include "ip/icmp_error_buffer.h"
#include "ip/ip_stack_sink.h"
#include "ip/mbuf_pullup.h"
#include "ip/wire_size.h"
#include "wire/arp.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/icmpv6.h"
#include "wire/ipv4.h"
#include "wire/ipv6.h"
#include "wire/tcp.h"

namespace shardtcp {
namespace {

constexpr std::uint16_t kEthLen = EthernetView::kHeaderLen;
constexpr std::uint16_t kIpLen = Ipv4View::kMinHeaderLen;
// Largest quote of an offending datagram we put in an ICMP error: its header plus
// this much of its payload (RFC 792 needs 8; more helps the sender match).
constexpr std::size_t kQuoteL4Bytes = 64;
constexpr std::uint16_t kMaxFragments = 64;

bool is_multicast_mac(const rte_ether_addr& m) {
  return (m.addr_bytes[0] & 0x01) != 0;
}

void store_be16(std::uint8_t* p, std::uint16_t host) {
  const rte_be16_t be = rte_cpu_to_be_16(host);
  std::memcpy(p, &be, sizeof(be));
}

}  // namespace

// What ipv4_input learned about a datagram, for the layers above.
struct IpStack::RxIp {
  IpAddr src, dst;
  std::uint8_t protocol = 0, ttl = 0, tos = 0;
  std::uint16_t ihl = 0;
  std::uint16_t total = 0;  // total length of the (reassembled) datagram
  bool broadcast = false;
  bool first_fragment = true;  // false only for unreassembled non-first fragments
};

IpStack::IpStack(const IpStackConfig& cfg)
    : cfg_(cfg),
      mtu_(cfg.mtu != 0 ? cfg.mtu : cfg.port.mtu),
      routes_(mtu_),
      neighbors_(cfg.arp, cfg.port.mac),
      icmp_bucket_(cfg.icmp_errors_per_second, cfg.icmp_error_burst),
      neighbors6_(cfg.ndp, cfg.port.mac) {
  std::memcpy(&own_mac_, cfg_.port.mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  for (const auto& a : cfg_.addresses) add_address(a.addr, a.prefix_len);
  for (const auto& r : cfg_.routes) routes_.add_route(r);
  if (!cfg_.gateway.is_none()) routes_.set_default_gateway(cfg_.gateway);
  if (cfg_.gateway6.is_v6()) routes_.set_default_gateway(cfg_.gateway6);
  if (cfg_.reassembly) reassembly_ = std::make_unique<Ipv4Reassembly>(cfg_.reassembly_cfg);
  setup_ipv6();
}

IpStack::~IpStack() {
  // Packets still waiting for ARP belong to us: free them (nothing is sent now).
  PacketContext ctx;
  Sink sink(*this, ctx);
  neighbors_.clear(sink);
  neighbors6_.clear(sink);
}

bool IpStack::add_address(const IpAddr& a, std::uint8_t prefix_len) {
  if (!routes_.add_address(a, prefix_len)) return false;
  if (a.is_v6()) {
    neighbors6_.add_local_address(a, prefix_len);
    // Duplicate address detection runs for it at start (or at the next poll if we
    // are already running); the address is used meanwhile (optimistic, RFC 4429).
    dad_.push_back(Dad{a, 0, Instant{}, false, false});
    ipv6_ = true;
    if (link_local_.is_none()) setup_ipv6();  // the first IPv6 address brings link-local
  } else {
    neighbors_.add_local_address(a, prefix_len);
  }
  return true;
}

bool IpStack::remove_address(const IpAddr& a) {
  if (!routes_.remove_address(a)) return false;
  if (a.is_v6())
    neighbors6_.remove_local_address(a);
  else
    neighbors_.remove_local_address(a);
  return true;
}

void IpStack::start(PacketContext& ctx) {
  started_ = true;
  now_ = ctx.now;
  if (ipv6_) start_ipv6(ctx);
  if (!cfg_.announce_at_start) return;
  Sink sink(*this, ctx);
  neighbors_.announce(sink);
}

void IpStack::on_timers(PacketContext& ctx) {
  if (!started_) start(ctx);
  now_ = ctx.now;
  if (ctx.now < next_timers_) return;
  next_timers_ = ctx.now + kTimerPeriod;
  Sink sink(*this, ctx);
  neighbors_.on_timer(ctx.now, sink);
  if (ipv6_) {
    neighbors6_.on_timer(ctx.now, sink);
    ipv6_timers(ctx);
  }
  if (reassembly_ != nullptr) {
    const std::uint32_t expired = reassembly_->collect(ctx.now);
    if (expired > 0) ipv4_.inc(Ipv4Counter::kRxReassemblyTimeout, expired);
  }
}

void IpStack::transmit(rte_mbuf* frame, PacketContext& ctx) {
  if (ctx.tx == nullptr) {
    rte_pktmbuf_free(frame);
    return;
  }
  eth_.inc(EthCounter::kTxFrames);
  ctx.tx->send(frame);
}

// ---------------------------------------------------------------- input

void IpStack::on_frames(rte_mbuf** frames, std::uint16_t n, PacketContext& ctx) {
  now_ = ctx.now;
  eth_.inc(EthCounter::kRxFrames, n);
  std::uint64_t fast = 0;  // received and delivered by ipv4_fast_input, counted once
  for (std::uint16_t i = 0; i < n; ++i) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(frames[i + 1], void*));
    if (ipv4_fast_input(frames[i], ctx))
      ++fast;
    else
      handle_frame(frames[i], ctx);
  }
  ipv4_.inc(Ipv4Counter::kRxPackets, fast);
  ipv4_.inc(Ipv4Counter::kRxDelivered, fast);
}

// Every frame that ipv4_fast_input leaves; counted as received by on_frames. Out of
// line: inlined, its registers and stack frame weighed on on_frames' loop, which the
// fast path runs for nearly every frame.
[[gnu::noinline]] void IpStack::handle_frame(rte_mbuf* m, PacketContext& ctx) {
  const auto eth = EthernetView::parse(rte_pktmbuf_mtod(m, const std::uint8_t*), m->data_len);
  if (!eth) {
    eth_.inc(EthCounter::kRxTruncated);
    rte_pktmbuf_free(m);
    return;
  }
  const rte_ether_addr dst = eth->dst();
  if (!mac_equal(dst, cfg_.port.mac) && !rte_is_broadcast_ether_addr(&dst) &&
      !joined_multicast_mac(dst)) {
    eth_.inc(is_multicast_mac(dst) ? EthCounter::kRxMulticastNotJoined : EthCounter::kRxNotOurMac);
    rte_pktmbuf_free(m);
    return;
  }
  switch (eth->ether_type()) {
    case kEtherTypeArp:
      arp_input(m, eth->payload(), eth->payload_len(), ctx);
      return;
    case kEtherTypeIpv4:
      ipv4_input(m, ctx);
      return;
    case kEtherTypeIpv6:
      if (ipv6_) {
        ipv6_input(m, ctx);
        return;
      }
      eth_.inc(EthCounter::kRxIpv6Unsupported);
      break;
    case kEtherTypeVlan:
      eth_.inc(EthCounter::kRxVlanUnsupported);
      break;
    default:
      eth_.inc(EthCounter::kRxUnknownEtherType);
      break;
  }
  rte_pktmbuf_free(m);
}

void IpStack::arp_input(rte_mbuf* m, const std::uint8_t* arp, std::size_t len, PacketContext& ctx) {
  ArpError why = ArpError::kNone;
  const auto view = ArpView::parse(arp, len, &why);
  if (!view) {
    auto& c = neighbors_.counters();
    switch (why) {
      case ArpError::kBadHardware:
        c.inc(ArpCounter::kRxBadHardware);
        break;
      case ArpError::kBadProtocol:
        c.inc(ArpCounter::kRxBadProtocol);
        break;
      case ArpError::kBadOpcode:
        c.inc(ArpCounter::kRxBadOpcode);
        break;
      default:
        c.inc(ArpCounter::kRxTruncated);
        break;
    }
    rte_pktmbuf_free(m);
    return;
  }
  const ArpPacket p = view->packet();
  rte_pktmbuf_free(m);  // everything needed was copied out
  Sink sink(*this, ctx);
  neighbors_.on_arp(p, ctx.now, sink);
}

// The frames of a stream, the l3fwd way: one mbuf holding exactly the datagram (no
// trim, no pullup), sent to our own MAC, a 20-byte IPv4 header, no fragment, a live
// TTL, a (source, destination) pair that passed ipv4_input's checks (checked_pair_)
// and a transport other than ICMP; delivered straight from here: offered to the
// transport's shortcut (offer_ipv4) first, else with its L3Meta built once. Everything else --
// other Ethernet destinations and types, a bad checksum included -- returns false untouched:
// handle_frame and ipv4_input judge it again and count why.
bool IpStack::ipv4_fast_input(rte_mbuf* m, PacketContext& ctx) {
  if (m->nb_segs != 1 || m->data_len < kEthLen + sizeof(rte_ipv4_hdr)) return false;
  const auto* frame = rte_pktmbuf_mtod(m, const std::uint8_t*);
  // The first 8 bytes hold the destination MAC and 2 bytes of the source, shifted out.
  std::uint64_t head;
  std::memcpy(&head, frame, sizeof(head));
  if (((head ^ own_mac_) << 16) != 0) return false;
  // EtherType IPv4 and version 4 with a 20-byte header, in one compare.
  rte_be32_t type_vhl;
  std::memcpy(&type_vhl, frame + offsetof(rte_ether_hdr, ether_type), sizeof(type_vhl));
  if (rte_be_to_cpu_32(type_vhl) >> 8 != (std::uint32_t{kEtherTypeIpv4} << 8 | RTE_IPV4_VHL_DEF))
    return false;
  const auto* h = reinterpret_cast<const rte_ipv4_hdr*>(frame + kEthLen);
  constexpr std::uint16_t kFragmentBits = RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK;
  const std::uint16_t total = static_cast<std::uint16_t>(m->data_len - kEthLen);
  if (h->time_to_live == 0 || (h->fragment_offset & rte_cpu_to_be_16(kFragmentBits)) != 0 ||
      rte_be_to_cpu_16(h->total_length) != total || h->next_proto_id == kIpProtoIcmp)
    return false;
  TransportHandler* t = transports_[h->next_proto_id];
  std::uint64_t addresses;
  std::memcpy(&addresses, &h->src_addr, sizeof(addresses));  // the destination follows
  if (t == nullptr || !checked_pair_.matches_header(addresses, routes_.version())) return false;
  const std::uint64_t f = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  if (!(cfg_.port.rx_ipv4_cksum && f == RTE_MBUF_F_RX_IP_CKSUM_GOOD) &&
      (f == RTE_MBUF_F_RX_IP_CKSUM_BAD || !ipv4_base_header_checksum_ok(h)))
    return false;
  const auto l4_len = static_cast<std::uint16_t>(total - sizeof(rte_ipv4_hdr));
  const L4Checksum l4_cksum = l4_checksum_status(m->ol_flags, cfg_.port.rx_l4_cksum);
  // The transport's own shortcut first (TCP: the next segment of a receive run), before
  // anything is built for on_l4.
  if (!t->offer_ipv4(m, *h, l4_len, l4_cksum)) deliver_fast(m, ctx);
  return true;  // received and delivered: on_frames counts it
}

// ipv4_fast_input's delivery of a frame its transport's shortcut declined: everything
// it needs found again from `m`, so that nothing of ipv4_fast_input's is kept across
// the offer (out of line: ipv4_fast_input would spill it for every frame).
[[gnu::noinline]] void IpStack::deliver_fast(rte_mbuf* m, PacketContext& ctx) {
  const auto* h = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, kEthLen);
  // Built in place, each field once (assigned after a default construction, the
  // addresses went through a zeroed temporary each).
  L3Meta meta{.src = IpAddr::v4_be(h->src_addr),
              .dst = IpAddr::v4_be(h->dst_addr),
              .protocol = h->next_proto_id,
              .ttl = h->time_to_live,
              .tos = h->type_of_service,
              .l3_len = sizeof(rte_ipv4_hdr),
              .l4_len = static_cast<std::uint16_t>(m->data_len - kEthLen - sizeof(rte_ipv4_hdr))};
  meta.set_l4_cksum_from(m->ol_flags, cfg_.port.rx_l4_cksum);
  // m->l2_len and l3_len are left alone: they are TX offload fields, and transports
  // find the IP header's length in meta.l3_len.
  rte_pktmbuf_adj(m, static_cast<std::uint16_t>(kEthLen + sizeof(rte_ipv4_hdr)));
  transports_[meta.protocol]->on_l4(m, meta, ctx);
}

void IpStack::ipv4_input(rte_mbuf* m, PacketContext& ctx) {
  ipv4_.inc(Ipv4Counter::kRxPackets);
  // The whole IP header (up to 60 bytes) must be readable in the first segment.
  pullup(m, std::min<std::uint32_t>(m->pkt_len, kEthLen + 60));
  const std::size_t contiguous = m->data_len - kEthLen;  // handle_frame checked >= 14
  const std::size_t total = m->pkt_len - kEthLen;
  bool verify = true;
  if (cfg_.port.rx_ipv4_cksum) {
    const std::uint64_t f = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    if (f == RTE_MBUF_F_RX_IP_CKSUM_BAD) {
      ipv4_.inc(Ipv4Counter::kRxBadChecksum);
      rte_pktmbuf_free(m);
      return;
    }
    verify = f != RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  }
  Ipv4Error why = Ipv4Error::kNone;
  const auto ip = Ipv4View::parse_split(rte_pktmbuf_mtod_offset(m, const std::uint8_t*, kEthLen),
                                        contiguous, total, verify, &why);
  if (!ip) {
    switch (why) {
      case Ipv4Error::kBadVersion:
        ipv4_.inc(Ipv4Counter::kRxBadVersion);
        break;
      case Ipv4Error::kBadIhl:
        ipv4_.inc(Ipv4Counter::kRxBadIhl);
        break;
      case Ipv4Error::kBadLength:
        ipv4_.inc(Ipv4Counter::kRxBadLength);
        break;
      case Ipv4Error::kBadChecksum:
        ipv4_.inc(Ipv4Counter::kRxBadChecksum);
        break;
      default:
        ipv4_.inc(Ipv4Counter::kRxTruncated);
        break;
    }
    rte_pktmbuf_free(m);
    return;
  }
  RxIp rx;
  rx.src = ip->src();
  rx.dst = ip->dst();
  rx.protocol = ip->protocol();
  rx.ttl = ip->ttl();
  rx.tos = ip->tos();
  rx.ihl = static_cast<std::uint16_t>(ip->header_len());
  rx.total = ip->total_length();
  const bool fragment = ip->is_fragment();
  rx.first_fragment = ip->fragment_offset() == 0;

  if (total > rx.total) rte_pktmbuf_trim(m, static_cast<std::uint16_t>(total - rx.total));

  const std::uint32_t routes = routes_.version();
  if (!checked_pair_.matches(rx.src, rx.dst, routes)) {
    if (rx.src.is_multicast() || rx.src.is_broadcast() || routes_.is_local(rx.src) ||
        routes_.is_subnet_broadcast(rx.src) || rx.src.is_loopback()) {
      ipv4_.inc(Ipv4Counter::kRxBadSource);
      rte_pktmbuf_free(m);
      return;
    }
    if (!routes_.is_local(rx.dst)) {
      if (rx.dst.is_broadcast() || routes_.is_subnet_broadcast(rx.dst)) {
        rx.broadcast = true;
      } else {
        ipv4_.inc(rx.dst.is_multicast() ? Ipv4Counter::kRxMulticastNotJoined
                                        : Ipv4Counter::kRxNotForUs);
        rte_pktmbuf_free(m);
        return;
      }
    }
    if (!rx.broadcast) checked_pair_.remember(rx.src, rx.dst, routes);
  }
  if (rx.ttl == 0) {
    ipv4_.inc(Ipv4Counter::kRxTtlExpired);
    rte_pktmbuf_free(m);
    return;
  }

  if (fragment) {
    ipv4_.inc(Ipv4Counter::kRxFragments);
    if (reassembly_ == nullptr || !reassembly_->ok()) {
      ipv4_.inc(Ipv4Counter::kRxReassemblyFailed);
      rte_pktmbuf_free(m);
      return;
    }
    m->l2_len = kEthLen;
    m->l3_len = rx.ihl;
    rte_mbuf* whole = nullptr;
    switch (reassembly_->process(m, ctx.now, &whole)) {
      case Ipv4Reassembly::Result::kHeld:
        return;
      case Ipv4Reassembly::Result::kDropped:
        ipv4_.inc(Ipv4Counter::kRxReassemblyFailed);
        return;
      case Ipv4Reassembly::Result::kComplete:
        break;
    }
    ipv4_.inc(Ipv4Counter::kRxReassembled);
    m = whole;
    // The table rewrote the first fragment's header: total length and offset fields.
    const auto* h = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, kEthLen);
    rx.ihl = static_cast<std::uint16_t>(rte_ipv4_hdr_len(h));
    rx.total = static_cast<std::uint16_t>(std::min<std::uint32_t>(m->pkt_len - kEthLen, 0xffff));
    rx.first_fragment = true;
  }
  // Give the layer above its headers contiguous (a reassembled chain starts with the
  // first fragment's segments, which may hold only the IP header).
  pullup(m, std::min<std::uint32_t>(m->pkt_len, kEthLen + rx.ihl + 64));
  deliver(m, rx, ctx);
}

void IpStack::deliver(rte_mbuf* m, const RxIp& rx, PacketContext& ctx) {
  if (rx.protocol == kIpProtoIcmp) {
    icmp_input(m, rx, ctx);
    return;
  }
  TransportHandler* t = transports_[rx.protocol];
  if (t == nullptr) {
    ipv4_.inc(Ipv4Counter::kRxUnknownProtocol);
    if (!rx.broadcast)
      send_icmp_error(rte_pktmbuf_mtod_offset(m, const std::uint8_t*, kEthLen), rx.ihl, m,
                      kEthLen + rx.ihl, rx.total - rx.ihl, kIcmpDestUnreachable,
                      kIcmpCodeProtoUnreachable, ctx);
    rte_pktmbuf_free(m);
    return;
  }
  deliver_to(*t, m, rx, ctx);
}

void IpStack::deliver_to(TransportHandler& t, rte_mbuf* m, const RxIp& rx, PacketContext& ctx) {
  L3Meta meta;
  meta.src = rx.src;
  meta.dst = rx.dst;
  meta.protocol = rx.protocol;
  meta.ttl = rx.ttl;
  meta.tos = rx.tos;
  meta.l3_len = rx.ihl;
  meta.l4_len = static_cast<std::uint16_t>(rx.total - rx.ihl);
  meta.dst_is_broadcast = rx.broadcast;
  meta.set_l4_cksum_from(m->ol_flags, cfg_.port.rx_l4_cksum);
  m->l2_len = kEthLen;
  m->l3_len = rx.ihl;
  rte_pktmbuf_adj(m, static_cast<std::uint16_t>(kEthLen + rx.ihl));
  ipv4_.inc(Ipv4Counter::kRxDelivered);
  t.on_l4(m, meta, ctx);
}

void IpStack::icmp_input(rte_mbuf* m, const RxIp& rx, PacketContext& ctx) {
  icmp_.inc(IcmpCounter::kRxMessages);
  const std::uint32_t off = kEthLen + rx.ihl;
  const std::uint32_t len = rx.total - rx.ihl;
  const std::size_t contiguous = m->data_len > off ? m->data_len - off : 0;
  const auto icmp = IcmpView::parse(rte_pktmbuf_mtod_offset(m, const std::uint8_t*, off),
                                    std::min<std::size_t>(contiguous, len));
  if (!icmp) {
    icmp_.inc(IcmpCounter::kRxTruncated);
    rte_pktmbuf_free(m);
    return;
  }
  if (!mbuf_checksum_ok(m, off, len)) {
    icmp_.inc(IcmpCounter::kRxBadChecksum);
    rte_pktmbuf_free(m);
    return;
  }
  switch (icmp->type()) {
    case kIcmpEchoRequest: {
      icmp_.inc(IcmpCounter::kRxEchoRequests);
      if (rx.broadcast) {
        // RFC 1122 §3.2.2.6 allows silence; answering broadcasts invites smurf attacks.
        icmp_.inc(IcmpCounter::kRxBroadcastEchoIgnored);
        break;
      }
      // Reply in place: same identifier, sequence and data, type 0.
      rte_pktmbuf_adj(m, static_cast<std::uint16_t>(off));
      auto* h = rte_pktmbuf_mtod(m, std::uint8_t*);
      h[offsetof(rte_icmp_hdr, icmp_type)] = kIcmpEchoReply;
      h[offsetof(rte_icmp_hdr, icmp_code)] = 0;
      store_be16(h + offsetof(rte_icmp_hdr, icmp_cksum), 0);
      std::uint16_t c = 0;
      mbuf_checksum(m, 0, m->pkt_len, &c);
      std::memcpy(h + offsetof(rte_icmp_hdr, icmp_cksum), &c, sizeof(c));
      m->ol_flags = 0;  // RX flags must not leak into TX
      icmp_.inc(IcmpCounter::kTxEchoReplies);
      output(m, rx.dst, rx.src, kIpProtoIcmp, ctx);
      return;
    }
    case kIcmpEchoReply: {
      icmp_.inc(IcmpCounter::kRxEchoReplies);
      if (!ping_handler_) {
        icmp_.inc(IcmpCounter::kRxEchoReplyUnsolicited);
        break;
      }
      PingReply r;
      r.from = rx.src;
      r.ident = icmp->ident();
      r.seq = icmp->seq();
      r.payload_len = len - IcmpView::kHeaderLen;
      r.ttl = rx.ttl;
      std::int64_t copy = 0;
      const void* stamp_p =
          r.payload_len >= sizeof(copy)
              ? rte_pktmbuf_read(m, off + IcmpView::kHeaderLen, sizeof(copy), &copy)
              : nullptr;
      if (stamp_p != nullptr) {
        std::int64_t stamp;
        std::memcpy(&stamp, stamp_p, sizeof(stamp));
        if (stamp > 0 && stamp <= ctx.now.ns) {
          r.has_rtt = true;
          r.rtt = Duration{ctx.now.ns - stamp};
        }
      }
      ping_handler_(r);
      break;
    }
    case kIcmpDestUnreachable:
    case kIcmpTimeExceeded:
    case kIcmpParameterProblem:
      icmp_error_input(m, rx, off, len, icmp->type(), icmp->code(), icmp->next_hop_mtu(), ctx);
      break;
    default:
      icmp_.inc(IcmpCounter::kRxUnknownType);
      break;
  }
  rte_pktmbuf_free(m);
}

void IpStack::icmp_error_input(rte_mbuf* m, const RxIp& rx, std::uint32_t off, std::uint32_t len,
                               std::uint8_t type, std::uint8_t code, std::uint16_t mtu,
                               PacketContext& ctx) {
  icmp_.inc(type == kIcmpDestUnreachable ? IcmpCounter::kRxDestUnreachable
            : type == kIcmpTimeExceeded  ? IcmpCounter::kRxTimeExceeded
                                         : IcmpCounter::kRxParameterProblem);
  // The quote may straddle segments: copy the part we read (60-byte header max + 8).
  std::uint8_t buf[60 + 8];
  const std::uint32_t qlen =
      std::min<std::uint32_t>(len - IcmpView::kHeaderLen, static_cast<std::uint32_t>(sizeof(buf)));
  const auto* q =
      static_cast<const std::uint8_t*>(rte_pktmbuf_read(m, off + IcmpView::kHeaderLen, qlen, buf));
  const auto quote = q ? parse_icmp_quote(q, qlen) : std::nullopt;
  if (!quote) {
    icmp_.inc(IcmpCounter::kRxBadQuote);
    return;
  }
  if (!routes_.is_local(quote->src)) {
    icmp_.inc(IcmpCounter::kRxErrorNotOurs);
    return;
  }
  TransportHandler* t = transports_[quote->protocol];
  if (t == nullptr) {
    icmp_.inc(IcmpCounter::kRxErrorNoTransport);
    return;
  }
  IcmpErrorInfo e;
  e.type = type;
  e.code = code;
  e.next_hop_mtu = (type == kIcmpDestUnreachable && code == kIcmpCodeFragNeeded) ? mtu : 0;
  e.reporter = rx.src;
  e.src = quote->src;
  e.dst = quote->dst;
  e.protocol = quote->protocol;
  e.src_port = quote->src_port;
  e.dst_port = quote->dst_port;
  e.l4_word1 = quote->l4_word1;
  icmp_.inc(IcmpCounter::kRxErrorsDelivered);
  t->on_icmp_error(e, ctx);
}

// ---------------------------------------------------------------- ICMP output

bool IpStack::send_icmp_error(const std::uint8_t* ip_hdr, std::size_t ihl, const rte_mbuf* m,
                              std::uint32_t l4_off, std::uint32_t l4_len, std::uint8_t type,
                              std::uint8_t code, PacketContext& ctx) {
  // RFC 1122 §3.2.2: never about ICMP errors, broadcasts/multicasts, non-first
  // fragments, or packets whose source does not name a single host.
  const auto ip = Ipv4View::parse_split(ip_hdr, ihl, 0xffff, false, nullptr);
  if (!ip || ip->fragment_offset() != 0) return false;
  const IpAddr src = ip->src(), dst = ip->dst();
  if (src.is_unspecified() || src.is_multicast() || src.is_broadcast() ||
      routes_.is_subnet_broadcast(src) || dst.is_multicast() || dst.is_broadcast() ||
      routes_.is_subnet_broadcast(dst))
    return false;
  if (ip->protocol() == kIpProtoIcmp) return false;
  if (!icmp_bucket_.try_take(ctx.now)) {
    icmp_.inc(IcmpCounter::kTxRateLimited);
    return false;
  }
  const std::uint32_t l4_quote = std::min<std::uint32_t>(l4_len, kQuoteL4Bytes);
  bool no_buffer = false;
  rte_mbuf* e = alloc_icmp_error(ctx.pool, IcmpView::kHeaderLen, ip_hdr, ihl, m, l4_off, l4_quote,
                                 &no_buffer);
  if (e == nullptr) {
    if (no_buffer) icmp_.inc(IcmpCounter::kTxNoBuffer);
    return false;
  }
  // The quote sits right after the ICMP header; emit checksums the whole message.
  auto* buf = rte_pktmbuf_mtod(e, std::uint8_t*);
  const std::size_t total = IcmpView::kHeaderLen + ihl + l4_quote;
  std::uint8_t* quote = buf + IcmpView::kHeaderLen;
  emit_icmp_error(buf, total, type, code, 0, quote, ihl + l4_quote);
  icmp_.inc(IcmpCounter::kTxDestUnreachable);
  // Answer from the address the offending packet was sent to, when it is ours.
  const IpAddr from = routes_.is_local(dst) ? dst : IpAddr{};
  const OutputResult r = output(e, from, src, kIpProtoIcmp, ctx);
  return r == OutputResult::kSent || r == OutputResult::kQueuedForResolution;
}

bool IpStack::send_dest_unreachable(const rte_mbuf* l4, const L3Meta& meta, std::uint8_t code,
                                    PacketContext& ctx) {
  if (meta.src.is_v6()) {
    if (l4 == nullptr || meta.l3_len < Ipv6View::kHeaderLen || l4->data_off < meta.l3_len)
      return false;
    // Transports speak ICMPv4 codes; RFC 4443 §3.1 names the IPv6 ones.
    const std::uint8_t code6 = code == kIcmpCodePortUnreachable   ? kIcmp6CodePortUnreachable
                               : code == kIcmpCodeHostUnreachable ? kIcmp6CodeAddressUnreachable
                                                                  : kIcmp6CodeNoRoute;
    const std::uint8_t* hdr = rte_pktmbuf_mtod(l4, const std::uint8_t*) - meta.l3_len;
    if (code == kIcmpCodeProtoUnreachable)
      return send_icmpv6_error(hdr, meta.l3_len, l4, 0, l4->pkt_len, kIcmp6ParameterProblem,
                               kIcmp6CodeUnknownNextHeader, 6, false, ctx);
    return send_icmpv6_error(hdr, meta.l3_len, l4, 0, l4->pkt_len, kIcmp6DestUnreachable, code6, 0,
                             false, ctx);
  }
  if (l4 == nullptr || meta.dst_is_broadcast || meta.l3_len < kIpLen || l4->data_off < meta.l3_len)
    return false;
  const std::uint8_t* ip_hdr = rte_pktmbuf_mtod(l4, const std::uint8_t*) - meta.l3_len;
  return send_icmp_error(ip_hdr, meta.l3_len, l4, 0, l4->pkt_len, kIcmpDestUnreachable, code, ctx);
}

OutputResult IpStack::ping(const IpAddr& dst, std::uint16_t ident, std::uint16_t seq,
                           std::size_t payload_len, PacketContext& ctx) {
  if (dst.is_v6()) return ping6(dst, ident, seq, payload_len, ctx);
  if (ctx.pool == nullptr || payload_len > 0xffff - kIpLen - IcmpView::kHeaderLen)
    return OutputResult::kDropped;
  rte_mbuf* head = rte_pktmbuf_alloc(ctx.pool);
  if (head == nullptr) return OutputResult::kNoBuffer;
  // Fill the message across as many segments as it needs (large pings exercise
  // fragmentation). Bytes: 8-byte header, 8-byte send time, then a counting pattern.
  std::size_t remaining = IcmpView::kHeaderLen + payload_len;
  std::size_t pos = 0;
  rte_mbuf* seg = head;
  const std::int64_t stamp = ctx.now.ns;
  while (remaining > 0) {
    std::uint16_t room = rte_pktmbuf_tailroom(seg);
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
    auto* p =
        reinterpret_cast<std::uint8_t*>(rte_pktmbuf_mtod_offset(seg, std::uint8_t*, seg->data_len));
    seg->data_len = static_cast<std::uint16_t>(seg->data_len + n);
    head->pkt_len += n;
    for (std::uint16_t i = 0; i < n; ++i, ++pos) {
      std::uint8_t b;
      if (pos < IcmpView::kHeaderLen) {
        b = 0;  // header written below
      } else if (pos < IcmpView::kHeaderLen + sizeof(stamp) && payload_len >= sizeof(stamp)) {
        b = reinterpret_cast<const std::uint8_t*>(&stamp)[pos - IcmpView::kHeaderLen];
      } else {
        b = static_cast<std::uint8_t>(pos - IcmpView::kHeaderLen);
      }
      p[i] = b;
    }
    remaining -= n;
  }
  auto* h = rte_pktmbuf_mtod(head, std::uint8_t*);  // first segment holds >= 8 bytes
  h[0] = kIcmpEchoRequest;
  h[1] = 0;
  store_be16(h + 2, 0);
  store_be16(h + offsetof(rte_icmp_hdr, icmp_ident), ident);
  store_be16(h + offsetof(rte_icmp_hdr, icmp_seq_nb), seq);
  std::uint16_t c = 0;
  mbuf_checksum(head, 0, head->pkt_len, &c);
  std::memcpy(h + 2, &c, sizeof(c));
  icmp_.inc(IcmpCounter::kTxEchoRequests);
  return output(head, IpAddr{}, dst, kIpProtoIcmp, ctx);
}

// ---------------------------------------------------------------- output

void IpStack::finish_ipv4_header(rte_mbuf* m, rte_ipv4_hdr* h) {
  m->l2_len = kEthLen;
  m->l3_len = static_cast<std::uint16_t>(rte_ipv4_hdr_len(h));
  m->ol_flags |= RTE_MBUF_F_TX_IPV4;
  h->hdr_checksum = 0;
  if (cfg_.port.tx_ipv4_cksum)
    m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
  else
    h->hdr_checksum = rte_ipv4_cksum(h);
}

OutputResult IpStack::output(rte_mbuf* m, const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                             PacketContext& ctx, std::uint8_t tos) {
  return output4(m, src, dst, proto, ctx, tos, nullptr);
}

OutputResult IpStack::output_via(rte_mbuf* m, const IpAddr& src, const IpAddr& dst,
                                 std::uint8_t proto, PacketContext& ctx, std::uint8_t tos,
                                 Ipv4OutputPath& path) {
  if (m != nullptr && path.valid && dst.is_v4() && src.is_v4() &&
      path.serves(src.v4_be(), dst.v4_be(), proto) && path.routes_version == routes_.version() &&
      path.neighbors_epoch == neighbors_.epoch()) {
    // output()'s checks that depend on the frame; anything that fails them goes the
    // long way, which counts why.
    const std::uint32_t l4_len = m->pkt_len;
    if (l4_len + kIpLen <= 0xffff && largest_wire_packet(m, kIpLen) <= path.mtu) {
      if (auto* frame = reinterpret_cast<std::uint8_t*>(
              rte_pktmbuf_prepend(m, static_cast<std::uint16_t>(Ipv4OutputPath::kHeaderBytes)))) {
        std::memcpy(frame, path.header.data(), Ipv4OutputPath::kHeaderBytes);
        auto* h = reinterpret_cast<rte_ipv4_hdr*>(frame + kEthLen);
        h->type_of_service = tos;
        h->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(l4_len + kIpLen));
        h->packet_id = rte_cpu_to_be_16(next_id_++);
        finish_ipv4_header(m, h);
        ipv4_.inc(Ipv4Counter::kTxPackets);
        ipv4_.inc(Ipv4Counter::kTxViaPath);
        transmit(m, ctx);
        return OutputResult::kSent;
      }
    }
  }
  path.valid = false;
  return output4(m, src, dst, proto, ctx, tos, &path);
}

OutputResult IpStack::output4(rte_mbuf* m, const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                              PacketContext& ctx, std::uint8_t tos, Ipv4OutputPath* fill) {
  if (m == nullptr) return OutputResult::kDropped;
  if (dst.is_v6()) return output6(m, src, dst, proto, ctx, 0, tos);
  if (!dst.is_v4() || (!src.is_none() && !src.is_v4())) {
    ipv4_.inc(Ipv4Counter::kTxBadArgs);
    rte_pktmbuf_free(m);
    return OutputResult::kDropped;
  }
  const bool limited_bcast = dst.is_broadcast();
  std::optional<RouteResult> rt;
  const std::uint32_t routes = routes_.version();
  const RouteResult* const known = route_memo_.find(dst, src, routes);
  if (known != nullptr) {
    rt = *known;
  } else if (limited_bcast) {
    // 255.255.255.255 never leaves the link: no route needed, but a source is.
    RouteResult r;
    r.next_hop = dst;
    r.on_link = true;
    r.mtu = mtu_;
    r.source =
        src.is_none() && !routes_.addresses().empty() ? routes_.addresses().front().addr : src;
    rt = r;
  } else {
    rt = routes_.lookup(dst);
  }
  if (!rt) {
    ipv4_.inc(Ipv4Counter::kTxNoRoute);
    rte_pktmbuf_free(m);
    return OutputResult::kNoRoute;
  }
  const IpAddr from = src.is_none() ? rt->source : src;
  if (known == nullptr) {
    if (!routes_.is_local(from)) {
      ipv4_.inc(Ipv4Counter::kTxBadArgs);
      rte_pktmbuf_free(m);
      return OutputResult::kDropped;
    }
    if (!limited_bcast) route_memo_.remember(dst, src, *rt, routes);
  }
  const std::uint32_t l4_len = m->pkt_len;
  if (l4_len + kIpLen > 0xffff) {
    ipv4_.inc(Ipv4Counter::kTxBadArgs);
    rte_pktmbuf_free(m);
    return OutputResult::kDropped;
  }
  const bool too_big = largest_wire_packet(m, kIpLen) > rt->mtu;
  if (too_big && proto == kIpProtoTcp) {
    ipv4_.inc(Ipv4Counter::kTxTooBig);
    rte_pktmbuf_free(m);
    return OutputResult::kDropped;
  }
  auto* hdr = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_prepend(m, kIpLen));
  if (hdr == nullptr) {
    ipv4_.inc(Ipv4Counter::kTxNoBuffer);
    rte_pktmbuf_free(m);
    return OutputResult::kNoBuffer;
  }
  Ipv4Header ih;
  ih.src = from;
  ih.dst = dst;
  ih.protocol = proto;
  ih.ttl = cfg_.ttl;
  ih.tos = tos;
  ih.id = next_id_++;
  // TCP does path-MTU discovery (RFC 1191), so it forbids fragmentation en route.
  ih.dont_fragment = proto == kIpProtoTcp;
  ih.payload_len = static_cast<std::uint16_t>(l4_len);
  emit_ipv4(hdr, kIpLen, ih, false);
  auto* h = reinterpret_cast<rte_ipv4_hdr*>(hdr);
  if (too_big) return fragment_and_send(m, dst, *rt, ctx);
  finish_ipv4_header(m, h);
  return send_ip(m, dst, *rt, ctx, limited_bcast ? nullptr : fill);
}

OutputResult IpStack::fragment_and_send(rte_mbuf* m, const IpAddr& dst, const RouteResult& rt,
                                        PacketContext& ctx) {
  // A device cannot finish an L4 checksum across fragments: do it here, once.
  auto* h = rte_pktmbuf_mtod(m, rte_ipv4_hdr*);
  if (m->ol_flags & (RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM)) {
    const std::uint16_t ck_off = (m->ol_flags & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_UDP_CKSUM
                                     ? offsetof(rte_udp_hdr, dgram_cksum)
                                     : offsetof(rte_tcp_hdr, cksum);
    std::uint16_t zero = 0;
    auto* ck = rte_pktmbuf_mtod_offset(m, std::uint8_t*, kIpLen + ck_off);
    std::memcpy(ck, &zero, sizeof(zero));
    const std::uint16_t c = l4_checksum_ipv4_mbuf(m, h, kIpLen);  // UDP's 0 as 0xffff
    std::memcpy(ck, &c, sizeof(c));
    m->ol_flags &= ~RTE_MBUF_F_TX_L4_MASK;
  }
  if (ctx.pool == nullptr) {
    ipv4_.inc(Ipv4Counter::kTxFragmentFailed);
    rte_pktmbuf_free(m);
    return OutputResult::kNoBuffer;
  }
  rte_mbuf* frags[kMaxFragments];
  const std::int32_t n =
      rte_ipv4_fragment_packet(m, frags, kMaxFragments, rt.mtu, ctx.pool, ctx.pool);
  rte_pktmbuf_free(m);  // fragments hold their own references to its data
  if (n <= 0) {
    ipv4_.inc(Ipv4Counter::kTxFragmentFailed);
    return n == -ENOMEM ? OutputResult::kNoBuffer : OutputResult::kDropped;
  }
  ipv4_.inc(Ipv4Counter::kTxFragmented);
  OutputResult result = OutputResult::kSent;
  for (std::int32_t i = 0; i < n; ++i) {
    finish_ipv4_header(frags[i], rte_pktmbuf_mtod(frags[i], rte_ipv4_hdr*));
    ipv4_.inc(Ipv4Counter::kTxFragments);
    const OutputResult r = send_ip(frags[i], dst, rt, ctx);
    if (r != OutputResult::kSent) result = r;
  }
  return result;
}

OutputResult IpStack::send_ip(rte_mbuf* m, const IpAddr& dst, const RouteResult& rt,
                              PacketContext& ctx, Ipv4OutputPath* fill) {
  auto* eth = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_prepend(m, kEthLen));
  if (eth == nullptr) {
    ipv4_.inc(Ipv4Counter::kTxNoBuffer);
    rte_pktmbuf_free(m);
    return OutputResult::kNoBuffer;
  }
  EthernetHeader eh{rte_ether_addr{}, cfg_.port.mac, kEtherTypeIpv4};
  const bool bcast = dst.is_broadcast() || routes_.is_subnet_broadcast(dst);
  if (bcast) {
    eh.dst = kBroadcastMac;
  } else if (dst.is_multicast()) {
    eh.dst = ipv4_multicast_mac(dst.v4_be());
  }
  emit_ethernet(eth, kEthLen, eh);
  ipv4_.inc(Ipv4Counter::kTxPackets);
  if (bcast || dst.is_multicast()) {
    transmit(m, ctx);
    return OutputResult::kSent;
  }
  Sink sink(*this, ctx);
  rte_ether_addr mac;
  bool confirmed = false;
  switch (neighbors_.resolve(rt.next_hop, m, ctx.now, sink, &mac, &confirmed)) {
    case NeighborCache::Resolve::kResolved:
      std::memcpy(eth + offsetof(rte_ether_hdr, dst_addr), mac.addr_bytes, RTE_ETHER_ADDR_LEN);
      // A confirmed binding: this frame's headers serve the sender's next ones.
      if (fill != nullptr && confirmed) remember_path(m, rt, *fill);
      transmit(m, ctx);
      return OutputResult::kSent;
    case NeighborCache::Resolve::kQueued:
      ipv4_.inc(Ipv4Counter::kTxQueuedForResolution);
      return OutputResult::kQueuedForResolution;
    case NeighborCache::Resolve::kDropped:
      break;
  }
  ipv4_.inc(Ipv4Counter::kTxResolutionDropped);
  rte_pktmbuf_free(m);
  return OutputResult::kDropped;
}

// The headers of `m` (Ethernet and a 20-byte IPv4 header, as send_ip built them) as the
// path's template; its per-frame fields are rewritten by output_via anyway.
void IpStack::remember_path(const rte_mbuf* m, const RouteResult& rt, Ipv4OutputPath& path) {
  const auto* frame = rte_pktmbuf_mtod(m, const std::uint8_t*);
  const auto* h = reinterpret_cast<const rte_ipv4_hdr*>(frame + kEthLen);
  if (m->data_len < Ipv4OutputPath::kHeaderBytes || rte_ipv4_hdr_len(h) != kIpLen) return;
  std::memcpy(path.header.data(), frame, Ipv4OutputPath::kHeaderBytes);
  path.mtu = rt.mtu;
  path.routes_version = routes_.version();
  path.neighbors_epoch = neighbors_.epoch();
  path.valid = true;
}

}  // namespace shardtcp
