// Wire round-trips against frames captured from real Linux traffic (see
// captured_frames.h for how they were captured): parse, check every field, emit,
// compare bytes; then truncated and corrupted variants must be rejected with the
// right reason.
#include <gtest/gtest.h>

#include <vector>

#include "captured_frames.h"
#include "wire/arp.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

namespace shardtcp {
namespace {

const rte_ether_addr kMacA{{0x02, 0, 0, 0, 0, 0x01}};
const rte_ether_addr kMacB{{0x02, 0, 0, 0, 0, 0x02}};
const IpAddr kIpA = IpAddr::v4(0xC6120001);  // 198.18.0.1
const IpAddr kIpB = IpAddr::v4(0xC6120002);  // 198.18.0.2

template <std::size_t N>
std::vector<std::uint8_t> bytes(const std::uint8_t (&a)[N]) {
  return {a, a + N};
}

TEST(EthernetWire, ParsesAndReemitsCapturedHeader) {
  auto f = bytes(captured::kArpRequest);
  auto eth = EthernetView::parse(f.data(), f.size());
  ASSERT_TRUE(eth);
  EXPECT_TRUE(mac_equal(eth->dst(), kBroadcastMac));
  EXPECT_TRUE(mac_equal(eth->src(), kMacA));
  EXPECT_EQ(eth->ether_type(), kEtherTypeArp);
  EXPECT_EQ(eth->payload_len(), f.size() - 14);
  std::uint8_t out[14];
  ASSERT_EQ(emit_ethernet(out, sizeof(out), {eth->dst(), eth->src(), eth->ether_type()}), 14u);
  EXPECT_EQ(0, std::memcmp(out, f.data(), 14));
}

TEST(EthernetWire, RejectsTruncated) {
  auto f = bytes(captured::kArpRequest);
  EXPECT_FALSE(EthernetView::parse(f.data(), 13));
  EXPECT_FALSE(EthernetView::parse(nullptr, 100));
  std::uint8_t small[10];
  EXPECT_EQ(emit_ethernet(small, sizeof(small), {}), 0u);
}

TEST(EthernetWire, MulticastMacMapping) {
  const auto m = ipv4_multicast_mac(IpAddr::v4(0xE0FF0102).v4_be());  // 224.255.1.2
  const rte_ether_addr want{{0x01, 0x00, 0x5e, 0x7f, 0x01, 0x02}};
  EXPECT_TRUE(mac_equal(m, want));
}

TEST(ArpWire, CapturedRequestRoundTrip) {
  auto f = bytes(captured::kArpRequest);
  auto arp = ArpView::parse(f.data() + 14, f.size() - 14);
  ASSERT_TRUE(arp);
  const ArpPacket p = arp->packet();
  EXPECT_EQ(p.op, ArpOp::kRequest);
  EXPECT_TRUE(mac_equal(p.sha, kMacA));
  EXPECT_EQ(p.spa, kIpA);
  EXPECT_TRUE(rte_is_zero_ether_addr(&p.tha));
  EXPECT_EQ(p.tpa, kIpB);
  EXPECT_FALSE(p.is_gratuitous());
  std::uint8_t out[28];
  ASSERT_EQ(emit_arp(out, sizeof(out), p), 28u);
  EXPECT_EQ(0, std::memcmp(out, f.data() + 14, 28));
}

TEST(ArpWire, CapturedReplyRoundTrip) {
  auto f = bytes(captured::kArpReply);
  auto arp = ArpView::parse(f.data() + 14, f.size() - 14);
  ASSERT_TRUE(arp);
  const ArpPacket p = arp->packet();
  EXPECT_EQ(p.op, ArpOp::kReply);
  EXPECT_TRUE(mac_equal(p.sha, kMacB));
  EXPECT_EQ(p.spa, kIpB);
  EXPECT_TRUE(mac_equal(p.tha, kMacA));
  EXPECT_EQ(p.tpa, kIpA);
  std::uint8_t out[42];
  ASSERT_EQ(emit_ethernet(out, 14, {kMacA, kMacB, kEtherTypeArp}), 14u);
  ASSERT_EQ(emit_arp(out + 14, 28, p), 28u);
  EXPECT_EQ(0, std::memcmp(out, f.data(), 42));
}

TEST(ArpWire, RejectsMalformedWithReason) {
  auto f = bytes(captured::kArpRequest);
  ArpError why = ArpError::kNone;
  EXPECT_FALSE(ArpView::parse(f.data() + 14, 27, &why));
  EXPECT_EQ(why, ArpError::kTruncated);
  auto g = f;
  g[14 + 1] = 6;  // hardware type 6 (IEEE 802)
  EXPECT_FALSE(ArpView::parse(g.data() + 14, 28, &why));
  EXPECT_EQ(why, ArpError::kBadHardware);
  g = f;
  g[14 + 2] = 0x86;  // protocol 0x86dd
  g[14 + 3] = 0xdd;
  EXPECT_FALSE(ArpView::parse(g.data() + 14, 28, &why));
  EXPECT_EQ(why, ArpError::kBadProtocol);
  g = f;
  g[14 + 5] = 16;  // plen 16
  EXPECT_FALSE(ArpView::parse(g.data() + 14, 28, &why));
  EXPECT_EQ(why, ArpError::kBadProtocol);
  g = f;
  g[14 + 7] = 3;  // RARP request
  EXPECT_FALSE(ArpView::parse(g.data() + 14, 28, &why));
  EXPECT_EQ(why, ArpError::kBadOpcode);
}

TEST(Ipv4Wire, CapturedEchoRequestRoundTrip) {
  auto f = bytes(captured::kEchoRequest);
  auto ip = Ipv4View::parse(f.data() + 14, f.size() - 14);
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->version(), 4);
  EXPECT_EQ(ip->header_len(), 20u);
  EXPECT_EQ(ip->total_length(), 84);
  EXPECT_EQ(ip->id(), 0x04d2);
  EXPECT_TRUE(ip->dont_fragment());
  EXPECT_FALSE(ip->is_fragment());
  EXPECT_EQ(ip->ttl(), 64);
  EXPECT_EQ(ip->protocol(), kIpProtoIcmp);
  EXPECT_EQ(ip->src(), kIpA);
  EXPECT_EQ(ip->dst(), kIpB);
  EXPECT_EQ(ip->payload_len(), 64u);

