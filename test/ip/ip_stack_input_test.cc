// Frames captured from real Linux traffic (test/wire/captured_frames.h) fed into an
// IpStack that owns 198.18.0.2 / 02:00:00:00:00:02, the address and MAC of the Linux
// peer that answered them: our answers must match Linux's byte for byte where the
// protocol fixes them. Then corrupted variants must be dropped under the right counter.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "../wire/captured_frames.h"
#include "stack_harness.h"
#include "wire/arp.h"
#include "wire/checksum.h"
#include "wire/ethernet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

namespace shardtcp {
namespace {

using l3test::make_mbuf;
using l3test::mbuf_bytes;
using l3test::pool_avail;
using Bytes = std::vector<std::uint8_t>;

const IpAddr kLinux = IpAddr::v4(0xC6120001);  // 198.18.0.1, 02:00:00:00:00:01
const rte_ether_addr kLinuxMac{{0x02, 0, 0, 0, 0, 0x01}};

template <std::size_t N>
Bytes bytes(const std::uint8_t (&a)[N]) {
  return {a, a + N};
}

void fix_ip_checksum(Bytes& f) {
  f[24] = f[25] = 0;
  const std::uint16_t c = internet_checksum(f.data() + 14, (f[14] & 0x0f) * 4u);
  std::memcpy(&f[24], &c, 2);
}

class StackInput : public ::testing::Test {
 protected:
  StackInput() : node_(config()) { avail_ = pool_avail(); }
  ~StackInput() override {
    node_.out.free_all();
    EXPECT_EQ(pool_avail(), avail_) << "mbuf leak";
  }
  static IpStackConfig config() {
    IpStackConfig c = l3test::node_config(2, 0xC6120002, 24);
    c.announce_at_start = false;
    return c;
  }
  void feed(const Bytes& f, std::uint64_t ol_flags = 0) {
    rte_mbuf* m = make_mbuf(f);
    ASSERT_NE(m, nullptr);
    m->ol_flags = ol_flags;
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
  void learn_linux() {
    feed(bytes(captured::kArpRequest));
    take();
  }
  std::uint64_t eth(EthCounter c) { return node_.stack.eth_counters().get(c); }
  std::uint64_t ip(Ipv4Counter c) { return node_.stack.ipv4_counters().get(c); }
  std::uint64_t icmp(IcmpCounter c) { return node_.stack.icmp_counters().get(c); }
  std::uint64_t arp(ArpCounter c) { return node_.stack.arp_counters().get(c); }

  unsigned avail_ = 0;
  Instant now_{5'000'000'000};
  l3test::Node node_;
};

TEST_F(StackInput, AnswersCapturedArpRequestExactlyLikeLinux) {
  feed(bytes(captured::kArpRequest));
  ASSERT_EQ(node_.out.frames.size(), 1u);
  EXPECT_EQ(take(), bytes(captured::kArpReply));
  auto n = node_.stack.neighbors().find(kLinux);
  ASSERT_TRUE(n);
  EXPECT_TRUE(mac_equal(n->mac, kLinuxMac));
}

TEST_F(StackInput, AnswersCapturedEchoRequestLikeLinux) {
  learn_linux();
  feed(bytes(captured::kEchoRequest));
  const Bytes got = take();
  const Bytes want = bytes(captured::kEchoReply);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(0, std::memcmp(got.data(), want.data(), 14));  // Ethernet header
  auto ip_got = Ipv4View::parse(got.data() + 14, got.size() - 14);
  auto ip_want = Ipv4View::parse(want.data() + 14, want.size() - 14);
  ASSERT_TRUE(ip_got && ip_want);
  EXPECT_EQ(ip_got->src(), ip_want->src());
  EXPECT_EQ(ip_got->dst(), ip_want->dst());
  EXPECT_EQ(ip_got->ttl(), ip_want->ttl());
  EXPECT_EQ(ip_got->total_length(), ip_want->total_length());
  // The whole ICMP message (type, checksum, id, seq, data) is what Linux sent.
  EXPECT_EQ(0, std::memcmp(got.data() + 34, want.data() + 34, want.size() - 34));
  EXPECT_EQ(icmp(IcmpCounter::kTxEchoReplies), 1u);
}

TEST_F(StackInput, ReassemblesCapturedFragmentsAndAnswersInFragments) {
  learn_linux();
  feed(bytes(captured::kFrag0));
  feed(bytes(captured::kFrag1));
  EXPECT_TRUE(node_.out.frames.empty());
  feed(bytes(captured::kFragLast));
  EXPECT_EQ(ip(Ipv4Counter::kRxReassembled), 1u);
  ASSERT_EQ(node_.out.frames.size(), 3u);
  // Put the reply back together and compare its data with the request's.
  Bytes reply_icmp;
  for (int i = 0; i < 3; ++i) {
    const Bytes f = take();
    auto v = Ipv4View::parse(f.data() + 14, f.size() - 14);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->more_fragments(), i < 2);
    EXPECT_EQ(v->fragment_offset(), reply_icmp.size());
    EXPECT_LE(v->total_length(), 1500);
    reply_icmp.insert(reply_icmp.end(), v->payload(), v->payload() + v->payload_len());
  }
  ASSERT_EQ(reply_icmp.size(), 3008u);
  EXPECT_TRUE(internet_checksum_ok(reply_icmp.data(), reply_icmp.size()));
  EXPECT_EQ(reply_icmp[0], kIcmpEchoReply);
  Bytes request_icmp;
  for (const Bytes& f :
       {bytes(captured::kFrag0), bytes(captured::kFrag1), bytes(captured::kFragLast)})
    request_icmp.insert(request_icmp.end(), f.begin() + 34, f.end());
  EXPECT_EQ(0, std::memcmp(reply_icmp.data() + 4, request_icmp.data() + 4, 3008 - 4));
}

TEST_F(StackInput, EthernetDropsAreCounted) {
  feed(Bytes(10, 0xff));
  EXPECT_EQ(eth(EthCounter::kRxTruncated), 1u);
  Bytes f = bytes(captured::kEchoRequest);
  f[5] = 0x09;
  feed(f);
  EXPECT_EQ(eth(EthCounter::kRxNotOurMac), 1u);
  f = bytes(captured::kEchoRequest);
  f[0] = 0x01, f[1] = 0x00, f[2] = 0x5e;
  feed(f);
  EXPECT_EQ(eth(EthCounter::kRxMulticastNotJoined), 1u);
  f = bytes(captured::kEchoRequest);
  f[12] = 0x86, f[13] = 0xdd;
  feed(f);
  EXPECT_EQ(eth(EthCounter::kRxIpv6Unsupported), 1u);
  f[12] = 0x12, f[13] = 0x34;
  feed(f);
  EXPECT_EQ(eth(EthCounter::kRxUnknownEtherType), 1u);
  EXPECT_EQ(eth(EthCounter::kRxFrames), 5u);
  EXPECT_TRUE(node_.out.frames.empty());
}

TEST_F(StackInput, ArpDropsAreCounted) {
  Bytes f = bytes(captured::kArpRequest);
  f[14 + 7] = 3;
  feed(f);
  EXPECT_EQ(arp(ArpCounter::kRxBadOpcode), 1u);
  f = bytes(captured::kArpRequest);
  f.resize(14 + 20);
  feed(f);
  EXPECT_EQ(arp(ArpCounter::kRxTruncated), 1u);
  f = bytes(captured::kArpRequest);
  f[14 + 4] = 8;
  feed(f);
  EXPECT_EQ(arp(ArpCounter::kRxBadHardware), 1u);
  EXPECT_TRUE(node_.out.frames.empty());
}

TEST_F(StackInput, Ipv4DropsAreCountedByReason) {
  learn_linux();
  const Bytes good = bytes(captured::kEchoRequest);
  struct Case {
    const char* name;
    void (*mutate)(Bytes&);
    Ipv4Counter counter;
  };
  const Case cases[] = {
      {"truncated", [](Bytes& f) { f.resize(14 + 19); }, Ipv4Counter::kRxTruncated},
      {"version", [](Bytes& f) { f[14] = 0x65; }, Ipv4Counter::kRxBadVersion},
      {"ihl", [](Bytes& f) { f[14] = 0x44; }, Ipv4Counter::kRxBadIhl},
      {"length", [](Bytes& f) { f.resize(f.size() - 1); }, Ipv4Counter::kRxBadLength},
      {"checksum", [](Bytes& f) { f[14 + 8] = 1; }, Ipv4Counter::kRxBadChecksum},
      {"not for us",
       [](Bytes& f) {
         f[33] = 9;
         fix_ip_checksum(f);
       },
       Ipv4Counter::kRxNotForUs},
      {"multicast",
       [](Bytes& f) {
         f[30] = 239;
         fix_ip_checksum(f);
       },
       Ipv4Counter::kRxMulticastNotJoined},
      {"ttl 0",
       [](Bytes& f) {
         f[14 + 8] = 0;
         fix_ip_checksum(f);
       },
       Ipv4Counter::kRxTtlExpired},
      {"source multicast",
       [](Bytes& f) {
         f[26] = 224;
         fix_ip_checksum(f);
       },
       Ipv4Counter::kRxBadSource},
      {"source is us",
       [](Bytes& f) {
         f[29] = 2;
         fix_ip_checksum(f);
       },
       Ipv4Counter::kRxBadSource},
  };
  for (const Case& c : cases) {
    const std::uint64_t before = ip(c.counter);
    Bytes f = good;
    c.mutate(f);
    feed(f);
    EXPECT_EQ(ip(c.counter), before + 1) << c.name;
  }
  EXPECT_TRUE(node_.out.frames.empty());
  EXPECT_EQ(ip(Ipv4Counter::kRxDelivered), 0u);
  EXPECT_EQ(icmp(IcmpCounter::kRxMessages), 0u);
}

TEST_F(StackInput, IcmpAndProtocolDropsAreCounted) {
  learn_linux();
  Bytes f = bytes(captured::kEchoRequest);
  f[60] ^= 0xff;  // inside the ICMP data: the ICMP checksum no longer matches
  feed(f);
  EXPECT_EQ(icmp(IcmpCounter::kRxBadChecksum), 1u);
  EXPECT_TRUE(node_.out.frames.empty());

  f = bytes(captured::kEchoRequest);
  f[14 + 9] = 99;  // unknown protocol: dropped, answered with protocol unreachable
  fix_ip_checksum(f);
  feed(f);
  EXPECT_EQ(ip(Ipv4Counter::kRxUnknownProtocol), 1u);
  const Bytes err = take();
  ASSERT_GE(err.size(), 34u + 8 + 28);
  auto v = IcmpView::parse(err.data() + 34, err.size() - 34);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type(), kIcmpDestUnreachable);
  EXPECT_EQ(v->code(), kIcmpCodeProtoUnreachable);
  EXPECT_TRUE(internet_checksum_ok(err.data() + 34, err.size() - 34));
  EXPECT_EQ(0, std::memcmp(v->payload(), f.data() + 14, 28));  // quotes header + 8 bytes

