// TCP over two stacks on a ring pair: handshakes, data, close, and the ways opening
// fails (refused, SYN flood answered with cookies, accept-queue overflow, no mbufs,
// blackholed peer, ICMP unreachable).
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "pair_harness.h"
#include "wire/tcp.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint16_t kPort = 80;

class TcpPairBasic : public TcpPairTest {
 protected:
  // A's frames vanish on the way with probability `drop` (seeded).
  void build_lossy_a(double drop, std::uint64_t seed = 1) {
    PairSideOptions a, b;
    a.tcp = b.tcp = default_tcp();
    ImpairmentConfig loss;
    loss.drop = drop;
    loss.seed = seed;
    a.impair = loss;
    build(a, b);
  }
  // A's frames all vanish on the way: its connects go unanswered.
  void build_blackholed() { build_lossy_a(1.0); }

  // ICMP destination unreachable with `code` quoting connection `c`'s SYN, handed to A's
  // TCP layer as its IP layer would (the ring pair has no router to send one).
  void inject_unreachable(TcpConnId c, std::uint8_t code) {
    Endpoint local;
    ASSERT_EQ(a_.tcp->local_endpoint(c, &local), 0);
    PacketContext ctx{clock_.now(), a_.engine.get(), shared_, 0};
    IcmpErrorInfo e;
    e.type = 3;
    e.code = code;
    e.reporter = IpAddr::v4(0xC6120063);  // a router on the way
    e.src = kAddrA;
    e.dst = kAddrB;
    e.protocol = 6;
    e.src_port = local.port;
    e.dst_port = kPort;
    e.l4_word1 = a_.tcp->tcb(c)->snd_una().raw();
    a_.tcp->on_icmp_error(e, ctx);
  }

  EventLog client_log_, server_log_;
};

TEST_F(TcpPairBasic, HandshakeDataAndCloseBothWays) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 16, server_log_.callback(), &err);
  ASSERT_TRUE(l.valid()) << err;
  TcpConnId c = a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err);
  ASSERT_TRUE(c.valid()) << err;
  EXPECT_EQ(a_.tcp->state(c), TcpState::kSynSent);
  EXPECT_EQ(a_.tcp->connect(c, {kAddrB, kPort}), -EALREADY);

  ASSERT_TRUE(run_until([&] { return client_log_.has(c, TcpSocketEvent::kConnected); }));
  EXPECT_EQ(a_.tcp->connect(c, {kAddrB, kPort}), -EISCONN);
  ASSERT_TRUE(run_until([&] { return server_log_.has(l, TcpSocketEvent::kAcceptable); }));
  Endpoint peer;
  TcpConnId s = b_.tcp->accept(l, &err, &peer);
  ASSERT_TRUE(s.valid()) << err;
  EXPECT_EQ(peer.addr, kAddrA);
  Endpoint local;
  ASSERT_EQ(a_.tcp->local_endpoint(c, &local), 0);
  EXPECT_EQ(local.addr, kAddrA);
  EXPECT_EQ(peer.port, local.port);
  EXPECT_GE(local.port, PortAllocator::Config{}.first);
  EXPECT_FALSE(b_.tcp->accept(l, &err).valid());
  EXPECT_EQ(err, -EAGAIN);

  const std::string req = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(a_.tcp->send(c, req.data(), req.size()), static_cast<long>(req.size()));
  ASSERT_TRUE(
      run_until([&] { return b_.tcp->readable_bytes(s) == static_cast<long>(req.size()); }));
  char peek[4];
  EXPECT_EQ(b_.tcp->recv(s, peek, sizeof peek, /*peek=*/true), 4);
  EXPECT_EQ(read_all(*b_.tcp, s), req);
  char buf[16];
  EXPECT_EQ(b_.tcp->recv(s, buf, sizeof buf), -EAGAIN);

  const std::string resp(5000, 'x');
  ASSERT_EQ(b_.tcp->send(s, resp.data(), resp.size()), static_cast<long>(resp.size()));
  ASSERT_EQ(b_.tcp->close(s), 0);
  EXPECT_EQ(b_.tcp->send(s, "y", 1), -EBADF);  // the id is released by close
  ASSERT_TRUE(run_until([&] { return client_log_.has(c, TcpSocketEvent::kPeerFin); }));
  EXPECT_EQ(read_all(*a_.tcp, c), resp);
  EXPECT_EQ(a_.tcp->recv(c, buf, sizeof buf), 0);  // end of stream
  EXPECT_TRUE(client_log_.has(c, TcpSocketEvent::kAcked));
  ASSERT_EQ(a_.tcp->close(c), 0);
  ASSERT_TRUE(
      run_until([&] { return a_.tcp->slots_in_use() == 0 && b_.tcp->slots_in_use() == 1; }));
  // The server closed first: its side holds TIME_WAIT, in the table, not in a slot.
  EXPECT_EQ(b_.tcp->time_wait_records(), 1u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kTimeWaitCreated), 1u);
  run_for(3s);
  EXPECT_EQ(b_.tcp->time_wait_records(), 0u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kTimeWaitExpired), 1u);
  EXPECT_EQ(a_.tcp->counter(TcpCounter::kActiveOpens), 1u);
  EXPECT_EQ(b_.tcp->counter(TcpCounter::kPassiveOpens), 1u);
  EXPECT_EQ(b_.tcp->close(l), 0);
  EXPECT_EQ(b_.tcp->slots_in_use(), 0u);
}