  Ipv4Header h{ip->src(),
               ip->dst(),
               ip->protocol(),
               ip->ttl(),
               ip->tos(),
               ip->id(),
               ip->dont_fragment(),
               false,
               0,
               static_cast<std::uint16_t>(ip->payload_len())};
  std::uint8_t out[20];
  ASSERT_EQ(emit_ipv4(out, sizeof(out), h), 20u);
  EXPECT_EQ(0, std::memcmp(out, f.data() + 14, 20));
  // The checksum left for the device is zero, everything else identical.
  ASSERT_EQ(emit_ipv4(out, sizeof(out), h, false), 20u);
  EXPECT_EQ(out[10], 0);
  EXPECT_EQ(out[11], 0);
}

TEST(Ipv4Wire, CapturedFragmentsParse) {
  auto f0 = bytes(captured::kFrag0);
  auto f1 = bytes(captured::kFrag1);
  auto f2 = bytes(captured::kFragLast);
  auto a = Ipv4View::parse(f0.data() + 14, f0.size() - 14);
  auto b = Ipv4View::parse(f1.data() + 14, f1.size() - 14);
  auto c = Ipv4View::parse(f2.data() + 14, f2.size() - 14);
  ASSERT_TRUE(a && b && c);
  EXPECT_TRUE(a->more_fragments());
  EXPECT_EQ(a->fragment_offset(), 0u);
  EXPECT_TRUE(b->more_fragments());
  EXPECT_EQ(b->fragment_offset(), 1480u);
  EXPECT_FALSE(c->more_fragments());
  EXPECT_EQ(c->fragment_offset(), 2960u);
  EXPECT_TRUE(a->is_fragment() && b->is_fragment() && c->is_fragment());
  EXPECT_EQ(a->id(), b->id());
  EXPECT_EQ(a->payload_len() + b->payload_len() + c->payload_len(), 3008u);
  for (const auto* v : {&*a, &*b, &*c}) {
    Ipv4Header h{v->src(),
                 v->dst(),
                 v->protocol(),
                 v->ttl(),
                 v->tos(),
                 v->id(),
                 v->dont_fragment(),
                 v->more_fragments(),
                 v->fragment_offset(),
                 static_cast<std::uint16_t>(v->payload_len())};
    std::uint8_t out[20];
    ASSERT_EQ(emit_ipv4(out, sizeof(out), h), 20u);
    EXPECT_EQ(0, std::memcmp(out, v->data(), 20));
  }
}

TEST(Ipv4Wire, RejectsMalformedWithReason) {
  auto f = bytes(captured::kEchoRequest);
  std::uint8_t* ip = f.data() + 14;
  const std::size_t len = f.size() - 14;
  Ipv4Error why = Ipv4Error::kNone;

  EXPECT_FALSE(Ipv4View::parse(ip, 19, true, &why));
  EXPECT_EQ(why, Ipv4Error::kTruncated);

  auto g = f;
  g[14] = 0x65;  // version 6
  EXPECT_FALSE(Ipv4View::parse(g.data() + 14, len, true, &why));
  EXPECT_EQ(why, Ipv4Error::kBadVersion);

  g = f;
  g[14] = 0x44;  // IHL 4
  EXPECT_FALSE(Ipv4View::parse(g.data() + 14, len, true, &why));
  EXPECT_EQ(why, Ipv4Error::kBadIhl);

  g = f;
  g[14] = 0x4f;  // IHL 15 = 60 bytes, but only 20 in a 24-byte buffer
  EXPECT_FALSE(Ipv4View::parse(g.data() + 14, 24, true, &why));
  EXPECT_EQ(why, Ipv4Error::kTruncated);

  // Total length claims more than was received.
  EXPECT_FALSE(Ipv4View::parse(ip, len - 1, true, &why));
  EXPECT_EQ(why, Ipv4Error::kBadLength);
  g = f;
  g[14 + 2] = 0;
  g[14 + 3] = 10;  // total length 10 < header
  EXPECT_FALSE(Ipv4View::parse(g.data() + 14, len, false, &why));
  EXPECT_EQ(why, Ipv4Error::kBadLength);

  g = f;
  g[14 + 8] = 63;  // TTL changed without fixing the checksum
  EXPECT_FALSE(Ipv4View::parse(g.data() + 14, len, true, &why));
  EXPECT_EQ(why, Ipv4Error::kBadChecksum);
  // ... which a port that vouched for the checksum skips.
  EXPECT_TRUE(Ipv4View::parse(g.data() + 14, len, false, &why));

  // Ethernet padding after total_length is fine.
  g = f;
  g.resize(g.size() + 6, 0);
  auto v = Ipv4View::parse(g.data() + 14, g.size() - 14);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->payload_len(), 64u);
}

