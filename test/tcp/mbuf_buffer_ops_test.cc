// MbufBufferOps::release_many: plain last references go back to their pools in bulk;
// anything else (a reference someone else shares, an attached mbuf, a chain) is freed
// as rte_pktmbuf_free would, and a null is skipped.
#include "tcp/mbuf_buffer_ops.h"

#include <gtest/gtest.h>

#include <vector>

#include "pair_harness.h"
#include "shardtcp/stack.h"

namespace shardtcp::testing {
namespace {

class MbufBufferOpsTest : public TcpPairTest {
 protected:
  static rte_mbuf* alloc(rte_mempool* pool) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    EXPECT_NE(m, nullptr);
    if (m != nullptr) rte_pktmbuf_append(m, 100);
    return m;
  }
  // The engine's pool (256 mbufs) and a pool of `large_n` send chunks as a Stack makes.
  void make_pools(unsigned large_n) {
    pool_ = make_pool(256);
    large_ = make_pool(large_n, StackConfig::kSendChunkDataRoom);
    ASSERT_NE(pool_, nullptr);
    ASSERT_NE(large_, nullptr);
  }
  rte_mempool* pool_ = nullptr;
  rte_mempool* large_ = nullptr;
};

TEST_F(MbufBufferOpsTest, ReleaseManyReturnsEveryLastReferenceAndKeepsSharedOnes) {
  rte_mempool* p1 = make_pool(256);
  rte_mempool* p2 = make_pool(256);
  ASSERT_NE(p1, nullptr);
  ASSERT_NE(p2, nullptr);
  const unsigned full1 = rte_mempool_avail_count(p1), full2 = rte_mempool_avail_count(p2);
  MbufBufferOps ops(p1, 0);

  std::vector<void*> handles;
  // More plain mbufs than one bulk put takes, from two pools, interleaved in runs.
  for (int i = 0; i < 150; ++i) handles.push_back(alloc(i % 40 < 20 ? p1 : p2));
  handles.push_back(nullptr);
  // A reference shared with another holder: only ours goes.
  rte_mbuf* shared = alloc(p1);
  rte_mbuf_refcnt_update(shared, 1);
  handles.push_back(shared);
  // An mbuf attached to another's buffer: detached, and the buffer's owner keeps it.
  rte_mbuf* owner = alloc(p2);
  rte_mbuf* attached = rte_pktmbuf_alloc(p1);
  ASSERT_NE(attached, nullptr);
  rte_pktmbuf_attach(attached, owner);
  handles.push_back(attached);
  // A chain of two: both go.
  rte_mbuf* head = alloc(p1);
  ASSERT_EQ(rte_pktmbuf_chain(head, alloc(p2)), 0);
  handles.push_back(head);

  ops.release_many(handles.data(), static_cast<std::uint32_t>(handles.size()));

  EXPECT_EQ(rte_mbuf_refcnt_read(shared), 1);
  EXPECT_EQ(rte_mbuf_refcnt_read(owner), 1);          // the attached mbuf's hold on it is gone
  EXPECT_EQ(rte_mempool_avail_count(p1), full1 - 1);  // `shared`
  EXPECT_EQ(rte_mempool_avail_count(p2), full2 - 1);  // `owner`
  // The freed mbufs are fit for reuse: a fresh allocation of all of them works.
  rte_pktmbuf_free(shared);
  rte_pktmbuf_free(owner);
  EXPECT_EQ(rte_mempool_avail_count(p1), full1);
  EXPECT_EQ(rte_mempool_avail_count(p2), full2);
  std::vector<rte_mbuf*> again(full1);
  ASSERT_EQ(rte_pktmbuf_alloc_bulk(p1, again.data(), full1), 0);
  for (rte_mbuf* m : again) {
    EXPECT_EQ(m->nb_segs, 1);
    EXPECT_EQ(m->next, nullptr);
    EXPECT_EQ(rte_mbuf_refcnt_read(m), 1);
  }
  rte_pktmbuf_free_bulk(again.data(), full1);
}

TEST_F(MbufBufferOpsTest, FreeChunksReturnsChunksAndKeepsThoseStillOnTheWire) {
  rte_mempool* pool = make_pool(256);
  ASSERT_NE(pool, nullptr);
  const unsigned full = rte_mempool_avail_count(pool);
  MbufBufferOps ops(pool, 0);
  std::vector<BufferChunk> chunks(100);
  for (BufferChunk& c : chunks) ASSERT_TRUE(ops.alloc_chunk(c));
  EXPECT_EQ(ops.live_chunks(), 100);
  // A zero-copy frame still holds the first chunk's buffer (an attached mbuf).
  rte_mbuf* on_wire = rte_pktmbuf_alloc(pool);
  ASSERT_NE(on_wire, nullptr);
  rte_pktmbuf_attach(on_wire, static_cast<rte_mbuf*>(chunks[0].handle));
  chunks.push_back(BufferChunk{});  // a null handle is skipped

  ops.free_chunks(chunks.data(), static_cast<std::uint32_t>(chunks.size()));
  EXPECT_EQ(ops.live_chunks(), 0);
  EXPECT_EQ(rte_mempool_avail_count(pool), full - 2);  // the chunk and the frame
  rte_pktmbuf_free(on_wire);                           // the frame leaves: both go back
  EXPECT_EQ(rte_mempool_avail_count(pool), full);
}

TEST_F(MbufBufferOpsTest, LargeWritesTakeLargeChunksWhileThePoolLasts) {
  make_pools(4);
  if (HasFatalFailure()) return;
  {
    MbufBufferOps ops(pool_, 0, large_);
    std::vector<BufferChunk> chunks(7);
    // A small write takes the main pool's chunk; large ones take 15 KiB chunks until
    // the large pool is empty, then the main pool's.
    ASSERT_TRUE(ops.alloc_chunk_for(chunks[0], MbufBufferOps::kLargeWrite - 1));
    EXPECT_EQ(chunks[0].capacity, ops.chunk_size());
    for (int i = 1; i <= 4; ++i) {
      ASSERT_TRUE(ops.alloc_chunk_for(chunks[i], 64 * 1024));
      EXPECT_EQ(chunks[i].capacity, 15u * 1024) << i;
    }
    ASSERT_TRUE(ops.alloc_chunk_for(chunks[5], 64 * 1024));
    EXPECT_EQ(chunks[5].capacity, ops.chunk_size());
    ASSERT_TRUE(ops.alloc_chunk(chunks[6]));
    EXPECT_EQ(chunks[6].capacity, ops.chunk_size());
    EXPECT_EQ(ops.large_chunks(), 4u);
    EXPECT_EQ(ops.live_chunks(), 7);
    // Back to their own pools.
    ops.free_chunks(chunks.data(), static_cast<std::uint32_t>(chunks.size()));
    EXPECT_EQ(ops.live_chunks(), 0);
    EXPECT_EQ(rte_mempool_avail_count(large_), 4u);
  }
}

// A send buffer fed one large write fills large chunks; the bytes come back in order.
TEST_F(MbufBufferOpsTest, SendBufferKeepsALargeWriteWholeInLargeChunks) {
  make_pools(64);
  if (HasFatalFailure()) return;
  {
    MbufBufferOps ops(pool_, 0, large_);
    SendBuffer sb(ops, 256 * 1024, ops.chunk_size());
    std::vector<std::uint8_t> data(100 * 1024);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 3);
    ASSERT_EQ(sb.append(data.data(), static_cast<std::uint32_t>(data.size())), data.size());
    // 100 KiB: six full 15 KiB chunks, then 10 KiB more still counts as large (>= 8 KiB).
    EXPECT_EQ(ops.large_chunks(), 7u);
    std::vector<std::uint8_t> back(data.size());
    ASSERT_EQ(sb.copy(0, static_cast<std::uint32_t>(back.size()), back.data()), back.size());
    EXPECT_EQ(back, data);
    sb.consume(static_cast<std::uint32_t>(data.size()));
    EXPECT_EQ(ops.live_chunks(), 0);
  }
}

}  // namespace
}  // namespace shardtcp::testing