// A client that opens its first connections to a peer all at once (a TCP_CRR client:
// 16 in one iteration) before ARP has resolved the peer: every SYN waits for the reply
// and leaves with it. With 8 packets queued per resolution, the other SYNs were dropped
// and their connections waited a whole SYN retransmission timeout (1 s).
TEST_F(TcpPairBasic, ConnectsBurstingBeforeArpResolvesLoseNoSyn) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  constexpr int kConns = 64;
  int err = 0;
  const TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, kConns, {}, &err);
  ASSERT_TRUE(l.valid()) << err;
  std::vector<TcpConnId> clients;
  for (int i = 0; i < kConns; ++i) {
    clients.push_back(a_.tcp->connect({kAddrB, kPort}, {}, &err));
    ASSERT_TRUE(clients.back().valid()) << err;
  }
  EXPECT_FALSE(a_.ip->neighbors().find(kAddrB).has_value() &&
               a_.ip->neighbors().find(kAddrB)->state == NeighborState::kReachable)
      << "the peer was resolved before the burst: the test proves nothing";
  // Well inside the SYN's 1 s retransmission timeout.
  EXPECT_TRUE(run_until(
      [&] {
        for (TcpConnId c : clients)
          if (a_.tcp->state(c) != TcpState::kEstablished) return false;
        return true;
      },
      200ms));
  EXPECT_EQ(a_.tcp->counter(TcpCounter::kSynRetrans), 0u);
  EXPECT_EQ(a_.ip->neighbors().counters().get(ArpCounter::kQueueFullEntry), 0u);
  EXPECT_GE(a_.ip->neighbors().counters().get(ArpCounter::kQueued),
            static_cast<std::uint64_t>(kConns));
  for (TcpConnId c : clients) a_.tcp->abort(c);
  EXPECT_EQ(b_.tcp->close(l), 0);
}

TEST_F(TcpPairBasic, ConnectToClosedPortIsRefused) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  int err = 0;
  TcpConnId c = a_.tcp->connect({kAddrB, 81}, client_log_.callback(), &err);
  ASSERT_TRUE(c.valid()) << err;
  ASSERT_TRUE(run_until([&] { return client_log_.has(c, TcpSocketEvent::kClosed); }));
  std::uint32_t e = 0;
  ASSERT_TRUE(client_log_.has(c, TcpSocketEvent::kError, &e));
  EXPECT_EQ(static_cast<int>(e), ECONNREFUSED);
  EXPECT_EQ(a_.tcp->pending_error(c), ECONNREFUSED);
  EXPECT_EQ(a_.tcp->pending_error(c), 0);  // SO_ERROR clears it
  EXPECT_EQ(a_.tcp->state(c), TcpState::kClosed);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxNoConnection), 1u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRstSentNoConn), 1u);
  EXPECT_EQ(a_.tcp->close(c), 0);
  EXPECT_EQ(a_.tcp->slots_in_use(), 0u);
  EXPECT_EQ(a_.tcp->close(c), -EBADF);  // stale id
}

