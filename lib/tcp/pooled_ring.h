// A bounded ring of trivially copyable records whose storage is one BlockPool block,
// taken on the first push, grown as the ring fills (up to its bound) and given back
// the moment it is empty: an idle owner holds no storage at all. Indexes are logical
// (0 = front); insert/erase in the middle shift the records behind them, for sorted
// lists that are short or mostly appended to.
#pragma once

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "tcp/block_pool.h"

namespace shardtcp {

template <typename T>
class PooledRing {
  static_assert(std::is_trivially_copyable_v<T>, "records are moved with memcpy");

 public:
  PooledRing(BlockPool& pool, std::uint32_t max_size) : pool_(&pool), max_(max_size) {}
  ~PooledRing() { release(); }
  PooledRing(const PooledRing&) = delete;
  PooledRing& operator=(const PooledRing&) = delete;

  std::uint32_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool full() const { return size_ >= max_; }
  std::uint32_t max_size() const { return max_; }
  std::uint32_t capacity() const { return cap_; }  // of the block held now (0: none)
  std::size_t storage_bytes() const { return data_ ? BlockPool::block_size(bytes(cap_)) : 0; }

  T& operator[](std::size_t i) {
    assert(i < size_);
    return data_[(head_ + i) & (cap_ - 1)];
  }
  const T& operator[](std::size_t i) const {
    assert(i < size_);
    return data_[(head_ + i) & (cap_ - 1)];
  }
  // The records as one array: only while none was ever removed from the front since
  // the block was taken (erase_front moves the head), as for sorted lists kept by
  // insert/erase at positions above 0.
  const T* contiguous_data() const {
    assert(head_ == 0);
    return data_;
  }
  T& front() { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }
  const T& front() const { return (*this)[0]; }
  const T& back() const { return (*this)[size_ - 1]; }

  // False when the ring is at its bound or the pool has no block for it.
  bool push_back(T v) {  // by value: `v` may be a record of this ring, moved by grow()
    if (!room_for_one()) return false;
    data_[(head_ + size_) & (cap_ - 1)] = v;
    ++size_;
    return true;
  }
  // Calls fn(record) on the records from the front, in order, until it returns false
  // or every one was seen; how many it returned true for. fn must not add or remove
  // records (it may change them): the ring's indexes are read once.
  template <typename Fn>
  std::uint32_t for_each_from_front(Fn&& fn) {
    T* const data = data_;
    const std::uint32_t mask = cap_ - 1, head = head_, n = size_;
    std::uint32_t i = 0;
    for (; i < n && fn(data[(head + i) & mask]); ++i) {
    }
    return i;
  }
  // Appends, after a reserve(n), the records make(i, slot) writes into their slots for
  // i = 0, 1, ... up to n, until make returns false (the slot it was given is then not
  // taken); how many it made. The ring's indexes are read once, not once a record.
  template <typename Make>
  std::uint32_t push_back_reserved(std::uint32_t n, Make&& make) {
    assert(size_ + n <= cap_);
    T* const data = data_;
    const std::uint32_t mask = cap_ - 1, tail = head_ + size_;
    std::uint32_t i = 0;
    for (; i < n && make(i, data[(tail + i) & mask]); ++i) {
    }
    size_ += i;
    return i;
  }
  // Room for `n` more records, so that many push_back calls cannot fail: false when
  // the bound or the pool says no (the storage may have grown meanwhile; no record
  // changed).
  bool reserve(std::uint32_t n) {
    if (size_ + n > max_) return false;
    while (size_ + n > cap_)
      if (!grow()) return false;
    return true;
  }
  // Inserts before logical position `pos` (<= size()), shifting the records behind it.
  bool insert(std::uint32_t pos, T v) {
    assert(pos <= size_);
    if (!room_for_one()) return false;
    for (std::uint32_t i = size_; i > pos; --i) slot(i) = slot(i - 1);
    slot(pos) = v;
    ++size_;
    return true;
  }
  void pop_front() { erase_front(1); }
  void pop_back() {
    assert(size_ > 0);
    if (--size_ == 0) release();
  }
  void erase_front(std::uint32_t n) {
    assert(n <= size_);
    if (n == 0) return;
    head_ = (head_ + n) & (cap_ - 1);
    size_ -= n;
    if (size_ == 0) release();
  }
  // Removes records [pos, pos+n), shifting the ones behind them down.
  void erase(std::uint32_t pos, std::uint32_t n) {
    assert(pos + n <= size_);
    if (pos == 0) return erase_front(n);
    for (std::uint32_t i = pos; i + n < size_; ++i) slot(i) = slot(i + n);
    size_ -= n;
    if (size_ == 0) release();
  }
  void clear() {
    size_ = 0;
    release();
  }
  // Lowers or raises the bound; records beyond a lowered bound stay until removed.
  void set_max_size(std::uint32_t m) { max_ = m; }

 private:
  static std::size_t bytes(std::uint32_t cap) { return std::size_t{cap} * sizeof(T); }
  // The first block takes 128 bytes (at least 4 records), and each growth quadruples:
  // a receive queue that fills to 16 pieces between reads grows once, not three times
  // (the copies showed in the receive path's instruction count).
  static constexpr std::uint32_t kFirstCap =
      std::max<std::uint32_t>(4, std::bit_floor(2 * BlockPool::kMinBlock / sizeof(T)));
  static constexpr std::uint32_t kMaxCap = std::bit_floor(BlockPool::kMaxBlock / sizeof(T));

  T& slot(std::uint32_t i) { return data_[(head_ + i) & (cap_ - 1)]; }

  bool room_for_one() {
    if (size_ >= max_) return false;
    return size_ < cap_ || grow();
  }
  // Moves the records into a block four times the size (the first block when none),
  // never beyond what the bound can use.
  bool grow() {
    if (cap_ >= kMaxCap) return false;
    const std::uint32_t cap =
        cap_ == 0 ? kFirstCap : std::min({cap_ * 4, std::bit_ceil(max_), kMaxCap});
    T* data = static_cast<T*>(pool_->alloc(bytes(cap)));
    if (data == nullptr) return false;
    for (std::uint32_t i = 0; i < size_; ++i) std::memcpy(&data[i], &slot(i), sizeof(T));
    if (data_ != nullptr) pool_->free(data_, bytes(cap_));
    data_ = data;
    cap_ = cap;
    head_ = 0;
    return true;
  }
  void release() {
    if (data_ != nullptr) pool_->free(data_, bytes(cap_));
    data_ = nullptr;
    cap_ = head_ = 0;
  }

  BlockPool* pool_;
  T* data_ = nullptr;
  std::uint32_t head_ = 0;
  std::uint32_t size_ = 0;
  std::uint32_t cap_ = 0;  // a power of two, or 0 with no block
  std::uint32_t max_;
};

}  // namespace shardtcp
