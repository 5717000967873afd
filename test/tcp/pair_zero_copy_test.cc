// Zero-copy transmit (payloads attached from the send buffer's chunks by indirect
// mbufs) at its edges: frames still inside the device when their connection is
// aborted, and a pool that runs out of mbufs for the attachments.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "pair_harness.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint16_t kPort = 8080;

class TcpPairZeroCopy : public TcpPairTest {
 protected:
  static std::vector<std::uint8_t> pattern(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>((i * 13) ^ (i >> 8));
    return v;
  }
};

// A's device holds its frames 50 ms (the fault injector's delay: a TX ring the NIC has
// not drained). The connection is aborted meanwhile: its send buffer gives its chunks
// back, but the frames still reference them, so the mbufs stay out of the pool. Every
// free mbuf is then taken and overwritten, as the next allocations would: a chunk
// returned too early would be among them and its frames would leave with the wrong
// bytes (the receiver's checksum tells). Once the device lets the frames go, every
// mbuf is back.
TEST_F(TcpPairZeroCopy, AbortWhileTheDeviceHoldsFramesFreesEverythingOnceItLetsGo) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  a.pool = make_pool(4095);
  ImpairmentConfig device;
  device.delay = 50ms;
  a.impair = device;
  build(a, b);
  TcpConnId c, s, l;
  open_a_to_b(kPort, &c, &s, &l);
  ASSERT_TRUE(a_.tcp->emitter().config().zero_copy);
  run_for(200ms);  // the handshake's frames are out of the device
  const unsigned idle = rte_mempool_avail_count(a.pool);

  const std::vector<std::uint8_t> data = pattern(64 * 1024);
  ASSERT_EQ(a_.tcp->send(c, data.data(), data.size()), static_cast<long>(data.size()));
  for (int i = 0; i < 3; ++i) a_.engine->poll_once();  // the clock stands: frames stay held
  ASSERT_GT(a_.faults->held(), 1u);
  EXPECT_GT(a_.tcp->emitter().zero_copy_segments(), 1u);
  EXPECT_GT(a_.tcp->buffer_ops().live_chunks(), 0);

  a_.tcp->abort(c);
  EXPECT_EQ(a_.tcp->buffer_ops().live_chunks(), 0);  // the send buffer let go of them
  EXPECT_LT(rte_mempool_avail_count(a.pool), idle);  // the held frames did not
  std::vector<rte_mbuf*> taken;
  while (rte_mbuf* m = rte_pktmbuf_alloc(a.pool)) {
    std::memset(rte_pktmbuf_mtod(m, void*), 0xee, rte_pktmbuf_tailroom(m));
    taken.push_back(m);
  }
  for (rte_mbuf* m : taken) rte_pktmbuf_free(m);

  run_for(300ms);  // the device sends them; B takes the data, then the RST
  EXPECT_EQ(a_.faults->held(), 0u);
  EXPECT_GT(b_.tcp->counter(TcpCounter::kEstabResets), 0u);
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kRxBadChecksum), 0u);
  close_and_drain(c, s, l);
  EXPECT_EQ(rte_mempool_avail_count(a.pool), idle);
}

// The pool runs dry while a stream is under way. A segment whose indirect mbufs cannot
// all be had is copied into its header mbuf instead (a full segment fits there); the
// segments that cannot even have a header are refused and counted, and go out again
// from the retransmission timer once mbufs are back: the stream completes byte-exact,
// nothing leaks.
TEST_F(TcpPairZeroCopy, PoolExhaustionFallsBackToCopyThenRefusesAndNeverStalls) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  a.pool = make_pool(2047);
  build(a, b);
  TcpConnId c, s, l;
  open_a_to_b(kPort, &c, &s, &l);
  const unsigned idle = rte_mempool_avail_count(a.pool);

  const std::vector<std::uint8_t> data = pattern(256 * 1024);
  const std::size_t sent = send_what_fits(c, data, 0);
  ASSERT_GT(sent, 128u * 1024);
  a_.engine->poll_once();  // the initial window leaves, attached
  const std::uint64_t attached = a_.tcp->emitter().zero_copy_segments();
  EXPECT_GT(attached, 0u);

  // All but one mbuf taken: B's ACK opens the window, and the next segment's header
  // takes the last mbuf, leaving none for its attachment.
  std::vector<rte_mbuf*> taken;
  while (rte_mempool_avail_count(a.pool) > 1) taken.push_back(rte_pktmbuf_alloc(a.pool));
  b_.engine->poll_once();
  b_.engine->poll_once();  // B's ACK, held over its application's turn, leaves now
  a_.engine->poll_once();
  EXPECT_GE(a_.tcp->counter(TcpLayerCounter::kTxZeroCopyFallbacks), 1u);  // "tcp_layer" group
  EXPECT_GT(a_.tcp->counter(TcpLayerCounter::kNoBufferTx), 0u);
  EXPECT_EQ(a_.tcp->emitter().zero_copy_segments(), attached);
  for (rte_mbuf* m : taken) rte_pktmbuf_free(m);

  std::vector<std::uint8_t> got;
  ASSERT_TRUE(stream_a_to_b(c, s, data, sent, got, 30s));
  EXPECT_TRUE(got == data);
  EXPECT_GT(a_.tcp->emitter().zero_copy_segments(), attached);  // attaching again
  close_and_drain(c, s, l);
  run_for(3s);  // TIME_WAIT records hold no mbufs, but let every timer run out
  EXPECT_EQ(rte_mempool_avail_count(a.pool), idle);
}

}  // namespace
}  // namespace shardtcp::testing
