// Arrays sized for the most a table may ever hold that cost memory only for what is
// used: the storage is an anonymous mapping reserved at construction (MAP_NORESERVE),
// and the kernel backs a page with memory the first time it is touched (written; on
// some kernels read too). A table sized for a million connections therefore costs the
// pages its entries and lookups have touched, at most its size, and never moves or
// rehashes (pointers into it stay valid).
//
//  - ZeroedArray<T>: `size` elements that start as all-zero bytes (fresh anonymous
//    pages are zero), for trivially copyable records whose zero bytes mean "empty".
//  - ReservedArray<T>: up to `capacity` objects constructed in index order as the
//    owner first needs them (construct_next), destroyed in reverse at the end.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace shardtcp {

namespace reserved_memory {

inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

// How a mapping is backed once touched. kHuge asks for 2 MiB pages (transparent
// hugepages; Debian's kernels grant them on madvise) for tables touched at random: with
// 4 KiB pages every first insert into a fresh page of a million-slot hash table costs a
// page fault (about 25 us on a VM: the first 0.3 s of a TCP_CRR run went at a third of
// its rate, and afterwards TIME_WAIT's ring faulted every 64 records), while random
// hashing commits most of such a table's pages within its first entries anyway. The
// cost: such a table commits in 2 MiB steps, so it is cheap only beyond a few thousand
// entries. kSmall keeps the page-by-page commit for arrays used from the front.
enum class Paging : unsigned char { kSmall, kHuge };

// Zero-filled, not yet committed memory for `bytes` (rounded to pages); throws
// std::bad_alloc when the address space cannot be had.
inline void* map(std::size_t bytes, Paging paging = Paging::kSmall) {
  if (bytes == 0) return nullptr;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  if (paging == Paging::kHuge && bytes >= kHugePageBytes)
    ::madvise(p, bytes, MADV_HUGEPAGE);  // advice: where refused, 4 KiB pages serve
  return p;
}

inline void unmap(void* p, std::size_t bytes) {
  if (p != nullptr) ::munmap(p, bytes);
}

}  // namespace reserved_memory

template <typename T>
class ZeroedArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "ZeroedArray holds plain records whose all-zero bytes are a valid value");

 public:
  explicit ZeroedArray(std::size_t size, reserved_memory::Paging paging = {})
      : data_(static_cast<T*>(reserved_memory::map(size * sizeof(T), paging))), size_(size) {}
  ~ZeroedArray() { reserved_memory::unmap(data_, size_ * sizeof(T)); }
  ZeroedArray(const ZeroedArray&) = delete;
  ZeroedArray& operator=(const ZeroedArray&) = delete;
  ZeroedArray(ZeroedArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  ZeroedArray& operator=(ZeroedArray&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }

  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  std::size_t size() const { return size_; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  T* data_;
  std::size_t size_;
};

template <typename T>
class ReservedArray {
 public:
  explicit ReservedArray(std::size_t capacity)
      : data_(static_cast<T*>(reserved_memory::map(capacity * sizeof(T)))), capacity_(capacity) {}
  ~ReservedArray() {
    while (constructed_ > 0) std::destroy_at(data_ + --constructed_);
    reserved_memory::unmap(data_, capacity_ * sizeof(T));
  }
  ReservedArray(const ReservedArray&) = delete;
  ReservedArray& operator=(const ReservedArray&) = delete;

  // Constructs the next element (index constructed()); the caller checks full() first.
  template <typename... Args>
  T& construct_next(Args&&... args) {
    return *std::construct_at(data_ + constructed_++, std::forward<Args>(args)...);
  }
  bool full() const { return constructed_ == capacity_; }

  // Only elements below constructed() may be used.
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t capacity() const { return capacity_; }
  std::size_t constructed() const { return constructed_; }
  T* begin() { return data_; }
  T* end() { return data_ + constructed_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + constructed_; }

 private:
  T* data_;
  std::size_t capacity_;
  std::size_t constructed_ = 0;
};

}  // namespace shardtcp