// A listener on IpAddr{} (no family) serves both families, as a Linux `::` socket
// without IPV6_V6ONLY; one on 0.0.0.0 serves IPv4 only; they share no port.
TEST_F(TcpPairBasic, FamilylessWildcardListenerServesIpv4AndIpv6) {
  const IpAddr a6 = *IpAddr::parse("2001:db8::a");
  const IpAddr b6 = *IpAddr::parse("2001:db8::b");
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build_dual_stack(a, b, a6, b6);
  if (HasFatalFailure()) return;
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 16, server_log_.callback(), &err);
  ASSERT_TRUE(l.valid()) << err;
  Endpoint bound;
  ASSERT_EQ(b_.tcp->local_endpoint(l, &bound), 0);
  EXPECT_TRUE(bound.addr.is_none());
  // The dual wildcard holds the port in both families.
  EXPECT_FALSE(b_.tcp->listen({IpAddr::v4(0), kPort}, 16, {}, &err).valid());
  EXPECT_EQ(err, -EADDRINUSE);
  EXPECT_FALSE(b_.tcp->listen({*IpAddr::parse("::"), kPort}, 16, {}, &err).valid());
  EXPECT_EQ(err, -EADDRINUSE);
  EXPECT_FALSE(b_.tcp->listen({b6, kPort}, 16, {}, &err).valid());
  EXPECT_EQ(err, -EADDRINUSE);

  TcpConnId c4 = a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err);
  ASSERT_TRUE(c4.valid()) << err;
  TcpConnId c6 = a_.tcp->connect({b6, kPort}, client_log_.callback(), &err);
  ASSERT_TRUE(c6.valid()) << err;
  ASSERT_TRUE(run_until([&] {
    return client_log_.has(c4, TcpSocketEvent::kConnected) &&
           client_log_.has(c6, TcpSocketEvent::kConnected);
  }));
  run_for(1ms);  // A's handshake ACKs, held for a first segment of data, reach B
  Endpoint p1, p2;
  TcpConnId s1 = b_.tcp->accept(l, &err, &p1);
  TcpConnId s2 = b_.tcp->accept(l, &err, &p2);
  ASSERT_TRUE(s1.valid() && s2.valid()) << err;
  EXPECT_NE(p1.addr.family(), p2.addr.family());
  EXPECT_TRUE(p1.addr == kAddrA || p1.addr == a6);
  EXPECT_TRUE(p2.addr == kAddrA || p2.addr == a6);
  Endpoint l1;
  ASSERT_EQ(b_.tcp->local_endpoint(s1, &l1), 0);
  EXPECT_EQ(l1.addr.family(), p1.addr.family());  // the address the SYN was sent to
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxNoConnection), 0u);

  // An IPv4-only wildcard listener refuses an IPv6 connect.
  TcpConnId l4 = b_.tcp->listen({IpAddr::v4(0), kPort + 1}, 16, {}, &err);
  ASSERT_TRUE(l4.valid()) << err;
  TcpConnId r6 = a_.tcp->connect({b6, kPort + 1}, client_log_.callback(), &err);
  ASSERT_TRUE(r6.valid()) << err;
  ASSERT_TRUE(run_until([&] { return client_log_.has(r6, TcpSocketEvent::kClosed); }));
  std::uint32_t e = 0;
  ASSERT_TRUE(client_log_.has(r6, TcpSocketEvent::kError, &e));
  EXPECT_EQ(static_cast<int>(e), ECONNREFUSED);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxNoConnection), 1u);
}

TEST_F(TcpPairBasic, SynFloodBeyondTheSynQueueIsAnsweredWithCookies) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  b.tcp.syn_queue = 4;
  build(a, b);
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 64, server_log_.callback(), &err);
  ASSERT_TRUE(l.valid());
  // Resolve ARP first so the SYNs of the flood leave together.
  TcpConnId first = a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err);
  ASSERT_TRUE(run_until([&] {
    return client_log_.has(first, TcpSocketEvent::kConnected) && b_.tcp->has_pending_accept(l);
  }));
  ASSERT_TRUE(b_.tcp->accept(l, &err).valid());

  constexpr int kFlood = 12;
  std::vector<TcpConnId> cs;
  for (int i = 0; i < kFlood; ++i) {
    cs.push_back(a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err));
    ASSERT_TRUE(cs.back().valid()) << err;
  }
  // B sees all SYNs before A sees any SYN-ACK: 4 fill the SYN queue, 8 get cookies.
  a_.engine->poll_once();
  b_.engine->poll_once();
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kSynQueueFull), 8u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kCookiesSent), 8u);
  ASSERT_TRUE(run_until([&] {
    for (TcpConnId c : cs)
      if (!client_log_.has(c, TcpSocketEvent::kConnected)) return false;
    return true;
  }));
  ASSERT_TRUE(
      run_until([&] { return server_log_.count(TcpSocketEvent::kAcceptable) >= kFlood + 1; }));
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kCookiesValidated), 8u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kCookiesFailed), 0u);
  std::vector<TcpConnId> ss;
  for (;;) {
    TcpConnId s = b_.tcp->accept(l, &err);
    if (!s.valid()) break;
    ss.push_back(s);
  }
  ASSERT_EQ(ss.size(), static_cast<std::size_t>(kFlood));
  // Data both ways over every connection, cookie-born ones included.
  for (int i = 0; i < kFlood; ++i) {
    const std::string msg = "hello " + std::to_string(i);
    ASSERT_EQ(a_.tcp->send(cs[i], msg.data(), msg.size()), static_cast<long>(msg.size()));
  }
  run_for(100ms);
  std::vector<std::string> got;
  for (TcpConnId s : ss) {
    got.push_back(read_all(*b_.tcp, s));
    ASSERT_EQ(b_.tcp->send(s, "ok", 2), 2);
  }
  std::sort(got.begin(), got.end());
  std::vector<std::string> want;
  for (int i = 0; i < kFlood; ++i) want.push_back("hello " + std::to_string(i));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  run_for(100ms);
  for (TcpConnId c : cs) EXPECT_EQ(read_all(*a_.tcp, c), "ok");
  // A cookie connection negotiated window scaling, SACK and timestamps through the TSval.
  int cookie_with_sack = 0;
  for (TcpConnId s : ss) cookie_with_sack += b_.tcp->tcb(s)->sack_enabled() ? 1 : 0;
  EXPECT_EQ(cookie_with_sack, kFlood);
  for (TcpConnId c : cs) a_.tcp->abort(c);
  for (TcpConnId s : ss) b_.tcp->abort(s);
  a_.tcp->abort(first);
  run_for(50ms);
}

