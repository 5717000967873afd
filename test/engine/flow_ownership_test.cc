// FlowOwnership against an independent Toeplitz (a bit-by-bit loop written from the
// RSS specification, over the bytes as they appear on the wire), against Microsoft's
// published verification vectors, and the active-open port search with PortAllocator.
#include "engine/flow_ownership.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "tcp/port_allocator.h"

namespace shardtcp {
namespace {

// Toeplitz per the RSS spec: for every set bit of the input (most significant first),
// XOR in the 32-bit window of the key that starts at that bit.
std::uint32_t reference_toeplitz(const FlowOwnership::Key& key,
                                 const std::vector<std::uint8_t>& input) {
  std::uint32_t result = 0;
  for (std::size_t bit = 0; bit < input.size() * 8; ++bit) {
    if ((input[bit / 8] >> (7 - bit % 8) & 1) == 0) continue;
    std::uint32_t window = 0;
    for (std::size_t k = 0; k < 32; ++k) {
      const std::size_t kb = bit + k;
      window = window << 1 | ((key[kb / 8] >> (7 - kb % 8)) & 1);
    }
    result ^= window;
  }
  return result;
}

// Input bytes in wire order: source address, destination address, source port,
// destination port.
std::vector<std::uint8_t> wire_input(const IpAddr& src, std::uint16_t sport, const IpAddr& dst,
                                     std::uint16_t dport) {
  std::vector<std::uint8_t> in(src.bytes(), src.bytes() + src.size());
  in.insert(in.end(), dst.bytes(), dst.bytes() + dst.size());
  in.push_back(static_cast<std::uint8_t>(sport >> 8));
  in.push_back(static_cast<std::uint8_t>(sport));
  in.push_back(static_cast<std::uint8_t>(dport >> 8));
  in.push_back(static_cast<std::uint8_t>(dport));
  return in;
}

IpAddr v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return IpAddr::v4(std::uint32_t{a} << 24 | std::uint32_t{b} << 16 | std::uint32_t{c} << 8 | d);
}

IpAddr v6(std::initializer_list<std::uint16_t> groups_hi, std::initializer_list<std::uint16_t> lo) {
  std::uint8_t b[16] = {};
  std::size_t i = 0;
  for (std::uint16_t g : groups_hi) {
    b[i++] = static_cast<std::uint8_t>(g >> 8);
    b[i++] = static_cast<std::uint8_t>(g);
  }
  i = 16 - 2 * lo.size();
  for (std::uint16_t g : lo) {
    b[i++] = static_cast<std::uint8_t>(g >> 8);
    b[i++] = static_cast<std::uint8_t>(g);
  }
  return IpAddr::v6(b);
}

// "Verifying the RSS Hash Calculation" (Microsoft), TCP over IPv4 and IPv6.
TEST(FlowOwnership, MatchesPublishedVerificationVectors) {
  const FlowOwnership fo(1);
  struct V4 {
    IpAddr dst;
    std::uint16_t dport;
    IpAddr src;
    std::uint16_t sport;
    std::uint32_t l3, l4;
  };
  const V4 v4s[] = {
      {v4(161, 142, 100, 80), 1766, v4(66, 9, 149, 187), 2794, 0x323e8fc2, 0x51ccc178},
      {v4(65, 69, 140, 83), 4739, v4(199, 92, 111, 2), 14230, 0xd718262a, 0xc626b0ea},
      {v4(12, 22, 207, 184), 38024, v4(24, 19, 198, 95), 12898, 0xd2d0a5de, 0x5c2b394a},
      {v4(209, 142, 163, 6), 2217, v4(38, 27, 205, 30), 48228, 0x82989176, 0xafc7327f},
      {v4(202, 188, 127, 2), 1303, v4(153, 39, 163, 191), 44251, 0x5d1809c5, 0x10e828a2},
  };
  for (const V4& v : v4s) {
    EXPECT_EQ(fo.hash_l3(v.src, v.dst), v.l3);
    EXPECT_EQ(fo.hash(v.src, v.sport, v.dst, v.dport), v.l4);
  }
  struct V6 {
    IpAddr dst;
    std::uint16_t dport;
    IpAddr src;
    std::uint16_t sport;
    std::uint32_t l3, l4;
  };
  const V6 v6s[] = {
      {v6({0x3ffe, 0x2501, 0x200, 0x3}, {0x1}), 1766, v6({0x3ffe, 0x2501, 0x200, 0x1fff}, {0x7}),
       2794, 0x2cc18cd5, 0x40207d3d},
      {v6({0xff02}, {0x1}), 4739, v6({0x3ffe, 0x501, 0x8}, {0x260, 0x97ff, 0xfe40, 0xefab}), 14230,
       0x0f0c461c, 0xdde51bbf},
      {v6({0xfe80}, {0x200, 0xf8ff, 0xfe21, 0x67cf}), 38024,
       v6({0x3ffe, 0x1900, 0x4545, 0x3}, {0x200, 0xf8ff, 0xfe21, 0x67cf}), 44251, 0x4b61e985,
       0x02d1feef},
  };
  for (const V6& v : v6s) {
    EXPECT_EQ(fo.hash_l3(v.src, v.dst), v.l3);
    EXPECT_EQ(fo.hash(v.src, v.sport, v.dst, v.dport), v.l4);
  }
}

// For random tuples (both families, random keys and RETAs) the software owner is the
// engine the programmed RETA names for the independently computed hash.
TEST(FlowOwnership, RandomTuplesAgreeWithIndependentToeplitzAndReta) {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 8; ++round) {
    FlowOwnership::Key key;
    for (auto& b : key) b = static_cast<std::uint8_t>(rng());
    const std::uint16_t engines = static_cast<std::uint16_t>(1 + rng() % 4);
    const std::uint16_t size = static_cast<std::uint16_t>(64u << (rng() % 4));  // 64..512
    std::vector<std::uint16_t> reta(size);
    for (auto& e : reta) e = static_cast<std::uint16_t>(rng() % engines);
    const FlowOwnership fo(engines, reta, key);
    for (int i = 0; i < 500; ++i) {
      IpAddr src, dst;
      if (i % 2 == 0) {
        src = IpAddr::v4(static_cast<std::uint32_t>(rng()));
        dst = IpAddr::v4(static_cast<std::uint32_t>(rng()));
      } else {
        std::uint8_t a[16], b[16];
        for (int k = 0; k < 16; ++k) {
          a[k] = static_cast<std::uint8_t>(rng());
          b[k] = static_cast<std::uint8_t>(rng());
        }
        src = IpAddr::v6(a);
        dst = IpAddr::v6(b);
      }
      const auto sport = static_cast<std::uint16_t>(rng());
      const auto dport = static_cast<std::uint16_t>(rng());
      const std::uint32_t want = reference_toeplitz(key, wire_input(src, sport, dst, dport));
      ASSERT_EQ(fo.hash(src, sport, dst, dport), want);
      ASSERT_EQ(fo.owner_of_received(src, sport, dst, dport), reta[want % size]);
      // The connection view swaps into the received direction.
      const TcpTuple t{Endpoint{dst, dport}, Endpoint{src, sport}};
      ASSERT_EQ(fo.owner(t), reta[want % size]);
    }
  }
}

