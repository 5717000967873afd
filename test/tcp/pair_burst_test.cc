// The receive side of GRO in the TCP layer: the segments one connection receives in one
// RX burst draw one ACK and one readable event, however many they are; out-of-order
// data is still acknowledged segment by segment (a sender counting duplicate ACKs sees
// each).
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <utility>

#include "pair_harness.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint32_t kSeg = 1448;  // 1500 MTU, timestamps on
constexpr std::uint16_t kPort = 6100;

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
  const std::uint64_t predicted_before = b_.tcp->counter(TcpCounter::kPredictedSegs);
  const std::uint64_t coalesced_before = b_.tcp->counter(TcpLayerCounter::kRxCoalesced);
  clock_.advance(20us);
  EXPECT_EQ(b_.engine->poll_once(), 16u);  // one burst, both connections
  // Software GRO: each connection's eight segments went into its TCB as one, which took
  // header prediction (in-order data on a quiet connection).
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxCoalesced) - coalesced_before, 14u);
  EXPECT_EQ(b_.tcp->counter(TcpCounter::kPredictedSegs) - predicted_before, 2u);
  EXPECT_EQ(readable_events(log, s1), 1u);
  EXPECT_EQ(readable_events(log, s2), 1u);
  EXPECT_EQ(b_.tcp->readable_bytes(s1), static_cast<long>(data.size()));
  // The ACKs wait for the application's turn (which here sends nothing) and leave at
  // the start of B's next iteration. Without the batching the delayed-ACK rule sends
  // one ACK per two segments: eight.
  EXPECT_EQ(b_tx_frames() - tx_before, 0u);
  EXPECT_EQ(b_.engine->poll_once(), 2u);  // the two held ACKs were its work
  EXPECT_EQ(b_tx_frames() - tx_before, 2u);
  // Each ACK acknowledged the whole burst.
  clock_.advance(20us);
  a_.engine->poll_once();
  EXPECT_EQ(a_.tcp->tcb(c1)->snd_una(), a_.tcp->tcb(c1)->snd_max());
  EXPECT_EQ(a_.tcp->tcb(c2)->snd_una(), a_.tcp->tcb(c2)->snd_max());
  EXPECT_EQ(read_all(*b_.tcp, s1), data);
  EXPECT_EQ(read_all(*b_.tcp, s2), data);
}

// More streams in one burst than software GRO keeps runs for: each still arrives whole
// and in order, and each connection's segments after its first were merged.
TEST_F(TcpPairBurst, MoreStreamsInABurstThanRunsEachArriveWholeAndMerged) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  constexpr int kConns = static_cast<int>(RxCoalescer::kMaxRuns) + 2;
  std::array<TcpConnId, kConns> c, s;
  for (int i = 0; i < kConns; ++i) open_a_to_b(static_cast<std::uint16_t>(6010 + i), &c[i], &s[i]);
  if (HasFatalFailure()) return;
  run_for(100ms);
  std::array<std::string, kConns> data;
  for (int i = 0; i < kConns; ++i) {
    data[i] = std::string(4 * kSeg, static_cast<char>('a' + i));
    ASSERT_EQ(a_.tcp->send(c[i], data[i].data(), data[i].size()),
              static_cast<long>(data[i].size()));
  }
  clock_.advance(20us);
  a_.engine->poll_once();
  const std::uint64_t coalesced_before = b_.tcp->counter(TcpLayerCounter::kRxCoalesced);
  clock_.advance(20us);
  EXPECT_EQ(b_.engine->poll_once(), 4u * kConns);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxCoalesced) - coalesced_before, 3u * kConns);
  for (int i = 0; i < kConns; ++i) EXPECT_EQ(read_all(*b_.tcp, s[i]), data[i]) << i;
}

// Segments reordered inside one burst: the runs break where the sequence does, the
// segment that fills the hole is queued in order, and the stream arrives whole.
TEST_F(TcpPairBurst, SegmentsReorderedInsideABurstArriveWhole) {
  std::string data(8 * kSeg, ' ');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('A' + i % 53);
  TcpConnId c, s;
  open_and_send(6005, data, &c, &s);
  if (HasFatalFailure()) return;
  std::array<rte_mbuf*, 8> frames{};
  ASSERT_EQ(pair_->b().rx_burst(0, frames.data(), 8), 8u);
  std::swap(frames[3], frames[5]);  // 0 1 2 5 4 3 6 7
  ASSERT_EQ(pair_->a().tx_burst(0, frames.data(), 8), 8u);
  const std::uint64_t ofo_before = b_.tcp->counter(TcpCounter::kOfoQueued);
  clock_.advance(20us);
  EXPECT_EQ(b_.engine->poll_once(), 8u);
  EXPECT_GT(b_.tcp->counter(TcpCounter::kOfoQueued), ofo_before);
  EXPECT_EQ(b_.tcp->readable_bytes(s), static_cast<long>(data.size()));
  EXPECT_EQ(read_all(*b_.tcp, s), data);
}

