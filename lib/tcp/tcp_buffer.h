// Byte storage of a connection behind an injected allocator, so the TCP core never
// calls DPDK. In production BufferOps is backed by mbufs: a received payload is kept
// by reference (retain = refcnt++) and copied only when the application reads; send
// data lives in a chain of mbuf-sized chunks that the emitter can reference directly.
// The bookkeeping around the bytes (which chunks, which pieces) takes blocks from the
// BlockPool the BufferOps carries, only while there are bytes to keep track of.
#pragma once

#include <cstdint>

#include "tcp/block_pool.h"
#include "tcp/pooled_ring.h"
#include "tcp/tcp_config_registry.h"
#include "tcp/tcp_segment.h"

namespace shardtcp {

// A block of send storage handed out by BufferOps.
struct BufferChunk {
  std::uint8_t* data = nullptr;
  std::uint32_t capacity = 0;
  void* handle = nullptr;  // the allocator's own token (an rte_mbuf* in production)
};

class BufferOps {
 public:
  virtual ~BufferOps() = default;
  // Keep / drop the owner of received payload bytes (Payload::handle). A null handle
  // means the caller guarantees the bytes outlive the connection's use of them.
  virtual void retain(void* handle) = 0;
  virtual void release(void* handle) = 0;
  // release() for each of `n` handles (null ones skipped), for a read that consumed
  // several payloads: one call, so an mbuf allocator returns them to the pool at once.
  virtual void release_many(void* const* handles, std::uint32_t n) {
    for (std::uint32_t i = 0; i < n; ++i) release(handles[i]);
  }
  // Send-side storage. alloc_chunk returns false when none is available (the
  // connection then accepts fewer bytes from the application).
  virtual bool alloc_chunk(BufferChunk& out) = 0;
  // A chunk for a write with `want` bytes still to store: an allocator that has larger
  // chunks may hand one out for a large write (fewer, longer copies into it, and fewer
  // buffers in each frame that goes out of it). By default alloc_chunk.
  virtual bool alloc_chunk_for(BufferChunk& out, std::uint32_t want) {
    (void)want;
    return alloc_chunk(out);
  }
  virtual void free_chunk(const BufferChunk& chunk) = 0;
  // free_chunk for each of `n` chunks (an acknowledgement that retired several), in
  // one call: an mbuf allocator returns them to the pool at once.
  virtual void free_chunks(const BufferChunk* chunks, std::uint32_t n) {
    for (std::uint32_t i = 0; i < n; ++i) free_chunk(chunks[i]);
  }
  // Typical capacity of a chunk, used to bound a connection's chunk ring.
  virtual std::uint32_t chunk_size() const = 0;

  // Storage for the connections' bookkeeping (chunk rings, piece lists, RACK records,
  // SACK scoreboards): one pool per engine, as BufferOps is.
  BlockPool& blocks() { return blocks_; }
  const BlockPool& blocks() const { return blocks_; }
  // The connections' configs, one copy of each distinct one (same engine).
  TcpConfigRegistry& configs() { return configs_; }
  const TcpConfigRegistry& configs() const { return configs_; }

 private:
  BlockPool blocks_;
  TcpConfigRegistry configs_;
};

// The send stream of one connection: bytes the application handed over that are not
// yet acknowledged. Bytes are addressed by stream offset (0 = first byte ever sent),
// so segments can refer to them without knowing the chunk layout. An empty buffer
// holds no chunk and no ring storage: both are taken as the application writes and
// returned as the peer acknowledges.
class SendBuffer {
 public:
  // `capacity` bounds the bytes held (SO_SNDBUF) and, with the chunk size, the ring.
  SendBuffer(BufferOps& ops, std::uint32_t capacity, std::uint32_t chunk_size_hint = 2048);
  ~SendBuffer();
  SendBuffer(const SendBuffer&) = delete;
  SendBuffer& operator=(const SendBuffer&) = delete;

  // Appends up to `len` bytes; returns how many were taken.
  std::uint32_t append(const std::uint8_t* data, std::uint32_t len);
  // Drops `n` acknowledged bytes from the front.
  void consume(std::uint32_t n);