  // Broadcast echo requests are not answered.
  f = bytes(captured::kEchoRequest);
  f[33] = 255;
  fix_ip_checksum(f);
  feed(f);
  EXPECT_EQ(icmp(IcmpCounter::kRxBroadcastEchoIgnored), 1u);
  EXPECT_TRUE(node_.out.frames.empty());
}

// An ICMP error from the Linux peer (a router, as far as we know) quoting a TCP
// segment we sent: 198.18.0.2:40000 -> 198.18.0.1:80, seq 0x01020304.
Bytes icmp_error_frame(std::uint8_t type, std::uint8_t code, std::uint16_t mtu,
                       std::uint32_t quoted_src_host = 0xC6120002) {
  Bytes quote(28, 0);
  Ipv4Header q;
  q.src = IpAddr::v4(quoted_src_host);
  q.dst = kLinux;
  q.protocol = kIpProtoTcp;
  q.dont_fragment = true;
  q.payload_len = 40;
  emit_ipv4(quote.data(), 20, q);
  const std::uint8_t tcp8[8] = {0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04};
  std::memcpy(quote.data() + 20, tcp8, 8);
  Bytes f(14 + 20 + 8 + quote.size());
  emit_ethernet(f.data(), 14,
                {rte_ether_addr{{0x02, 0, 0, 0, 0, 0x02}}, kLinuxMac, kEtherTypeIpv4});
  Ipv4Header h;
  h.src = kLinux;
  h.dst = IpAddr::v4(0xC6120002);
  h.protocol = kIpProtoIcmp;
  h.payload_len = static_cast<std::uint16_t>(8 + quote.size());
  emit_ipv4(f.data() + 14, 20, h);
  emit_icmp_error(f.data() + 34, f.size() - 34, type, code, mtu, quote.data(), quote.size());
  return f;
}

TEST_F(StackInput, IcmpErrorsReachTheQuotedTransport) {
  l3test::RecordingTransport tcp;
  node_.stack.set_transport(kIpProtoTcp, &tcp);
  feed(icmp_error_frame(kIcmpDestUnreachable, kIcmpCodeFragNeeded, 1280));
  ASSERT_EQ(tcp.errors.size(), 1u);
  const IcmpErrorInfo& e = tcp.errors[0];
  EXPECT_EQ(e.type, kIcmpDestUnreachable);
  EXPECT_EQ(e.code, kIcmpCodeFragNeeded);
  EXPECT_EQ(e.next_hop_mtu, 1280);
  EXPECT_EQ(e.reporter, kLinux);
  EXPECT_EQ(e.src, IpAddr::v4(0xC6120002));
  EXPECT_EQ(e.dst, kLinux);
  EXPECT_EQ(e.protocol, kIpProtoTcp);
  EXPECT_EQ(e.src_port, 40000);
  EXPECT_EQ(e.dst_port, 80);
  EXPECT_EQ(e.l4_word1, 0x01020304u);

  feed(icmp_error_frame(kIcmpTimeExceeded, 0, 0));
  ASSERT_EQ(tcp.errors.size(), 2u);
  EXPECT_EQ(tcp.errors[1].type, kIcmpTimeExceeded);
  EXPECT_EQ(tcp.errors[1].next_hop_mtu, 0);
  EXPECT_EQ(icmp(IcmpCounter::kRxTimeExceeded), 1u);

  // Errors about packets we did not send are not passed on.
  feed(icmp_error_frame(kIcmpDestUnreachable, kIcmpCodePortUnreachable, 0, 0xC6120063));
  EXPECT_EQ(tcp.errors.size(), 2u);
  EXPECT_EQ(icmp(IcmpCounter::kRxErrorNotOurs), 1u);
  // Nor to a protocol nobody registered.
  node_.stack.set_transport(kIpProtoTcp, nullptr);
  feed(icmp_error_frame(kIcmpDestUnreachable, kIcmpCodePortUnreachable, 0));
  EXPECT_EQ(icmp(IcmpCounter::kRxErrorNoTransport), 1u);
  EXPECT_EQ(icmp(IcmpCounter::kRxErrorsDelivered), 2u);
  EXPECT_TRUE(node_.out.frames.empty());  // no ICMP error is ever answered
}

TEST_F(StackInput, TrustsDeviceChecksumVerdict) {
  IpStackConfig c = config();
  c.port.rx_ipv4_cksum = true;
  l3test::Node node(c);
  auto ctx = node.ctx(now_);
  {
    Bytes f = bytes(captured::kArpRequest);
    rte_mbuf* m = make_mbuf(f);
    node.stack.on_frames(&m, 1, ctx);
  }
  // Good bytes, but the device said BAD: dropped.
  rte_mbuf* m = make_mbuf(bytes(captured::kEchoRequest));
  m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_BAD;
  node.stack.on_frames(&m, 1, ctx);
  EXPECT_EQ(node.stack.ipv4_counters().get(Ipv4Counter::kRxBadChecksum), 1u);
  // Bad bytes the device vouched for: not re-checked (the ICMP checksum still is).
  Bytes f = bytes(captured::kEchoRequest);
  f[24] ^= 0x55;
  m = make_mbuf(f);
  m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  node.stack.on_frames(&m, 1, ctx);
  EXPECT_EQ(node.stack.ipv4_counters().get(Ipv4Counter::kRxBadChecksum), 1u);
  EXPECT_EQ(node.stack.icmp_counters().get(IcmpCounter::kTxEchoReplies), 1u);
}

// Input checks a (source, destination) pair once and skips the checks for the
// packets after it with the same pair (Ipv4PairMemo): until the addresses change.
// Here the peer's address becomes ours, then ours goes away; each time the very next
// packet of the remembered pair must be judged afresh.
TEST_F(StackInput, AddressChangesEndTheCheckedPairShortcut) {
  learn_linux();
  const Bytes echo = bytes(captured::kEchoRequest);
  feed(echo);
  feed(echo);
  EXPECT_EQ(icmp(IcmpCounter::kTxEchoReplies), 2u);
  while (!take().empty()) {
  }
  ASSERT_TRUE(node_.stack.add_address(kLinux, 32));
  feed(echo);
  EXPECT_EQ(ip(Ipv4Counter::kRxBadSource), 1u);
  ASSERT_TRUE(node_.stack.remove_address(kLinux));
  feed(echo);
  EXPECT_EQ(icmp(IcmpCounter::kTxEchoReplies), 3u);
  while (!take().empty()) {
  }
  ASSERT_TRUE(node_.stack.routes().remove_address(IpAddr::v4(0xC6120002)));
  feed(echo);
  EXPECT_EQ(ip(Ipv4Counter::kRxNotForUs), 1u);
  EXPECT_EQ(icmp(IcmpCounter::kTxEchoReplies), 3u);
}

// Once a pair has passed, its packets take ipv4_fast_input: they must reach the
// transport exactly as through the general path, and whatever the shortcut does not
// take (a bad checksum, TTL 0, Ethernet padding, a fragment) must still be judged and
// counted as before.
TEST_F(StackInput, FastInputDeliversAndJudgesAsTheGeneralPath) {
  l3test::RecordingTransport udp;
  node_.stack.set_transport(17, &udp);
  Bytes good = bytes(captured::kEchoRequest);
  good[23] = 17;  // the protocol: what follows the header is only bytes to the recorder
  fix_ip_checksum(good);
  feed(good);  // the general path remembers the pair
  feed(good);  // the shortcut
  ASSERT_EQ(udp.l4.size(), 2u);
  for (const auto& got : {udp.l4[0], udp.l4[1]}) {
    EXPECT_EQ(got.meta.src, kLinux);
    EXPECT_EQ(got.meta.dst, IpAddr::v4(0xC6120002));
    EXPECT_EQ(got.meta.protocol, 17);
    EXPECT_EQ(got.meta.ttl, good[22]);
    EXPECT_EQ(got.meta.l3_len, 20);
    EXPECT_EQ(got.meta.l4_len, good.size() - 34);
    EXPECT_FALSE(got.meta.dst_is_broadcast);
    EXPECT_EQ(got.bytes, Bytes(good.begin() + 34, good.end()));
  }
  Bytes bad = good;
  bad[24] ^= 0x40;
  feed(bad);
  EXPECT_EQ(ip(Ipv4Counter::kRxBadChecksum), 1u);
  Bytes ttl0 = good;
  ttl0[22] = 0;
  fix_ip_checksum(ttl0);
  feed(ttl0);
  EXPECT_EQ(ip(Ipv4Counter::kRxTtlExpired), 1u);
  Bytes padded = good;
  padded.insert(padded.end(), {0, 0, 0, 0});
  feed(padded);
  ASSERT_EQ(udp.l4.size(), 3u);
  EXPECT_EQ(udp.l4[2].bytes, udp.l4[0].bytes);
  Bytes fragment = good;
  fragment[20] |= 0x20;  // more fragments
  fix_ip_checksum(fragment);
  feed(fragment);
  EXPECT_EQ(ip(Ipv4Counter::kRxFragments), 1u);
  EXPECT_EQ(udp.l4.size(), 3u);
  EXPECT_EQ(ip(Ipv4Counter::kRxPackets), 6u);
  EXPECT_EQ(ip(Ipv4Counter::kRxDelivered), 3u);
  node_.stack.set_transport(17, nullptr);
  // The fragment waits for the rest until reassembly gives up on it.
  now_ = now_ + std::chrono::seconds(120);
  auto ctx = node_.ctx(now_);
  node_.stack.on_timers(ctx);
  EXPECT_EQ(ip(Ipv4Counter::kRxReassemblyTimeout), 1u);
}

// Output remembers its last IPv4 route (RouteMemo) until the route table changes:
// a new default gateway must take the very next packet.
TEST_F(StackInput, OutputFollowsARouteChangeAtOnce) {
  learn_linux();
  const IpAddr far = IpAddr::v4(0x0A090909);  // 10.9.9.9, off-link
  auto send = [&] {
    rte_mbuf* m = make_mbuf(Bytes(8, 0x11));
    auto ctx = node_.ctx(now_);
    return node_.stack.output(m, IpAddr{}, far, 17, ctx);
  };
  ASSERT_TRUE(node_.stack.routes().set_default_gateway(kLinux));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(send(), OutputResult::kSent);
    const Bytes f = take();
    ASSERT_GE(f.size(), 34u);
    EXPECT_EQ(0, std::memcmp(f.data(), kLinuxMac.addr_bytes, 6));  // to the gateway
    EXPECT_EQ(Ipv4View::parse(f.data() + 14, f.size() - 14)->dst(), far);
  }
  const IpAddr other = IpAddr::v4(0xC6120003);  // 198.18.0.3, not resolved yet
  ASSERT_TRUE(node_.stack.routes().set_default_gateway(other));
  EXPECT_EQ(send(), OutputResult::kQueuedForResolution);
  const Bytes arp_request = take();
  ASSERT_GE(arp_request.size(), 42u);
  const auto arp = ArpView::parse(arp_request.data() + 14, arp_request.size() - 14);
  ASSERT_TRUE(arp);
  EXPECT_EQ(arp->packet().tpa, other);
  // The held packet goes when resolution gives up.
  for (int i = 0; i < 10; ++i) {
    now_ = now_ + std::chrono::seconds(1);
    auto ctx = node_.ctx(now_);
    node_.stack.on_timers(ctx);
  }
  node_.out.free_all();
}

}  // namespace
}  // namespace shardtcp
