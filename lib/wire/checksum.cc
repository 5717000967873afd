#include "wire/checksum.h"

#include <rte_byteorder.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <utility>

namespace shardtcp {

namespace {

// The sums below add native-order words of 64, 32 or 16 bits. 2^16 is 1 modulo 0xffff,
// so a wider word counts as the sum of its 16-bit words, in either byte order; and a
// 64-bit sum that adds its carries back in (end-around) stays congruent modulo
// 2^64 - 1, a multiple of 0xffff, and is zero only if every word added was.

std::uint64_t load64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
std::uint32_t load32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
std::uint16_t load16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// A last odd byte as DPDK adds it: a word whose other byte is zero.
std::uint16_t load8(const std::uint8_t* p) {
  std::uint16_t v = 0;
  std::memcpy(&v, p, 1);
  return v;
}

// *out = a + b + c, returning the carry out: one adc on x86-64.
inline unsigned char add_carry(unsigned char c, std::uint64_t a, std::uint64_t b,
                               std::uint64_t* out) {
#if defined(__x86_64__)
  unsigned long long r;
  c = _addcarry_u64(c, a, b, &r);
  *out = r;
  return c;
#else
  const std::uint64_t s = a + b;
  *out = s + c;
  return static_cast<unsigned char>((s < a) | (*out < s));
#endif
}

// acc plus the words of exactly N bytes: the 8-byte words in one chain of adds with
// carry, whose last carry goes back in at once (the sum it joins is at most 2^64 - 2,
// so it cannot carry again). The last N % 8 bytes sit at even offsets: their 4-, 2- and
// 1-byte parts add into one word that cannot overflow, which joins the chain.
template <std::size_t N>
[[gnu::always_inline]] inline std::uint64_t sum_fixed(const std::uint8_t* p, std::uint64_t acc) {
  constexpr std::size_t kWords = N / 8;
  std::uint64_t rest = 0;
  if constexpr ((N & 4) != 0) rest += load32(p + kWords * 8);
  if constexpr ((N & 2) != 0) rest += load16(p + kWords * 8 + (N & 4));
  if constexpr ((N & 1) != 0) rest += load8(p + N - 1);
  unsigned char c = add_carry(0, acc, rest, &acc);
#pragma GCC unroll 8
  for (std::size_t i = 0; i < kWords; ++i) c = add_carry(c, acc, load64(p + 8 * i), &acc);
  return acc + c;
}

// acc plus the words of len < Max bytes: one jump to straight code for that length
// (headers, 20 to 60 bytes, are most of the calls), where a loop and a branch for each
// of the 32, 16, ..., 1-byte parts would cost more than the adds themselves.
template <std::size_t... N>
[[gnu::always_inline]] inline std::uint64_t sum_short(const std::uint8_t* p, std::size_t len,
                                                      std::uint64_t acc,
                                                      std::index_sequence<N...>) {
  if (len >= sizeof...(N)) __builtin_unreachable();  // no range check before the jump
  std::uint64_t r = acc;
  // Expands to a switch over len (GCC makes it a jump table).
  (void)((len == N && (r = sum_fixed<N>(p, acc), true)) || ...);
  return r;
}
template <std::size_t Max>
[[gnu::always_inline]] inline std::uint64_t sum_short(const std::uint8_t* p, std::size_t len,
                                                      std::uint64_t acc) {
  return sum_short(p, len, acc, std::make_index_sequence<Max>());
}

// acc plus the words of [p, p + len), 64 bytes per chain of adds with carry.
std::uint64_t sum_scalar(const std::uint8_t* p, std::size_t len, std::uint64_t acc) {
  for (; len >= 64; p += 64, len -= 64) acc = sum_fixed<64>(p, acc);
  return sum_short<64>(p, len, acc);
}

// Down to 32 bits with the end-around carry (2^32 - 1 is a multiple of 0xffff too); a
// non-zero value stays non-zero, and the carry cannot carry again.
std::uint32_t fold32(std::uint64_t a) {
  const auto lo = static_cast<std::uint32_t>(a);
  const std::uint32_t r = lo + static_cast<std::uint32_t>(a >> 32);
  return r + (r < lo);
}

#if defined(__x86_64__)
// madd_epi16 adds word pairs into 32-bit lanes in one instruction but reads the words
// as signed: flipping each word's top bit subtracts 0x8000 from it, and the 2 * 0x8000
// each lane lost per 32 bytes (2^19 over the vector) is added back at the end. Three
// instructions per 32 bytes (xor with the load folded in, madd, add), against four adcs.
// Compiled for AVX2 whatever the build's -march, and chosen at run time, so every build
// (and its tests) runs it.
__attribute__((target("avx2"))) inline __m256i pair_sums(const std::uint8_t* p, __m256i bias,
                                                         __m256i ones) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm256_madd_epi16(_mm256_xor_si256(x, bias), ones);
}

__attribute__((target("avx2"))) inline __m256i pair_sums64(const std::uint8_t* p, __m256i bias,
                                                           __m256i ones) {
  return _mm256_add_epi32(pair_sums(p, bias, ones), pair_sums(p + 32, bias, ones));
}

// The 8 lanes' sum. Each lane moves by at most 2^16 per 32 bytes, so the sum over a run
// of at most 64 KiB (2^11 vectors) stays within 2^30 and is added in 32 bits: fewer
// instructions than widening to 64 first.
__attribute__((target("avx2"))) inline std::int32_t lanes_sum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_hadd_epi32(s, s);
  s = _mm_hadd_epi32(s, s);
  return _mm_cvtsi128_si32(s);
}

