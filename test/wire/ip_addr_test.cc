// IpAddr's prefix arithmetic against a bit-by-bit reference, for every prefix length of
// both families (route lookups and neighbour source selection rest on it).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>

#include "wire/ip_addr.h"

namespace shardtcp {
namespace {

// The obvious definition: bit i kept when i < len.
IpAddr reference_masked(const IpAddr& a, unsigned len) {
  std::array<std::uint8_t, 16> b{};
  for (unsigned i = 0; i < a.size() * 8; ++i)
    if (i < len && (a.bytes()[i / 8] & (0x80u >> (i % 8)))) b[i / 8] |= 0x80u >> (i % 8);
  return a.is_v4() ? IpAddr::v4((std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                                (std::uint32_t{b[2]} << 8) | b[3])
                   : IpAddr::v6(b.data());
}

TEST(IpAddrPrefix, MaskedKeepsExactlyThePrefixBitsOfEitherFamily) {
  const IpAddr v4 = *IpAddr::parse("198.18.173.255");
  const IpAddr v6 = *IpAddr::parse("2001:db8:ffff:1234:5678:9abc:def0:ffff");
  for (unsigned len = 0; len <= 33; ++len)
    EXPECT_EQ(v4.masked(len), reference_masked(v4, len)) << len;
  for (unsigned len = 0; len <= 129; ++len)
    EXPECT_EQ(v6.masked(len), reference_masked(v6, len)) << len;
  EXPECT_TRUE(IpAddr{}.masked(8).is_none());
}

TEST(IpAddrPrefix, InPrefixMatchesTheMaskedComparisonAtEveryLength) {
  const IpAddr net4 = *IpAddr::parse("198.18.160.0");
  const IpAddr net6 = *IpAddr::parse("2001:db8:a000::");
  // Addresses that share a prefix of each length with the network, and differ after.
  for (unsigned len = 0; len <= 32; ++len) {
    for (const char* text : {"198.18.160.1", "198.18.161.0", "198.19.160.0", "70.18.160.0",
                             "198.18.160.0", "255.255.255.255"}) {
      const IpAddr a = *IpAddr::parse(text);
      EXPECT_EQ(a.in_prefix(net4, len), a.masked(len) == net4.masked(len)) << text << "/" << len;
    }
  }
  for (unsigned len = 0; len <= 128; ++len) {
    for (const char* text : {"2001:db8:a000::1", "2001:db8:a001::", "2001:db9:a000::", "::",
                             "2001:db8:a000::", "ffff::ffff"}) {
      const IpAddr a = *IpAddr::parse(text);
      EXPECT_EQ(a.in_prefix(net6, len), a.masked(len) == net6.masked(len)) << text << "/" << len;
    }
  }
  // Host bits of the prefix argument do not matter; families never match each other.
  EXPECT_TRUE(IpAddr::parse("198.18.160.7")->in_prefix(*IpAddr::parse("198.18.160.200"), 24));
  EXPECT_FALSE(IpAddr::parse("198.18.160.7")->in_prefix(*IpAddr::parse("198.18.161.200"), 24));
  EXPECT_FALSE(IpAddr::parse("0.0.0.0")->in_prefix(*IpAddr::parse("::"), 0));
}

}  // namespace
}  // namespace shardtcp
