// raw_sum (the checksum's word sum: straight adds with carry under 64 bytes, 32 bytes
// a step with AVX2 above) against a plain 64-bit sum of the same words: every length
// around the steps, every alignment, words that overflow a 16-bit lane's signed range,
// carried-in sums up to 0xffffffff, and buffers long enough to need more than one run
// of steps; and against RFC 1071 done byte by byte, with the contract checked on the
// raw 32-bit value.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <random>
#include <sstream>
#include <vector>

#include "wire/checksum.h"

using namespace shardtcp;

namespace {

// The reference: 16-bit words in memory order (a last odd byte as DPDK adds it), in
// 64 bits, folded to 16.
std::uint16_t reference(const std::uint8_t* p, std::size_t len, std::uint32_t sum) {
  std::uint64_t acc = sum;
  std::size_t i = 0;
  for (; i + 1 < len; i += 2) {
    std::uint16_t w;
    std::memcpy(&w, p + i, 2);
    acc += w;
  }
  if (i < len) acc += p[i];
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<std::uint16_t>(acc);
}

std::uint16_t folded(const std::uint8_t* p, std::size_t len, std::uint32_t sum) {
  return __rte_raw_cksum_reduce(raw_sum(p, len, sum));
}

}  // namespace

TEST(RawSum, MatchesPlainSumAtEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::vector<std::uint8_t> buf(4096 + 64);
  for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
  for (std::size_t off = 0; off < 4; ++off)
    for (std::size_t len = 0; len <= 1600; ++len)
      for (const std::uint32_t sum : {0u, 0x1234u, 0x3fffcu})
        ASSERT_EQ(folded(buf.data() + off, len, sum), reference(buf.data() + off, len, sum))
            << "off " << off << " len " << len << " sum " << sum;
}

TEST(RawSum, WordsAtTheExtremes) {
  for (const std::uint8_t fill : {0x00, 0xff, 0x80, 0x7f}) {
    std::vector<std::uint8_t> buf(1480, fill);
    EXPECT_EQ(folded(buf.data(), buf.size(), 0), reference(buf.data(), buf.size(), 0)) << int{fill};
  }
  // All zero stays zero (0 and 0xffff differ for a stored checksum).
  std::vector<std::uint8_t> zero(256, 0);
  EXPECT_EQ(folded(zero.data(), zero.size(), 0), 0);
}

TEST(RawSum, LongerThanOneRunOfSteps) {
  // 1.5 MiB of 0xffff words: more than the 16 Ki steps a 32-bit lane can hold.
  std::vector<std::uint8_t> buf(3 * 512 * 1024 + 6, 0xff);
  EXPECT_EQ(folded(buf.data(), buf.size(), 5), reference(buf.data(), buf.size(), 5));
  std::mt19937 rng(11);
  for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
  EXPECT_EQ(folded(buf.data(), buf.size(), 0), reference(buf.data(), buf.size(), 0));
}

namespace {

// RFC 1071 byte by byte, exact in 64 bits: byte i is the low half of its 16-bit word in
// memory order on a little-endian CPU (the high half on a big-endian one), and a last odd
// byte is a word whose other byte is zero, as DPDK's __rte_raw_cksum adds it.
std::uint64_t rfc1071_sum(const std::uint8_t* p, std::size_t len, std::uint32_t sum) {
  constexpr unsigned kEvenShift = std::endian::native == std::endian::little ? 0 : 8;
  std::uint64_t acc = sum;
  for (std::size_t i = 0; i < len; ++i)
    acc += std::uint64_t{p[i]} << (i % 2 == 0 ? kEvenShift : 8 - kEvenShift);
  return acc;
}

// raw_sum's contract against the exact sum (`words`, the buffer's, plus `sum`):
// congruent modulo 0xffff, zero only when the exact sum is, hence the same folded checksum.
::testing::AssertionResult keeps_contract(const std::uint8_t* p, std::size_t len, std::uint32_t sum,
                                          std::uint64_t words) {
  const std::uint64_t want = words + sum;
  const std::uint32_t got = raw_sum(p, len, sum);
  std::uint64_t folded = want;
  while (folded >> 16) folded = (folded & 0xffff) + (folded >> 16);
  if (got % 0xffff == want % 0xffff && (got == 0) == (want == 0) &&
      __rte_raw_cksum_reduce(got) == folded)
    return ::testing::AssertionSuccess();
  std::ostringstream why;  // one stream: AssertionResult's << would drop std::hex
  why << "len " << len << " align " << (reinterpret_cast<std::uintptr_t>(p) & 63) << std::hex
      << " sum 0x" << sum << ": got 0x" << got << ", exact 0x" << want;
  return ::testing::AssertionFailure() << why.str();
}

// Starting sums: none, small, a pseudo-header's, and near the top of 32 bits.
std::vector<std::uint32_t> start_sums(std::mt19937& rng) {
  return {0u, 1u, 0xffffu, 0x3fffcu, 0xfffffffeu, 0xffffffffu, static_cast<std::uint32_t>(rng())};
}

// The buffer ends where its allocation does, so a sanitizer build sees any read past it.
std::vector<std::uint8_t> at_alignment(const std::vector<std::uint8_t>& src, std::size_t align,
                                       std::size_t len) {
  std::vector<std::uint8_t> buf(align + len);
  std::copy(src.begin(), src.begin() + static_cast<std::ptrdiff_t>(len), buf.begin() + align);
  return buf;
}

}  // namespace

