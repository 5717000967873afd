#include "tcp/block_pool.h"

#include <bit>
#include <cassert>
#include <new>

namespace shardtcp {

namespace {
// Blocks keep the alignment of their class (at least 64 B, a cache line): the slab
// header takes one whole minimum block's worth of space at the slab's start.
constexpr std::size_t kSlabHeaderRoom = BlockPool::kMinBlock;
}  // namespace

BlockPool::~BlockPool() {
  while (slabs_ != nullptr) {
    SlabHeader* next = slabs_->next;
    ::operator delete (static_cast<void*>(slabs_), std::align_val_t{kMinBlock});
    slabs_ = next;
  }
}

std::size_t BlockPool::class_of(std::size_t bytes) {
  if (bytes <= kMinBlock) return 0;
  return static_cast<std::size_t>(std::bit_width(bytes - 1)) - 6;  // log2(kMinBlock) = 6
}

std::size_t BlockPool::block_size(std::size_t bytes) {
  return kMinBlock << class_of(bytes);
}

bool BlockPool::refill(std::size_t cls) {
  const std::size_t block = kMinBlock << cls;
  const std::size_t usable =
      block > kSlabBytes - kSlabHeaderRoom ? block : kSlabBytes - kSlabHeaderRoom;
  const std::size_t total = usable + kSlabHeaderRoom;
  if (slab_bytes_ + total > limit_bytes_ || slab_bytes_ + total < slab_bytes_) return false;
  void* raw = ::operator new (total, std::align_val_t{kMinBlock}, std::nothrow);
  if (raw == nullptr) return false;
  auto* slab = static_cast<SlabHeader*>(raw);
  slab->next = slabs_;
  slabs_ = slab;
  slab_bytes_ += total;
  auto* base = static_cast<std::byte*>(raw) + kSlabHeaderRoom;
  for (std::size_t off = 0; off + block <= usable; off += block) {
    auto* b = reinterpret_cast<FreeBlock*>(base + off);
    b->next = free_[cls];
    free_[cls] = b;
  }
  return true;
}

void* BlockPool::alloc(std::size_t bytes) {
  assert(bytes <= kMaxBlock);
  if (bytes > kMaxBlock) {
    ++failures_;
    return nullptr;
  }
  const std::size_t cls = class_of(bytes);
  if (free_[cls] == nullptr && !refill(cls)) {
    ++failures_;
    return nullptr;
  }
  FreeBlock* b = free_[cls];
  free_[cls] = b->next;
  ++blocks_in_use_;
  bytes_in_use_ += kMinBlock << cls;
  return b;
}

void BlockPool::free(void* block, std::size_t bytes) {
  if (block == nullptr) return;
  const std::size_t cls = class_of(bytes);
  auto* b = static_cast<FreeBlock*>(block);
  b->next = free_[cls];
  free_[cls] = b;
  --blocks_in_use_;
  bytes_in_use_ -= kMinBlock << cls;
}

}  // namespace shardtcp
