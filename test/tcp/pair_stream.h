// The byte streams of the stack-pair bulk tests: a deterministic pattern per stream
// (SplitMix64 per 8-byte word) and one direction's application that writes its stream
// and checks the peer's, byte for byte. Shared by the IPv4 and IPv6 pair tests.
#pragma once

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tcp/tcp_layer.h"

namespace shardtcp::testing {

// The byte at stream offset `off` of stream `seed`: SplitMix64 of the 8-byte word
// index, so a byte delivered at any wrong offset (other than a multiple of 2^64) differs.
inline std::uint64_t stream_word(std::uint64_t word, std::uint64_t seed) {
  std::uint64_t z = word + seed * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
inline std::uint8_t stream_byte(std::uint64_t off, std::uint64_t seed) {
  return static_cast<std::uint8_t>(stream_word(off >> 3, seed) >> ((off & 7) * 8));
}

inline void fill_pattern(std::uint8_t* p, std::size_t n, std::uint64_t off, std::uint64_t seed) {
  std::size_t i = 0;
  for (; i < n && ((off + i) & 7) != 0; ++i) p[i] = stream_byte(off + i, seed);
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t w = stream_word((off + i) >> 3, seed);
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i) p[i] = stream_byte(off + i, seed);
}

// Bytes of p[0, n) that differ from the stream at `off` (one hash per 8 bytes).
inline std::uint64_t count_mismatches(const std::uint8_t* p, std::size_t n, std::uint64_t off,
                                      std::uint64_t seed) {
  std::uint64_t bad = 0;
  std::size_t i = 0;
  while (i < n && ((off + i) & 7) != 0) {
    bad += p[i] != stream_byte(off + i, seed);
    ++i;
  }
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t want = stream_word((off + i) >> 3, seed);  // little-endian bytes
    std::uint64_t got;
    std::memcpy(&got, p + i, 8);
    if (got != want)
      for (int k = 0; k < 8; ++k) bad += p[i + k] != static_cast<std::uint8_t>(want >> (8 * k));
  }
  for (; i < n; ++i) bad += p[i] != stream_byte(off + i, seed);
  return bad;
}

// One direction's application: writes the pattern, reads and checks the peer's.
struct StreamFlow {
  TcpLayer* tcp = nullptr;
  TcpConnId id;
  std::uint64_t out_seed = 0, in_seed = 0;
  std::uint64_t total = 0;
  std::uint64_t sent = 0, received = 0, mismatches = 0;
  bool shut = false, eof = false;
  std::vector<std::uint8_t> tx = std::vector<std::uint8_t>(64 * 1024);
  std::uint64_t tx_base = UINT64_MAX;  // stream offset of tx[0]
  std::vector<std::uint8_t> rx = std::vector<std::uint8_t>(64 * 1024);

  void step() {
    while (sent < total) {
      if (tx_base == UINT64_MAX || sent >= tx_base + tx.size()) {
        tx_base = sent;
        fill_pattern(tx.data(), tx.size(), tx_base, out_seed);
      }
      const std::size_t off = sent - tx_base;
      const std::size_t n = std::min<std::uint64_t>(tx.size() - off, total - sent);
      const long r = tcp->send(id, tx.data() + off, n);
      if (r <= 0) {
        ASSERT_EQ(r, -EAGAIN);
        break;
      }
      sent += static_cast<std::uint64_t>(r);
    }
    if (sent == total && !shut) {
      ASSERT_EQ(tcp->shutdown_write(id), 0);
      shut = true;
    }
    while (!eof) {
      const long r = tcp->recv(id, rx.data(), rx.size());
      if (r == -EAGAIN) break;
      ASSERT_GE(r, 0);
      if (r == 0) {
        eof = true;
        break;
      }
      mismatches += count_mismatches(rx.data(), static_cast<std::size_t>(r), received, in_seed);
      received += static_cast<std::uint64_t>(r);
    }
  }
  bool done() const { return shut && eof; }
};

// Bytes each way a bulk test moves: the environment variable `var` if set, else `dflt`.
inline std::uint64_t transfer_bytes_from_env(const char* var, std::uint64_t dflt) {
  if (const char* e = std::getenv(var)) {
    const std::uint64_t v = std::strtoull(e, nullptr, 0);
    if (v > 0) return v;
  }
  return dflt;
}

// Both directions delivered `total` bytes, each byte the pattern's.
inline void expect_delivered_exactly(const StreamFlow& ea, const StreamFlow& eb,
                                     std::uint64_t total) {
  EXPECT_EQ(ea.received, total);
  EXPECT_EQ(eb.received, total);
  EXPECT_EQ(ea.mismatches, 0u);
  EXPECT_EQ(eb.mismatches, 0u);
}

// `total` bytes each way over one connection: `ea` on `a`'s end `c` (sending seed 1),
// `eb` on `b`'s end `s` (seed 2).
inline void flows_each_way(StreamFlow& ea, TcpLayer* a, TcpConnId c, StreamFlow& eb, TcpLayer* b,
                           TcpConnId s, std::uint64_t total) {
  ea.tcp = a;
  ea.id = c;
  eb.tcp = b;
  eb.id = s;
  ea.out_seed = eb.in_seed = 1;
  eb.out_seed = ea.in_seed = 2;
  ea.total = eb.total = total;
}

}  // namespace shardtcp::testing
