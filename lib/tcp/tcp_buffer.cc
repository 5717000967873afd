#include "tcp/tcp_buffer.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace shardtcp {

SendBuffer::SendBuffer(BufferOps& ops, std::uint32_t capacity, std::uint32_t chunk_size_hint)
    // One chunk extra for a partly consumed head and one for a partly filled tail.
    : ops_(ops),
      ring_(ops.blocks(), capacity / (chunk_size_hint ? chunk_size_hint : 2048) + 3),
      capacity_(capacity),
      max_capacity_(capacity) {}

SendBuffer::~SendBuffer() {
  for (std::uint32_t i = 0; i < ring_.size(); ++i) ops_.free_chunk(ring_[i]);
}

void SendBuffer::set_capacity(std::uint32_t capacity) {
  capacity_ = std::min(capacity, max_capacity_);
}

std::uint32_t SendBuffer::append(const std::uint8_t* data, std::uint32_t len) {
  std::uint32_t room = capacity_ > size_ ? capacity_ - size_ : 0;
  len = std::min(len, room);
  std::uint32_t done = 0;
  while (done < len) {
    if (tail_room_ == 0) {
      if (ring_.full()) break;
      BufferChunk c;
      if (!ops_.alloc_chunk_for(c, len - done) || c.capacity == 0) break;
      if (!ring_.push_back(c)) {  // no pool block for the ring: accept fewer bytes
        ops_.free_chunk(c);
        break;
      }
      tail_room_ = c.capacity;
      note_capacity(c.capacity);
    }
    BufferChunk& tail = ring_.back();
    std::uint32_t used = tail.capacity - tail_room_;
    std::uint32_t take = std::min(tail_room_, len - done);
    std::memcpy(tail.data + used, data + done, take);
    tail_room_ -= take;
    done += take;
  }
  size_ += done;
  return done;
}

void SendBuffer::note_capacity(std::uint32_t capacity) {
  if (mixed_capacities_ || capacity == chunk_capacity_) return;
  mixed_capacities_ = chunk_capacity_ != 0;
  chunk_capacity_ = mixed_capacities_ ? 0 : capacity;
}

void SendBuffer::consume(std::uint32_t n) {
  assert(n <= size_);
  n = std::min(n, size_);
  size_ -= n;
  head_off_ += n;
  head_pos_ += n;
  // The fully acknowledged chunks go back at once, the last one too, so an idle
  // connection holds no packet buffer (20 000 idle connections would otherwise hold
  // 20 000 mbufs, and a pool shared by many could run dry); in batches, one allocator
  // call each.
  constexpr std::uint32_t kBatch = 32;
  BufferChunk done[kBatch];
  std::uint32_t count = 0;
  while (!ring_.empty()) {
    const BufferChunk& h = ring_.front();
    const bool last = ring_.size() == 1;
    std::uint32_t filled = last ? h.capacity - tail_room_ : h.capacity;
    if (head_pos_ < filled) break;
    head_pos_ -= filled;
    done[count++] = h;
    ring_.pop_front();
    if (last) tail_room_ = 0;
    if (count == kBatch) {
      ops_.free_chunks(done, count);
      count = 0;
    }
  }
  if (count != 0) ops_.free_chunks(done, count);
}

std::uint32_t SendBuffer::copy(std::uint64_t off, std::uint32_t len, std::uint8_t* dst) const {
  std::uint32_t done = 0;
  for_each_chunk(off, len, [&](const std::uint8_t* p, std::uint32_t n, void*) {
    std::memcpy(dst + done, p, n);
    done += n;
  });
  return done;
}

namespace {
struct HeapBlock {
  std::int64_t refs;
  std::uint32_t len;
  std::uint8_t bytes[];  // NOLINT: flexible array of the block
};
}  // namespace

Payload HeapBufferOps::make_payload(const std::uint8_t* data, std::uint32_t len) {
  auto* raw = new std::uint8_t[sizeof(HeapBlock) + len];
  auto* b = reinterpret_cast<HeapBlock*>(raw);
  b->refs = 1;
  b->len = len;
  if (len) std::memcpy(b->bytes, data, len);
  ++live_blocks_;
  return Payload{b->bytes, len, b};
}

void HeapBufferOps::retain(void* handle) {
  if (handle) ++static_cast<HeapBlock*>(handle)->refs;
}

void HeapBufferOps::release(void* handle) {
  if (!handle) return;
  auto* b = static_cast<HeapBlock*>(handle);
  if (--b->refs == 0) {
    delete[] reinterpret_cast<std::uint8_t*>(b);
    --live_blocks_;
  }
}

bool HeapBufferOps::alloc_chunk(BufferChunk& out) {
  if (chunk_limit_ >= 0 && live_chunks_ >= chunk_limit_) return false;
  out.data = new std::uint8_t[chunk_size_];
  out.capacity = chunk_size_;
  out.handle = out.data;
  ++live_chunks_;
  return true;
}

void HeapBufferOps::free_chunk(const BufferChunk& chunk) {
  delete[] chunk.data;
  --live_chunks_;
}

}  // namespace shardtcp
