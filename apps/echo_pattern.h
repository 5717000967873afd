// The byte stream an echo client sends on one connection: a pure function of
// (stream seed, byte offset), so the bytes that come back are verified without
// keeping a copy of what was sent. Each 8-byte word is SplitMix64 of its index and the
// seed, so a byte delivered at a wrong offset, or from another connection's stream,
// does not match.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace shardtcp::echo {

inline std::uint64_t pattern_word(std::uint64_t word_index, std::uint64_t seed) {
  std::uint64_t z = word_index + (seed + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

inline std::uint8_t pattern_byte(std::uint64_t offset, std::uint64_t seed) {
  return static_cast<std::uint8_t>(pattern_word(offset >> 3, seed) >> ((offset & 7) * 8));
}

// Writes bytes [offset, offset + n) of the stream into p (little-endian words, so
// the byte order does not depend on the host).
inline void fill_pattern(std::uint8_t* p, std::size_t n, std::uint64_t offset, std::uint64_t seed) {
  std::size_t i = 0;
  for (; i < n && ((offset + i) & 7) != 0; ++i) p[i] = pattern_byte(offset + i, seed);
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t w = pattern_word((offset + i) >> 3, seed);
    std::uint8_t b[8];
    for (int k = 0; k < 8; ++k) b[k] = static_cast<std::uint8_t>(w >> (8 * k));
    std::memcpy(p + i, b, 8);
  }
  for (; i < n; ++i) p[i] = pattern_byte(offset + i, seed);
}

// Offset (relative to p) of the first byte that differs from the stream at `offset`,
// or n when all match.
inline std::size_t first_mismatch(const std::uint8_t* p, std::size_t n, std::uint64_t offset,
                                  std::uint64_t seed) {
  std::size_t i = 0;
  for (; i < n && ((offset + i) & 7) != 0; ++i)
    if (p[i] != pattern_byte(offset + i, seed)) return i;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t w = pattern_word((offset + i) >> 3, seed);
    std::uint8_t b[8];
    for (int k = 0; k < 8; ++k) b[k] = static_cast<std::uint8_t>(w >> (8 * k));
    if (std::memcmp(p + i, b, 8) == 0) continue;
    for (int k = 0; k < 8; ++k)
      if (p[i + k] != b[k]) return i + k;
  }
  for (; i < n; ++i)
    if (p[i] != pattern_byte(offset + i, seed)) return i;
  return n;
}

}  // namespace shardtcp::echo