// Backlog 2 and five clients at once: two half-open children fill the backlog, the
// other three get cookies; their ACKs find the accept queue full and are answered by
// RST (the client hears it, ECONNRESET), never a connection that silently drops its
// data. A SYN while the accept queue itself is full gets no SYN-ACK at all (counted):
// it gets in by retransmission once the application accepts.
TEST_F(TcpPairBasic, AcceptQueueOverflowIsCountedAndRefusedVisibly) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 2, server_log_.callback(), &err);
  ASSERT_TRUE(l.valid());
  std::vector<TcpConnId> cs;
  for (int i = 0; i < 5; ++i)
    cs.push_back(a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err));
  run_for(500ms);
  EXPECT_GE(b_.tcp->counter(TcpLayerCounter::kCookiesRefused), 3u);
  int reset = 0;
  for (TcpConnId c : cs) {
    std::uint32_t e = 0;
    if (client_log_.has(c, TcpSocketEvent::kError, &e)) {
      EXPECT_EQ(e, static_cast<std::uint32_t>(ECONNRESET));
      ++reset;
    }
  }
  EXPECT_EQ(reset, 3);
  // The queue is full: a new client's SYN is not answered, and is counted.
  TcpConnId late = a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err);
  run_for(500ms);
  EXPECT_GT(b_.tcp->counter(TcpLayerCounter::kListenOverflows), 0u);
  EXPECT_FALSE(client_log_.has(late, TcpSocketEvent::kConnected));
  int accepted = 0;
  while (b_.tcp->accept(l, &err).valid()) ++accepted;
  EXPECT_EQ(accepted, 2);
  // Room again: the late client's SYN retransmission gets in.
  ASSERT_TRUE(run_until(
      [&] {
        return client_log_.has(late, TcpSocketEvent::kConnected) && b_.tcp->has_pending_accept(l);
      },
      5s));
  while (b_.tcp->accept(l, &err).valid()) ++accepted;
  EXPECT_EQ(accepted, 3);
  for (TcpConnId c : cs) a_.tcp->abort(c);
  a_.tcp->abort(late);
  b_.tcp->close(l);
  run_for(100ms);
}

TEST_F(TcpPairBasic, ConnectReturnsEnobufsWhenThePoolIsExhausted) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  a.pool = make_pool(1023);
  a.tcp.mbuf_reserve = 64;
  build(a, b);
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 16, {}, &err);
  ASSERT_TRUE(l.valid());
  TcpConnId c = a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err);
  ASSERT_TRUE(run_until([&] { return client_log_.has(c, TcpSocketEvent::kConnected); }));

  // Take the pool down to the reserve.
  std::vector<rte_mbuf*> held;
  while (rte_mempool_avail_count(a.pool) > a.tcp.mbuf_reserve)
    held.push_back(rte_pktmbuf_alloc(a.pool));
  TcpConnId d = a_.tcp->connect({kAddrB, kPort}, {}, &err);
  EXPECT_FALSE(d.valid());
  EXPECT_EQ(err, -ENOBUFS);
  EXPECT_GT(a_.tcp->counter(TcpLayerCounter::kConnectNoBuffer), 0u);
  // Send storage is refused too (the reserve is for headers and ACKs): EAGAIN, no stall.
  EXPECT_EQ(a_.tcp->send(c, "abc", 3), -EAGAIN);
  // All of it, now: even the SYN cannot be built.
  while (rte_mbuf* m = rte_pktmbuf_alloc(a.pool)) held.push_back(m);
  a_.tcp->buffer_ops();
  for (rte_mbuf* m : held) rte_pktmbuf_free(m);
  held.clear();
  d = a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err);
  ASSERT_TRUE(d.valid()) << err;
  EXPECT_EQ(a_.tcp->send(c, "abc", 3), 3);
  ASSERT_TRUE(run_until([&] { return client_log_.has(d, TcpSocketEvent::kConnected); }));
  a_.tcp->abort(c);
  a_.tcp->abort(d);
  b_.tcp->close(l);
  run_for(100ms);
  EXPECT_EQ(a_.tcp->slots_in_use(), 0u);
}

TEST_F(TcpPairBasic, ConnectToBlackholedPeerTimesOut) {
  build_blackholed();
  int err = 0;
  TcpConnId c = a_.tcp->open(client_log_.callback(), &err);
  ASSERT_TRUE(c.valid());
  ASSERT_EQ(a_.tcp->set_connect_timeout(c, 3s), 0);
  const Instant start = clock_.now();
  ASSERT_EQ(a_.tcp->connect(c, {kAddrB, kPort}), 0);
  EXPECT_EQ(a_.tcp->set_connect_timeout(c, 3s), -EISCONN);
  ASSERT_TRUE(run_until([&] { return client_log_.has(c, TcpSocketEvent::kClosed); }, 10s));
  std::uint32_t e = 0;
  ASSERT_TRUE(client_log_.has(c, TcpSocketEvent::kError, &e));
  EXPECT_EQ(static_cast<int>(e), ETIMEDOUT);
  EXPECT_GE(clock_.now() - start, Duration(3s));
  EXPECT_LT(clock_.now() - start, Duration(4s));
  EXPECT_GT(a_.tcp->counter(TcpCounter::kConnectTimeouts), 0u);
  EXPECT_EQ(a_.tcp->close(c), 0);
  EXPECT_EQ(a_.tcp->slots_in_use(), 0u);
}

