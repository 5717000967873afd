// IPv6 frames captured from Linux (test/wire/ipv6_captured_frames.h) fed into an
// IpStack that owns 2001:db8:6::2 / 02:00:00:00:06:02, the address and MAC of the
// Linux peer that answered them: neighbour solicitations, echo (also fragmented),
// unknown next headers, packet too big, router advertisements, DAD and the multicast
// filter, checked against Linux's own answers where the protocol fixes them.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "../wire/ipv6_captured_frames.h"
#include "mbuf_chain.h"
#include "stack_harness.h"
#include "wire/ethernet.h"
#include "wire/icmpv6.h"
#include "wire/ipv4.h"
#include "wire/ipv6.h"
#include "wire/tcp.h"

namespace shardtcp {
namespace {

using l3test::make_mbuf;
using l3test::mbuf_bytes;
using l3test::pool;
using l3test::pool_avail;
using Bytes = std::vector<std::uint8_t>;

const IpAddr kLinux = *IpAddr::parse("2001:db8:6::1");  // 02:00:00:00:06:01
const IpAddr kUs = *IpAddr::parse("2001:db8:6::2");
const rte_ether_addr kLinuxMac{{0x02, 0, 0, 0, 0x06, 0x01}};
const rte_ether_addr kUsMac{{0x02, 0, 0, 0, 0x06, 0x02}};

template <std::size_t N>
Bytes bytes(const std::uint8_t (&a)[N]) {
  return {a, a + N};
}

class Ipv6Input : public ::testing::Test {
 protected:
  Ipv6Input() : node_(config()) { avail_ = pool_avail(); }
  ~Ipv6Input() override {
    node_.out.free_all();
    EXPECT_EQ(pool_avail(), avail_) << "mbuf leak";
  }
  static IpStackConfig config() {
    IpStackConfig c;
    c.port.mac = kUsMac;
    c.port.mtu = 1500;
    c.addresses.push_back({kUs, 64});
    c.announce_at_start = false;
    c.router_solicitations = 0;
    c.dad_transmits = 0;  // addresses valid at once; DadRuns covers DAD
    return c;
  }
  void start() {
    auto ctx = node_.ctx(now_);
    node_.stack.start(ctx);
    node_.stack.on_timers(ctx);
    node_.out.free_all();
  }
  void feed(const Bytes& f) {
    rte_mbuf* m = make_mbuf(f);
    ASSERT_NE(m, nullptr);
    auto ctx = node_.ctx(now_);
    node_.stack.on_frames(&m, 1, ctx);
  }
  Bytes take() {
    if (node_.out.frames.empty()) return {};
    rte_mbuf* m = node_.out.frames.front();
    node_.out.frames.pop_front();
    Bytes b = mbuf_bytes(m);
    rte_pktmbuf_free(m);
    return b;
  }
  // Teaches the stack Linux's MAC the way Linux does: with its solicitation.
  void learn_linux() {
    feed(bytes(captured6::kNeighborSolicit));
    take();
  }
  std::uint64_t v6(Ipv6Counter c) { return node_.stack.ipv6_counters().get(c); }
  std::uint64_t icmp6(IcmpCounter c) { return node_.stack.icmp6_counters().get(c); }
  std::uint64_t eth(EthCounter c) { return node_.stack.eth_counters().get(c); }

