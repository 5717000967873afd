#include "wire/checksum.h"

#include <rte_byteorder.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>

namespace shardtcp {

namespace {

#if defined(__x86_64__)
// madd_epi16 adds word pairs into 32-bit lanes in one instruction but reads the words
// as signed: flipping each word's top bit subtracts 0x8000 from it, and the 2 * 0x8000
// each lane lost per 32 bytes is added back at the end. Every 32 bytes move each of
// the accumulator's 8 lanes by at most 0x10000, so runs of 512 KiB (2^14 blocks) keep
// a lane within 2^30. One accumulator, not four: GCC copies each of several loop-carried
// vectors once per step. Compiled for AVX2 whatever the build's -march, and chosen at
// run time, so every build (and its tests) runs it.
__attribute__((target("avx2"))) inline __m256i pair_sums(const std::uint8_t* p) {
  const __m256i bias = _mm256_set1_epi16(static_cast<short>(0x8000));
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm256_madd_epi16(_mm256_xor_si256(x, bias), _mm256_set1_epi16(1));
}

__attribute__((target("avx2"))) std::int64_t lanes_sum(__m256i v) {
  const __m256i wide = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)),
                                        _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1)));
  const __m128i half =
      _mm_add_epi64(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
  return _mm_cvtsi128_si64(half) + _mm_extract_epi64(half, 1);
}

// Sums the whole 64-byte blocks of [p, p + len), advancing p and len past them.
__attribute__((target("avx2"))) std::uint64_t sum_avx2(const std::uint8_t*& p, std::size_t& len) {
  constexpr std::size_t kMaxRun = 512 * 1024;
  std::uint64_t acc = 0;
  while (len >= 64) {
    const std::size_t run = std::min(len, kMaxRun) & ~std::size_t{63};
    const std::uint8_t* const end = p + run;
    __m256i a = _mm256_setzero_si256();
    for (; end - p >= 128; p += 128) {
      const __m256i lo = _mm256_add_epi32(pair_sums(p), pair_sums(p + 32));
      const __m256i hi = _mm256_add_epi32(pair_sums(p + 64), pair_sums(p + 96));
      a = _mm256_add_epi32(a, _mm256_add_epi32(lo, hi));
    }
    if (p != end) {
      a = _mm256_add_epi32(a, _mm256_add_epi32(pair_sums(p), pair_sums(p + 32)));
      p += 64;
    }
    len -= run;
    // The lanes in 64 bits, then the bias back: 8 lanes of 0x10000 per 32 bytes.
    acc += static_cast<std::uint64_t>(lanes_sum(a)) + (static_cast<std::uint64_t>(run / 32) << 19);
  }
  return acc;
}

#ifdef __AVX2__
constexpr bool kAvx2 = true;
#else
const bool kAvx2 = [] {
  __builtin_cpu_init();  // may run before libgcc's own constructor
  return __builtin_cpu_supports("avx2") != 0;
}();
#endif
#endif

}  // namespace

std::uint32_t raw_sum(const void* buf, std::size_t len, std::uint32_t sum) {
  const auto* p = static_cast<const std::uint8_t*>(buf);
#if defined(__x86_64__)
  if (len >= 64 && kAvx2) {
    std::uint64_t acc = sum + sum_avx2(p, len);
    // Down to 32 bits with the end-around carry: 2^32 - 1 is a multiple of 0xffff, so
    // the value stays congruent, and a non-zero sum stays non-zero.
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffffffu) + (acc >> 32);
    sum = static_cast<std::uint32_t>(acc);
    // DPDK's loop adds the tail (< 64 bytes) to a 32-bit sum: keep room for it.
    if (sum > 0xff000000u) sum = (sum & 0xffff) + (sum >> 16);
  }
#endif
  return __rte_raw_cksum(p, len, sum);
}

std::uint16_t internet_checksum(const void* data, std::size_t len) {
  const std::uint16_t sum = __rte_raw_cksum_reduce(raw_sum(data, len, 0));
  // 0xffff and 0x0000 are the same value in one's complement; RFC 1071 stores the
  // inverted sum, where a sum of 0xffff inverts to 0.
  return static_cast<std::uint16_t>(~sum);
}

bool internet_checksum_ok(const void* data, std::size_t len) {
  return __rte_raw_cksum_reduce(raw_sum(data, len, 0)) == 0xffff;
}

bool raw_cksum_mbuf(const rte_mbuf* m, std::uint32_t off, std::uint32_t len, std::uint16_t* out) {
  if (static_cast<std::uint64_t>(off) + len > m->pkt_len) return false;
  while (m != nullptr && off >= m->data_len) {
    off -= m->data_len;
    m = m->next;
  }
  std::uint32_t sum = 0, done = 0;
  for (; m != nullptr && done < len; m = m->next, off = 0) {
    const std::uint32_t n = std::min<std::uint32_t>(m->data_len - off, len - done);
    std::uint16_t part =
        __rte_raw_cksum_reduce(raw_sum(rte_pktmbuf_mtod_offset(m, const void*, off), n, 0));
    // A segment starting at an odd offset of the range holds the other byte of every
    // 16-bit word: its (folded) sum counts swapped.
    if (done & 1) part = rte_bswap16(part);
    sum += part;
    done += n;
  }
  if (done != len) return false;
  *out = __rte_raw_cksum_reduce(sum);
  return true;
}

bool mbuf_checksum(const rte_mbuf* m, std::uint32_t off, std::uint32_t len, std::uint16_t* out) {
  std::uint16_t sum = 0;
  if (!raw_cksum_mbuf(m, off, len, &sum)) return false;
  *out = static_cast<std::uint16_t>(~sum);
  return true;
}

bool mbuf_checksum_ok(const rte_mbuf* m, std::uint32_t off, std::uint32_t len) {
  std::uint16_t sum = 0;
  if (!raw_cksum_mbuf(m, off, len, &sum)) return false;
  return sum == 0xffff;
}

std::uint16_t ipv4_header_checksum(const rte_ipv4_hdr* hdr) {
  return rte_ipv4_cksum(hdr);
}

bool ipv4_header_checksum_ok(const void* hdr, std::size_t ihl_bytes) {
  return internet_checksum_ok(hdr, ihl_bytes);
}

}  // namespace shardtcp
