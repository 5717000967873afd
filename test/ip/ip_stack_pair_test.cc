// Two IpStacks joined by an in-memory wire (stack_harness.h), virtual clock:
// ARP resolution, ping both ways, fragmentation and reassembly, transport delivery,
// ICMP errors, loss and a blackholed peer.
#include <gtest/gtest.h>

#include <cstring>

#include "stack_harness.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

namespace shardtcp {
namespace {

using namespace std::chrono_literals;
using l3test::Pair;
using l3test::pool;
using l3test::pool_avail;
using l3test::RecordingTransport;

const IpAddr kA = IpAddr::v4(0xC6120001);  // 198.18.0.1
const IpAddr kB = IpAddr::v4(0xC6120002);  // 198.18.0.2

Pair make_pair_ab() {
  return Pair(l3test::node_config(1, 0xC6120001, 24), l3test::node_config(2, 0xC6120002, 24));
}

rte_mbuf* l4_payload(const std::vector<std::uint8_t>& bytes) {
  return l3test::make_mbuf(bytes);
}

TEST(IpStackPair, GratuitousArpAtStart) {
  const unsigned avail = pool_avail();
  {
    Pair p = make_pair_ab();
    p.run_for(20ms);
    EXPECT_EQ(p.a->stack.arp_counters().get(ArpCounter::kTxGratuitous), 1u);
    EXPECT_EQ(p.b->stack.arp_counters().get(ArpCounter::kTxGratuitous), 1u);
    // An announcement from a stranger teaches nothing (RFC 826: only existing entries merge).
    EXPECT_FALSE(p.a->stack.neighbors().find(kB));
  }
  EXPECT_EQ(pool_avail(), avail);
}

TEST(IpStackPair, ArpResolutionAndPingBothWays) {
  const unsigned avail = pool_avail();
  {
    Pair p = make_pair_ab();
    p.run_for(10ms);
    auto ca = p.ctx_a();
    EXPECT_EQ(p.a->stack.ping(kB, 0x1234, 1, 56, ca), OutputResult::kQueuedForResolution);
    p.clock.advance(1ms);
    p.pump();
    ASSERT_EQ(p.a->replies.size(), 1u);
    const PingReply& r = p.a->replies[0];
    EXPECT_EQ(r.from, kB);
    EXPECT_EQ(r.ident, 0x1234);
    EXPECT_EQ(r.seq, 1);
    EXPECT_EQ(r.payload_len, 56u);
    EXPECT_EQ(r.ttl, 64);
    EXPECT_TRUE(r.has_rtt);
    EXPECT_GT(r.rtt, 0ns);
    EXPECT_LT(r.rtt, 10ms);
    // B learned A from A's request: its ping needs no ARP round trip.
    ASSERT_TRUE(p.b->stack.neighbors().find(kA));
    auto cb = p.ctx_b();
    EXPECT_EQ(p.b->stack.ping(kA, 7, 9, 0, cb), OutputResult::kSent);
    p.pump();
    ASSERT_EQ(p.b->replies.size(), 1u);
    EXPECT_EQ(p.b->replies[0].seq, 9);
    EXPECT_FALSE(p.b->replies[0].has_rtt);  // no room for a timestamp in 0 bytes
    EXPECT_EQ(p.a->stack.icmp_counters().get(IcmpCounter::kTxEchoReplies), 1u);
    EXPECT_EQ(p.b->stack.icmp_counters().get(IcmpCounter::kTxEchoReplies), 1u);
    EXPECT_EQ(p.a->stack.arp_counters().get(ArpCounter::kTxRequests), 1u);
    EXPECT_EQ(p.b->stack.arp_counters().get(ArpCounter::kTxRequests), 0u);
  }
  EXPECT_EQ(pool_avail(), avail);
}

TEST(IpStackPair, LargePingIsFragmentedAndReassembledBothWays) {
  const unsigned avail = pool_avail();
  {
    Pair p = make_pair_ab();
    auto ca = p.ctx_a();
    p.a->stack.start(ca);
    EXPECT_EQ(p.a->stack.ping(kB, 1, 1, 3000, ca), OutputResult::kQueuedForResolution);
    p.pump();
    ASSERT_EQ(p.a->replies.size(), 1u);
    EXPECT_EQ(p.a->replies[0].payload_len, 3000u);
    EXPECT_EQ(p.a->stack.ipv4_counters().get(Ipv4Counter::kTxFragments), 3u);
    EXPECT_EQ(p.b->stack.ipv4_counters().get(Ipv4Counter::kRxReassembled), 1u);
    EXPECT_EQ(p.b->stack.ipv4_counters().get(Ipv4Counter::kTxFragments), 3u);
    EXPECT_EQ(p.a->stack.ipv4_counters().get(Ipv4Counter::kRxReassembled), 1u);
    p.run_for(50ms);
  }
  EXPECT_EQ(pool_avail(), avail);
}

TEST(IpStackPair, ResolvesThroughThirtyPercentLoss) {
  const unsigned avail = pool_avail();
  for (std::uint32_t seed = 1; seed <= 10; ++seed) {
    auto ca_cfg = l3test::node_config(1, 0xC6120001, 24);
    ca_cfg.arp.max_requests = 10;
    Pair p(ca_cfg, l3test::node_config(2, 0xC6120002, 24));
    p.set_loss(0.3, seed);
    p.run_for(10ms);
    auto ca = p.ctx_a();
    p.a->stack.ping(kB, 1, 1, 32, ca);
    p.run_for(1100ms);  // the whole retry budget: 10 requests, 100 ms apart
    auto n = p.a->stack.neighbors().find(kB);
    ASSERT_TRUE(n) << "seed " << seed;
    EXPECT_EQ(n->state, NeighborState::kReachable) << "seed " << seed;
    EXPECT_EQ(p.a->stack.arp_counters().get(ArpCounter::kResolveFailed), 0u);
    EXPECT_LE(p.a->stack.arp_counters().get(ArpCounter::kTxRequests), 10u);
    // Keep pinging until a reply makes it through the lossy wire.
    for (std::uint16_t s = 2; s < 40 && p.a->replies.empty(); ++s) {
      ca = p.ctx_a();
      p.a->stack.ping(kB, 1, s, 32, ca);
      p.run_for(20ms);
    }
    EXPECT_FALSE(p.a->replies.empty()) << "seed " << seed;
    EXPECT_GT(p.frames_lost, 0u);
  }
  EXPECT_EQ(pool_avail(), avail);
}

TEST(IpStackPair, BlackholedPeerIsUnresolvedWithinRetryBudget) {
  const unsigned avail = pool_avail();
  {
    Pair p = make_pair_ab();
    p.blackhole_b(true);
    auto ca = p.ctx_a();
    for (std::uint16_t s = 0; s < 3; ++s)
      EXPECT_EQ(p.a->stack.ping(kB, 1, s, 100, ca), OutputResult::kQueuedForResolution);
    EXPECT_EQ(p.a->stack.neighbors().find(kB)->queued, 3u);
    // Budget: 3 requests 100 ms apart, failure declared one interval after the last.
    p.run_for(290ms);
    ASSERT_TRUE(p.a->stack.neighbors().find(kB));
    p.run_for(20ms);
    EXPECT_FALSE(p.a->stack.neighbors().find(kB));
    const auto& arp = p.a->stack.arp_counters();
    EXPECT_EQ(arp.get(ArpCounter::kTxRequests), 3u);
    EXPECT_EQ(arp.get(ArpCounter::kResolveFailed), 1u);
    EXPECT_EQ(arp.get(ArpCounter::kQueuedDropped), 3u);
    EXPECT_EQ(p.a->stack.ipv4_counters().get(Ipv4Counter::kTxResolutionDropped), 3u);
    EXPECT_TRUE(p.a->replies.empty());
  }
  EXPECT_EQ(pool_avail(), avail);  // the dropped packets went back to the pool
}

TEST(IpStackPair, TransportDeliveryAndPortUnreachable) {
  const unsigned avail = pool_avail();
  {
    Pair p = make_pair_ab();
    RecordingTransport ta, tb;
    tb.reply_unreachable_from = &p.b->stack;
    p.a->stack.set_transport(17, &ta);
    p.b->stack.set_transport(17, &tb);
    std::vector<std::uint8_t> udp = {0x30, 0x39, 0x00, 0x35, 0x00, 0x0c,
                                     0x00, 0x00, 'p',  'i',  'n',  'g'};
    auto ca = p.ctx_a();
    EXPECT_EQ(p.a->stack.output(l4_payload(udp), IpAddr{}, kB, 17, ca),
              OutputResult::kQueuedForResolution);
    p.pump();
    ASSERT_EQ(tb.l4.size(), 1u);
    EXPECT_EQ(tb.l4[0].bytes, udp);
    EXPECT_EQ(tb.l4[0].meta.src, kA);
    EXPECT_EQ(tb.l4[0].meta.dst, kB);
    EXPECT_EQ(tb.l4[0].meta.protocol, 17);
    EXPECT_EQ(tb.l4[0].meta.l3_len, 20);
    EXPECT_EQ(tb.l4[0].meta.l4_len, udp.size());
    // B answered with port unreachable; A's UDP hears about it with the quoted ports.
    ASSERT_EQ(ta.errors.size(), 1u);
    const IcmpErrorInfo& e = ta.errors[0];
    EXPECT_EQ(e.type, kIcmpDestUnreachable);
    EXPECT_EQ(e.code, kIcmpCodePortUnreachable);
    EXPECT_EQ(e.reporter, kB);
    EXPECT_EQ(e.src, kA);
    EXPECT_EQ(e.dst, kB);
    EXPECT_EQ(e.src_port, 12345);
    EXPECT_EQ(e.dst_port, 53);
    EXPECT_EQ(p.b->stack.icmp_counters().get(IcmpCounter::kTxDestUnreachable), 1u);
  }
  EXPECT_EQ(pool_avail(), avail);
}

TEST(IpStackPair, UnknownProtocolGetsProtocolUnreachable) {
  const unsigned avail = pool_avail();
  {
    Pair p = make_pair_ab();
    RecordingTransport ta;
    p.a->stack.set_transport(99, &ta);
    auto ca = p.ctx_a();
    p.a->stack.output(l4_payload({1, 2, 3, 4, 5, 6, 7, 8}), IpAddr{}, kB, 99, ca);
    p.pump();
    EXPECT_EQ(p.b->stack.ipv4_counters().get(Ipv4Counter::kRxUnknownProtocol), 1u);
    ASSERT_EQ(ta.errors.size(), 1u);
    EXPECT_EQ(ta.errors[0].code, kIcmpCodeProtoUnreachable);
    EXPECT_EQ(ta.errors[0].protocol, 99);
  }
  EXPECT_EQ(pool_avail(), avail);
}

TEST(IpStackPair, IcmpErrorsAreRateLimited) {
  const unsigned avail = pool_avail();
  {
    auto cb_cfg = l3test::node_config(2, 0xC6120002, 24);
    cb_cfg.icmp_errors_per_second = 1;
    cb_cfg.icmp_error_burst = 3;
    Pair p(l3test::node_config(1, 0xC6120001, 24), cb_cfg);
    for (int i = 0; i < 10; ++i) {
      auto ca = p.ctx_a();
      p.a->stack.output(l4_payload({0, 1, 0, 2, 0, 8, 0, 0}), IpAddr{}, kB, 17, ca);
      p.pump();
    }
    const auto& icmp = p.b->stack.icmp_counters();
    EXPECT_EQ(icmp.get(IcmpCounter::kTxDestUnreachable), 3u);
    EXPECT_EQ(icmp.get(IcmpCounter::kTxRateLimited), 7u);
    p.run_for(1100ms, 100ms);  // one token back
    auto ca = p.ctx_a();
    p.a->stack.output(l4_payload({0, 1, 0, 2, 0, 8, 0, 0}), IpAddr{}, kB, 17, ca);
    p.pump();
    EXPECT_EQ(icmp.get(IcmpCounter::kTxDestUnreachable), 4u);
  }
  EXPECT_EQ(pool_avail(), avail);
}

TEST(IpStackPair, OutputOutcomes) {
  const unsigned avail = pool_avail();
  {
    Pair p = make_pair_ab();
    auto ca = p.ctx_a();
    // Off-subnet without a gateway: no route (ENETUNREACH), packet freed.
    EXPECT_EQ(p.a->stack.output(l4_payload({1, 2, 3}), IpAddr{}, IpAddr::v4(0xC6130001), 17, ca),
              OutputResult::kNoRoute);
    EXPECT_FALSE(p.a->stack.route(IpAddr::v4(0xC6130001)));
    // A source that is not ours.
    EXPECT_EQ(p.a->stack.output(l4_payload({1, 2, 3}), IpAddr::v4(0xC6120009), kB, 17, ca),
              OutputResult::kDropped);
    // TCP larger than the MTU is never fragmented.
    std::vector<std::uint8_t> big(1481, 0);
    EXPECT_EQ(p.a->stack.output(l4_payload(big), IpAddr{}, kB, 6, ca), OutputResult::kDropped);
    EXPECT_EQ(p.a->stack.ipv4_counters().get(Ipv4Counter::kTxTooBig), 1u);
    // With a gateway the route names it as next hop and gives a source and MTU.
    ASSERT_TRUE(p.a->stack.routes().set_default_gateway(kB));
    auto r = p.a->stack.route(IpAddr::v4(0xC6130001));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->next_hop, kB);
    EXPECT_EQ(r->source, kA);
    EXPECT_EQ(r->mtu, 1500);
    EXPECT_EQ(p.a->stack.ipv4_counters().get(Ipv4Counter::kTxNoRoute), 1u);
  }
  EXPECT_EQ(pool_avail(), avail);
}

void resolve_a_to_b(Pair& p) {
  auto ca = p.ctx_a();
  p.a->stack.ping(kB, 1, 1, 8, ca);
  p.pump();
  ASSERT_EQ(p.a->replies.size(), 1u);
}

TEST(IpStackPair, TcpIsSentWithDontFragmentAndSoftwareChecksum) {
  const unsigned avail = pool_avail();
  {
    Pair p = make_pair_ab();
    RecordingTransport tb;
    p.b->stack.set_transport(6, &tb);
    resolve_a_to_b(p);
    auto ca = p.ctx_a();
    std::vector<std::uint8_t> seg(20, 0x5a);
    ASSERT_EQ(p.a->stack.output(l4_payload(seg), IpAddr{}, kB, 6, ca), OutputResult::kSent);
    ASSERT_EQ(p.a->out.frames.size(), 1u);
    rte_mbuf* f = p.a->out.frames.front();
    EXPECT_TRUE(f->ol_flags & RTE_MBUF_F_TX_IPV4);
    EXPECT_FALSE(f->ol_flags & RTE_MBUF_F_TX_IP_CKSUM);
    EXPECT_EQ(f->l2_len, 14u);
    EXPECT_EQ(f->l3_len, 20u);
    const auto bytes = l3test::mbuf_bytes(f);
    ASSERT_EQ(bytes.size(), 14u + 20 + 20);
    EXPECT_EQ(0, std::memcmp(bytes.data(), p.b->stack.mac().addr_bytes, 6));
    EXPECT_EQ(0, std::memcmp(bytes.data() + 6, p.a->stack.mac().addr_bytes, 6));
    auto ip = Ipv4View::parse(bytes.data() + 14, bytes.size() - 14);  // checksum verified
    ASSERT_TRUE(ip);
    EXPECT_TRUE(ip->dont_fragment());
    EXPECT_EQ(ip->protocol(), 6);
    EXPECT_EQ(ip->ttl(), 64);
    EXPECT_EQ(ip->src(), kA);
    EXPECT_EQ(ip->dst(), kB);
    p.pump();
    ASSERT_EQ(tb.l4.size(), 1u);
    EXPECT_EQ(tb.l4[0].bytes, seg);
  }
  EXPECT_EQ(pool_avail(), avail);
}

TEST(IpStackPair, ChecksumOffloadLeavesHeaderChecksumToTheDevice) {
  const unsigned avail = pool_avail();
  {
    auto cfg_a = l3test::node_config(1, 0xC6120001, 24);
    cfg_a.port.tx_ipv4_cksum = true;
    Pair p(cfg_a, l3test::node_config(2, 0xC6120002, 24));
    auto ca = p.ctx_a();
    p.a->stack.output(l4_payload({1, 2, 3, 4, 5, 6, 7, 8}), IpAddr{}, kB, 17, ca);
    // Let the ARP exchange happen, then look at the released datagram.
    ASSERT_EQ(p.a->out.frames.size(), 1u);  // the ARP request
    p.clock.advance(1ms);
    auto arp_req = p.a->out.frames.front();
    p.a->out.frames.pop_front();
    auto cb = p.ctx_b();
    p.b->stack.on_frames(&arp_req, 1, cb);
    ASSERT_EQ(p.b->out.frames.size(), 1u);  // the ARP reply
    auto arp_rep = p.b->out.frames.front();
    p.b->out.frames.pop_front();
    ca = p.ctx_a();
    p.a->stack.on_frames(&arp_rep, 1, ca);
    ASSERT_EQ(p.a->out.frames.size(), 1u);
    rte_mbuf* f = p.a->out.frames.front();
    EXPECT_TRUE(f->ol_flags & RTE_MBUF_F_TX_IP_CKSUM);
    const auto bytes = l3test::mbuf_bytes(f);
    EXPECT_EQ(bytes[14 + 10], 0);
    EXPECT_EQ(bytes[14 + 11], 0);
    // No device filled it in on this wire: the receiver rejects and counts it.
    p.pump();
    EXPECT_EQ(p.b->stack.ipv4_counters().get(Ipv4Counter::kRxBadChecksum), 1u);
  }
  EXPECT_EQ(pool_avail(), avail);
}

}  // namespace
}  // namespace shardtcp