// B runs no TCP: its IP layer answers the SYN with ICMP protocol unreachable, a hard
// error in SYN-SENT (RFC 1122 4.2.3.9): the connect fails at once with ECONNREFUSED.
TEST_F(TcpPairBasic, IcmpProtocolUnreachableRefusesTheConnect) {
  PairSideOptions a, b;
  a.tcp = default_tcp();
  b.with_tcp = false;
  build(a, b);
  int err = 0;
  TcpConnId c = a_.tcp->open(client_log_.callback(), &err);
  ASSERT_EQ(a_.tcp->set_connect_timeout(c, 3s), 0);
  const Instant start = clock_.now();
  ASSERT_EQ(a_.tcp->connect(c, {kAddrB, kPort}), 0);
  ASSERT_TRUE(run_until([&] { return client_log_.has(c, TcpSocketEvent::kClosed); }, 10s));
  EXPECT_LT(clock_.now() - start, Duration(100ms));  // no SYN retransmission, no timeout
  EXPECT_GT(a_.tcp->counter(TcpLayerCounter::kIcmpUnreachable), 0u);
  std::uint32_t e = 0;
  ASSERT_TRUE(client_log_.has(c, TcpSocketEvent::kError, &e));
  EXPECT_EQ(static_cast<int>(e), ECONNREFUSED);
  EXPECT_EQ(a_.tcp->pending_error(c), ECONNREFUSED);
  a_.tcp->close(c);
}

// A router reports the port unreachable (as a firewall may): the connect is refused at
// once, as when the host itself reports it.
TEST_F(TcpPairBasic, IcmpPortUnreachableRefusesTheConnect) {
  build_blackholed();
  int err = 0;
  TcpConnId c = a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err);
  ASSERT_TRUE(c.valid());
  run_for(10ms);
  inject_unreachable(c, 3);
  EXPECT_EQ(a_.tcp->counter(TcpLayerCounter::kIcmpUnreachable), 1u);
  std::uint32_t e = 0;
  ASSERT_TRUE(client_log_.has(c, TcpSocketEvent::kError, &e));
  EXPECT_EQ(static_cast<int>(e), ECONNREFUSED);
  a_.tcp->close(c);
}

// Host unreachable is soft (RFC 1122 4.2.3.9): the connect keeps trying until its
// timeout, which then reports the ICMP error rather than ETIMEDOUT.
TEST_F(TcpPairBasic, IcmpHostUnreachableThenTimeoutIsEhostunreach) {
  build_blackholed();
  int err = 0;
  TcpConnId c = a_.tcp->open(client_log_.callback(), &err);
  ASSERT_EQ(a_.tcp->set_connect_timeout(c, 3s), 0);
  const Instant start = clock_.now();
  ASSERT_EQ(a_.tcp->connect(c, {kAddrB, kPort}), 0);
  run_for(10ms);
  inject_unreachable(c, 1);
  EXPECT_FALSE(client_log_.has(c, TcpSocketEvent::kError));
  ASSERT_TRUE(run_until([&] { return client_log_.has(c, TcpSocketEvent::kClosed); }, 10s));
  EXPECT_GE(clock_.now() - start, Duration(3s));
  std::uint32_t e = 0;
  ASSERT_TRUE(client_log_.has(c, TcpSocketEvent::kError, &e));
  EXPECT_EQ(static_cast<int>(e), EHOSTUNREACH);
  EXPECT_EQ(a_.tcp->pending_error(c), EHOSTUNREACH);
  a_.tcp->close(c);
}

TEST_F(TcpPairBasic, NoRouteIsEnetunreachAndBadArgumentsAreRejected) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  int err = 0;
  EXPECT_FALSE(a_.tcp->connect({IpAddr::v4(0xC6130001), 80}, {}, &err).valid());  // 198.19.0.1
  EXPECT_EQ(err, -ENETUNREACH);
  EXPECT_FALSE(a_.tcp->connect({kAddrB, 0}, {}, &err).valid());
  EXPECT_EQ(err, -EDESTADDRREQ);
  TcpConnId l = a_.tcp->listen({IpAddr{}, 7}, 4, {}, &err);
  ASSERT_TRUE(l.valid());
  EXPECT_FALSE(a_.tcp->listen({IpAddr{}, 7}, 4, {}, &err).valid());
  EXPECT_EQ(err, -EADDRINUSE);
  EXPECT_EQ(a_.tcp->connect(l, {kAddrB, 80}), -EOPNOTSUPP);
  EXPECT_EQ(a_.tcp->send(l, "x", 1), -EOPNOTSUPP);
  EXPECT_FALSE(a_.tcp->listen({IpAddr::v4(0xC6120009), 8}, 4, {}, &err).valid());
  EXPECT_EQ(err, -EADDRNOTAVAIL);
  EXPECT_EQ(a_.tcp->recv(TcpConnId{12345}, nullptr, 0), -EBADF);
  a_.tcp->close(l);
  EXPECT_EQ(a_.tcp->slots_in_use(), 0u);
}

}  // namespace
}  // namespace shardtcp::testing