// A segment corrupted inside a run (software checksum: net_ring verifies nothing) is
// dropped and counted where it arrives; the run before it goes in, the segments after it
// wait out of order, each acknowledged, and the stream arrives whole once A resends it.
TEST_F(TcpPairBurst, ACorruptedSegmentInsideARunIsDroppedAndTheStreamArrivesWhole) {
  std::string data(8 * kSeg, ' ');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 23);
  TcpConnId c, s;
  open_and_send(6006, data, &c, &s);
  if (HasFatalFailure()) return;
  std::array<rte_mbuf*, 8> frames{};
  ASSERT_EQ(pair_->b().rx_burst(0, frames.data(), 8), 8u);
  // As a NIC delivers them: each frame in one buffer of its own (A's frames refer to its
  // send buffer, which a corruption must not touch: A resends from it).
  for (rte_mbuf*& f : frames) {
    rte_mbuf* copy = rte_pktmbuf_copy(f, tcp_pair_pool(), 0, UINT32_MAX);
    ASSERT_NE(copy, nullptr);
    ASSERT_EQ(copy->nb_segs, 1u);
    rte_pktmbuf_free(f);
    f = copy;
  }
  // One payload byte of the fourth segment (Ethernet, IPv4 and a 32-byte TCP header
  // before it): only the TCP checksum can tell.
  rte_pktmbuf_mtod(frames[3], std::uint8_t*)[14 + 20 + 32 + 100] ^= 0x40;
  ASSERT_EQ(pair_->a().tx_burst(0, frames.data(), 8), 8u);
  const std::uint64_t bad_before = b_.tcp->counter(TcpLayerCounter::kRxBadChecksum);
  const std::uint64_t coalesced_before = b_.tcp->counter(TcpLayerCounter::kRxCoalesced);
  const std::uint64_t tx_before = b_tx_frames();
  clock_.advance(20us);
  EXPECT_EQ(b_.engine->poll_once(), 8u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxBadChecksum) - bad_before, 1u);
  // Segments 1 and 2 joined the first run; 5 to 7 the run segment 4 opened, which went
  // in segment by segment, out of order.
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxCoalesced) - coalesced_before, 5u);
  EXPECT_EQ(b_.tcp->readable_bytes(s), static_cast<long>(3 * kSeg));
  EXPECT_EQ(b_tx_frames() - tx_before, 4u);  // a duplicate ACK for each held segment
  ASSERT_TRUE(
      run_until([&] { return b_.tcp->readable_bytes(s) == static_cast<long>(data.size()); }));
  EXPECT_EQ(read_all(*b_.tcp, s), data);
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

// A connect, a request, its answer and a close need seven segments, not ten: the ACK
// of the SYN-ACK rides on the request, the ACK of the request on the answer (a read
// of 7 bytes opens no window worth an update of its own, though the buffer is larger
// than the SYN's unscaled 64 KiB), and the ACK of the client's FIN on the server's.
TEST_F(TcpPairBurst, HeldAcksRideOnTheApplicationsSegmentsInAConnectRequestClose) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  a.tcp.defaults.recv_buffer = b.tcp.defaults.recv_buffer = 256 * 1024;  // beyond 64 KiB
  build(a, b);
  TcpConnId c0, s0, l;
  open_a_to_b(kPort, &c0, &s0, &l);  // resolves ARP both ways
  if (HasFatalFailure()) return;
  run_for(100ms);
  const std::uint64_t a_before = a_.ip->eth_counters().get(EthCounter::kTxFrames);
  const std::uint64_t b_before = b_tx_frames();
  EventLog a_log, b_log;
  int err = 0;
  const TcpConnId c = a_.tcp->connect({kAddrB, kPort}, a_log.callback(), &err);
  ASSERT_TRUE(c.valid()) << err;
  TcpConnId s;
  bool requested = false, answered = false, a_closed = false, b_closed = false;
  // The two applications act between their engines' iterations, as on their threads.
  ASSERT_TRUE(run_until([&] {
    if (!requested && a_log.has(c, TcpSocketEvent::kConnected)) {
      EXPECT_EQ(a_.tcp->send(c, "request", 7), 7);
      requested = true;
    }
    if (!s.valid() && (s = b_.tcp->accept(l, &err)).valid()) {
      EXPECT_EQ(b_.tcp->set_callback(s, b_log.callback()), 0);
    }
    if (s.valid() && !answered && b_.tcp->readable_bytes(s) == 7) {
      EXPECT_EQ(read_all(*b_.tcp, s), "request");
      EXPECT_EQ(b_.tcp->send(s, "response", 8), 8);
      answered = true;
    }
    if (!a_closed && a_.tcp->readable_bytes(c) == 8) {
      EXPECT_EQ(read_all(*a_.tcp, c), "response");
      a_.tcp->close(c);
      a_closed = true;
    }
    if (s.valid() && !b_closed && b_log.has(s, TcpSocketEvent::kPeerFin)) {
      b_.tcp->close(s);
      b_closed = true;
    }
    return b_closed;
  }));
  run_for(500ms);  // past every delayed-ACK timer: an ACK still owed would show
  EXPECT_EQ(a_.ip->eth_counters().get(EthCounter::kTxFrames) - a_before, 4u)
      << "SYN, ACK with the request, FIN, the last ACK";
  EXPECT_EQ(b_tx_frames() - b_before, 3u) << "SYN-ACK, the answer, FIN";
  EXPECT_EQ(b_.tcp->state(s), TcpState::kClosed);
}

// An ACK held for the application goes at the start of the engine's next iteration
// when the application sends nothing: the server's accept does not wait for the
// client's first data.
TEST_F(TcpPairBurst, HeldHandshakeAckLeavesOnTheNextIterationWithoutData) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  TcpConnId c0, s0, l;
  open_a_to_b(kPort, &c0, &s0, &l);
  if (HasFatalFailure()) return;
  run_for(100ms);
  int err = 0;
  EventLog log;
  const TcpConnId c = a_.tcp->connect({kAddrB, kPort}, log.callback(), &err);
  ASSERT_TRUE(c.valid()) << err;
  ASSERT_TRUE(run_until([&] { return log.has(c, TcpSocketEvent::kConnected); }));
  EXPECT_FALSE(b_.tcp->has_pending_accept(l));  // the ACK is held in A
  clock_.advance(20us);
  a_.engine->poll_once();
  clock_.advance(20us);
  b_.engine->poll_once();
  EXPECT_TRUE(b_.tcp->has_pending_accept(l));
}

}  // namespace
}  // namespace shardtcp::testing
