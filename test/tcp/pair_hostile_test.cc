// The TCP layer under attack and at its limits, over a ring pair on a virtual clock:
// a spoofed SYN flood next to legitimate clients, a full connection-slot table, ACKs
// to a listener that sent no cookies, an ACK flood to closed ports, and a loss storm
// in the middle of a bulk transfer. The namespace-and-TAP versions of these cases,
// with Linux as attacker and client, are test/hostile/.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "mbuf_chain.h"
#include "pair_harness.h"
#include "pair_stream.h"
#include "wire/tcp.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint16_t kPort = 80;

class TcpPairHostile : public TcpPairTest {
 protected:
  // Hands B a segment as if it came from `src` (IP input already done), with a valid
  // checksum: what a spoofing attacker's frames look like once they pass IP.
  // `payload` follows the header; the segment comes in one buffer, or in a chain cut
  // at `cuts` (test_support::chain_with_cuts) when they are given.
  void inject_to_b(const IpAddr& src, const TcpSegment& seg,
                   const std::vector<std::uint8_t>& payload = {},
                   const std::vector<std::uint16_t>& cuts = {}, bool corrupt = false) {
    std::vector<std::uint8_t> buf(60);
    const std::size_t hlen = emit_tcp_header(buf.data(), buf.size(), seg);
    ASSERT_GT(hlen, 0u);
    buf.resize(hlen);
    buf.insert(buf.end(), payload.begin(), payload.end());
    const std::size_t n = buf.size();
    set_tcp_checksum(buf.data(), l4_checksum(src, kAddrB, 6, buf.data(), n));
    if (corrupt) buf.back() ^= 0x01;
    rte_mbuf* m = test_support::chain_with_cuts(shared_, buf, cuts);
    ASSERT_NE(m, nullptr);
    L3Meta meta;
    meta.src = src;
    meta.dst = kAddrB;
    meta.protocol = 6;
    meta.l4_len = static_cast<std::uint16_t>(n);
    PacketContext ctx{clock_.now(), b_.engine.get(), shared_, 0};
    b_.tcp->on_l4(m, meta, ctx);
  }

  // A SYN as Linux sends it (MSS, SACK, timestamps, window scale) from a spoofed source.
  void inject_spoofed_syn(std::mt19937& rng) {
    TcpSegment syn;
    syn.src_port = static_cast<std::uint16_t>(1024 + rng() % 60000);
    syn.dst_port = kPort;
    syn.seq = SeqNum(static_cast<std::uint32_t>(rng()));
    syn.flags = tcp_flags::kSyn;
    syn.window = 64240;
    syn.options.mss = 1460;
    syn.options.sack_permitted = true;
    syn.options.timestamps = TcpTimestamps{static_cast<std::uint32_t>(rng()), 0};
    syn.options.window_scale = 7;
    // 198.18.1.0/24: not on B's link and no route, so its SYN-ACKs go nowhere.
    inject_to_b(IpAddr::v4(0xC6120100 | (rng() % 250 + 1)), syn);
  }

  void inject_bare_ack(std::mt19937& rng, std::uint16_t dst_port) {
    TcpSegment ack;
    ack.src_port = static_cast<std::uint16_t>(1024 + rng() % 60000);
    ack.dst_port = dst_port;
    ack.seq = SeqNum(static_cast<std::uint32_t>(rng()));
    ack.ack = SeqNum(static_cast<std::uint32_t>(rng()));
    ack.flags = tcp_flags::kAck;
    ack.window = 1000;
    inject_to_b(kAddrA, ack);
  }

  EventLog client_log_, server_log_;
};

// A segment in an mbuf chain cut at odd lengths (LRO pieces, scattered receive) is
// verified over the chain as the same bytes in one buffer: with the checksum of the
// flat bytes it reaches the TCP (no connection: answered by RST), with a flipped bit it
// is dropped and counted. DPDK 22.11's rte_raw_cksum_mbuf gets these chains wrong.
TEST_F(TcpPairHostile, ChainedSegmentWithOddPiecesIsCheckedAsFlat) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  std::mt19937 rng(5);
  std::vector<std::uint8_t> payload(1001);
  for (auto& x : payload) x = static_cast<std::uint8_t>(rng());
  TcpSegment seg;
  seg.src_port = 40000;
  seg.dst_port = 9;
  seg.seq = SeqNum(static_cast<std::uint32_t>(rng()));
  seg.ack = SeqNum(static_cast<std::uint32_t>(rng()));
  seg.flags = tcp_flags::kAck | tcp_flags::kPsh;
  seg.window = 1000;
  // Headers whole in the first buffer, as IP input leaves them (it pulls 64 bytes up).
  const std::vector<std::vector<std::uint16_t>> cutss = {
      {65, 5, 1, 301}, {67, 900, 3}, {71, 1, 1, 1, 1, 1, 1, 1, 777}};
  for (const auto& cuts : cutss) inject_to_b(kAddrA, seg, payload, cuts);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxChained), cutss.size());
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxBadChecksum), 0u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxNoConnection), cutss.size());
  inject_to_b(kAddrA, seg, payload, cutss[0], true);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxBadChecksum), 1u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxNoConnection), cutss.size());
  run_for(50ms);
}