  unsigned avail_ = 0;
  Instant now_{5'000'000'000};
  l3test::Node node_;
};

TEST_F(Ipv6Input, AddsLinkLocalFromMac) {
  EXPECT_TRUE(node_.stack.ipv6_enabled());
  EXPECT_EQ(node_.stack.link_local(), *IpAddr::parse("fe80::ff:fe00:602"));
  EXPECT_TRUE(node_.stack.routes().is_local(node_.stack.link_local()));
}

TEST_F(Ipv6Input, AnswersCapturedSolicitationExactlyLikeLinux) {
  start();
  feed(bytes(captured6::kNeighborSolicit));  // to our solicited-node group's MAC
  EXPECT_EQ(eth(EthCounter::kRxMulticastNotJoined), 0u);
  const Bytes na = take();
  const Bytes want = bytes(captured6::kNeighborAdvert);
  ASSERT_EQ(na.size(), want.size());
  // Ethernet and ICMPv6 identical; the IPv6 header differs only in Linux's flow label.
  EXPECT_EQ(Bytes(na.begin(), na.begin() + 14), Bytes(want.begin(), want.begin() + 14));
  EXPECT_EQ(Bytes(na.begin() + 18, na.end()), Bytes(want.begin() + 18, want.end()));
  // And Linux is now known (stale, from the source link-layer option).
  const auto n = node_.stack.neighbors6().find(kLinux);
  ASSERT_TRUE(n);
  EXPECT_TRUE(mac_equal(n->mac, kLinuxMac));
  EXPECT_EQ(n->state, NeighborState::kStale);
}

TEST_F(Ipv6Input, AnswersCapturedEchoLikeLinux) {
  start();
  learn_linux();
  feed(bytes(captured6::kEchoRequest));
  const Bytes r = take();
  const Bytes want = bytes(captured6::kEchoReply);
  ASSERT_EQ(r.size(), want.size());
  EXPECT_EQ(Bytes(r.begin(), r.begin() + 14), Bytes(want.begin(), want.begin() + 14));
  EXPECT_EQ(Bytes(r.begin() + 18, r.end()), Bytes(want.begin() + 18, want.end()));
  EXPECT_EQ(icmp6(IcmpCounter::kTxEchoReplies), 1u);
}

TEST_F(Ipv6Input, ReassemblesCapturedFragmentsAndFragmentsTheReply) {
  start();
  learn_linux();
  feed(bytes(captured6::kEchoFragment1));  // out of order on purpose
  feed(bytes(captured6::kEchoFragment0));
  EXPECT_TRUE(node_.out.frames.empty());
  feed(bytes(captured6::kEchoFragment2));
  EXPECT_EQ(v6(Ipv6Counter::kRxFragments), 3u);
  EXPECT_EQ(v6(Ipv6Counter::kRxReassembled), 1u);
  EXPECT_EQ(icmp6(IcmpCounter::kTxEchoReplies), 1u);
  EXPECT_EQ(v6(Ipv6Counter::kTxFragmented), 1u);
  std::size_t payload = 0;
  std::uint32_t id = 0;
  int frames = 0;
  while (!node_.out.frames.empty()) {
    const Bytes f = take();
    ++frames;
    ASSERT_LE(f.size(), 1514u);
    Ipv6ExtInfo info;
    ASSERT_EQ(walk_ipv6_extensions(f.data() + 14, f.size() - 14, false, &info), Ipv6ExtResult::kOk);
    ASSERT_TRUE(info.fragment);
    if (frames == 1) id = info.frag_id;
    EXPECT_EQ(info.frag_id, id);
    EXPECT_EQ(info.frag_offset, payload);
    payload += f.size() - 14 - 48;
  }
  EXPECT_GE(frames, 3);
  EXPECT_EQ(payload, 3008u);
}

// An echo request from Linux of `payload` bytes (pseudo-random from `seed`), its
// checksum from the flat-buffer sum.
Bytes echo_request(std::size_t payload, std::uint32_t seed) {
  Bytes f(14 + 40 + 8 + payload);
  std::memcpy(f.data(), kUsMac.addr_bytes, 6);
  std::memcpy(f.data() + 6, kLinuxMac.addr_bytes, 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  f[14] = 0x60;
  const auto plen = static_cast<std::uint16_t>(8 + payload);
  f[18] = static_cast<std::uint8_t>(plen >> 8);
  f[19] = static_cast<std::uint8_t>(plen);
  f[20] = kIpProtoIcmpv6;
  f[21] = 64;
  std::memcpy(f.data() + 22, kLinux.bytes(), 16);
  std::memcpy(f.data() + 38, kUs.bytes(), 16);
  f[54] = 128;  // echo request, code 0, checksum 0 for now
  f[58] = 0x12;
  f[59] = 0x34;  // identifier
  f[61] = 1;     // sequence
  std::mt19937 rng(seed);
  for (std::size_t i = 62; i < f.size(); ++i) f[i] = static_cast<std::uint8_t>(rng());
  const std::uint16_t c = l4_checksum(kLinux, kUs, kIpProtoIcmpv6, f.data() + 54, plen);
  std::memcpy(f.data() + 56, &c, 2);
  return f;
}

// An echo request in a chain cut at odd lengths (as LRO or a driver's scatter leave
// them) is verified as the same bytes in one buffer, answered in that chain with the
// checksum the flat bytes have, and with a flipped bit dropped and counted.
TEST_F(Ipv6Input, ChainedEchoWithOddSegmentsIsCheckedAndAnsweredAsFlat) {
  start();
  learn_linux();
  const Bytes req = echo_request(1001, 5);
  // IP input pulls the first 64 bytes past the IPv6 header up into the first segment:
  // most odd cuts come after them.
  constexpr std::uint16_t kPulled = 14 + 40 + 64;
  const std::vector<std::vector<std::uint16_t>> cutss = {
      {kPulled + 1, 5, 1, 301}, {57, 5, 1, 301, 2, 3, 700, 1}, {kPulled + 7, 1, 1, 1, 1, 1, 1, 1}};
  for (const auto& cuts : cutss) {
    rte_mbuf* m = test_support::chain_with_cuts(pool(), req, cuts);
    ASSERT_NE(m, nullptr);
    auto ctx = node_.ctx(now_);
    node_.stack.on_frames(&m, 1, ctx);
    const Bytes r = take();
    ASSERT_EQ(r.size(), req.size()) << cuts.size() << " segments";
    EXPECT_EQ(r[54], 129);  // echo reply
    EXPECT_TRUE(l4_checksum_ok(kUs, kLinux, kIpProtoIcmpv6, r.data() + 54, r.size() - 54))
        << cuts.size() << " segments";
    EXPECT_EQ(Bytes(r.begin() + 58, r.end()), Bytes(req.begin() + 58, req.end()));
  }
  EXPECT_EQ(icmp6(IcmpCounter::kRxBadChecksum), 0u);
  EXPECT_EQ(icmp6(IcmpCounter::kTxEchoReplies), cutss.size());
  Bytes bad = req;
  bad[bad.size() - 1] ^= 0x01;
  rte_mbuf* m = test_support::chain_with_cuts(pool(), bad, cutss[0]);
  ASSERT_NE(m, nullptr);
  auto ctx = node_.ctx(now_);
  node_.stack.on_frames(&m, 1, ctx);
  EXPECT_TRUE(node_.out.frames.empty());
  EXPECT_EQ(icmp6(IcmpCounter::kRxBadChecksum), 1u);
}

// A UDP datagram in a chain cut at odd lengths, too big for one frame, with its
// checksum left to the device: IPv6 output sums it before fragmenting, and the
// fragments put back together carry the checksum of the flat datagram.
TEST_F(Ipv6Input, FragmentedChainedUdpCarriesTheFlatChecksum) {
  start();
  learn_linux();
  std::mt19937 rng(9);
  Bytes dgram(8 + 3001);
  for (auto& b : dgram) b = static_cast<std::uint8_t>(rng());
  const auto len = static_cast<std::uint16_t>(dgram.size());
  dgram[4] = static_cast<std::uint8_t>(len >> 8);
  dgram[5] = static_cast<std::uint8_t>(len);
  const std::uint16_t pseudo = l4_pseudo_header_checksum(kUs, kLinux, kIpProtoUdp, len);
  std::memcpy(dgram.data() + 6, &pseudo, 2);  // what UdpLayer leaves for the device
  rte_mbuf* m = test_support::chain_with_cuts(pool(), dgram, {9, 1, 1387, 3, 777});
  ASSERT_NE(m, nullptr);
  m->ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_IPV6;
  m->l4_len = 8;
  auto ctx = node_.ctx(now_);
  ASSERT_EQ(node_.stack.output(m, kUs, kLinux, kIpProtoUdp, ctx), OutputResult::kSent);
  EXPECT_EQ(v6(Ipv6Counter::kTxFragmented), 1u);
  Bytes flat(dgram.size());
  std::size_t got = 0;
  int frames = 0;
  while (!node_.out.frames.empty()) {
    const Bytes f = take();
    ++frames;
    Ipv6ExtInfo info;
    ASSERT_EQ(walk_ipv6_extensions(f.data() + 14, f.size() - 14, false, &info), Ipv6ExtResult::kOk);
    ASSERT_TRUE(info.fragment);
    const std::size_t n = f.size() - 14 - 48;
    ASSERT_LE(info.frag_offset + n, flat.size());
    std::memcpy(flat.data() + info.frag_offset, f.data() + 14 + 48, n);
    got += n;
  }
  EXPECT_GE(frames, 3);
  ASSERT_EQ(got, dgram.size());
  EXPECT_TRUE(l4_checksum_ok(kUs, kLinux, kIpProtoUdp, flat.data(), flat.size()));
  EXPECT_EQ(Bytes(flat.begin() + 8, flat.end()), Bytes(dgram.begin() + 8, dgram.end()));
}

TEST_F(Ipv6Input, UnknownNextHeaderGetsLinuxsParameterProblem) {
  start();
  learn_linux();
  feed(bytes(captured6::kUnknownNextHeader));
  EXPECT_EQ(v6(Ipv6Counter::kRxUnknownProtocol), 1u);
  const Bytes pp = take();
  const Bytes want = bytes(captured6::kParameterProblem);
  ASSERT_EQ(pp.size(), want.size());
  EXPECT_EQ(Bytes(pp.begin() + 18, pp.end()), Bytes(want.begin() + 18, want.end()));
}

TEST_F(Ipv6Input, ExtensionHeadersAreWalkedToTheEcho) {
  start();
  learn_linux();
  feed(bytes(captured6::kEchoDestOptions));
  feed(bytes(captured6::kEchoRouting));
  EXPECT_EQ(icmp6(IcmpCounter::kTxEchoReplies), 2u);
  // Segments left != 0: a parameter problem pointing at the routing type.
  Bytes rh = bytes(captured6::kEchoRouting);
  rh[14 + 40 + 3] = 1;
  node_.out.free_all();
  feed(rh);
  EXPECT_EQ(v6(Ipv6Counter::kRxParameterProblem), 1u);
  const Bytes pp = take();
  ASSERT_GE(pp.size(), 14u + 48);
  EXPECT_EQ(pp[14 + 40], kIcmp6ParameterProblem);
  EXPECT_EQ(pp[14 + 40 + 1], kIcmp6CodeErroneousField);
  EXPECT_EQ(pp[14 + 40 + 7], 42);  // pointer
}

TEST_F(Ipv6Input, PacketTooBigLowersThePathMtu) {
  start();
  l3test::RecordingTransport tcp;
  node_.stack.set_transport(6, &tcp);
  EXPECT_EQ(node_.stack.route(kLinux)->mtu, 1500);
  feed(bytes(captured6::kPacketTooBig));
  EXPECT_EQ(node_.stack.path_mtu(kLinux, now_), 1280);
  EXPECT_EQ(node_.stack.route(kLinux)->mtu, 1280);
  ASSERT_EQ(tcp.errors.size(), 1u);
  EXPECT_EQ(tcp.errors[0].type, kIcmpDestUnreachable);
  EXPECT_EQ(tcp.errors[0].code, kIcmpCodeFragNeeded);
  EXPECT_EQ(tcp.errors[0].next_hop_mtu, 1280);
  EXPECT_EQ(tcp.errors[0].src_port, 5001);
  EXPECT_EQ(tcp.errors[0].l4_word1, 1000u);
  node_.stack.set_transport(6, nullptr);
}

TEST_F(Ipv6Input, RouterAdvertGivesADefaultRouter) {
  start();
  const IpAddr router = *IpAddr::parse("fe80::ff:fe00:601");
  const IpAddr far = *IpAddr::parse("2001:db8:99::1");
  EXPECT_FALSE(node_.stack.route(far));
  feed(bytes(captured6::kRouterAdvert));
  EXPECT_EQ(node_.stack.ipv6_router(), router);
  const auto rt = node_.stack.route(far);
  ASSERT_TRUE(rt);
  EXPECT_EQ(rt->next_hop, router);
  EXPECT_EQ(rt->source, kUs);  // a global source for a global destination
  EXPECT_EQ(v6(Ipv6Counter::kRaDefaultRouter), 1u);
  // The router lifetime (1800 s) runs out.
  now_ = now_ + std::chrono::seconds(1801);
  auto ctx = node_.ctx(now_);
  node_.stack.on_timers(ctx);
  EXPECT_FALSE(node_.stack.route(far));
  EXPECT_EQ(v6(Ipv6Counter::kRaRouterExpired), 1u);
  // An RA with a wrong hop limit is not believed.
  Bytes bad = bytes(captured6::kRouterAdvert);
  bad[14 + 7] = 64;
  feed(bad);
  EXPECT_EQ(v6(Ipv6Counter::kNdInvalid), 1u);
  EXPECT_FALSE(node_.stack.route(far));
}

TEST_F(Ipv6Input, MulticastFilterAndBadPackets) {
  start();
  // MLD report to ff02::16 (33:33:00:00:00:16): a group we did not join.
  feed(bytes(captured6::kMldReportHopByHop));
  EXPECT_EQ(eth(EthCounter::kRxMulticastNotJoined), 1u);
  Bytes f = bytes(captured6::kEchoRequest);
  f[14] = 0x45;  // version 4 in an IPv6 frame
  feed(f);
  EXPECT_EQ(v6(Ipv6Counter::kRxBadVersion), 1u);
  f = bytes(captured6::kEchoRequest);
  f.resize(f.size() - 1);  // payload length now runs past the frame
  feed(f);
  EXPECT_EQ(v6(Ipv6Counter::kRxBadLength), 1u);
  f = bytes(captured6::kEchoRequest);
  f[14 + 40 + 10] ^= 0xff;  // ICMPv6 payload: checksum fails
  feed(f);
  EXPECT_EQ(icmp6(IcmpCounter::kRxBadChecksum), 1u);
  f = bytes(captured6::kEchoRequest);
  std::memcpy(&f[14 + 8], kUs.bytes(), 16);  // our own address as source
  feed(f);
  EXPECT_EQ(v6(Ipv6Counter::kRxBadSource), 1u);
  EXPECT_TRUE(node_.out.frames.empty());
}

// DAD on a stack of its own: a solicitation from :: for each address at start, then
// the address is kept; a defending advertisement from Linux makes it a duplicate.
TEST(Ipv6Dad, SolicitsAtStartAndGivesUpOnADefender) {
  const unsigned avail = pool_avail();
  {
    IpStackConfig c;
    c.port.mac = kUsMac;
    c.port.mtu = 1500;
    c.addresses.push_back({kUs, 64});
    c.router_solicitations = 1;
    l3test::Node node(c);
    Instant now{1'000'000'000};
    auto ctx = node.ctx(now);
    node.stack.start(ctx);
    EXPECT_TRUE(node.stack.dad_pending(kUs));
    EXPECT_TRUE(node.stack.dad_pending(node.stack.link_local()));
    int dad_ns = 0, rs = 0;
    for (rte_mbuf* m : node.out.frames) {
      const Bytes b = mbuf_bytes(m);
      const auto v = Ipv6View::parse(b.data() + 14, b.size() - 14, b.size() - 14);
      ASSERT_TRUE(v);
      EXPECT_EQ(v->hop_limit(), 255);
      if (b[14 + 40] == kIcmp6NeighborSolicit) {
        EXPECT_TRUE(v->src().is_unspecified());
        const auto ns = parse_neighbor_solicit(b.data() + 54, b.size() - 54);
        ASSERT_TRUE(ns);
        EXPECT_EQ(v->dst(), ipv6_solicited_node(ns->target));
        EXPECT_TRUE(mac_equal(EthernetView::parse(b.data(), b.size())->dst(),
                              ipv6_multicast_mac(v->dst())));
        ++dad_ns;
      } else if (b[14 + 40] == kIcmp6RouterSolicit) {
        EXPECT_EQ(v->dst(), ipv6_all_routers());
        ++rs;
      }
    }
    EXPECT_EQ(dad_ns, 2);
    EXPECT_EQ(rs, 1);
    node.out.free_all();
    // Linux defends the global address as it would (its captured NA, sent to all
    // nodes, unsolicited): a duplicate; the link-local stays.
    Bytes na = bytes(captured6::kNeighborAdvert);
    const rte_ether_addr all_nodes_mac = ipv6_multicast_mac(ipv6_all_nodes());
    std::memcpy(na.data(), all_nodes_mac.addr_bytes, 6);
    std::memcpy(na.data() + 14 + 24, ipv6_all_nodes().bytes(), 16);
    na[14 + 40 + 4] = 0x20;  // override, not solicited
    set_icmpv6_checksum(kUs, ipv6_all_nodes(), na.data() + 54, na.size() - 54);
    rte_mbuf* m = make_mbuf(na);
    node.stack.on_frames(&m, 1, ctx);
    EXPECT_TRUE(node.stack.dad_failed(kUs));
    EXPECT_FALSE(node.stack.routes().is_local(kUs));
    EXPECT_EQ(node.stack.ipv6_counters().get(Ipv6Counter::kDadDuplicate), 1u);
    now = now + std::chrono::seconds(2);
    auto later = node.ctx(now);
    node.stack.on_timers(later);
    EXPECT_FALSE(node.stack.dad_pending(node.stack.link_local()));
    EXPECT_FALSE(node.stack.dad_failed(node.stack.link_local()));
    EXPECT_EQ(node.stack.ipv6_counters().get(Ipv6Counter::kDadSucceeded), 1u);
    node.out.free_all();
  }
  EXPECT_EQ(pool_avail(), avail);
}

}  // namespace
}  // namespace shardtcp
