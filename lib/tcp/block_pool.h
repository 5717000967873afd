// Per-engine storage for connection bookkeeping (receive and out-of-order piece lists,
// send chunk rings, RACK's transmit records, the SACK scoreboard), so an idle
// connection holds none of it: a structure takes a block when data arrives, is written
// or is lost, and gives it back the moment it drains.
//
// Blocks come in power-of-two size classes (64 B .. 128 KiB), each class a free list
// threaded through its free blocks. A class with no free block carves a new slab from
// the heap (64 KiB, or one block of a larger class): the only heap allocation, made
// in bulk, counted, and bounded by an optional byte limit; slabs go back to the heap
// only when the pool is destroyed. alloc() and free() are a few pointer moves, so the
// packet path stays free of malloc once the pool has grown to its working size. With
// the limit reached alloc() returns null and the caller refuses the work (a segment is
// dropped, a send accepts fewer bytes), it never waits.
// Single-threaded: one pool per engine, no locks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace shardtcp {

class BlockPool {
 public:
  static constexpr std::size_t kMinBlock = 64;
  static constexpr std::size_t kMaxBlock = 128 * 1024;
  static constexpr std::size_t kSlabBytes = 64 * 1024;

  // `limit_bytes`: most slab bytes taken from the heap (SIZE_MAX: no limit).
  explicit BlockPool(std::size_t limit_bytes = SIZE_MAX) : limit_bytes_(limit_bytes) {}
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // Size of the block alloc(bytes) hands out (bytes rounded up to its class).
  static std::size_t block_size(std::size_t bytes);
  // A block of at least `bytes` (<= kMaxBlock), or null when the limit is reached.
  void* alloc(std::size_t bytes);
  // Returns a block; `bytes` as given to alloc().
  void free(void* block, std::size_t bytes);

  void set_limit_bytes(std::size_t limit) { limit_bytes_ = limit; }
  std::size_t limit_bytes() const { return limit_bytes_; }
  std::size_t blocks_in_use() const { return blocks_in_use_; }
  std::size_t bytes_in_use() const { return bytes_in_use_; }  // block sizes, summed
  std::size_t slab_bytes() const { return slab_bytes_; }      // taken from the heap
  std::uint64_t alloc_failures() const { return failures_; }

 private:
  static constexpr std::size_t kClasses = 12;  // 64 B << 0..11
  struct FreeBlock {
    FreeBlock* next;
  };
  // Slabs are chained through their first bytes' header so the destructor finds them.
  struct SlabHeader {
    SlabHeader* next;
  };
  static std::size_t class_of(std::size_t bytes);
  bool refill(std::size_t cls);

  std::array<FreeBlock*, kClasses> free_{};
  SlabHeader* slabs_ = nullptr;
  std::size_t limit_bytes_;
  std::size_t blocks_in_use_ = 0;
  std::size_t bytes_in_use_ = 0;
  std::size_t slab_bytes_ = 0;
  std::uint64_t failures_ = 0;
};

}  // namespace shardtcp
