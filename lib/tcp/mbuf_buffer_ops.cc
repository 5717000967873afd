#include "tcp/mbuf_buffer_ops.h"

#include <cstddef>
#include <cstring>

namespace shardtcp {

namespace {

// rte_pktmbuf_free on each of the n mbufs at(i) gives (nulls skipped), with the
// mempool puts batched. Received payloads the application has read and acknowledged
// send chunks come back here, and nearly each is the last reference to a direct,
// unchained mbuf: one that goes back to its pool as it is, which is all
// rte_pktmbuf_prefree_seg would conclude after its checks (rte_pktmbuf_free_bulk: 40
// instructions an mbuf). Any other mbuf (shared, attached, chained) takes
// rte_pktmbuf_free.
template <typename At>
void free_mbufs(std::uint32_t n, At&& at) {
  constexpr unsigned kBatch = 64;
  rte_mbuf* batch[kBatch];
  unsigned k = 0;
  rte_mempool* pool = nullptr;
  for (std::uint32_t i = 0; i < n; ++i) {
    rte_mbuf* m = at(i);
    if (m == nullptr) continue;
    // The reference count and segment count sit side by side: both 1, in one compare.
    static_assert(offsetof(rte_mbuf, nb_segs) == offsetof(rte_mbuf, refcnt) + 2);
    std::uint32_t refcnt_and_segs;
    std::memcpy(&refcnt_and_segs, &m->refcnt, sizeof(refcnt_and_segs));
    constexpr std::uint32_t kOneAndOne = 1u | 1u << 16;  // either byte order
    if (refcnt_and_segs != kOneAndOne || !RTE_MBUF_DIRECT(m) || m->next != nullptr) {
      rte_pktmbuf_free(m);
      continue;
    }
    if (m->pool != pool || k == kBatch) {
      if (k > 0) rte_mempool_put_bulk(pool, reinterpret_cast<void**>(batch), k);
      k = 0;
      pool = m->pool;
    }
    batch[k++] = m;
  }
  if (k > 0) rte_mempool_put_bulk(pool, reinterpret_cast<void**>(batch), k);
}

}  // namespace

MbufBufferOps::MbufBufferOps(rte_mempool* pool, unsigned reserve, rte_mempool* large_pool)
    : pool_(pool),
      large_pool_(large_pool),
      reserve_(reserve),
      chunk_size_(pool != nullptr ? static_cast<std::uint32_t>(rte_pktmbuf_data_room_size(pool) -
                                                               RTE_PKTMBUF_HEADROOM)
                                  : 0) {}

void MbufBufferOps::retain(void* handle) {
  if (handle != nullptr) rte_mbuf_refcnt_update(static_cast<rte_mbuf*>(handle), 1);
}

void MbufBufferOps::release(void* handle) {
  // rte_pktmbuf_free drops one reference and returns the mbuf when it was the last.
  if (handle != nullptr) rte_pktmbuf_free(static_cast<rte_mbuf*>(handle));
}

void MbufBufferOps::release_many(void* const* handles, std::uint32_t n) {
  free_mbufs(n, [&](std::uint32_t i) { return static_cast<rte_mbuf*>(handles[i]); });
}

bool MbufBufferOps::exhausted() const {
  if (pool_ == nullptr) return true;
  // rte_mempool_avail_count sums every lcore's cache (RTE_MAX_LCORE of them: about 670
  // instructions), and a send buffer asks on every chunk it takes. The shared store
  // alone (the ring behind the pool: its ops' get_count, which avail_count adds the
  // caches to) holding more than the reserve already proves the pool is above it.
  if (rte_mempool_get_ops(pool_->ops_index)->get_count(pool_) > reserve_) return false;
  return rte_mempool_avail_count(pool_) <= reserve_;
}

bool MbufBufferOps::alloc_chunk(BufferChunk& out) {
  if (exhausted() || !take_chunk(pool_, out)) {
    ++chunk_failures_;
    return false;
  }
  return true;
}

bool MbufBufferOps::alloc_chunk_for(BufferChunk& out, std::uint32_t want) {
  if (large_pool_ != nullptr && want >= kLargeWrite && take_chunk(large_pool_, out)) {
    ++large_chunks_;
    return true;
  }
  return alloc_chunk(out);
}

bool MbufBufferOps::take_chunk(rte_mempool* pool, BufferChunk& out) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (m == nullptr) return false;
  out.data = rte_pktmbuf_mtod(m, std::uint8_t*);
  out.capacity = rte_pktmbuf_tailroom(m);
  out.handle = m;
  ++live_chunks_;
  return true;
}

void MbufBufferOps::free_chunk(const BufferChunk& chunk) {
  if (chunk.handle == nullptr) return;
  // Indirect mbufs still in flight hold their own references to the buffer.
  rte_pktmbuf_free(static_cast<rte_mbuf*>(chunk.handle));
  --live_chunks_;
}

void MbufBufferOps::free_chunks(const BufferChunk* chunks, std::uint32_t n) {
  free_mbufs(n, [&](std::uint32_t i) {
    auto* m = static_cast<rte_mbuf*>(chunks[i].handle);
    if (m != nullptr) --live_chunks_;
    return m;
  });
}

}  // namespace shardtcp