// The backlog of echo's C example (16) far below the SYN queue (256): once 16 spoofed
// SYNs hold it, every SYN gets a cookie, so legitimate clients still connect at once,
// without waiting for a SYN retransmission, during a flood of 64 SYNs per client.
TEST_F(TcpPairHostile, SpoofedSynFloodDoesNotShutOutLegitimateClients) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 16, server_log_.callback(), &err);
  ASSERT_TRUE(l.valid());
  std::mt19937 rng(5961);
  // The first burst: 256 spoofed SYNs, then the clients, each behind 64 more.
  for (int i = 0; i < 256; ++i) inject_spoofed_syn(rng);
  constexpr int kClients = 40;
  int connected = 0;
  std::vector<TcpConnId> clients, servers;
  for (int k = 0; k < kClients; ++k) {
    if (k > 0)
      for (int i = 0; i < 64; ++i) inject_spoofed_syn(rng);
    TcpConnId c = a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err);
    ASSERT_TRUE(c.valid()) << err;
    // Well under the 1 s SYN retransmission: the first SYN was answered (and A's
    // handshake ACK, held for a first segment of data, has reached B).
    if (run_until([&] { return client_log_.has(c, TcpSocketEvent::kConnected); }, 300ms))
      ++connected;
    run_for(1ms);
    clients.push_back(c);
    for (TcpConnId s = b_.tcp->accept(l, &err); s.valid(); s = b_.tcp->accept(l, &err))
      servers.push_back(s);
  }
  EXPECT_EQ(connected, kClients);
  EXPECT_GE(b_.tcp->counter(TcpLayerCounter::kCookiesSent), 256u + 39u * 64u - 16u);
  EXPECT_GE(b_.tcp->counter(TcpLayerCounter::kCookiesValidated),
            static_cast<std::uint64_t>(kClients));
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kCookiesRefused), 0u);
  EXPECT_LE(b_.tcp->half_open(), 16u);  // the flood holds no more than the backlog
  // Every legitimate connection works both ways.
  ASSERT_TRUE(run_until([&] {
    for (TcpConnId s = b_.tcp->accept(l, &err); s.valid(); s = b_.tcp->accept(l, &err))
      servers.push_back(s);
    return servers.size() == clients.size();
  }));
  for (std::size_t i = 0; i < clients.size(); ++i)
    ASSERT_EQ(a_.tcp->send(clients[i], "ping", 4), 4);
  run_for(50ms);
  for (TcpConnId s : servers) {
    EXPECT_EQ(read_all(*b_.tcp, s), "ping");
    EXPECT_EQ(b_.tcp->send(s, "pong", 4), 4);
  }
  run_for(50ms);
  for (TcpConnId c : clients) EXPECT_EQ(read_all(*a_.tcp, c), "pong");
  for (TcpConnId c : clients) a_.tcp->abort(c);
  for (TcpConnId s : servers) b_.tcp->abort(s);
  b_.tcp->close(l);
  run_for(50ms);
}

