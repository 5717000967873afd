// The pooled bookkeeping behind a connection's bytes (issue 15): BlockPool, PooledRing,
// and the send/receive buffers on them. The point checked throughout is that storage is
// taken as data arrives or is written and given back the moment it drains (pool counts
// return to where they started), and that an exhausted pool refuses work cleanly.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tcp/block_pool.h"
#include "tcp/pooled_ring.h"
#include "tcp/tcp_buffer.h"
#include "tcp/tcp_receiver.h"

namespace shardtcp {
namespace {

std::string pattern(std::size_t n, std::size_t from = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (from + i) % 26);
  return s;
}
const std::uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

TEST(BlockPool, RoundsToClassesReusesFreedBlocksAndCountsSlabs) {
  BlockPool pool;
  EXPECT_EQ(BlockPool::block_size(1), 64u);
  EXPECT_EQ(BlockPool::block_size(65), 128u);
  EXPECT_EQ(BlockPool::block_size(24 * 512), 16384u);
  void* a = pool.alloc(100);
  void* b = pool.alloc(100);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(pool.blocks_in_use(), 2u);
  EXPECT_EQ(pool.bytes_in_use(), 256u);
  const std::size_t slabs = pool.slab_bytes();
  EXPECT_GE(slabs, BlockPool::kSlabBytes);
  std::memset(a, 0xab, 128);  // the whole rounded block is usable
  pool.free(a, 100);
  EXPECT_EQ(pool.alloc(128), a);  // the free list hands the block back out
  pool.free(a, 128);
  pool.free(b, 100);
  EXPECT_EQ(pool.blocks_in_use(), 0u);
  EXPECT_EQ(pool.bytes_in_use(), 0u);
  EXPECT_EQ(pool.slab_bytes(), slabs);  // slabs stay with the pool for the next burst
}

TEST(BlockPool, LimitRefusesInsteadOfGrowing) {
  BlockPool pool(BlockPool::kSlabBytes);  // one slab of heap at most
  std::vector<void*> got;
  for (;;) {
    void* p = pool.alloc(4096);
    if (p == nullptr) break;
    got.push_back(p);
    ASSERT_LT(got.size(), 100u);
  }
  EXPECT_EQ(got.size(), 15u);  // 64 KiB less the slab header's room, in 4 KiB blocks
  EXPECT_EQ(pool.alloc_failures(), 1u);
  EXPECT_EQ(pool.alloc(64), nullptr);  // another class would need a second slab
  pool.free(got.back(), 4096);
  EXPECT_NE(pool.alloc(4096), nullptr);  // a returned block is usable again at once
}

TEST(PooledRing, WrapsAroundGrowsInOrderAndReturnsItsBlockWhenEmpty) {
  BlockPool pool;
  PooledRing<std::uint64_t> ring(pool, 1000);
  EXPECT_EQ(ring.capacity(), 0u);
  EXPECT_EQ(pool.blocks_in_use(), 0u);
  std::uint64_t next_in = 0, next_out = 0;
  // Keep 5 records in a ring of 8 while 100 pass through: the head wraps many times.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(ring.push_back(next_in++));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(ring.push_back(next_in++));
    EXPECT_EQ(ring.front(), next_out++);
    ring.pop_front();
  }
  EXPECT_EQ(ring.capacity(), 8u);  // 64 B block: 8 records, never grown
  // Growing from a wrapped state keeps the order.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(ring.push_back(next_in++));
  EXPECT_EQ(ring.capacity(), 32u);
  for (std::uint32_t i = 0; i < ring.size(); ++i) EXPECT_EQ(ring[i], next_out + i);
  EXPECT_EQ(pool.blocks_in_use(), 1u);
  ring.erase_front(ring.size());
  EXPECT_EQ(ring.capacity(), 0u);
  EXPECT_EQ(pool.blocks_in_use(), 0u);
}