TEST(RawSum, EveryShortLengthAlignmentAndStartingSum) {
  std::mt19937 rng(2024);
  for (const int fill : {-1, 0xff, 0x00, 0x80}) {  // -1: random bytes
    std::vector<std::uint8_t> src(300);
    for (auto& b : src) b = static_cast<std::uint8_t>(fill < 0 ? rng() : fill);
    for (std::size_t len = 0; len <= src.size(); ++len) {
      const std::uint64_t words = rfc1071_sum(src.data(), len, 0);
      for (std::size_t align = 0; align < 64; ++align) {
        const auto buf = at_alignment(src, align, len);
        for (const std::uint32_t sum : start_sums(rng))
          ASSERT_TRUE(keeps_contract(buf.data() + align, len, sum, words)) << "fill " << fill;
      }
    }
  }
}

TEST(RawSum, PacketAndJumboLengthsAndRunsOfSteps) {
  std::mt19937 rng(99);
  // Around 1448/1460/1480 (MSS and segment), 9000 (jumbo), 64 KiB (the vector path's run),
  // and past 512 KiB, with all 0xff (every add carries) and random bytes.
  std::vector<std::size_t> lens;
  for (const std::size_t mid : {1448u, 1460u, 1480u, 9000u, 65535u, 65536u + 32})
    for (std::size_t d = 0; d <= 6; ++d) lens.push_back(mid - 3 + d);
  for (const std::size_t big : {512u * 1024 + 37, 3u * 512 * 1024 + 6, 2u * 1024 * 1024 + 63})
    lens.push_back(big);
  for (const int fill : {-1, 0xff}) {
    std::vector<std::uint8_t> src(lens.back());
    for (auto& b : src) b = static_cast<std::uint8_t>(fill < 0 ? rng() : fill);
    for (const std::size_t len : lens) {
      const std::uint64_t words = rfc1071_sum(src.data(), len, 0);
      const std::size_t aligns = len > 100000 ? 4 : 64;
      for (std::size_t align = 0; align < aligns; ++align) {
        const auto buf = at_alignment(src, align, len);
        for (const std::uint32_t sum : start_sums(rng))
          ASSERT_TRUE(keeps_contract(buf.data() + align, len, sum, words)) << "fill " << fill;
      }
    }
  }
}

// raw_sum64, the unfolded sum the L4 checks test for a multiple of 0xffff: congruent to
// the plain sum modulo 0xffff at every length around the steps, with 64-bit carried-in
// sums (a pseudo-header's three words unfolded).
TEST(RawSum, UnfoldedSumIsCongruentToThePlainSum) {
  std::mt19937 rng(11);
  std::vector<std::uint8_t> buf(2048 + 8);
  for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
  for (std::size_t off = 0; off < 2; ++off)
    for (std::size_t len = 0; len <= 1600; ++len)
      for (const std::uint64_t acc :
           {std::uint64_t{0}, std::uint64_t{0x2fffffffd}, std::uint64_t{7}}) {
        const std::uint16_t plain = reference(buf.data() + off, len, 0);
        ASSERT_EQ((raw_sum64(buf.data() + off, len, acc) + 0xffff - plain) % 0xffff, acc % 0xffff)
            << "off " << off << " len " << len << " acc " << acc;
      }
}

// The fast path's inline check of a 20-byte IPv4 header against the general one, on
// headers that verify and on every single-bit corruption of them.
TEST(RawSum, BaseIpv4HeaderCheckAgreesWithTheGeneralOne) {
  std::mt19937 rng(3);
  for (int round = 0; round < 200; ++round) {
    std::array<std::uint8_t, 20> h{};
    for (auto& b : h) b = static_cast<std::uint8_t>(rng());
    h[0] = 0x45;
    h[10] = h[11] = 0;
    const std::uint16_t c = internet_checksum(h.data(), h.size());
    std::memcpy(&h[10], &c, 2);
    ASSERT_TRUE(ipv4_base_header_checksum_ok(h.data()));
    ASSERT_TRUE(ipv4_header_checksum_ok(h.data(), h.size()));
    for (std::size_t bit = 0; bit < 160; ++bit) {
      h[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
      ASSERT_EQ(ipv4_base_header_checksum_ok(h.data()), ipv4_header_checksum_ok(h.data(), 20))
          << "round " << round << " bit " << bit;
      ASSERT_FALSE(ipv4_base_header_checksum_ok(h.data()));
      h[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    }
  }
}
