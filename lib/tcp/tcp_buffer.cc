#include "tcp/tcp_buffer.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace shardtcp {

SendBuffer::SendBuffer(BufferOps& ops, std::uint32_t capacity, std::uint32_t chunk_size_hint)
    : ops_(ops), capacity_(capacity), max_capacity_(capacity) {
  if (chunk_size_hint == 0) chunk_size_hint = 2048;
  // One chunk extra for a partly consumed head and one for a partly filled tail.
  ring_.resize(capacity / chunk_size_hint + 3);
}

SendBuffer::~SendBuffer() {
  for (std::size_t n = 0, i = head_idx_; n < nchunks_; ++n, i = (i + 1) % ring_.size())
    ops_.free_chunk(ring_[i]);
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
      if (nchunks_ == ring_.size()) break;
      BufferChunk c;
      if (!ops_.alloc_chunk(c) || c.capacity == 0) break;
      ring_[(head_idx_ + nchunks_) % ring_.size()] = c;
      ++nchunks_;
      tail_room_ = c.capacity;
    }
    BufferChunk& tail = ring_[(head_idx_ + nchunks_ - 1) % ring_.size()];
    std::uint32_t used = tail.capacity - tail_room_;
    std::uint32_t take = std::min(tail_room_, len - done);
    std::memcpy(tail.data + used, data + done, take);
    tail_room_ -= take;
    done += take;
  }
  size_ += done;
  return done;
}

void SendBuffer::consume(std::uint32_t n) {
  assert(n <= size_);
  n = std::min(n, size_);
  size_ -= n;
  head_off_ += n;
  head_pos_ += n;
  while (nchunks_ > 0) {
    const BufferChunk& h = ring_[head_idx_];
    std::uint32_t filled = nchunks_ == 1 ? h.capacity - tail_room_ : h.capacity;
    if (head_pos_ < filled) break;
    if (nchunks_ == 1) {
      // Everything consumed: the chunk goes back to the pool at once, so an idle
      // connection holds no packet buffer (20 000 idle connections would otherwise
      // hold 20 000 mbufs, and a pool shared by many could run dry).
      ops_.free_chunk(h);
      nchunks_ = 0;
      head_pos_ = 0;
      tail_room_ = 0;
      break;
    }
    head_pos_ -= filled;
    ops_.free_chunk(h);
    head_idx_ = (head_idx_ + 1) % ring_.size();
    --nchunks_;
  }
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