namespace shardtcp::testing {
namespace {

// Payloads referenced from the send chunks by indirect mbufs (the device takes chains:
// net_ring does), checksummed over the chain; the receiver linearises them. Also
// checks that chunk references held by frames in flight do not leak. Zero copy is the
// default wherever the port allows it (PortInfo::tx_zero_copy): nothing turns it on.
TEST_F(TcpPairBasic, ZeroCopyTransmitIsByteExact) {
  build_lossy_a(0.01, 5);
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 4, {}, &err);
  TcpConnId c = a_.tcp->connect({kAddrB, kPort}, {}, &err);
  TcpConnId s;
  ASSERT_TRUE(run_until([&] {
    if (!s.valid()) s = b_.tcp->accept(l, &err);
    return s.valid() && a_.tcp->state(c) == TcpState::kEstablished;
  }));
  constexpr std::size_t kBytes = 4 << 20;
  std::vector<std::uint8_t> src(kBytes);
  for (std::size_t i = 0; i < kBytes; ++i) src[i] = static_cast<std::uint8_t>((i * 7) ^ (i >> 9));
  std::vector<std::uint8_t> dst;
  dst.reserve(kBytes);
  ASSERT_TRUE(stream_a_to_b(c, s, src, 0, dst, 600s));
  EXPECT_TRUE(dst == src);
  EXPECT_GT(a_.tcp->emitter().zero_copy_segments(), 1000u);
  EXPECT_GT(a_.tcp->counter(TcpCounter::kRetransSegs), 0u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxChainTooLong), 0u);
  close_and_drain(c, s, l);
  run_for(3s);
}

// The zero-copy read moves a lossy stream byte-exact in reads that end inside
// segments, a peek shows without consuming, MSG_TRUNC's discard (a null reader) drops
// exactly what it says, and every mbuf goes back (the fixture checks the pool).
TEST_F(TcpPairBasic, InPlaceReadsAreByteExactAndDiscardsDropExactly) {
  build_lossy_a(0.01, 9);
  TcpConnId c, s, l;
  open_a_to_b(kPort, &c, &s, &l);
  constexpr std::size_t kBytes = 2 << 20, kDiscard = 100'000;
  std::vector<std::uint8_t> src(kBytes);
  for (std::size_t i = 0; i < kBytes; ++i) src[i] = static_cast<std::uint8_t>((i * 13) ^ (i >> 11));
  std::vector<std::uint8_t> got;
  auto append = [](void* arg, const std::uint8_t* data, std::uint32_t n) {
    auto* v = static_cast<std::vector<std::uint8_t>*>(arg);
    v->insert(v->end(), data, data + n);
  };
  std::size_t sent = 0, discarded = 0, peeks = 0, cut = 0;
  ASSERT_TRUE(run_until(
      [&] {
        sent = send_what_fits(c, src, sent);
        for (;;) {
          // Discard a stretch once, after the first 64 KiB.
          if (got.size() >= 65536 && discarded < kDiscard) {
            if (discarded == 0) cut = got.size();
            const long n = b_.tcp->recv_in_place(s, kDiscard - discarded, false, nullptr, nullptr);
            if (n <= 0) break;
            discarded += static_cast<std::size_t>(n);
            continue;
          }
          std::vector<std::uint8_t> peeked;
          if (b_.tcp->recv_in_place(s, 100, true, append, &peeked) > 0) {
            ++peeks;
            EXPECT_TRUE(std::equal(peeked.begin(), peeked.end(),
                                   src.begin() + static_cast<long>(got.size() + discarded)));
          }
          // 3000 bytes: reads end inside segments.
          const long n = b_.tcp->recv_in_place(s, 3000, false, append, &got);
          if (n <= 0) break;
        }
        return got.size() + discarded == src.size();
      },
      600s));
  EXPECT_EQ(discarded, kDiscard);
  ASSERT_EQ(got.size(), kBytes - kDiscard);
  // Before the discarded stretch, the stream as sent; after it, the stream past it.
  ASSERT_GE(cut, 65536u);
  const auto at = static_cast<long>(cut);
  EXPECT_TRUE(std::equal(got.begin(), got.begin() + at, src.begin()));
  EXPECT_TRUE(std::equal(got.begin() + at, got.end(), src.begin() + at + long{kDiscard}));
  EXPECT_GT(peeks, 10u);
  EXPECT_GT(a_.tcp->counter(TcpCounter::kRetransSegs), 0u);
  close_and_drain(c, s, l);
}

}  // namespace
}  // namespace shardtcp::testing

namespace shardtcp::testing {
namespace {

// An echo server that lives entirely in event callbacks: it accepts, reads, writes and
// closes from inside them, so the layer's dispatch must survive re-entry (a connection
// closed while its own events are being delivered).
struct CallbackEchoServer {
  TcpLayer* tcp = nullptr;
  int accepted = 0, closed = 0;
  std::uint64_t echoed = 0;

