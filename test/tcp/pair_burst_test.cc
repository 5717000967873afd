// The receive side of GRO in the TCP layer: the segments one connection receives in one
// RX burst draw one ACK and one readable event, however many they are; out-of-order
// data is still acknowledged segment by segment (a sender counting duplicate ACKs sees
// each).
#include <gtest/gtest.h>

#include <string>

#include "pair_harness.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint32_t kSeg = 1448;  // 1500 MTU, timestamps on

class TcpPairBurst : public TcpPairTest {
 protected:
  std::uint64_t b_tx_frames() const { return b_.ip->eth_counters().get(EthCounter::kTxFrames); }
  // A pair with one quiet connection to `port`, on which A has just put `data` on the
  // wire to B in one go (B has not polled yet).
  void open_and_send(std::uint16_t port, const std::string& data, TcpConnId* c, TcpConnId* s) {
    PairSideOptions a, b;
    a.tcp = b.tcp = default_tcp();
    build(a, b);
    open_a_to_b(port, c, s);
    if (HasFatalFailure()) return;
    run_for(100ms);
    ASSERT_EQ(a_.tcp->send(*c, data.data(), data.size()), static_cast<long>(data.size()));
    clock_.advance(20us);
    a_.engine->poll_once();
  }
  std::size_t readable_events(const EventLog& log, TcpConnId id) const {
    std::size_t n = 0;
    for (const auto& e : log.entries) n += e.id == id && e.ev == TcpSocketEvent::kReadable;
    return n;
  }
};

TEST_F(TcpPairBurst, OneAckAndOneReadableEventPerConnectionPerBurst) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  TcpConnId c1, s1, c2, s2;
  open_a_to_b(6001, &c1, &s1);
  open_a_to_b(6002, &c2, &s2);
  if (HasFatalFailure()) return;
  run_for(100ms);  // quiet: handshakes and their ACKs are done
  EventLog log;
  ASSERT_EQ(b_.tcp->set_callback(s1, log.callback()), 0);
  ASSERT_EQ(b_.tcp->set_callback(s2, log.callback()), 0);

  // Eight full segments on each connection (within the initial window), sent by A's
  // engine in one go, so B receives all sixteen in one RX burst.
  const std::string data(8 * kSeg, 'd');
  ASSERT_EQ(a_.tcp->send(c1, data.data(), data.size()), static_cast<long>(data.size()));
  ASSERT_EQ(a_.tcp->send(c2, data.data(), data.size()), static_cast<long>(data.size()));
  clock_.advance(20us);
  a_.engine->poll_once();
  const std::uint64_t tx_before = b_tx_frames();
  clock_.advance(20us);
  EXPECT_EQ(b_.engine->poll_once(), 16u);  // one burst, both connections
  // Without the batching the delayed-ACK rule sends one ACK per two segments: eight.
  EXPECT_EQ(b_tx_frames() - tx_before, 2u);
  EXPECT_EQ(readable_events(log, s1), 1u);
  EXPECT_EQ(readable_events(log, s2), 1u);
  EXPECT_EQ(b_.tcp->readable_bytes(s1), static_cast<long>(data.size()));
  // Each ACK acknowledged the whole burst.
  clock_.advance(20us);
  a_.engine->poll_once();
  EXPECT_EQ(a_.tcp->tcb(c1)->snd_una(), a_.tcp->tcb(c1)->snd_max());
  EXPECT_EQ(a_.tcp->tcb(c2)->snd_una(), a_.tcp->tcb(c2)->snd_max());
  EXPECT_EQ(read_all(*b_.tcp, s1), data);
  EXPECT_EQ(read_all(*b_.tcp, s2), data);
}

TEST_F(TcpPairBurst, ADelayedAckArmedInsideABurstFiresOnTime) {
  // One small segment: in its burst it is held for end_burst (its timer too), which
  // sends no ACK (less than two segments) and must arm the delayed-ACK timer, so the
  // ACK leaves once 40 ms have passed, not never.
  const std::string data(100, 's');
  TcpConnId c, s;
  open_and_send(6004, data, &c, &s);
  if (HasFatalFailure()) return;
  const std::uint64_t tx_before = b_tx_frames();
  clock_.advance(20us);
  EXPECT_EQ(b_.engine->poll_once(), 1u);
  EXPECT_EQ(b_tx_frames() - tx_before, 0u);  // delayed
  EXPECT_EQ(b_.tcp->readable_bytes(s), static_cast<long>(data.size()));
  for (int i = 0; i < 60 && b_tx_frames() == tx_before; ++i) {
    clock_.advance(1ms);
    b_.engine->poll_once();
  }
  EXPECT_EQ(b_tx_frames() - tx_before, 1u);
  clock_.advance(20us);
  a_.engine->poll_once();
  EXPECT_EQ(a_.tcp->tcb(c)->snd_una(), a_.tcp->tcb(c)->snd_max());
}

TEST_F(TcpPairBurst, OutOfOrderSegmentsInABurstAreEachAcknowledged) {
  // A drops its first data frame: the seven after it reach B out of order in one burst
  // and each draws an ACK with SACK at once (RFC 5681 §4.2), batching or not.
  const std::string data(8 * kSeg, 'o');
  TcpConnId c, s;
  open_and_send(6003, data, &c, &s);
  if (HasFatalFailure()) return;
  // Take the first data frame off the wire (B's RX ring).
  rte_mbuf* first = nullptr;
  ASSERT_EQ(pair_->b().rx_burst(0, &first, 1), 1u);
  rte_pktmbuf_free(first);
  const std::uint64_t tx_before = b_tx_frames();
  clock_.advance(20us);
  EXPECT_EQ(b_.engine->poll_once(), 7u);
  EXPECT_EQ(b_tx_frames() - tx_before, 7u);
  EXPECT_GT(b_.tcp->counter(TcpCounter::kOfoQueued), 0u);
  // Recovery completes and the stream arrives whole.
  ASSERT_TRUE(
      run_until([&] { return b_.tcp->readable_bytes(s) == static_cast<long>(data.size()); }));
  EXPECT_EQ(read_all(*b_.tcp, s), data);
}

}  // namespace
}  // namespace shardtcp::testing
