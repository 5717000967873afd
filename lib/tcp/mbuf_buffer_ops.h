// BufferOps over DPDK mbufs, so a connection's bytes live in the engine's mbuf pool:
//  - received payloads stay in the mbuf they arrived in (retain = one more reference,
//    release = drop one), so nothing is copied until the application reads;
//  - send storage is whole mbufs from the pool (the data room is the chunk), which the
//    emitter can reference from indirect mbufs instead of copying.
// A low-water reserve keeps the last `reserve` mbufs of the pool for headers and ACKs:
// send storage never takes them, so a full send side cannot starve the receive path
// of the ACKs that would drain it (the application's send just accepts fewer bytes).
// A second pool of larger mbufs, when given, holds the send storage of large writes:
// the application's bytes are copied into 15 KiB at a time instead of 2 KiB, the length
// at which the CPU's string copy writes whole cache lines without reading them first,
// and a 64 KiB TSO frame refers to five buffers instead of 33. That pool has no
// reserve (nothing else draws on it); when it runs dry, writes take the main pool's.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>

#include "tcp/tcp_buffer.h"

namespace shardtcp {

class MbufBufferOps final : public BufferOps {
 public:
  // `pool` must outlive this object; `reserve` mbufs are left for headers and ACKs.
  MbufBufferOps(rte_mempool* pool, unsigned reserve, rte_mempool* large_pool = nullptr);
  // Writes with at least this many bytes still to store take large_pool's chunks.
  static constexpr std::uint32_t kLargeWrite = 8192;

  // Handles are single-segment rte_mbufs (the TCP layer unchains received chains, each
  // buffer a handle of its own).
  void retain(void* handle) override;
  void release(void* handle) override;
  void release_many(void* const* handles, std::uint32_t n) override;
  bool alloc_chunk(BufferChunk& out) override;
  bool alloc_chunk_for(BufferChunk& out, std::uint32_t want) override;
  void free_chunk(const BufferChunk& chunk) override;
  void free_chunks(const BufferChunk* chunks, std::uint32_t n) override;
  std::uint32_t chunk_size() const override { return chunk_size_; }

  rte_mempool* pool() const { return pool_; }
  unsigned reserve() const { return reserve_; }
  void set_reserve(unsigned r) { reserve_ = r; }
  // True when the pool is down to its reserve: new connections are refused (ENOBUFS).
  bool exhausted() const;
  std::uint64_t chunk_alloc_failures() const { return chunk_failures_; }
  std::int64_t live_chunks() const { return live_chunks_; }
  std::uint64_t large_chunks() const { return large_chunks_; }  // taken from large_pool

 private:
  bool take_chunk(rte_mempool* pool, BufferChunk& out);

  rte_mempool* pool_;
  rte_mempool* large_pool_;
  std::uint64_t large_chunks_ = 0;
  unsigned reserve_;
  std::uint32_t chunk_size_;
  std::int64_t live_chunks_ = 0;
  std::uint64_t chunk_failures_ = 0;
};

}  // namespace shardtcp