  static void on_event(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t) {
    auto* s = static_cast<CallbackEchoServer*>(user);
    if (ev == TcpSocketEvent::kAcceptable) {
      int err = 0;
      for (TcpConnId c = s->tcp->accept(id, &err); c.valid(); c = s->tcp->accept(id, &err)) {
        ++s->accepted;
        s->drain(c);  // data and even the FIN may have come with the handshake
      }
    } else if (ev == TcpSocketEvent::kReadable || ev == TcpSocketEvent::kPeerFin) {
      s->drain(id);
    }
  }
  void drain(TcpConnId c) {
    char buf[4096];
    for (;;) {
      const long n = tcp->recv(c, buf, sizeof buf);
      if (n > 0) {
        EXPECT_EQ(tcp->send(c, buf, static_cast<std::size_t>(n)), n);
        echoed += static_cast<std::uint64_t>(n);
        continue;
      }
      if (n == 0) {
        EXPECT_EQ(tcp->close(c), 0);
        ++closed;
      }
      return;
    }
  }
};

TEST_F(TcpPairBasic, CallbackDrivenEchoServerSurvivesReentry) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  CallbackEchoServer srv;
  srv.tcp = b_.tcp.get();
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 32, {&CallbackEchoServer::on_event, &srv}, &err);
  ASSERT_TRUE(l.valid());
  constexpr int kClients = 20;
  constexpr std::size_t kBytes = 10000;
  std::vector<TcpConnId> cs;
  std::vector<std::string> got(kClients);
  std::vector<bool> eof(kClients, false);
  for (int i = 0; i < kClients; ++i) cs.push_back(a_.tcp->connect({kAddrB, kPort}, {}, &err));
  ASSERT_TRUE(run_until([&] {
    for (TcpConnId c : cs)
      if (a_.tcp->state(c) != TcpState::kEstablished) return false;
    return true;
  }));
  for (int i = 0; i < kClients; ++i) {
    const std::string msg(kBytes, static_cast<char>('a' + i));
    ASSERT_EQ(a_.tcp->send(cs[i], msg.data(), msg.size()), static_cast<long>(kBytes));
    ASSERT_EQ(a_.tcp->shutdown_write(cs[i]), 0);
    EXPECT_EQ(a_.tcp->send(cs[i], "x", 1), -EPIPE);
  }
  ASSERT_TRUE(run_until([&] {
    bool all = true;
    char buf[4096];
    for (int i = 0; i < kClients; ++i) {
      for (;;) {
        const long n = a_.tcp->recv(cs[i], buf, sizeof buf);
        if (n > 0) {
          got[i].append(buf, static_cast<std::size_t>(n));
          continue;
        }
        if (n == 0) eof[i] = true;
        break;
      }
      all = all && eof[i];
    }
    return all;
  }));
  for (int i = 0; i < kClients; ++i)
    EXPECT_EQ(got[i], std::string(kBytes, static_cast<char>('a' + i))) << i;
  EXPECT_EQ(srv.accepted, kClients);
  EXPECT_EQ(srv.closed, kClients);
  EXPECT_EQ(srv.echoed, kClients * kBytes);
  for (TcpConnId c : cs) EXPECT_EQ(a_.tcp->close(c), 0);
  ASSERT_TRUE(
      run_until([&] { return a_.tcp->slots_in_use() == 0 && b_.tcp->slots_in_use() == 1; }));
  EXPECT_EQ(b_.tcp->close(l), 0);
  run_for(3s);
}

}  // namespace
}  // namespace shardtcp::testing

