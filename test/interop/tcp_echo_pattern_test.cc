// The echo pattern (apps/echo_pattern.h) without EAL: filling and verifying agree at
// any offset and length, a shifted or foreign stream is caught at the right byte.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "echo_pattern.h"

namespace shardtcp::echo {
namespace {

TEST(EchoPattern, FillAndVerifyAgreeAtUnalignedOffsetsAndLengths) {
  std::vector<std::uint8_t> buf(300);
  for (std::uint64_t off : {0ull, 1ull, 7ull, 8ull, 13ull, 4095ull, (1ull << 40) + 3}) {
    for (std::size_t n : {0u, 1u, 5u, 8u, 9u, 64u, 299u}) {
      fill_pattern(buf.data(), n, off, 3);
      EXPECT_EQ(first_mismatch(buf.data(), n, off, 3), n) << off << "+" << n;
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(buf[i], pattern_byte(off + i, 3));
    }
  }
}

TEST(EchoPattern, PiecesConcatenateToTheWholeStream) {
  std::vector<std::uint8_t> whole(1000), pieces(1000);
  fill_pattern(whole.data(), whole.size(), 0, 9);
  std::size_t at = 0;
  for (std::size_t step : {3u, 17u, 1u, 500u, 479u}) {
    fill_pattern(pieces.data() + at, step, at, 9);
    at += step;
  }
  ASSERT_EQ(at, whole.size());
  EXPECT_EQ(whole, pieces);
}

TEST(EchoPattern, FindsTheFirstWrongByte) {
  std::vector<std::uint8_t> buf(100);
  fill_pattern(buf.data(), buf.size(), 5, 1);
  buf[42] ^= 0x10;
  buf[77] ^= 0x01;
  EXPECT_EQ(first_mismatch(buf.data(), buf.size(), 5, 1), 42u);
  // The same bytes checked at a shifted offset, or as another connection's stream, fail
  // at once.
  fill_pattern(buf.data(), buf.size(), 5, 1);
  EXPECT_LT(first_mismatch(buf.data(), buf.size(), 6, 1), 8u);
  EXPECT_LT(first_mismatch(buf.data(), buf.size(), 5, 2), 8u);
}

}  // namespace
}  // namespace shardtcp::echo