TEST(FlowOwnership, DefaultRetaSpreadsOverEveryEngine) {
  const FlowOwnership fo(3, 128);
  std::vector<int> seen(3);
  for (std::uint16_t e : fo.reta()) ++seen.at(e);
  EXPECT_EQ(seen[0], 43);
  EXPECT_EQ(seen[1], 43);
  EXPECT_EQ(seen[2], 42);
  EXPECT_THROW(FlowOwnership(2, 100), std::invalid_argument);
  EXPECT_THROW(FlowOwnership(2, std::vector<std::uint16_t>(64, 2), FlowOwnership::default_key()),
               std::invalid_argument);
}

// The active open's search: every port PortAllocator hands an engine makes a tuple
// that engine owns, in the direction the NIC sees the reply; the peer's view of the
// same connection (its own local/remote) names the peer's owner for packets it gets.
TEST(FlowOwnership, PortSelectionAlwaysYieldsOwnedTuplesBothDirections) {
  const std::uint16_t engines = 2;
  const FlowOwnership ours(engines);
  const FlowOwnership peers(engines, 128);  // the peer stack: same key and RETA shape
  std::mt19937 rng(7);
  for (std::uint16_t engine = 0; engine < engines; ++engine) {
    PortAllocator alloc(PortAllocator::Config{}, SipKey{1, 2});
    const IpAddr local = IpAddr::v4(0xC6120001);
    for (int i = 0; i < 2000; ++i) {
      const Endpoint remote{IpAddr::v4(0xC6120000 | (rng() & 0xff)),
                            static_cast<std::uint16_t>(1 + rng() % 60000)};
      auto accept = [&](std::uint16_t port) {
        return ours.owner(TcpTuple{Endpoint{local, port}, remote}) == engine;
      };
      const auto r = alloc.connect(
          local, remote, [](const TcpTuple&) { return false; }, accept);
      ASSERT_EQ(r.error, 0);
      // The SYN-ACK as received: src = remote, dst = local.
      ASSERT_EQ(ours.owner_of_received(remote.addr, remote.port, local, r.port), engine);
      // The peer's view of the same connection is the reverse tuple: its owner is the
      // hash of what the peer receives (src = our local).
      const TcpTuple peer_view{remote, Endpoint{local, r.port}};
      ASSERT_EQ(peers.owner(peer_view),
                peers.owner_of_received(local, r.port, remote.addr, remote.port));
    }
  }
  // A range too small to contain a port this engine owns for this peer: refused.
  PortAllocator tiny(PortAllocator::Config{40000, 40000}, SipKey{1, 2});
  const IpAddr local = IpAddr::v4(0xC6120001);
  const Endpoint remote{IpAddr::v4(0xC6120002), 80};
  const std::uint16_t owner_of_40000 = ours.owner(TcpTuple{Endpoint{local, 40000}, remote});
  const auto refused = tiny.connect(
      local, remote, [](const TcpTuple&) { return false; },
      [&](std::uint16_t p) {
        return ours.owner(TcpTuple{Endpoint{local, p}, remote}) != owner_of_40000;
      });
  EXPECT_EQ(refused.error, EADDRNOTAVAIL);
}

}  // namespace
}  // namespace shardtcp