namespace shardtcp::testing {
namespace {

// Garbage straight into TcpLayer::on_l4 (as IpStack would hand it over): short
// headers, bad data offsets, bad checksums, and checksummed random segments aimed at a
// listener and at closed ports. Each is dropped and counted or answered (RST, cookie
// check); nothing leaks, and the listener still accepts a real connection afterwards.
TEST_F(TcpPairBasic, MalformedAndRandomSegmentsAreDroppedAndCounted) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 8, server_log_.callback(), &err);
  ASSERT_TRUE(l.valid());
  std::mt19937 rng(77);
  PacketContext ctx{clock_.now(), b_.engine.get(), shared_, 0};
  auto inject = [&](const std::vector<std::uint8_t>& bytes) {
    rte_mbuf* m = rte_pktmbuf_alloc(shared_);
    ASSERT_NE(m, nullptr);
    auto* dst = rte_pktmbuf_append(m, static_cast<std::uint16_t>(bytes.size()));
    if (!bytes.empty()) std::memcpy(dst, bytes.data(), bytes.size());  // empty: data() may be null
    L3Meta meta;
    meta.src = kAddrA;
    meta.dst = kAddrB;
    meta.protocol = 6;
    meta.l4_len = static_cast<std::uint16_t>(bytes.size());
    b_.tcp->on_l4(m, meta, ctx);
  };
  for (int i = 0; i < 2000; ++i) {
    const int kind = i % 4;
    std::vector<std::uint8_t> seg(kind == 0 ? rng() % 20 : 20 + rng() % 200);
    for (auto& x : seg) x = static_cast<std::uint8_t>(rng());
    if (kind == 0) {
      inject(seg);  // shorter than a header
      continue;
    }
    if (kind == 1) seg[12] = static_cast<std::uint8_t>((rng() % 16) << 4);  // any offset, bad sum
    if (kind >= 2) {
      seg[12] = 5 << 4;  // a plain header, then a valid checksum
      if (kind == 3) {
        seg[2] = kPort >> 8;
        seg[3] = kPort & 0xff;
      }
      seg[16] = seg[17] = 0;
      const std::uint16_t ck = l4_checksum(kAddrA, kAddrB, 6, seg.data(), seg.size());
      std::memcpy(seg.data() + 16, &ck, 2);
    }
    inject(seg);
  }
  b_.engine->poll_once();  // flush the answers
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxTruncated), 500u);
  EXPECT_GT(b_.tcp->counter(TcpLayerCounter::kRxBadDataOffset), 100u);
  EXPECT_GT(b_.tcp->counter(TcpLayerCounter::kRxBadChecksum), 100u);
  EXPECT_GT(b_.tcp->counter(TcpLayerCounter::kCookiesFailed), 0u);    // random ACKs to the listener
  EXPECT_GT(b_.tcp->counter(TcpLayerCounter::kRstSentNoConn), 300u);  // closed ports answer
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kCookiesValidated), 0u);
  // Random SYNs to the listener created half-open connections at most up to the backlog.
  EXPECT_LE(b_.tcp->slots_in_use(), 1u + 8u);
  run_for(100ms);
  TcpConnId c = a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err);
  ASSERT_TRUE(c.valid());
  // The half-open ones time out (SYN-ACK retries) and free the backlog.
  ASSERT_TRUE(run_until([&] { return client_log_.has(c, TcpSocketEvent::kConnected); }, 120s));
  a_.tcp->abort(c);
  b_.tcp->close(l);
  ASSERT_TRUE(run_until([&] { return b_.tcp->slots_in_use() == 0; }, 200s));
}

}  // namespace
}  // namespace shardtcp::testing

namespace shardtcp::testing {
namespace {

// ICMP errors reach the connection they quote: fragmentation needed lowers the MSS
// (data still arrives intact); errors quoting a sequence number that is not in flight
// or an unknown connection are ignored (RFC 5927).
TEST_F(TcpPairBasic, IcmpFragNeededLowersTheMssAndForgedErrorsAreIgnored) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 8, {}, &err);
  TcpConnId c = a_.tcp->connect({kAddrB, kPort}, {}, &err);
  TcpConnId s;
  ASSERT_TRUE(run_until([&] {
    return (s.valid() || (s = b_.tcp->accept(l, &err)).valid()) &&
           a_.tcp->state(c) == TcpState::kEstablished;
  }));
  Endpoint local;
  ASSERT_EQ(a_.tcp->local_endpoint(c, &local), 0);
  const std::uint32_t mss_before = a_.tcp->tcb(c)->mss();
  EXPECT_EQ(mss_before, 1460u);  // the peer's MSS for a 1500-byte MTU (options come off later)
  PacketContext ctx{clock_.now(), a_.engine.get(), shared_, 0};
  IcmpErrorInfo e;
  e.type = 3;
  e.code = 4;
  e.next_hop_mtu = 1000;
  e.reporter = kAddrB;
  e.src = kAddrA;
  e.dst = kAddrB;
  e.protocol = 6;
  e.src_port = local.port;
  e.dst_port = kPort;
  e.l4_word1 = a_.tcp->tcb(c)->snd_una().raw() + 100000;  // not in flight: forged
  a_.tcp->on_icmp_error(e, ctx);
  EXPECT_EQ(a_.tcp->tcb(c)->mss(), mss_before);
  EXPECT_EQ(a_.tcp->counter(TcpLayerCounter::kIcmpIgnored), 1u);
  e.dst_port = kPort + 1;  // no such connection
  e.l4_word1 = a_.tcp->tcb(c)->snd_una().raw();
  a_.tcp->on_icmp_error(e, ctx);
  EXPECT_EQ(a_.tcp->counter(TcpLayerCounter::kIcmpIgnored), 2u);
  e.dst_port = kPort;
  a_.tcp->on_icmp_error(e, ctx);
  EXPECT_EQ(a_.tcp->counter(TcpLayerCounter::kIcmpFragNeeded), 1u);
  EXPECT_LT(a_.tcp->tcb(c)->mss(), 1000u);
  const std::string data(20000, 'm');
  ASSERT_EQ(a_.tcp->send(c, data.data(), data.size()), static_cast<long>(data.size()));
  std::string got;
  ASSERT_TRUE(run_until([&] {
    char buf[4096];
    for (long n; (n = b_.tcp->recv(s, buf, sizeof buf)) > 0;)
      got.append(buf, static_cast<std::size_t>(n));
    return got.size() == data.size();
  }));
  EXPECT_EQ(got, data);
  a_.tcp->abort(c);
  b_.tcp->abort(s);
  b_.tcp->close(l);
  run_for(50ms);
}

}  // namespace
}  // namespace shardtcp::testing