// B has 24 slots (a listener and 23 connections). 40 clients at once: each either
// gets a working connection or hears that it did not (RST: refused or reset), never
// a completed handshake whose data goes nowhere. Once every slot holds an
// established connection a SYN is refused at once; closing some makes room.
TEST_F(TcpPairHostile, AFullSlotTableRefusesVisiblyAndLeavesNoDeadConnection) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  b.tcp.max_connections = 24;
  build(a, b);
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 64, server_log_.callback(), &err);
  ASSERT_TRUE(l.valid());
  std::vector<TcpConnId> clients, servers;
  for (int k = 0; k < 40; ++k) {
    clients.push_back(a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err));
    ASSERT_TRUE(clients.back().valid()) << err;
  }
  auto accept_all = [&] {
    for (TcpConnId s = b_.tcp->accept(l, &err); s.valid(); s = b_.tcp->accept(l, &err)) {
      servers.push_back(s);
      b_.tcp->set_callback(s, server_log_.callback());
    }
  };
  auto settled = [&](TcpConnId c) {
    return client_log_.has(c, TcpSocketEvent::kConnected) ||
           client_log_.has(c, TcpSocketEvent::kError);
  };
  ASSERT_TRUE(run_until([&] {
    accept_all();
    for (TcpConnId c : clients)
      if (!settled(c)) return false;
    return true;
  }));
  // Every connected client says something; the server echoes it.
  for (TcpConnId c : clients)
    if (client_log_.has(c, TcpSocketEvent::kConnected) && a_.tcp->is_open(c))
      a_.tcp->send(c, "hi", 2);
  run_for(200ms);
  accept_all();
  for (TcpConnId s : servers) {
    const std::string got = read_all(*b_.tcp, s);
    if (!got.empty()) b_.tcp->send(s, got.data(), got.size());
  }
  run_for(200ms);
  int working = 0, refused = 0, silent = 0;
  for (TcpConnId c : clients) {
    std::uint32_t error = 0;
    if (client_log_.has(c, TcpSocketEvent::kError, &error)) {
      EXPECT_TRUE(error == ECONNREFUSED || error == ECONNRESET) << error;
      ++refused;
    } else if (read_all(*a_.tcp, c) == "hi") {
      ++working;
    } else {
      ++silent;
    }
  }
  EXPECT_EQ(silent, 0);
  EXPECT_EQ(working, 23);
  EXPECT_EQ(refused, 17);
  EXPECT_EQ(servers.size(), 23u);
  // At least one per refused client (a client may send more than one ACK before the
  // RST reaches it; each is refused again).
  EXPECT_GE(b_.tcp->counter(TcpLayerCounter::kCookiesRefused) +
                b_.tcp->counter(TcpLayerCounter::kSynRefusedNoSlot),
            17u);

  // Every slot holds an established connection: the next SYN is refused at once.
  const std::uint64_t refused_before = b_.tcp->counter(TcpLayerCounter::kSynRefusedNoSlot);
  TcpConnId late = a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err);
  ASSERT_TRUE(late.valid());
  std::uint32_t late_error = 0;
  ASSERT_TRUE(run_until([&] { return client_log_.has(late, TcpSocketEvent::kError); }, 100ms));
  client_log_.has(late, TcpSocketEvent::kError, &late_error);
  EXPECT_EQ(late_error, static_cast<std::uint32_t>(ECONNREFUSED));
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kSynRefusedNoSlot), refused_before + 1);

  // Five connections end (the server closes first, so TIME_WAIT is on its side, in the
  // TIME_WAIT table, not in a slot): five new clients get in.
  for (int i = 0; i < 5; ++i) b_.tcp->close(servers[i]);
  run_for(100ms);
  for (TcpConnId c : clients) a_.tcp->close(c);
  std::vector<TcpConnId> again;
  run_for(100ms);
  for (int k = 0; k < 5; ++k)
    again.push_back(a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err));
  ASSERT_TRUE(run_until([&] {
    for (TcpConnId c : again)
      if (!client_log_.has(c, TcpSocketEvent::kConnected)) return false;
    return true;
  }));
  for (TcpConnId c : again) a_.tcp->abort(c);
  for (TcpConnId s : servers) b_.tcp->abort(s);
  b_.tcp->close(l);
  run_for(100ms);
}

// An ACK to a listener is checked as a cookie only within a cookie's lifetime of the
// listener's last cookie; otherwise it is answered by RST unchecked (no two SipHash
// rounds per junk ACK, no connection revived from a stale one).
TEST_F(TcpPairHostile, CookieAcksAreCheckedOnlyWhileCookiesAreRecent) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  b.tcp.syn_queue = 0;  // every SYN gets a cookie
  build(a, b);
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 8, server_log_.callback(), &err);
  ASSERT_TRUE(l.valid());
  std::mt19937 rng(7);
  inject_bare_ack(rng, kPort);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kCookieAckUnexpected), 1u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kCookiesFailed), 0u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRstSentNoConn), 1u);

  TcpConnId c = a_.tcp->connect({kAddrB, kPort}, client_log_.callback(), &err);
  ASSERT_TRUE(run_until([&] {
    return client_log_.has(c, TcpSocketEvent::kConnected) && b_.tcp->has_pending_accept(l);
  }));
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kCookiesValidated), 1u);
  inject_bare_ack(rng, kPort);  // now checked, and not a cookie
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kCookiesFailed), 1u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kCookieAckUnexpected), 1u);

  a_.tcp->abort(c);
  TcpConnId s = b_.tcp->accept(l, &err);
  ASSERT_TRUE(s.valid());
  b_.tcp->abort(s);
  clock_.advance(std::chrono::seconds(121));  // past a cookie's lifetime
  inject_bare_ack(rng, kPort);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kCookiesFailed), 1u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kCookieAckUnexpected), 2u);
  b_.tcp->close(l);
  run_for(50ms);
}