TEST(PooledRing, InsertAndEraseInTheMiddleKeepTheRestInPlace) {
  BlockPool pool;
  PooledRing<int> ring(pool, 100);
  for (int v : {10, 20, 40, 50}) ASSERT_TRUE(ring.push_back(v));
  ASSERT_TRUE(ring.insert(2, 30));
  ASSERT_TRUE(ring.insert(0, 5));
  ASSERT_TRUE(ring.insert(6, 60));
  std::vector<int> got;
  for (std::uint32_t i = 0; i < ring.size(); ++i) got.push_back(ring[i]);
  EXPECT_EQ(got, (std::vector<int>{5, 10, 20, 30, 40, 50, 60}));
  ring.erase(2, 3);
  got.clear();
  for (std::uint32_t i = 0; i < ring.size(); ++i) got.push_back(ring[i]);
  EXPECT_EQ(got, (std::vector<int>{5, 10, 50, 60}));
  ring.erase(1, 3);
  ring.pop_back();
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(pool.blocks_in_use(), 0u);
}

TEST(PooledRing, BoundAndExhaustedPoolRefusePush) {
  BlockPool pool;
  PooledRing<int> bounded(pool, 3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bounded.push_back(i));
  EXPECT_FALSE(bounded.push_back(3));
  EXPECT_EQ(bounded.size(), 3u);
  BlockPool none(0);  // no slab may be taken
  PooledRing<int> starved(none, 10);
  EXPECT_FALSE(starved.push_back(1));
  EXPECT_FALSE(starved.insert(0, 1));
  EXPECT_TRUE(starved.empty());
}

TEST(PooledSendBuffer, HoldsNothingUntilWrittenAndNothingOnceAcked) {
  HeapBufferOps ops(1000);
  SendBuffer b(ops, 64 * 1024, ops.chunk_size());
  EXPECT_EQ(ops.blocks().blocks_in_use(), 0u);
  EXPECT_EQ(ops.live_chunks(), 0);
  std::string d = pattern(20000);
  // Written and acknowledged in steps that straddle chunk boundaries, with the ring
  // wrapping: the stream comes back out byte-exact at every offset.
  std::uint64_t written = 0;
  for (int round = 0; round < 30; ++round) {
    const std::uint32_t n = 1700 + 37 * static_cast<std::uint32_t>(round);
    ASSERT_EQ(b.append(bytes(d) + written % 1000, n), n);
    std::string got(n, '\0');
    ASSERT_EQ(b.copy(b.tail_offset() - n, n, reinterpret_cast<std::uint8_t*>(got.data())), n);
    EXPECT_EQ(got, d.substr(written % 1000, n));
    written += n;
    b.consume(b.size() > 3000 ? b.size() - 3000 : 0);
  }
  EXPECT_GT(ops.blocks().blocks_in_use(), 0u);
  b.consume(b.size());
  EXPECT_EQ(b.head_offset(), written);
  EXPECT_EQ(ops.live_chunks(), 0);
  EXPECT_EQ(b.ring_storage_bytes(), 0u);
  EXPECT_EQ(ops.blocks().blocks_in_use(), 0u);
}

TEST(PooledSendBuffer, ExhaustedPoolAcceptsFewerBytesAndLeaksNoChunk) {
  HeapBufferOps ops(1000);
  ops.blocks().set_limit_bytes(0);
  SendBuffer b(ops, 64 * 1024, ops.chunk_size());
  std::string d = pattern(5000);
  EXPECT_EQ(b.append(bytes(d), 5000), 0u);  // no ring block: nothing taken
  EXPECT_EQ(ops.live_chunks(), 0);          // the chunk it had was handed back
  ops.blocks().set_limit_bytes(SIZE_MAX);
  EXPECT_EQ(b.append(bytes(d), 5000), 5000u);  // and it works once there is room
}

class PooledReceiver : public ::testing::Test {
 protected:
  void TearDown() override {
    rx.reset(SeqNum());
    for (void* h : held) ops.release(h);
    EXPECT_EQ(ops.live_blocks(), 0);
    EXPECT_EQ(ops.blocks().blocks_in_use(), 0u);
  }
  TcpReceiver::InsertResult put(std::uint32_t seq, const std::string& s) {
    Payload p = ops.make_payload(bytes(s), static_cast<std::uint32_t>(s.size()));
    held.push_back(p.handle);
    return rx.insert(SeqNum(seq), p);
  }
  std::string read(std::uint32_t n) {
    std::string s(n, '\0');
    s.resize(rx.read(reinterpret_cast<std::uint8_t*>(s.data()), n, false));
    return s;
  }
  HeapBufferOps ops;
  TcpReceiver rx{ops, 4000, 64, 32};
  std::vector<void*> held;
};

