// IPv6, extension-header and ICMPv6/NDP wire round-trips against frames captured from
// Linux (ipv6_captured_frames.h, made by ipv6_capture_frames.sh): parse and check the
// fields Linux wrote, re-emit with our emitters and compare bytes, then malformed
// variants must be rejected with the reason RFC 8200 / 4861 gives.
#include <gtest/gtest.h>

#include <vector>

#include "ipv6_captured_frames.h"
#include "wire/ethernet.h"
#include "wire/icmpv6.h"
#include "wire/ipv6.h"

namespace shardtcp {
namespace {

constexpr std::size_t kEth = 14;
const rte_ether_addr kMacA{{0x02, 0, 0, 0, 0x06, 0x01}};
const rte_ether_addr kMacB{{0x02, 0, 0, 0, 0x06, 0x02}};
const IpAddr kA = *IpAddr::parse("2001:db8:6::1");
const IpAddr kB = *IpAddr::parse("2001:db8:6::2");
const IpAddr kLlA = *IpAddr::parse("fe80::ff:fe00:601");

template <std::size_t N>
std::vector<std::uint8_t> ip_part(const std::uint8_t (&f)[N]) {
  return {f + kEth, f + N};
}

Ipv6View view(const std::vector<std::uint8_t>& p) {
  Ipv6Error why = Ipv6Error::kNone;
  auto v = Ipv6View::parse(p.data(), p.size(), p.size(), &why);
  EXPECT_TRUE(v) << static_cast<int>(why);
  return *v;
}

// The ICMPv6 message of an unextended packet, checksum verified against Linux's.
std::vector<std::uint8_t> icmp_of(const std::vector<std::uint8_t>& p) {
  const Ipv6View v = view(p);
  EXPECT_EQ(v.next_header(), kIpProtoIcmpv6);
  std::vector<std::uint8_t> m(p.begin() + 40, p.begin() + 40 + v.payload_length());
  EXPECT_TRUE(icmpv6_checksum_ok(v.src(), v.dst(), m.data(), m.size()));
  return m;
}

TEST(Ipv6Wire, ParsesAndReemitsCapturedHeader) {
  const auto p = ip_part(captured6::kEchoRequest);
  const Ipv6View v = view(p);
  EXPECT_EQ(v.version(), 6);
  EXPECT_EQ(v.src(), kA);
  EXPECT_EQ(v.dst(), kB);
  EXPECT_EQ(v.hop_limit(), 64);
  EXPECT_EQ(v.next_header(), kIpProtoIcmpv6);
  EXPECT_EQ(v.payload_length(), p.size() - 40);
  Ipv6Header h;
  h.src = v.src();
  h.dst = v.dst();
  h.next_header = v.next_header();
  h.hop_limit = v.hop_limit();
  h.traffic_class = v.traffic_class();
  h.flow_label = v.flow_label();
  h.payload_len = v.payload_length();
  std::uint8_t out[40];
  ASSERT_EQ(emit_ipv6(out, sizeof(out), h), 40u);
  EXPECT_EQ(0, std::memcmp(out, p.data(), 40));
  Ipv6ExtInfo info;
  ASSERT_EQ(walk_ipv6_extensions(p.data(), p.size(), false, &info), Ipv6ExtResult::kOk);
  EXPECT_EQ(info.upper_proto, kIpProtoIcmpv6);
  EXPECT_EQ(info.l4_offset, 40u);
  EXPECT_EQ(info.header_count, 0);
}

TEST(Ipv6Wire, RejectsMalformedHeaders) {
  auto p = ip_part(captured6::kEchoRequest);
  Ipv6Error why = Ipv6Error::kNone;
  EXPECT_FALSE(Ipv6View::parse(p.data(), 39, 39, &why));
  EXPECT_EQ(why, Ipv6Error::kTruncated);
  EXPECT_FALSE(Ipv6View::parse(p.data(), p.size(), p.size() - 1, &why));
  EXPECT_EQ(why, Ipv6Error::kTruncated);  // contiguous > total
  EXPECT_FALSE(Ipv6View::parse(p.data(), p.size() - 1, p.size() - 1, &why));
  EXPECT_EQ(why, Ipv6Error::kBadLength);
  p[0] = 0x45;
  EXPECT_FALSE(Ipv6View::parse(p.data(), p.size(), p.size(), &why));
  EXPECT_EQ(why, Ipv6Error::kBadVersion);
  Ipv6Header h;
  h.src = IpAddr::v4(1);
  h.dst = kB;
  std::uint8_t out[40];
  EXPECT_EQ(emit_ipv6(out, sizeof(out), h), 0u);
  h.src = kA;
  EXPECT_EQ(emit_ipv6(out, 39, h), 0u);
}

TEST(Ipv6Wire, HopByHopRouterAlertOfMldReport) {
  const auto p = ip_part(captured6::kMldReportHopByHop);
  const Ipv6View v = view(p);
  EXPECT_EQ(v.next_header(), kIpProtoHopByHop);
  EXPECT_EQ(v.hop_limit(), 1);
  Ipv6ExtInfo info;
  ASSERT_EQ(walk_ipv6_extensions(p.data(), p.size(), true, &info), Ipv6ExtResult::kOk);
  EXPECT_EQ(info.upper_proto, kIpProtoIcmpv6);
  EXPECT_EQ(info.l4_offset, 48u);
  EXPECT_EQ(info.header_count, 1);
  EXPECT_EQ(info.next_header_pos, 40u);
  EXPECT_TRUE(icmpv6_checksum_ok(v.src(), v.dst(), p.data() + 48, p.size() - 48));
}

TEST(Ipv6Wire, DestinationOptionsAndRoutingWithNoSegmentsLeft) {
  for (const auto& p : {ip_part(captured6::kEchoDestOptions), ip_part(captured6::kEchoRouting)}) {
    Ipv6ExtInfo info;
    ASSERT_EQ(walk_ipv6_extensions(p.data(), p.size(), false, &info), Ipv6ExtResult::kOk);
    EXPECT_EQ(info.upper_proto, kIpProtoIcmpv6);
    EXPECT_EQ(info.header_count, 1);
    const Ipv6View v = view(p);
    const auto icmp = Icmpv6View::parse(p.data() + info.l4_offset, p.size() - info.l4_offset);
    ASSERT_TRUE(icmp);
    EXPECT_EQ(icmp->type(), kIcmp6EchoRequest);
    EXPECT_EQ(icmp->ident(), 0x77);
    EXPECT_TRUE(icmpv6_checksum_ok(v.src(), v.dst(), icmp->data(), icmp->len()));
  }
}

TEST(Ipv6Wire, RoutingWithSegmentsLeftIsAParameterProblemAtTheType) {
  auto p = ip_part(captured6::kEchoRouting);
  p[40 + 3] = 1;  // segments left
  Ipv6ExtInfo info;
  ASSERT_EQ(walk_ipv6_extensions(p.data(), p.size(), false, &info),
            Ipv6ExtResult::kParameterProblem);
  EXPECT_EQ(info.problem_code, kIcmp6CodeErroneousField);
  EXPECT_EQ(info.problem_pointer, 42u);
}

TEST(Ipv6Wire, OptionActionBits) {
  auto p = ip_part(captured6::kEchoDestOptions);
  // The PadN at offset 42 becomes an unknown option of each action class.
  const std::pair<std::uint8_t, Ipv6ExtResult> cases[] = {
      {0x1e, Ipv6ExtResult::kOk},                // 00: skip
      {0x5e, Ipv6ExtResult::kDiscard},           // 01: discard
      {0x9e, Ipv6ExtResult::kParameterProblem},  // 10: discard + problem
      {0xde, Ipv6ExtResult::kParameterProblem},  // 11: + problem unless multicast
  };
  for (const auto& [type, want] : cases) {
    p[42] = type;
    Ipv6ExtInfo info;
    EXPECT_EQ(walk_ipv6_extensions(p.data(), p.size(), false, &info), want) << int(type);
    if (want == Ipv6ExtResult::kParameterProblem) {
      EXPECT_EQ(info.problem_code, kIcmp6CodeUnknownOption);
      EXPECT_EQ(info.problem_pointer, 42u);
    }
  }
  p[42] = 0xde;
  Ipv6ExtInfo info;
  EXPECT_EQ(walk_ipv6_extensions(p.data(), p.size(), true, &info), Ipv6ExtResult::kDiscard);
  p[43] = 200;  // option length past the header
  EXPECT_EQ(walk_ipv6_extensions(p.data(), p.size(), false, &info), Ipv6ExtResult::kTruncated);
}

TEST(Ipv6Wire, HopByHopNotFirstIsAParameterProblem) {
  auto p = ip_part(captured6::kEchoDestOptions);
  p[40] = kIpProtoHopByHop;  // the destination options header says a HBH follows
  Ipv6ExtInfo info;
  ASSERT_EQ(walk_ipv6_extensions(p.data(), p.size(), false, &info),
            Ipv6ExtResult::kParameterProblem);
  EXPECT_EQ(info.problem_code, kIcmp6CodeUnknownNextHeader);
  EXPECT_EQ(info.problem_pointer, 40u);
}

TEST(Ipv6Wire, FragmentsOfALargeEcho) {
  const auto f0 = ip_part(captured6::kEchoFragment0);
  const auto f1 = ip_part(captured6::kEchoFragment1);
  const auto f2 = ip_part(captured6::kEchoFragment2);
  Ipv6ExtInfo i0, i1, i2;
  ASSERT_EQ(walk_ipv6_extensions(f0.data(), f0.size(), false, &i0), Ipv6ExtResult::kOk);
  ASSERT_EQ(walk_ipv6_extensions(f1.data(), f1.size(), false, &i1), Ipv6ExtResult::kOk);
  ASSERT_EQ(walk_ipv6_extensions(f2.data(), f2.size(), false, &i2), Ipv6ExtResult::kOk);
  for (const auto* i : {&i0, &i1, &i2}) {
    EXPECT_TRUE(i->fragment);
    EXPECT_EQ(i->frag_header_pos, 40u);
    EXPECT_EQ(i->l4_offset, 48u);
    EXPECT_EQ(i->upper_proto, kIpProtoIcmpv6);
    EXPECT_EQ(i->frag_id, i0.frag_id);
  }
  EXPECT_EQ(i0.frag_offset, 0u);
  EXPECT_TRUE(i0.more_fragments);
  EXPECT_EQ(i1.frag_offset, f0.size() - 48);
  EXPECT_TRUE(i1.more_fragments);
  EXPECT_EQ(i2.frag_offset, i1.frag_offset + (f1.size() - 48));
  EXPECT_FALSE(i2.more_fragments);
  EXPECT_EQ(i2.frag_offset + (f2.size() - 48), 3008u);  // 8-byte echo header + 3000
  // Our fragment header emitter writes Linux's bytes.
  std::uint8_t fh[8];
  ASSERT_EQ(
      emit_ipv6_fragment_header(fh, sizeof(fh), kIpProtoIcmpv6, i1.frag_offset, true, i1.frag_id),
      8u);
  EXPECT_EQ(0, std::memcmp(fh, f1.data() + 40, 8));
  // A non-last fragment whose length is not a multiple of 8: code 0 at payload length.
  auto bad = f1;
  bad[5] = static_cast<std::uint8_t>(bad[5] - 1);
  bad.pop_back();
  Ipv6ExtInfo ib;
  ASSERT_EQ(walk_ipv6_extensions(bad.data(), bad.size(), false, &ib),
            Ipv6ExtResult::kParameterProblem);
  EXPECT_EQ(ib.problem_code, kIcmp6CodeErroneousField);
  EXPECT_EQ(ib.problem_pointer, 4u);
}

TEST(Ipv6Wire, UnknownNextHeaderAnsweredAsLinuxDoes) {
  const auto bad = ip_part(captured6::kUnknownNextHeader);
  Ipv6ExtInfo info;
  ASSERT_EQ(walk_ipv6_extensions(bad.data(), bad.size(), false, &info), Ipv6ExtResult::kOk);
  EXPECT_EQ(info.upper_proto, 253);
  EXPECT_EQ(info.next_header_pos, 6u);
  // Linux's parameter problem (code 1, pointer 6) quoting the packet: ours is identical.
  const auto linux_pp = icmp_of(ip_part(captured6::kParameterProblem));
  std::vector<std::uint8_t> ours(8 + bad.size());
  ASSERT_EQ(
      emit_icmpv6_error(ours.data(), ours.size(), kIcmp6ParameterProblem,
                        kIcmp6CodeUnknownNextHeader, info.next_header_pos, bad.data(), bad.size()),
      ours.size());
  set_icmpv6_checksum(kB, kA, ours.data(), ours.size());
  EXPECT_EQ(ours, linux_pp);
}

TEST(Icmpv6Wire, NeighborSolicitAndAdvertRoundTrip) {
  const auto ns = icmp_of(ip_part(captured6::kNeighborSolicit));
  const auto s = parse_neighbor_solicit(ns.data(), ns.size());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->target, kB);
  ASSERT_TRUE(s->options.source_link);
  EXPECT_TRUE(mac_equal(*s->options.source_link, kMacA));
  EXPECT_EQ(view(ip_part(captured6::kNeighborSolicit)).dst(), ipv6_solicited_node(kB));
  EXPECT_EQ(view(ip_part(captured6::kNeighborSolicit)).hop_limit(), 255);
  std::vector<std::uint8_t> out(ns.size());
  ASSERT_EQ(emit_neighbor_solicit(out.data(), out.size(), kB, &kMacA), ns.size());
  set_icmpv6_checksum(kA, ipv6_solicited_node(kB), out.data(), out.size());
  EXPECT_EQ(out, ns);