// An ACK flood to a closed port is answered by at most the burst and then the rate of
// RSTs; the rest are counted, not sent.
TEST_F(TcpPairHostile, RstsForSegmentsWithoutConnectionAreRateLimited) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  b.tcp.rst_per_second = 1000;
  b.tcp.rst_burst = 2000;
  build(a, b);
  std::mt19937 rng(3);
  for (int i = 0; i < 5000; ++i) {
    inject_bare_ack(rng, 9);
    if (i % 256 == 255) b_.engine->poll_once();  // flush what was sent (the clock stands)
  }
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRstSentNoConn), 2000u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRstRateLimited), 3000u);
  clock_.advance(std::chrono::seconds(1));
  for (int i = 0; i < 2000; ++i) {
    inject_bare_ack(rng, 9);
    if (i % 256 == 255) b_.engine->poll_once();
  }
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRstSentNoConn), 3000u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRstRateLimited), 4000u);
  run_for(50ms);
}

// 20 s of 90% loss both ways in the middle of a bulk transfer, then a clean path: the
// stream stays byte-exact and is back to half its earlier rate within the RTO that was
// pending when the storm ended (RFC 6298's backoff, capped by max_rto) plus 3 s.
TEST_F(TcpPairHostile, StreamRecoversAfterALossStorm) {
  ImpairmentConfig path;
  path.delay = 5ms;  // a 10 ms RTT; also keeps the fault lanes on for the storm
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  a.tcp.defaults.send_buffer = b.tcp.defaults.recv_buffer = 32 * 1024;
  a.impair = b.impair = path;
  a.impair->seed = 1;
  b.impair->seed = 2;
  build(a, b);
  int err = 0;
  TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 4, {}, &err);
  TcpConnId c = a_.tcp->connect({kAddrB, kPort}, {}, &err);
  TcpConnId s;
  ASSERT_TRUE(run_until([&] {
    if (!s.valid()) s = b_.tcp->accept(l, &err);
    return s.valid() && a_.tcp->state(c) == TcpState::kEstablished;
  }));
  StreamFlow tx, rx;
  tx.tcp = a_.tcp.get();
  tx.id = c;
  tx.out_seed = rx.in_seed = 9;
  tx.total = UINT64_MAX / 2;  // for as long as the test runs
  rx.tcp = b_.tcp.get();
  rx.id = s;
  rx.total = 0;
  rx.shut = true;  // B only reads
  std::uint32_t quiet = 0;
  auto run = [&](Duration d) {
    const Instant end = clock_.now() + d;
    while (clock_.now() < end) {
      tx.step();
      rx.step();
      if (::testing::Test::HasFatalFailure()) return;
      const std::uint32_t n = poll(quiet > 2 ? Duration(1ms) : Duration(20us));
      quiet = n == 0 ? quiet + 1 : 0;
    }
  };
  run(1s);  // slow start done
  std::uint64_t mark = rx.received;
  run(2s);
  const double before = static_cast<double>(rx.received - mark) / 2.0;  // bytes per second
  ASSERT_GT(before, 100'000.0);

  a_.faults->set_drop(0.9);
  b_.faults->set_drop(0.9);
  run(20s);
  a_.faults->set_drop(0);
  b_.faults->set_drop(0);
  const Tcb* t = a_.tcp->tcb(c);
  ASSERT_NE(t, nullptr);
  const Duration pending_rto = t->rtt().rto();
  EXPECT_LE(pending_rto, t->config().max_rto);
  const Instant storm_end = clock_.now();
  const Duration bound = pending_rto + 3s;
  // The first 1 s window after the storm with half the earlier rate.
  Duration recovered = Duration::max();
  while (clock_.now() - storm_end < bound + 2s) {
    mark = rx.received;
    const Instant from = clock_.now();
    run(250ms);
    if (static_cast<double>(rx.received - mark) * 4.0 >= before / 2) {
      recovered = from - storm_end;
      break;
    }
  }
  std::printf(
      "loss storm: %.0f B/s before, pending RTO %lld ms at the end, recovered after %lld ms\n",
      before, (long long)std::chrono::duration_cast<std::chrono::milliseconds>(pending_rto).count(),
      (long long)std::chrono::duration_cast<std::chrono::milliseconds>(recovered).count());
  EXPECT_LE(recovered, bound)
      << "pending RTO at the storm's end "
      << std::chrono::duration_cast<std::chrono::milliseconds>(pending_rto).count() << " ms";
  EXPECT_EQ(rx.mismatches, 0u);
  a_.tcp->abort(c);
  b_.tcp->abort(s);
  b_.tcp->close(l);
  run_for(100ms);
}

}  // namespace
}  // namespace shardtcp::testing
