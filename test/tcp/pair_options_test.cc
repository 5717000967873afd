// The socket options real programs set, on the native API over a ring pair (virtual
// clock): TCP_CORK and MSG_MORE hold partial segments, TCP_MAXSEG bounds the MSS both
// ways, TCP_NOTSENT_LOWAT bounds what waits unsent, TCP_USER_TIMEOUT ends a connection
// whose data goes unacknowledged, SHUT_RD discards input without closing the window,
// and TCP_INFO reports what `ss -ti` shows.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pair_harness.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint16_t kPort = 80;

class TcpPairOptions : public TcpPairTest {
 protected:
  // A connection A -> B, established and accepted; `before_connect` runs on A's
  // socket before the SYN.
  void open(const std::function<void(TcpConnId)>& before_connect = {}) {
    PairSideOptions a, b;
    a.tcp = b.tcp = default_tcp();
    build(a, b);
    int err = 0;
    l_ = b_.tcp->listen({IpAddr{}, kPort}, 4, server_log_.callback(), &err);
    ASSERT_TRUE(l_.valid());
    c_ = a_.tcp->open(client_log_.callback(), &err);
    ASSERT_TRUE(c_.valid());
    if (before_connect) before_connect(c_);
    ASSERT_EQ(a_.tcp->connect(c_, {kAddrB, kPort}), 0);
    ASSERT_TRUE(run_until([&] {
      if (!s_.valid()) s_ = b_.tcp->accept(l_, &err);
      return s_.valid() && a_.tcp->state(c_) == TcpState::kEstablished;
    }));
  }
  void TearDown() override {
    if (a_.tcp) {
      a_.tcp->abort(c_);
      b_.tcp->abort(s_);
      b_.tcp->close(l_);
      run_for(50ms);
    }
    TcpPairTest::TearDown();
  }
  EventLog client_log_, server_log_;
  TcpConnId l_, c_, s_;
};

TEST_F(TcpPairOptions, CorkHoldsPartialSegmentsUntilUncorked) {
  open();
  ASSERT_EQ(a_.tcp->set_nodelay(c_, true), 0);  // cork wins over nodelay
  ASSERT_EQ(a_.tcp->set_cork(c_, true), 0);
  ASSERT_EQ(a_.tcp->send(c_, "hello", 5), 5);
  run_for(100ms);
  EXPECT_EQ(b_.tcp->readable_bytes(s_), 0);
  // Full segments are not held.
  const std::uint32_t seg = a_.tcp->tcb(c_)->mss() - 12;  // payload beside timestamps
  const std::string big(3 * seg + 10, 'x');
  ASSERT_EQ(a_.tcp->send(c_, big.data(), big.size()), static_cast<long>(big.size()));
  run_for(50ms);
  EXPECT_EQ(b_.tcp->readable_bytes(s_), static_cast<long>(3 * seg));
  ASSERT_EQ(a_.tcp->set_cork(c_, false), 0);
  run_for(1ms);
  EXPECT_EQ(read_all(*b_.tcp, s_), "hello" + big);
}

TEST_F(TcpPairOptions, MsgMoreHoldsTheFirstPartUntilTheLast) {
  open();
  ASSERT_EQ(a_.tcp->set_nodelay(c_, true), 0);
  ASSERT_EQ(a_.tcp->send(c_, "head-", 5, /*more=*/true), 5);
  run_for(100ms);
  EXPECT_EQ(b_.tcp->readable_bytes(s_), 0);
  const std::uint64_t segs = a_.tcp->counter(TcpCounter::kOutSegs);
  ASSERT_EQ(a_.tcp->send(c_, "tail", 4), 4);
  run_for(1ms);
  EXPECT_EQ(read_all(*b_.tcp, s_), "head-tail");
  EXPECT_EQ(a_.tcp->counter(TcpCounter::kOutSegs), segs + 1);  // one segment carried both
}

TEST_F(TcpPairOptions, MaxSegmentBoundsTheMssBothWays) {
  open([&](TcpConnId c) {
    EXPECT_EQ(a_.tcp->set_max_segment(c, 87), -EINVAL);
    EXPECT_EQ(a_.tcp->set_max_segment(c, 600), 0);
  });
  EXPECT_EQ(a_.tcp->set_max_segment(c_, 700), -EISCONN);
  TcpInfo ia, ib;
  ASSERT_EQ(a_.tcp->info(c_, &ia), 0);
  ASSERT_EQ(b_.tcp->info(s_, &ib), 0);
  EXPECT_EQ(ia.rcv_mss, 600u);   // announced
  EXPECT_LE(ia.snd_mss, 600u);   // used
  EXPECT_LE(ib.snd_mss, 600u);   // the peer's, from our announcement
  EXPECT_GT(ib.rcv_mss, 1000u);  // the peer's own announcement is unchanged
  const std::string data(5000, 'm');
  ASSERT_EQ(b_.tcp->send(s_, data.data(), data.size()), 5000);
  run_for(50ms);
  EXPECT_EQ(read_all(*a_.tcp, c_), data);
}

