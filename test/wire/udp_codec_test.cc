#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <random>
#include <vector>

#include "tcp_captured_frames.h"
#include "wire/udp.h"

namespace shardtcp {
namespace {

using namespace captured_tcp;
constexpr std::size_t kL3 = 14;
constexpr std::size_t kL4 = 34;
const IpAddr kA = IpAddr::v4(0xC6120101);
const IpAddr kB = IpAddr::v4(0xC6120102);

TEST(UdpCodecTest, LinuxDatagramRoundTrip) {
  UdpWireDrop why = UdpWireDrop::kCount;
  const auto v = decode_udp(kA, kB, kUdpDatagram + kL4, sizeof(kUdpDatagram) - kL4, true, &why);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(why, UdpWireDrop::kNone);
  EXPECT_EQ(v->src_port(), 51590);
  EXPECT_EQ(v->dst_port(), 5002);
  EXPECT_EQ(v->length(), 20);
  ASSERT_EQ(v->payload_len(), 12u);
  EXPECT_EQ(0, std::memcmp(v->payload(), "udp payload!", 12));
  // Re-emit and compare the bytes, checksum included.
  std::uint8_t out[20];
  ASSERT_EQ(emit_udp_header(out, sizeof(out), 51590, 5002, 12), 8u);
  std::memcpy(out + 8, v->payload(), 12);
  udp_finish_checksum(kA, kB, out, sizeof(out));
  EXPECT_EQ(0, std::memcmp(out, kUdpDatagram + kL4, sizeof(out)));
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(kUdpDatagram + kL3);
  EXPECT_TRUE(l4_checksum_ok_ipv4(ip, kUdpDatagram + kL4));
}

TEST(UdpCodecTest, ZeroChecksumAcceptedOnIpv4Only) {
  std::vector<std::uint8_t> d(kUdpDatagram + kL4, kUdpDatagram + sizeof(kUdpDatagram));
  d[6] = d[7] = 0;
  UdpWireDrop why;
  EXPECT_TRUE(decode_udp(kA, kB, d.data(), d.size(), true, &why).has_value());
  const std::uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const std::uint8_t d6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  EXPECT_FALSE(decode_udp(IpAddr::v6(&s6[0]), IpAddr::v6(&d6[0]), d.data(), d.size(), false, &why));
  EXPECT_EQ(why, UdpWireDrop::kZeroChecksumV6);
  // With a real checksum IPv6 verifies.
  udp_finish_checksum(IpAddr::v6(&s6[0]), IpAddr::v6(&d6[0]), d.data(), d.size());
  EXPECT_TRUE(decode_udp(IpAddr::v6(&s6[0]), IpAddr::v6(&d6[0]), d.data(), d.size(), true, &why));
}

TEST(UdpCodecTest, ComputedZeroIsSentAsAllOnes) {
  // Search a payload whose checksum computes to 0; it must be emitted as 0xffff.
  std::uint8_t d[10];
  bool found = false;
  for (std::uint32_t x = 0; x < 0x10000 && !found; ++x) {
    emit_udp_header(d, sizeof(d), 1, 2, 2);
    d[8] = static_cast<std::uint8_t>(x >> 8);
    d[9] = static_cast<std::uint8_t>(x);
    udp_finish_checksum(kA, kB, d, sizeof(d));
    std::uint16_t ck;
    std::memcpy(&ck, d + 6, 2);
    ASSERT_NE(ck, 0);
    if (ck == 0xffff) found = true;
  }
  EXPECT_TRUE(found);
  UdpWireDrop why;
  EXPECT_TRUE(decode_udp(kA, kB, d, sizeof(d), true, &why).has_value());
}

TEST(UdpCodecTest, MalformedDropped) {
  UdpWireDrop why;
  EXPECT_FALSE(UdpView::parse(kUdpDatagram + kL4, 7, &why));
  EXPECT_EQ(why, UdpWireDrop::kTruncated);
  std::vector<std::uint8_t> d(kUdpDatagram + kL4, kUdpDatagram + sizeof(kUdpDatagram));
  d[5] = 21;  // longer than the bytes present
  EXPECT_FALSE(UdpView::parse(d.data(), d.size(), &why));
  EXPECT_EQ(why, UdpWireDrop::kBadLength);
  d[5] = 7;
  EXPECT_FALSE(UdpView::parse(d.data(), d.size(), &why));
  EXPECT_EQ(why, UdpWireDrop::kBadLength);
  d[5] = 20;
  d[10] ^= 1;
  EXPECT_FALSE(decode_udp(kA, kB, d.data(), d.size(), true, &why));
  EXPECT_EQ(why, UdpWireDrop::kBadChecksum);
  // Trailing bytes (link padding) beyond the length field are ignored.
  std::vector<std::uint8_t> p(kUdpDatagram + kL4, kUdpDatagram + sizeof(kUdpDatagram));
  p.resize(p.size() + 6, 0);
  auto v = decode_udp(kA, kB, p.data(), p.size(), true, &why);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->payload_len(), 12u);
  EXPECT_EQ(emit_udp_header(p.data(), 7, 1, 2, 3), 0u);
  EXPECT_EQ(emit_udp_header(p.data(), 8, 1, 2, 65528), 0u);
}

TEST(UdpFuzzTest, RandomBytesNeverCrash) {
  std::mt19937 rng(99);
  std::vector<std::uint8_t> b;
  for (int i = 0; i < 100000; ++i) {
    b.resize(rng() % 40);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    UdpWireDrop why;
    auto v = decode_udp(kA, kB, b.data(), b.size(), true, &why);
    if (v) {
      ASSERT_LE(v->payload_len() + 8, b.size());
    }
  }
  SUCCEED();
}

}  // namespace
}  // namespace shardtcp

namespace shardtcp {
namespace {

TEST(UdpCodecV6Test, LinuxDatagramRoundTrip) {
  constexpr std::size_t kL4v6 = 14 + 40;
  const IpAddr a = *IpAddr::parse("2001:db8:1::1");
  const IpAddr b = *IpAddr::parse("2001:db8:1::2");
  const auto& f = captured_tcp::kUdp6Datagram;
  UdpWireDrop why;
  const auto v = decode_udp(a, b, f + kL4v6, sizeof(f) - kL4v6, true, &why);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->src_port(), 60347);
  EXPECT_EQ(v->dst_port(), 5002);
  ASSERT_EQ(v->payload_len(), 12u);
  EXPECT_EQ(0, std::memcmp(v->payload(), "udp6 payload", 12));
  std::uint8_t out[20];
  ASSERT_EQ(emit_udp_header(out, sizeof(out), 60347, 5002, 12), 8u);
  std::memcpy(out + 8, v->payload(), 12);
  udp_finish_checksum(a, b, out, sizeof(out));
  EXPECT_EQ(0, std::memcmp(out, f + kL4v6, sizeof(out)));
  EXPECT_TRUE(l4_checksum_ok_ipv6(reinterpret_cast<const rte_ipv6_hdr*>(f + 14), f + kL4v6));
}

}  // namespace
}  // namespace shardtcp
