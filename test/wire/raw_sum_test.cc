// raw_sum (the checksum's word sum, 64 bytes a step with AVX2) against a plain 64-bit
// sum of the same words: every length around the 64-byte steps, every alignment,
// words that overflow a 16-bit lane's signed range, a carried-in sum, and a buffer
// long enough to need more than one run of steps. (A carried-in sum is a pseudo-
// header's, at most 0x3fffc: DPDK's 32-bit loop, used for short buffers, has no
// room for much more.)
#include <gtest/gtest.h>

#include <cstring>
#include <random>
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