  std::uint32_t size() const { return size_; }
  std::uint32_t capacity() const { return capacity_; }
  std::uint32_t free_space() const { return capacity_ - size_; }
  std::uint64_t head_offset() const { return head_off_; }  // stream offset of the first byte held
  std::uint64_t tail_offset() const { return head_off_ + size_; }

  // Copies [off, off+len) of the stream; the range must be held. Returns bytes copied.
  std::uint32_t copy(std::uint64_t off, std::uint32_t len, std::uint8_t* dst) const;
  // Calls fn(const uint8_t* data, uint32_t len, void* chunk_handle) for each contiguous
  // piece of [off, off+len): lets an emitter attach chunks to mbufs without a copy.
  template <typename Fn>
  void for_each_chunk(std::uint64_t off, std::uint32_t len, Fn&& fn) const {
    if (off < head_off_) return;
    std::uint64_t skip = off - head_off_ + head_pos_;
    std::uint32_t i = 0;
    if (chunk_capacity_ != 0) {
      // Every chunk but the last is full, so with one capacity the chunk holding `off`
      // is found by a division rather than a walk past the bytes in flight before it.
      i = static_cast<std::uint32_t>(skip / chunk_capacity_);
      skip %= chunk_capacity_;
    }
    for (; len > 0 && i < ring_.size(); ++i) {
      const BufferChunk& c = ring_[i];
      if (skip >= c.capacity) {
        skip -= c.capacity;
      } else {
        std::uint32_t take = static_cast<std::uint32_t>(c.capacity - skip);
        if (take > len) take = len;
        fn(c.data + skip, take, c.handle);
        len -= take;
        skip = 0;
      }
    }
  }

  // Changes the limit, up to the capacity at construction (which bounds the ring).
  void set_capacity(std::uint32_t capacity);
  // Bytes of pool storage the chunk ring holds now (0 when empty).
  std::size_t ring_storage_bytes() const { return ring_.storage_bytes(); }

 private:
  void note_capacity(std::uint32_t capacity);

  BufferOps& ops_;
  PooledRing<BufferChunk> ring_;  // chunks in use, the one holding the first byte first
  std::uint32_t head_pos_ = 0;    // offset of the first byte within the head chunk
  std::uint32_t tail_room_ = 0;   // free bytes at the end of the last chunk
  std::uint32_t size_ = 0;
  std::uint32_t capacity_;
  std::uint32_t max_capacity_;
  std::uint64_t head_off_ = 0;
  // The capacity every chunk taken so far has had; 0 before the first chunk and for
  // ever once two differ (for_each_chunk then walks).
  std::uint32_t chunk_capacity_ = 0;
  bool mixed_capacities_ = false;
};

// Heap-backed BufferOps for unit tests and tools: chunks come from new[], and
// received payloads are reference-counted blocks made with make_payload().
class HeapBufferOps final : public BufferOps {
 public:
  explicit HeapBufferOps(std::uint32_t chunk_size = 2048) : chunk_size_(chunk_size) {}
  ~HeapBufferOps() override = default;

  // A payload whose bytes are owned by a refcounted block; the caller holds one
  // reference and must drop it with release() when done with the segment.
  Payload make_payload(const std::uint8_t* data, std::uint32_t len);

  void retain(void* handle) override;
  void release(void* handle) override;
  bool alloc_chunk(BufferChunk& out) override;
  void free_chunk(const BufferChunk& chunk) override;
  std::uint32_t chunk_size() const override { return chunk_size_; }

  std::int64_t live_blocks() const { return live_blocks_; }
  std::int64_t live_chunks() const { return live_chunks_; }
  // When set, alloc_chunk fails after this many live chunks (tests of back-pressure).
  void set_chunk_limit(std::int64_t limit) { chunk_limit_ = limit; }

 private:
  std::uint32_t chunk_size_;
  std::int64_t live_blocks_ = 0;
  std::int64_t live_chunks_ = 0;
  std::int64_t chunk_limit_ = -1;
};

}  // namespace shardtcp
