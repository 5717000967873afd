// The pooled bookkeeping behind a connection's bytes (issue 15): BlockPool and
// PooledRing, which take storage as data arrives or is written and give it back the
// moment it drains (pool counts return to where they started), and refuse work
// cleanly when the pool is exhausted. The buffers on them: tcb_buffer_test.cc.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tcp/block_pool.h"
#include "tcp/pooled_ring.h"

namespace shardtcp {
namespace {

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
  // Keep 12 records in a ring of 16 while 100 pass through: the head wraps many times.
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(ring.push_back(next_in++));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(ring.push_back(next_in++));
    EXPECT_EQ(ring.front(), next_out++);
    ring.pop_front();
  }
  EXPECT_EQ(ring.capacity(), 16u);  // 128 B block: 16 records, never grown
  // Growing from a wrapped state keeps the order.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(ring.push_back(next_in++));
  EXPECT_EQ(ring.capacity(), 64u);  // quadrupled
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

}  // namespace
}  // namespace shardtcp
