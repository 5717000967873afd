// IPv6 between two full stacks (IpStack + ShardHandler + TcpLayer, and UdpLayer) over
// a ring pair under one virtual clock (test/tcp/pair_harness.h): DAD and NDP
// resolution, ping both ways (global and link-local, and one large enough to be
// fragmented and reassembled both ways), UDP echo across datagram sizes, and a TCP
// transfer each way at once, byte-exact, through seeded loss, duplication, reordering
// and corruption. SHARDTCP_PAIR6_BYTES sets the TCP size (default 256 MiB each way).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "../tcp/pair_harness.h"
#include "../tcp/pair_stream.h"
#include "udp/udp_layer.h"
#include "wire/ethernet.h"
#include "wire/icmpv6.h"

namespace shardtcp::testing {
namespace {

const IpAddr kA6 = *IpAddr::parse("2001:db8:1::1");
const IpAddr kB6 = *IpAddr::parse("2001:db8:1::2");
constexpr std::uint16_t kPort = 5006;

std::uint64_t transfer_bytes() {
  if (const char* e = std::getenv("SHARDTCP_PAIR6_BYTES")) {
    const std::uint64_t v = std::strtoull(e, nullptr, 0);
    if (v > 0) return v;
  }
  return 256ull << 20;
}

class Ipv6Pair : public TcpPairTest {
 protected:
  void build6(PairSideOptions a = {}, PairSideOptions b = {}) {
    build(std::move(a), std::move(b));
    // IPv6 switched on at run time: the link-local address comes with the first one.
    ASSERT_TRUE(a_.ip->add_address(kA6, 64));
    ASSERT_TRUE(b_.ip->add_address(kB6, 64));
    a_.ip->set_ping_handler([this](const PingReply& r) { a_replies_.push_back(r); });
    b_.ip->set_ping_handler([this](const PingReply& r) { b_replies_.push_back(r); });
  }
  OutputResult ping(PairSide& s, const IpAddr& to, std::uint16_t seq, std::size_t len = 56) {
    PacketContext ctx{clock_.now(), s.engine.get(), s.pool, 0};
    return s.ip->ping(to, 0x6666, seq, len, ctx);
  }
  void TearDown() override {
    for (PairSide* s : {&a_, &b_})
      if (s->ip) s->ip->set_ping_handler({});
    TcpPairTest::TearDown();
  }
  std::vector<PingReply> a_replies_, b_replies_;
};

TEST_F(Ipv6Pair, DadThenNdpResolutionAndPingBothWays) {
  build6();
  const IpAddr ll_a = a_.ip->link_local(), ll_b = b_.ip->link_local();
  ASSERT_TRUE(ipv6_is_link_local(ll_a));
  ASSERT_NE(ll_a, ll_b);
  run_for(2s);  // DAD: one solicitation per address, 1 s each
  for (PairSide* s : {&a_, &b_}) {
    EXPECT_EQ(s->ip->ipv6_counters().get(Ipv6Counter::kDadStarted), 2u);
    EXPECT_EQ(s->ip->ipv6_counters().get(Ipv6Counter::kDadSucceeded), 2u);
    EXPECT_EQ(s->ip->ipv6_counters().get(Ipv6Counter::kDadDuplicate), 0u);
    EXPECT_GE(s->ip->ipv6_counters().get(Ipv6Counter::kRsSent), 1u);
  }
  EXPECT_FALSE(a_.ip->dad_pending(kA6));
  EXPECT_TRUE(a_.ip->routes().is_local(kA6));

  EXPECT_EQ(ping(a_, kB6, 1), OutputResult::kQueuedForResolution);
  ASSERT_TRUE(run_until([&] { return a_replies_.size() == 1; }, 2s));
  EXPECT_EQ(a_replies_[0].from, kB6);
  EXPECT_EQ(a_replies_[0].seq, 1);
  EXPECT_TRUE(a_replies_[0].has_rtt);
  const auto nb = a_.ip->neighbors6().find(kB6);
  ASSERT_TRUE(nb);
  EXPECT_EQ(nb->state, NeighborState::kReachable);
  EXPECT_TRUE(mac_equal(nb->mac, b_.ip->mac()));
  // B learned A from the solicitation (stale until confirmed): its ping goes at once.
  const auto na = b_.ip->neighbors6().find(kA6);
  ASSERT_TRUE(na);
  EXPECT_TRUE(mac_equal(na->mac, a_.ip->mac()));
  EXPECT_EQ(ping(b_, kA6, 1), OutputResult::kSent);
  // Link-local to link-local, resolved on its own.
  EXPECT_EQ(ping(b_, ll_a, 2), OutputResult::kQueuedForResolution);
  ASSERT_TRUE(run_until([&] { return b_replies_.size() == 2; }, 2s));
  EXPECT_EQ(b_replies_[1].from, ll_a);
  EXPECT_EQ(a_.ip->icmp6_counters().get(IcmpCounter::kTxEchoReplies), 2u);
  EXPECT_EQ(b_.ip->ndp_counters().get(ArpCounter::kTxRequests), 1u);  // for ll_a
  // Nobody answers for an address on the link that does not exist.
  const IpAddr ghost = *IpAddr::parse("2001:db8:1::99");
  EXPECT_EQ(ping(a_, ghost, 3), OutputResult::kQueuedForResolution);
  ASSERT_TRUE(
      run_until([&] { return a_.ip->ndp_counters().get(ArpCounter::kResolveFailed) == 1; }, 5s));
  EXPECT_EQ(a_.ip->ipv6_counters().get(Ipv6Counter::kTxResolutionDropped), 1u);
}

TEST_F(Ipv6Pair, DuplicateAddressIsDetectedByTheLaterNode) {
  build(PairSideOptions{}, PairSideOptions{});
  const IpAddr shared = *IpAddr::parse("2001:db8:1::5");
  ASSERT_TRUE(a_.ip->add_address(shared, 64));
  // A first (B has no IPv6 yet and ignores it): its DAD finds nobody.
  run_for(2s);
  EXPECT_GT(b_.ip->eth_counters().get(EthCounter::kRxMulticastNotJoined), 0u);
  EXPECT_FALSE(a_.ip->dad_pending(shared));
  ASSERT_TRUE(b_.ip->add_address(shared, 64));
  run_for(2s);
  EXPECT_TRUE(b_.ip->dad_failed(shared));
  EXPECT_FALSE(b_.ip->routes().is_local(shared));
  EXPECT_FALSE(a_.ip->dad_failed(shared));
  EXPECT_TRUE(a_.ip->routes().is_local(shared));
  EXPECT_EQ(a_.ip->ipv6_counters().get(Ipv6Counter::kNaDefended), 1u);
  // B's link-local address is unique and stays.
  EXPECT_FALSE(b_.ip->dad_failed(b_.ip->link_local()));
}

TEST_F(Ipv6Pair, LargePingIsFragmentedAndReassembledBothWays) {
  build6();
  run_for(2s);
  ASSERT_NE(ping(a_, kB6, 1, 4000), OutputResult::kDropped);
  ASSERT_TRUE(run_until([&] { return a_replies_.size() == 1; }, 2s));
  EXPECT_EQ(a_replies_[0].payload_len, 4000u);
  EXPECT_EQ(a_.ip->ipv6_counters().get(Ipv6Counter::kTxFragmented), 1u);
  EXPECT_EQ(b_.ip->ipv6_counters().get(Ipv6Counter::kRxReassembled), 1u);
  EXPECT_EQ(b_.ip->ipv6_counters().get(Ipv6Counter::kTxFragmented), 1u);
  EXPECT_EQ(a_.ip->ipv6_counters().get(Ipv6Counter::kRxReassembled), 1u);
}

TEST_F(Ipv6Pair, UdpEchoAcrossSizes) {
  build6();
  UdpConfig uc;
  uc.max_sockets = 8;
  uc.max_queued_datagrams = 64;
  UdpLayer ua(*a_.ip, *a_.engine, uc), ub(*b_.ip, *b_.engine, uc);
  a_.ip->set_transport(UdpLayer::kProtocol, &ua);
  b_.ip->set_transport(UdpLayer::kProtocol, &ub);
  int err = 0;
  UdpSocketId c = ua.open({}, IpFamily::kV6, &err);
  UdpSocketId s = ub.open({}, IpFamily::kV6, &err);
  ASSERT_TRUE(c.valid() && s.valid());
  ASSERT_EQ(ub.bind(s, Endpoint{IpAddr{}, 7}), 0);
  ASSERT_EQ(ua.bind(c, Endpoint{IpAddr{}, 0}), 0);
  Endpoint local;
  ASSERT_EQ(ua.local_endpoint(c, &local), 0);
  EXPECT_TRUE(local.addr.is_v6() && local.addr.is_unspecified());
  // A v4 destination on a v6 socket is refused.
  EXPECT_EQ(ua.send_to(c, "x", 1, Endpoint{kAddrB, 7}), -EAFNOSUPPORT);
  // 1452 + 8 + 40 = 1500: the last size that fits one frame; then fragments.
  for (std::size_t size :
       {std::size_t{0}, std::size_t{1}, std::size_t{1452}, std::size_t{1453}, std::size_t{8000}}) {
    SCOPED_TRACE(size);
    std::vector<std::uint8_t> out(size), in(size + 16);
    for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(i * 13 + size);
    ASSERT_EQ(ua.send_to(c, out.data(), size, Endpoint{kB6, 7}), static_cast<long>(size));
    ASSERT_TRUE(run_until([&] { return ub.pending_datagrams(s) == 1; }, 2s));
    Endpoint from;
    ASSERT_EQ(ub.recv_from(s, in.data(), in.size(), &from), static_cast<long>(size));
    EXPECT_EQ(from.addr, kA6);
    EXPECT_EQ(from.port, local.port);
    ASSERT_EQ(ub.send_to(s, in.data(), size, from), static_cast<long>(size));
    ASSERT_TRUE(run_until([&] { return ua.pending_datagrams(c) == 1; }, 2s));
    ASSERT_EQ(ua.recv_from(c, in.data(), in.size(), &from), static_cast<long>(size));
    EXPECT_EQ(from, (Endpoint{kB6, 7}));
    if (size > 0) {
      EXPECT_EQ(0, std::memcmp(in.data(), out.data(), size));
    }
  }
  EXPECT_GE(b_.ip->ipv6_counters().get(Ipv6Counter::kRxReassembled), 2u);
  // A closed port answers with an ICMPv6 port unreachable that reaches the socket.
  ASSERT_EQ(ua.connect(c, Endpoint{kB6, 9}), 0);
  ASSERT_EQ(ua.send(c, "x", 1), 1);
  run_for(50ms);
  EXPECT_EQ(ua.send(c, "x", 1), -ECONNREFUSED);
  ua.close(c);
  ub.close(s);
  run_for(10ms);
  a_.ip->set_transport(UdpLayer::kProtocol, nullptr);
  b_.ip->set_transport(UdpLayer::kProtocol, nullptr);
}

// B runs no TCP: its IP layer answers A's SYN with an ICMPv6 parameter problem
// (unknown next header), which A's IP layer passes on as protocol unreachable: a hard
// error while connecting (RFC 1122 4.2.3.9), so the connect fails at once with
// ECONNREFUSED, as over IPv4.
TEST_F(Ipv6Pair, ConnectAnsweredWithUnknownNextHeaderIsRefused) {
  PairSideOptions a, b;
  a.tcp = default_tcp();
  b.with_tcp = false;
  build6(a, b);
  run_for(2s);
  EventLog log;
  int err = 0;
  const Instant start = clock_.now();
  TcpConnId c = a_.tcp->connect({kB6, kPort}, log.callback(), &err);
  ASSERT_TRUE(c.valid()) << err;
  std::uint32_t code = 0;
  ASSERT_TRUE(run_until([&] { return log.has(c, TcpSocketEvent::kError, &code); }, 300s));
  EXPECT_EQ(code, static_cast<std::uint32_t>(ECONNREFUSED));
  EXPECT_LT(clock_.now() - start, Duration(500ms));  // no SYN retransmission
  EXPECT_GT(b_.ip->ipv6_counters().get(Ipv6Counter::kTxParameterProblem), 0u);
  EXPECT_GT(a_.ip->icmp6_counters().get(IcmpCounter::kRxErrorsDelivered), 0u);
  a_.tcp->close(c);
  run_for(10ms);
}

TEST_F(Ipv6Pair, TcpEachWayAtOnceByteExactUnderLossDupReorderCorruption) {
  ImpairmentConfig faults;
  faults.drop = 0.02;
  faults.duplicate = 0.01;
  faults.reorder = 0.02;
  faults.reorder_window = 8;
  faults.corrupt = 0.001;
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  a.impair = b.impair = faults;
  a.impair->seed = 61;
  b.impair->seed = 62;
  build6(a, b);
  run_for(2s);
  int err = 0;
  TcpConnId l = b_.tcp->listen({*IpAddr::parse("::"), kPort}, 4, {}, &err);
  ASSERT_TRUE(l.valid()) << err;
  TcpConnId c = a_.tcp->connect({kB6, kPort}, {}, &err);
  ASSERT_TRUE(c.valid()) << err;
  TcpConnId s;
  ASSERT_TRUE(run_until([&] {
    if (!s.valid()) s = b_.tcp->accept(l, &err);
    return s.valid() && a_.tcp->state(c) == TcpState::kEstablished;
  }));
  // MSS from the IPv6 MTU: 1500 - 40 - 20.
  EXPECT_EQ(a_.tcp->tcb(c)->mss(), 1440u);
  EXPECT_EQ(b_.tcp->tcb(s)->mss(), 1440u);
  StreamFlow fa, fb;
  fa.tcp = a_.tcp.get();
  fa.id = c;
  fb.tcp = b_.tcp.get();
  fb.id = s;
  fa.out_seed = fb.in_seed = 1;
  fb.out_seed = fa.in_seed = 2;
  fa.total = fb.total = transfer_bytes();
  std::uint32_t quiet = 0;
  const Instant start = clock_.now();
  while (!(fa.done() && fb.done())) {
    fa.step();
    fb.step();
    if (HasFatalFailure()) return;
    const std::uint32_t n = poll(quiet > 2 ? Duration(1ms) : Duration(20us));
    quiet = n == 0 ? quiet + 1 : 0;
    ASSERT_LT(clock_.now() - start, Duration(600s))
        << "stalled: A " << fa.received << " B " << fb.received;
  }
  EXPECT_EQ(fa.received, fa.total);
  EXPECT_EQ(fb.received, fb.total);
  EXPECT_EQ(fa.mismatches, 0u);
  EXPECT_EQ(fb.mismatches, 0u);
  // The faults were real: retransmissions happened, corrupted frames were dropped.
  EXPECT_GT(a_.tcp->tcb_counters().get(TcpCounter::kRetransSegs), 0u);
  EXPECT_GT(a_.ip->ipv6_counters().get(Ipv6Counter::kRxDelivered), 1000u);
  a_.tcp->close(c);
  b_.tcp->close(s);
  b_.tcp->close(l);
  run_for(3s);
}

}  // namespace
}  // namespace shardtcp::testing