  const auto na = icmp_of(ip_part(captured6::kNeighborAdvert));
  const auto a = parse_neighbor_advert(na.data(), na.size());
  ASSERT_TRUE(a);
  EXPECT_EQ(a->target, kB);
  EXPECT_FALSE(a->router);
  EXPECT_TRUE(a->solicited);
  EXPECT_TRUE(a->override_flag);
  ASSERT_TRUE(a->options.target_link);
  EXPECT_TRUE(mac_equal(*a->options.target_link, kMacB));
  out.assign(na.size(), 0);
  ASSERT_EQ(emit_neighbor_advert(out.data(), out.size(), kB, false, true, true, &kMacB), na.size());
  set_icmpv6_checksum(kB, kA, out.data(), out.size());
  EXPECT_EQ(out, na);
}

TEST(Icmpv6Wire, DadSolicitFromUnspecifiedWithoutOptions) {
  const auto p = ip_part(captured6::kDadSolicit);
  const Ipv6View v = view(p);
  EXPECT_TRUE(v.src().is_unspecified());
  const auto ns = icmp_of(p);
  const auto s = parse_neighbor_solicit(ns.data(), ns.size());
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->options.source_link);
  EXPECT_EQ(v.dst(), ipv6_solicited_node(s->target));
  // Linux adds a nonce option (type 14, RFC 7527) that parsing skips as unknown.
  ASSERT_EQ(ns.size(), 32u);
  EXPECT_EQ(ns[24], 14);
  std::vector<std::uint8_t> out(ns.size());
  ASSERT_EQ(emit_neighbor_solicit(out.data(), out.size(), s->target, nullptr), 24u);
  std::copy(ns.begin() + 24, ns.end(), out.begin() + 24);
  set_icmpv6_checksum(v.src(), v.dst(), out.data(), out.size());
  EXPECT_EQ(out, ns);
}