TEST_F(PooledReceiver, IdleReceiverHoldsNoStorageAndDrainReturnsIt) {
  rx.reset(SeqNum(0));
  EXPECT_EQ(rx.storage_bytes(), 0u);
  EXPECT_EQ(rx.free_space(), 4000u);  // the window is advertised from the capacity
  put(0, "abc");
  EXPECT_GT(rx.storage_bytes(), 0u);
  EXPECT_EQ(read(100), "abc");
  EXPECT_EQ(rx.storage_bytes(), 0u);
  EXPECT_EQ(ops.blocks().blocks_in_use(), 0u);
}

TEST_F(PooledReceiver, InOrderRingWrapsAndTrimsBelowRcvNxt) {
  const std::string stream = pattern(3000);
  rx.reset(SeqNum(0xffffff00u));  // the sequence space wraps too
  std::string got;
  std::uint32_t off = 0;
  for (int i = 0; off < stream.size(); ++i) {
    const std::uint32_t n = std::min<std::uint32_t>(10 + (i % 7) * 13, 3000 - off);
    // Every other segment re-sends 5 bytes already received: they are trimmed.
    const std::uint32_t back = (i % 2 == 1 && off >= 5) ? 5 : 0;
    auto r = put(0xffffff00u + off - back, stream.substr(off - back, n + back));
    ASSERT_EQ(r.advanced, n);
    off += n;
    if (i % 3 == 2) got += read(static_cast<std::uint32_t>(rx.readable() - 1));  // keep one
  }
  got += read(10000);
  EXPECT_EQ(got, stream);
  EXPECT_EQ(rx.storage_bytes(), 0u);
}

TEST_F(PooledReceiver, OutOfOrderMergesIntoSackRangesAndDrains) {
  rx.reset(SeqNum(0));
  const std::string s = pattern(100);
  put(60, s.substr(60, 10));
  put(20, s.substr(20, 10));
  put(30, s.substr(30, 5));  // adjacent to [20,30): one SACK range [20,35)
  put(80, s.substr(80, 20));
  put(65, s.substr(65, 20));  // overlaps both sides: joins [60,100) into one range
  SackBlock b[4];
  ASSERT_EQ(rx.sack_blocks(b, 4), 3);  // D-SACK of the overlap first, then the ranges
  EXPECT_EQ(b[1], (SackBlock{SeqNum(60), SeqNum(100)}));
  EXPECT_EQ(b[2], (SackBlock{SeqNum(20), SeqNum(35)}));
  EXPECT_EQ(rx.ooo_bytes(), 55u);
  EXPECT_GT(ops.blocks().blocks_in_use(), 0u);
  put(0, s.substr(0, 20));
  EXPECT_EQ(rx.rcv_nxt(), SeqNum(35));
  put(35, s.substr(35, 25));
  EXPECT_EQ(rx.rcv_nxt(), SeqNum(100));
  EXPECT_EQ(rx.ooo_segments(), 0u);
  EXPECT_EQ(read(1000), s);
  EXPECT_EQ(ops.blocks().blocks_in_use(), 0u);
}

TEST_F(PooledReceiver, ZeroWindowWhenFullAndOpensAgainAfterRead) {
  rx.reset(SeqNum(0));
  const std::string s = pattern(4000);
  for (std::uint32_t off = 0; off < 4000; off += 500) put(off, s.substr(off, 500));
  EXPECT_EQ(rx.free_space(), 0u);
  EXPECT_EQ(read(1000), s.substr(0, 1000));
  EXPECT_EQ(rx.free_space(), 1000u);
  EXPECT_EQ(read(4000), s.substr(1000));
  EXPECT_EQ(rx.free_space(), 4000u);
}

TEST_F(PooledReceiver, ExhaustedPoolDropsTheSegmentAndRecoversWhenFreed) {
  rx.reset(SeqNum(0));
  ops.blocks().set_limit_bytes(0);
  auto r = put(0, "abc");
  EXPECT_TRUE(r.dropped);
  EXPECT_EQ(rx.rcv_nxt(), SeqNum(0));
  EXPECT_TRUE(put(10, "xyz").dropped);
  ops.blocks().set_limit_bytes(SIZE_MAX);
  EXPECT_EQ(put(0, "abc").advanced, 3u);  // the retransmission is taken
  EXPECT_EQ(read(10), "abc");
}

}  // namespace
}  // namespace shardtcp