constexpr std::size_t kRun = 64 * 1024;

// The xor and madd operands, loaded (one instruction each) rather than made by GCC
// (three each, and again for each block that uses them).
struct alignas(32) PairSumConstants {
  std::uint16_t bias[16], ones[16];
};
constexpr PairSumConstants kPairSum = {
    {0x8000, 0x8000, 0x8000, 0x8000, 0x8000, 0x8000, 0x8000, 0x8000, 0x8000, 0x8000, 0x8000, 0x8000,
     0x8000, 0x8000, 0x8000, 0x8000},
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}};

// The exact sum of the words of the whole 32-byte vectors of [p, p + len), len <= kRun.
__attribute__((target("avx2"))) inline std::uint64_t sum_run(const std::uint8_t* p,
                                                             std::size_t len) {
  const PairSumConstants* k = &kPairSum;
  __asm__("" : "+r"(k));  // opaque: GCC would make the values instead of loading them
  const __m256i bias = _mm256_load_si256(reinterpret_cast<const __m256i*>(k->bias));
  const __m256i ones = _mm256_load_si256(reinterpret_cast<const __m256i*>(k->ones));
  // The odd 32, 64 and 128 bytes first, so the loop's sum goes straight to the lane sum
  // (with them after the loop, GCC copies the accumulator on every step).
  __m256i a = _mm256_setzero_si256();
  if (len & 32) {
    a = pair_sums(p, bias, ones);
    p += 32;
  }
  if (len & 64) {
    a = _mm256_add_epi32(a, pair_sums64(p, bias, ones));
    p += 64;
  }
  if (len & 128) {
    a = _mm256_add_epi32(
        a, _mm256_add_epi32(pair_sums64(p, bias, ones), pair_sums64(p + 64, bias, ones)));
    p += 128;
  }
  // 256 bytes a step; the index counts up to zero, so the loop's own cost is one add and
  // one branch.
  const std::size_t steps = len & ~std::size_t{255};
  p += steps;
  for (auto i = -static_cast<std::ptrdiff_t>(steps); i != 0; i += 256) {
    a = _mm256_add_epi32(
        a, _mm256_add_epi32(pair_sums64(p + i, bias, ones), pair_sums64(p + i + 64, bias, ones)));
    a = _mm256_add_epi32(a, _mm256_add_epi32(pair_sums64(p + i + 128, bias, ones),
                                             pair_sums64(p + i + 192, bias, ones)));
  }
  // The lanes, then the bias back: 2^19 per vector.
  return static_cast<std::uint64_t>(std::int64_t{lanes_sum(a)}) + ((len & ~std::size_t{31}) << 14);
}

std::uint64_t sum_avx2_runs(const std::uint8_t* p, std::size_t len, std::uint64_t acc);

// acc plus the words of [p, p + len), 32 <= len < 2^47 (so the plain adds of the runs'
// exact sums cannot overflow). Not inlined, so raw_sum's short path does not pay for its
// registers and frame.
__attribute__((target("avx2"), noinline)) std::uint64_t sum_avx2(const std::uint8_t* p,
                                                                 std::size_t len,
                                                                 std::uint64_t acc) {
  if (len > kRun) [[unlikely]]
    return sum_avx2_runs(p, len, acc);
  acc += sum_run(p, len);
  return sum_short<32>(p + (len & ~std::size_t{31}), len & 31, acc);
}

// The same in runs of kRun bytes, apart so that sum_avx2 keeps fewer registers.
__attribute__((target("avx2"), noinline)) std::uint64_t sum_avx2_runs(const std::uint8_t* p,
                                                                      std::size_t len,
                                                                      std::uint64_t acc) {
  for (; len > kRun; p += kRun, len -= kRun) acc += sum_run(p, kRun);
  return sum_avx2(p, len, acc);
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

std::uint64_t raw_sum64(const void* buf, std::size_t len, std::uint64_t acc) {
  const auto* p = static_cast<const std::uint8_t*>(buf);
  if (len < 64) return sum_short<64>(p, len, acc);
#if defined(__x86_64__)
  if (kAvx2) return sum_avx2(p, len, acc);
#endif
  return sum_scalar(p, len, acc);
}

std::uint32_t raw_sum(const void* buf, std::size_t len, std::uint32_t sum) {
  return fold32(raw_sum64(buf, len, sum));
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