TEST(Icmpv6Wire, RouterSolicitRoundTripAndLinkLocalFromMac) {
  const auto p = ip_part(captured6::kRouterSolicit);
  const Ipv6View v = view(p);
  EXPECT_EQ(v.src(), kLlA);
  EXPECT_EQ(v.src(), ipv6_link_local_from_mac(kMacA));  // Linux's EUI-64 address is ours
  EXPECT_EQ(v.dst(), ipv6_all_routers());
  const auto rs = icmp_of(p);
  std::vector<std::uint8_t> out(rs.size());
  ASSERT_EQ(emit_router_solicit(out.data(), out.size(), &kMacA), rs.size());
  set_icmpv6_checksum(v.src(), v.dst(), out.data(), out.size());
  EXPECT_EQ(out, rs);
  const rte_ether_addr mc = ipv6_multicast_mac(ipv6_all_routers());
  const rte_ether_addr want{{0x33, 0x33, 0, 0, 0, 2}};
  EXPECT_TRUE(mac_equal(mc, want));
  const auto eth =
      EthernetView::parse(captured6::kRouterSolicit, sizeof(captured6::kRouterSolicit));
  EXPECT_TRUE(mac_equal(eth->dst(), want));
}

TEST(Icmpv6Wire, RouterAdvertOptions) {
  const auto ra = icmp_of(ip_part(captured6::kRouterAdvert));
  const auto r = parse_router_advert(ra.data(), ra.size());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->cur_hop_limit, 64);
  EXPECT_EQ(r->router_lifetime, 1800);
  EXPECT_EQ(r->reachable_time, 30000u);
  EXPECT_EQ(r->retrans_timer, 1000u);
  ASSERT_TRUE(r->options.source_link);
  EXPECT_TRUE(mac_equal(*r->options.source_link, kMacA));
  ASSERT_TRUE(r->options.mtu);
  EXPECT_EQ(*r->options.mtu, 1500u);
  ASSERT_EQ(r->options.prefix_count, 1);
  EXPECT_EQ(r->options.prefixes[0].prefix, *IpAddr::parse("2001:db8:6::"));
  EXPECT_EQ(r->options.prefixes[0].prefix_len, 64);
  EXPECT_TRUE(r->options.prefixes[0].on_link);
  EXPECT_TRUE(r->options.prefixes[0].autonomous);
  EXPECT_EQ(r->options.prefixes[0].valid_lifetime, 86400u);
  // A zero-length option makes the whole message invalid (RFC 4861 §4.6).
  auto bad = ra;
  bad[17] = 0;
  EXPECT_FALSE(parse_router_advert(bad.data(), bad.size()));
  bad = ra;
  bad[1] = 1;  // code must be 0
  EXPECT_FALSE(parse_router_advert(bad.data(), bad.size()));
}