TEST(IcmpWire, CapturedEchoRequestAndReplyRoundTrip) {
  for (const auto& [frame, type] : {std::pair{bytes(captured::kEchoRequest), kIcmpEchoRequest},
                                    std::pair{bytes(captured::kEchoReply), kIcmpEchoReply}}) {
    const std::uint8_t* icmp = frame.data() + 34;
    const std::size_t len = frame.size() - 34;
    auto v = IcmpView::parse(icmp, len);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->type(), type);
    EXPECT_EQ(v->code(), 0);
    EXPECT_EQ(v->ident(), 0x20cb);
    EXPECT_EQ(v->seq(), 1);
    EXPECT_FALSE(v->is_error());
    EXPECT_TRUE(internet_checksum_ok(icmp, len));
    // ping -p 0102030405 repeats the pattern over the data, then overwrites the first
    // 16 bytes with its timestamp: byte i (i >= 16) is pattern[i % 5].
    for (std::size_t i = 16; i < v->payload_len(); ++i) ASSERT_EQ(v->payload()[i], 1 + i % 5) << i;
    std::vector<std::uint8_t> out(len);
    ASSERT_EQ(emit_icmp_echo(out.data(), out.size(), v->type(), v->ident(), v->seq(), v->payload(),
                             v->payload_len()),
              len);
    EXPECT_EQ(0, std::memcmp(out.data(), icmp, len));
  }
}

TEST(IcmpWire, ChecksumDetectsCorruption) {
  auto f = bytes(captured::kEchoReply);
  f[40] ^= 0x01;
  EXPECT_FALSE(internet_checksum_ok(f.data() + 34, f.size() - 34));
  EXPECT_FALSE(IcmpView::parse(f.data() + 34, 7));
}

TEST(IcmpWire, ErrorQuoteRoundTrip) {
  // Quote the captured echo request as a port-unreachable-style error would.
  auto f = bytes(captured::kEchoRequest);
  std::uint8_t buf[8 + 28];
  ASSERT_EQ(emit_icmp_error(buf, sizeof(buf), kIcmpDestUnreachable, kIcmpCodeFragNeeded, 1400,
                            f.data() + 14, 28),
            sizeof(buf));
  auto v = IcmpView::parse(buf, sizeof(buf));
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->is_error());
  EXPECT_EQ(v->next_hop_mtu(), 1400);
  EXPECT_TRUE(internet_checksum_ok(buf, sizeof(buf)));
  auto q = parse_icmp_quote(v->payload(), v->payload_len());
  ASSERT_TRUE(q);
  EXPECT_EQ(q->src, kIpA);
  EXPECT_EQ(q->dst, kIpB);
  EXPECT_EQ(q->protocol, kIpProtoIcmp);
  EXPECT_EQ(q->src_port, 0x0800);  // ICMP type/code where ports would be
  EXPECT_EQ(q->l4_bytes, 8u);
  IcmpQuoteError why = IcmpQuoteError::kNone;
  EXPECT_FALSE(parse_icmp_quote(v->payload(), 27, &why));
  EXPECT_EQ(why, IcmpQuoteError::kTruncated);
  std::uint8_t bad[28];
  std::memcpy(bad, v->payload(), 28);
  bad[0] = 0x43;
  EXPECT_FALSE(parse_icmp_quote(bad, 28, &why));
  EXPECT_EQ(why, IcmpQuoteError::kBadIhl);
}

TEST(Checksum, MatchesRfc1071Example) {
  // RFC 1071 §3 example bytes: sum 0xddf2, checksum 0x220d.
  const std::uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  const std::uint16_t c = internet_checksum(d, sizeof(d));
  const std::uint8_t* cb = reinterpret_cast<const std::uint8_t*>(&c);
  EXPECT_EQ(cb[0], 0x22);
  EXPECT_EQ(cb[1], 0x0d);
  const auto h = bytes(captured::kEchoRequest);
  EXPECT_TRUE(ipv4_header_checksum_ok(h.data() + 14, 20));
}

}  // namespace
}  // namespace shardtcp