TEST_F(TcpPairOptions, NotsentLowatBoundsWhatWaitsUnsent) {
  open();
  ASSERT_EQ(a_.tcp->set_notsent_lowat(c_, 4000), 0);
  const std::string data(200'000, 'n');
  // The first send is taken whole (nothing waited); then the socket is not writable
  // until fewer than 4 000 bytes wait unsent, though the buffer has room.
  ASSERT_EQ(a_.tcp->send(c_, data.data(), data.size()), static_cast<long>(data.size()));
  EXPECT_EQ(a_.tcp->writable_bytes(c_), 0);
  EXPECT_EQ(a_.tcp->send(c_, "x", 1), -EAGAIN);
  client_log_.clear();
  std::uint64_t drained = 0;
  ASSERT_TRUE(run_until([&] {
    drained += read_all(*b_.tcp, s_).size();
    return client_log_.count(TcpSocketEvent::kWritable) > 0;
  }));
  TcpInfo i;
  ASSERT_EQ(a_.tcp->info(c_, &i), 0);
  EXPECT_LT(i.notsent_bytes, 4000u);
  EXPECT_GT(a_.tcp->writable_bytes(c_), 0);
  EXPECT_EQ(a_.tcp->send(c_, "x", 1), 1);
}

TEST_F(TcpPairOptions, UserTimeoutEndsAConnectionWhoseDataGoesUnacknowledged) {
  open();
  ASSERT_EQ(a_.tcp->set_user_timeout(c_, 3s), 0);
  ASSERT_EQ(a_.tcp->send(c_, "lost", 4), 4);
  // B is no longer polled: nothing A sends is acknowledged.
  const Instant sent = clock_.now();
  while (!client_log_.has(c_, TcpSocketEvent::kError) && clock_.now() - sent < Duration(60s)) {
    clock_.advance(10ms);
    a_.engine->poll_once();
  }
  std::uint32_t e = 0;
  ASSERT_TRUE(client_log_.has(c_, TcpSocketEvent::kError, &e));
  EXPECT_EQ(e, static_cast<std::uint32_t>(ETIMEDOUT));
  // At the timeout, not at the next backed-off RTO after it (6.2 s), nor after the
  // default's 15 retransmissions (minutes).
  EXPECT_LT(clock_.now() - sent, Duration(3100ms));
  EXPECT_GE(clock_.now() - sent, Duration(3s));
}

TEST_F(TcpPairOptions, ShutdownReadDiscardsInputAndKeepsTheWindowOpen) {
  open();
  ASSERT_EQ(a_.tcp->shutdown_read(c_), 0);
  // Far more than A's receive buffer: all of it is acknowledged though nobody reads.
  const std::string data(1'000'000, 'd');
  std::size_t sent = 0;
  ASSERT_TRUE(run_until([&] {
    if (sent < data.size()) {
      const long n = b_.tcp->send(s_, data.data() + sent, data.size() - sent);
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    const Tcb* t = b_.tcp->tcb(s_);
    return sent == data.size() && t->snd_una() == t->snd_max();
  }));
  char buf[8];
  EXPECT_EQ(a_.tcp->recv(c_, buf, sizeof buf), 0);
  // Still connected the other way.
  ASSERT_EQ(a_.tcp->send(c_, "still", 5), 5);
  run_for(50ms);
  EXPECT_EQ(read_all(*b_.tcp, s_), "still");
}

// The slot of a connection shut for reading, once freed, gives its next connection an
// input that reads (the flag used to survive the slot's reuse: every recv() of the
// new connection returned 0, end of stream).
TEST_F(TcpPairOptions, ASlotReusedAfterShutdownReadReadsAgain) {
  open();
  ASSERT_EQ(a_.tcp->shutdown_read(c_), 0);
  const std::uint32_t slot = c_.slot();
  a_.tcp->abort(c_);
  run_for(50ms);
  int err = 0;
  const TcpConnId c2 = a_.tcp->open(client_log_.callback(), &err);
  ASSERT_TRUE(c2.valid());
  ASSERT_EQ(c2.slot(), slot);  // the freed slot again: what this test is about
  ASSERT_EQ(a_.tcp->connect(c2, {kAddrB, kPort}), 0);
  TcpConnId s2;
  ASSERT_TRUE(run_until([&] {
    if (!s2.valid()) s2 = b_.tcp->accept(l_, &err);
    return s2.valid() && a_.tcp->state(c2) == TcpState::kEstablished;
  }));
  ASSERT_EQ(b_.tcp->send(s2, "fresh", 5), 5);
  run_for(50ms);
  EXPECT_EQ(read_all(*a_.tcp, c2), "fresh");
  a_.tcp->abort(c2);
  b_.tcp->abort(s2);
}

TEST_F(TcpPairOptions, InfoReportsStateOptionsAndRecoveryFigures) {
  open();
  TcpInfo i;
  EXPECT_EQ(a_.tcp->info(TcpConnId{0xfff00001}, &i), -EBADF);  // stale
  ASSERT_EQ(b_.tcp->info(l_, &i), -ENOTCONN);
  EXPECT_EQ(i.state, TcpState::kListen);
  const std::string data(300'000, 'i');
  std::size_t sent = 0, got = 0;
  ASSERT_TRUE(run_until([&] {
    if (sent < data.size()) {
      const long n = a_.tcp->send(c_, data.data() + sent, data.size() - sent);
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    got += read_all(*b_.tcp, s_).size();
    return got == data.size();
  }));
  run_for(100ms);  // the last ACK (delayed) reaches A
  ASSERT_EQ(a_.tcp->info(c_, &i), 0);
  EXPECT_EQ(i.state, TcpState::kEstablished);
  EXPECT_TRUE(i.sack && i.timestamps && i.window_scaling);
  EXPECT_GT(i.snd_mss, 1000u);
  EXPECT_GE(i.cwnd, 10 * i.snd_mss);
  EXPECT_GE(i.rto_us, 200'000u);
  EXPECT_EQ(i.bytes_in_flight, 0u);
  EXPECT_EQ(i.total_retransmits, 0u);  // a clean path
}

}  // namespace
}  // namespace shardtcp::testing