TEST(Icmpv6Wire, ErrorsQuoteTheOffendingPacket) {
  const auto ptb = icmp_of(ip_part(captured6::kPacketTooBig));
  const auto v = Icmpv6View::parse(ptb.data(), ptb.size());
  EXPECT_EQ(v->type(), kIcmp6PacketTooBig);
  EXPECT_EQ(v->word1(), 1280u);
  auto q = parse_icmpv6_quote(v->payload(), v->payload_len());
  ASSERT_TRUE(q);
  EXPECT_EQ(q->src, kB);
  EXPECT_EQ(q->dst, kA);
  EXPECT_EQ(q->protocol, 6);
  EXPECT_EQ(q->src_port, 5001);
  EXPECT_EQ(q->dst_port, 40000);
  EXPECT_EQ(q->l4_word1, 1000u);

  const auto te = icmp_of(ip_part(captured6::kTimeExceeded));
  q = parse_icmpv6_quote(te.data() + 8, te.size() - 8);
  ASSERT_TRUE(q);
  EXPECT_EQ(te[0], kIcmp6TimeExceeded);
  EXPECT_EQ(q->protocol, 17);
  EXPECT_EQ(q->dst_port, 33434);

  const auto pu = icmp_of(ip_part(captured6::kPortUnreachable));
  EXPECT_EQ(pu[0], kIcmp6DestUnreachable);
  EXPECT_EQ(pu[1], kIcmp6CodePortUnreachable);
  q = parse_icmpv6_quote(pu.data() + 8, pu.size() - 8);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->src, kA);
  EXPECT_EQ(q->protocol, 17);
  EXPECT_EQ(q->dst_port, 9);
  // Too short a quote to reach the L4 ports.
  EXPECT_FALSE(parse_icmpv6_quote(pu.data() + 8, 40 + 7));
  EXPECT_FALSE(parse_icmpv6_quote(pu.data() + 8, 39));
}

TEST(Icmpv6Wire, EchoHeaderMatchesLinux) {
  const auto echo = icmp_of(ip_part(captured6::kEchoRequest));
  std::vector<std::uint8_t> out = echo;
  const auto v = Icmpv6View::parse(echo.data(), echo.size());
  ASSERT_EQ(
      emit_icmpv6_echo_header(out.data(), out.size(), kIcmp6EchoRequest, v->ident(), v->seq()), 8u);
  set_icmpv6_checksum(kA, kB, out.data(), out.size());
  EXPECT_EQ(out, echo);
  // The reply Linux sent differs in type and checksum only.
  const auto reply = icmp_of(ip_part(captured6::kEchoReply));
  out[0] = kIcmp6EchoReply;
  set_icmpv6_checksum(kB, kA, out.data(), out.size());
  EXPECT_EQ(out, reply);
}

}  // namespace
}  // namespace shardtcp
