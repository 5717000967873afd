// Ipv4Reassembly over a real rte_ip_frag table (needs EAL for mbufs and the table).
#include "ip/ipv4_reassembly.h"

#include <gtest/gtest.h>

#include <vector>

#include "eal_env.h"
#include "wire/ethernet.h"
#include "wire/ipv4.h"

namespace shardtcp {
namespace {

using namespace std::chrono_literals;
using l3test::make_mbuf;
using l3test::mbuf_bytes;
using l3test::pool_avail;

const IpAddr kSrc = IpAddr::v4(0xC6120001);
const IpAddr kDst = IpAddr::v4(0xC6120002);

// One Ethernet+IPv4 fragment of datagram `id` carrying payload bytes [off, off+len),
// byte i of the datagram payload being (i * 7) & 0xff.
rte_mbuf* fragment(std::uint16_t id, std::uint32_t off, std::uint16_t len, bool more,
                   IpAddr src = kSrc) {
  std::vector<std::uint8_t> f(14 + 20 + len);
  emit_ethernet(f.data(), 14, {rte_ether_addr{}, rte_ether_addr{}, kEtherTypeIpv4});
  Ipv4Header h;
  h.src = src;
  h.dst = kDst;
  h.protocol = 17;
  h.id = id;
  h.more_fragments = more;
  h.fragment_offset = off;
  h.payload_len = len;
  emit_ipv4(f.data() + 14, 20, h);
  for (std::uint16_t i = 0; i < len; ++i) f[34 + i] = static_cast<std::uint8_t>((off + i) * 7);
  rte_mbuf* m = make_mbuf(f);
  m->l2_len = 14;
  m->l3_len = 20;
  return m;
}

ReassemblyConfig small_table() {
  ReassemblyConfig c;
  c.max_flows = 4;
  c.bucket_entries = 4;
  c.timeout = 2s;
  return c;
}

TEST(Reassembly, OutOfOrderFragmentsComplete) {
  const unsigned avail = pool_avail();
  {
    Ipv4Reassembly r(small_table());
    ASSERT_TRUE(r.ok());
    const Instant t{1'000'000'000};
    rte_mbuf* out = nullptr;
    EXPECT_EQ(r.process(fragment(7, 1480, 1480, true), t, &out), Ipv4Reassembly::Result::kHeld);
    EXPECT_EQ(r.process(fragment(7, 2960, 40, false), t, &out), Ipv4Reassembly::Result::kHeld);
    ASSERT_EQ(r.process(fragment(7, 0, 1480, true), t, &out), Ipv4Reassembly::Result::kComplete);
    ASSERT_NE(out, nullptr);
    const auto bytes = mbuf_bytes(out);
    ASSERT_EQ(bytes.size(), 14u + 20 + 3000);
    auto ip = Ipv4View::parse(bytes.data() + 14, bytes.size() - 14);
    ASSERT_TRUE(ip);  // header checksum recomputed by the table
    EXPECT_EQ(ip->total_length(), 3020);
    EXPECT_FALSE(ip->is_fragment());
    for (std::size_t i = 0; i < 3000; ++i)
      ASSERT_EQ(bytes[34 + i], static_cast<std::uint8_t>(i * 7)) << i;
    rte_pktmbuf_free(out);
    r.collect(t);
  }
  EXPECT_EQ(pool_avail(), avail);
}

TEST(Reassembly, TooManyFlowsAreRefusedAndBounded) {
  const unsigned avail = pool_avail();
  {
    Ipv4Reassembly r(small_table());
    ASSERT_TRUE(r.ok());
    const Instant t{1'000'000'000};
    int held = 0, dropped = 0;
    for (std::uint16_t id = 1; id <= 20; ++id) {
      rte_mbuf* out = nullptr;
      const auto res = r.process(fragment(id, 0, 64, true), t, &out);
      EXPECT_NE(res, Ipv4Reassembly::Result::kComplete);
      if (res == Ipv4Reassembly::Result::kHeld) ++held;
      if (res == Ipv4Reassembly::Result::kDropped) ++dropped;
    }
    EXPECT_LE(held, 4);  // never more flows than configured
    EXPECT_GE(held, 1);
    EXPECT_EQ(held + dropped, 20);
    r.collect(t);
    // Held fragments stay held; refused ones went back to the pool.
    EXPECT_EQ(pool_avail(), avail - static_cast<unsigned>(held));
    // After the timeout the table gives everything back.
    EXPECT_EQ(r.collect(t + 3s), static_cast<std::uint32_t>(held));
    EXPECT_EQ(pool_avail(), avail);
  }
  EXPECT_EQ(pool_avail(), avail);
}

TEST(Reassembly, OverlappingFragmentsNeverCompleteAndAreFreed) {
  const unsigned avail = pool_avail();
  {
    Ipv4Reassembly r(small_table());
    const Instant t{1'000'000'000};
    rte_mbuf* out = nullptr;
    // [0,16) and [8,24) overlap; last fragment [24,32).
    auto a = r.process(fragment(9, 0, 16, true), t, &out);
    auto b = r.process(fragment(9, 8, 16, true), t, &out);
    auto c = r.process(fragment(9, 24, 8, false), t, &out);
    EXPECT_EQ(a, Ipv4Reassembly::Result::kHeld);
    EXPECT_NE(b, Ipv4Reassembly::Result::kComplete);
    EXPECT_NE(c, Ipv4Reassembly::Result::kComplete);
    EXPECT_EQ(out, nullptr);
    r.collect(t + 3s);
    EXPECT_EQ(pool_avail(), avail);
  }
}

TEST(Reassembly, DuplicateFirstFragmentIsRejected) {
  const unsigned avail = pool_avail();
  {
    Ipv4Reassembly r(small_table());
    const Instant t{1'000'000'000};
    rte_mbuf* out = nullptr;
    EXPECT_EQ(r.process(fragment(11, 0, 16, true), t, &out), Ipv4Reassembly::Result::kHeld);
    EXPECT_EQ(r.process(fragment(11, 0, 16, true), t, &out), Ipv4Reassembly::Result::kDropped);
    r.collect(t);
  }
  EXPECT_EQ(pool_avail(), avail);
}

TEST(Reassembly, IncompleteDatagramTimesOut) {
  const unsigned avail = pool_avail();
  Ipv4Reassembly r(small_table());
  const Instant t{1'000'000'000};
  rte_mbuf* out = nullptr;
  ASSERT_EQ(r.process(fragment(12, 0, 64, true), t, &out), Ipv4Reassembly::Result::kHeld);
  ASSERT_EQ(r.process(fragment(12, 64, 64, true), t, &out), Ipv4Reassembly::Result::kHeld);
  EXPECT_EQ(r.collect(t + 1s), 0u);
  EXPECT_EQ(pool_avail(), avail - 2);
  EXPECT_EQ(r.collect(t + 2s + 1ms), 2u);
  EXPECT_EQ(pool_avail(), avail);
  // The last fragment arriving late starts a new (incomplete) flow, not a datagram.
  EXPECT_EQ(r.process(fragment(12, 128, 8, false), t + 3s, &out), Ipv4Reassembly::Result::kHeld);
  EXPECT_EQ(r.collect(t + 6s), 1u);
  EXPECT_EQ(pool_avail(), avail);
}

}  // namespace
}  // namespace shardtcp
