#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_ip.h>

#include <cstring>
#include <random>
#include <vector>

#include "segment_compare.h"
#include "tcp_captured_frames.h"
#include "wire/checksum.h"
#include "wire/tcp.h"

namespace shardtcp {
namespace {

using namespace captured_tcp;
constexpr std::size_t kL3 = 14;       // Ethernet header
constexpr std::size_t kL4 = 14 + 20;  // + IPv4 header without options

const IpAddr kA = IpAddr::v4(0xC6120101);  // 198.18.1.1
const IpAddr kB = IpAddr::v4(0xC6120102);  // 198.18.1.2
const IpAddr kC = IpAddr::v4(0xC6120103);  // 198.18.1.3 (the scapy client)

template <std::size_t N>
TcpSegment decode_ok(const std::uint8_t (&frame)[N], const IpAddr& src, const IpAddr& dst) {
  TcpSegment seg;
  TcpOptionStatus st = TcpOptionStatus::kTruncated;
  EXPECT_EQ(decode_tcp(src, dst, frame + kL4, N - kL4, true, seg, &st), TcpWireDrop::kNone);
  EXPECT_EQ(st, TcpOptionStatus::kOk);
  return seg;
}

// Re-emits the decoded header and compares with the captured bytes, checksum included.
template <std::size_t N>
void expect_round_trip(const std::uint8_t (&frame)[N], const IpAddr& src, const IpAddr& dst) {
  const TcpSegment seg = decode_ok(frame, src, dst);
  const auto view = TcpView::parse(frame + kL4, N - kL4);
  ASSERT_TRUE(view.has_value());
  std::vector<std::uint8_t> out(N - kL4, 0xAA);
  const std::size_t hlen = emit_tcp_header(out.data(), out.size(), seg);
  ASSERT_EQ(hlen, view->header_len());
  EXPECT_EQ(tcp_header_len(seg), hlen);
  std::memcpy(out.data() + hlen, seg.payload.data, seg.payload.len);
  set_tcp_checksum(out.data(), l4_checksum(src, dst, IPPROTO_TCP, out.data(), out.size()));
  EXPECT_EQ(0, std::memcmp(out.data(), frame + kL4, out.size()));
  // The same through DPDK's header-based helper.
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(frame + kL3);
  EXPECT_TRUE(l4_checksum_ok_ipv4(ip, frame + kL4));
  set_tcp_checksum(out.data(), 0);
  EXPECT_EQ(l4_checksum_ipv4(ip, out.data()),
            l4_checksum(src, dst, IPPROTO_TCP, out.data(), out.size()));
}

TEST(TcpCodecTest, LinuxSynWithAllOptions) {
  const TcpSegment s = decode_ok(kTcpSyn, kA, kB);
  EXPECT_EQ(s.src_port, 60260);
  EXPECT_EQ(s.dst_port, 5001);
  EXPECT_EQ(s.seq, SeqNum(1847229796u));
  EXPECT_EQ(s.flags, tcp_flags::kSyn);
  EXPECT_EQ(s.window, 64240);
  EXPECT_EQ(s.options.mss, 1460);
  EXPECT_TRUE(s.options.sack_permitted);
  ASSERT_TRUE(s.options.timestamps.has_value());
  EXPECT_EQ(s.options.timestamps->value, 1028639135u);
  EXPECT_EQ(s.options.timestamps->echo, 0u);
  EXPECT_EQ(s.options.window_scale, 10);
  EXPECT_EQ(s.seq_len(), 1u);
  expect_round_trip(kTcpSyn, kA, kB);
}

TEST(TcpCodecTest, LinuxSynAck) {
  const TcpSegment s = decode_ok(kTcpSynAck, kB, kA);
  EXPECT_EQ(s.flags, tcp_flags::kSyn | tcp_flags::kAck);
  EXPECT_EQ(s.seq, SeqNum(1021739190u));
  EXPECT_EQ(s.ack, SeqNum(1847229797u));
  EXPECT_EQ(s.options.timestamps->echo, 1028639135u);
  expect_round_trip(kTcpSynAck, kB, kA);
}

TEST(TcpCodecTest, LinuxDataWithTimestamps) {
  const TcpSegment s = decode_ok(kTcpDataTs, kA, kB);
  EXPECT_EQ(s.flags, tcp_flags::kPsh | tcp_flags::kAck);
  EXPECT_EQ(s.window, 63);
  EXPECT_FALSE(s.options.mss.has_value());
  EXPECT_EQ(s.options.timestamps->value, 1028639135u);
  EXPECT_EQ(s.options.timestamps->echo, 3183159232u);
  ASSERT_EQ(s.payload.len, 14u);
  EXPECT_EQ(0, std::memcmp(s.payload.data, "hello shardtcp", 14));
  expect_round_trip(kTcpDataTs, kA, kB);
}

// One segment refilled with headers of both common layouts in turn reads each time as
// decode_tcp's result: every field that may differ is rewritten.
void expect_same_segment(const TcpSegment& a, const TcpSegment& b) {
  testing::expect_same_header(a, b);
  EXPECT_EQ(a.payload.data, b.payload.data);
  EXPECT_EQ(a.payload.len, b.payload.len);
  EXPECT_EQ(a.payload.handle, b.payload.handle);
  EXPECT_EQ(a.payload.pieces, b.payload.pieces);
  EXPECT_EQ(a.payload.piece_count, b.payload.piece_count);
  EXPECT_EQ(a.payload.skip, b.payload.skip);
}

TEST(TcpCodecTest, RefilledCommonHeaderReadsAsDecoded) {
  ASSERT_TRUE(is_common_tcp_header(kTcpDataTs + kL4, sizeof(kTcpDataTs) - kL4));
  ASSERT_TRUE(is_common_tcp_header(kTcpRst + kL4, sizeof(kTcpRst) - kL4));
  TcpSegment seg;
  refill_common_tcp_header(kTcpDataTs + kL4, sizeof(kTcpDataTs) - kL4, seg);
  expect_same_segment(seg, decode_ok(kTcpDataTs, kA, kB));
  seg.payload.handle = &seg;  // as the receive path sets it
  refill_common_tcp_header(kTcpRst + kL4, sizeof(kTcpRst) - kL4, seg);
  expect_same_segment(seg, decode_ok(kTcpRst, kB, kA));
  refill_common_tcp_header(kTcpDataTs + kL4, sizeof(kTcpDataTs) - kL4, seg);
  expect_same_segment(seg, decode_ok(kTcpDataTs, kA, kB));
}

TEST(TcpCodecTest, LinuxFin) {
  const TcpSegment s = decode_ok(kTcpFin, kA, kB);
  EXPECT_EQ(s.flags, tcp_flags::kFin | tcp_flags::kAck);
  EXPECT_EQ(s.seq_len(), 1u);
  expect_round_trip(kTcpFin, kA, kB);
}

TEST(TcpCodecTest, LinuxRst) {
  const TcpSegment s = decode_ok(kTcpRst, kB, kA);
  EXPECT_EQ(s.flags, tcp_flags::kRst | tcp_flags::kAck);
  EXPECT_EQ(s.src_port, 5999);
  EXPECT_EQ(s.ack, SeqNum(3877329409u));
  EXPECT_EQ(s.options, TcpOptions{});
  expect_round_trip(kTcpRst, kB, kA);
}

TEST(TcpCodecTest, LinuxAckWithSack) {
  const TcpSegment s = decode_ok(kTcpSackAck, kB, kC);
  ASSERT_EQ(s.options.sack_count, 1);
  EXPECT_EQ(s.options.sack[0].left, SeqNum(1011));
  EXPECT_EQ(s.options.sack[0].right, SeqNum(1021));
  EXPECT_EQ(s.ack, SeqNum(1001));
  EXPECT_EQ(s.options.timestamps->value, 2814149238u);
  expect_round_trip(kTcpSackAck, kB, kC);
}

TEST(TcpCodecTest, BadChecksumIsDropped) {
  std::vector<std::uint8_t> f(std::begin(kTcpDataTs), std::end(kTcpDataTs));
  f.back() ^= 0x01;
  TcpSegment s;
  EXPECT_EQ(decode_tcp(kA, kB, f.data() + kL4, f.size() - kL4, true, s), TcpWireDrop::kBadChecksum);
  // A port that verified the checksum in hardware skips the check.
  EXPECT_EQ(decode_tcp(kA, kB, f.data() + kL4, f.size() - kL4, false, s), TcpWireDrop::kNone);
  // Wrong pseudo-header (other destination) fails too.
  EXPECT_EQ(decode_tcp(kA, kC, kTcpDataTs + kL4, sizeof(kTcpDataTs) - kL4, true, s),
            TcpWireDrop::kBadChecksum);
}

TEST(TcpCodecTest, TruncatedAndBadDataOffset) {
  TcpWireDrop why = TcpWireDrop::kNone;
  EXPECT_FALSE(TcpView::parse(kTcpSyn + kL4, 19, &why).has_value());
  EXPECT_EQ(why, TcpWireDrop::kTruncated);
  // Data offset 10 words (40 bytes) but only 30 bytes present.
  EXPECT_FALSE(TcpView::parse(kTcpSyn + kL4, 30, &why).has_value());
  EXPECT_EQ(why, TcpWireDrop::kBadDataOffset);
  std::vector<std::uint8_t> f(kTcpRst + kL4, kTcpRst + sizeof(kTcpRst));
  f[12] = 0x40;  // 4 words < 5
  EXPECT_FALSE(TcpView::parse(f.data(), f.size(), &why).has_value());
  EXPECT_EQ(why, TcpWireDrop::kBadDataOffset);
}

TcpOptionStatus opts(std::vector<std::uint8_t> bytes, TcpOptions& o) {
  return parse_tcp_options(bytes.data(), bytes.size(), o);
}

TEST(TcpOptionsTest, EolStopsAndNopsSkip) {
  TcpOptions o;
  EXPECT_EQ(opts({1, 1, 2, 4, 0x05, 0xb4, 0, 3, 3, 7}, o), TcpOptionStatus::kOk);
  EXPECT_EQ(o.mss, 1460);
  EXPECT_FALSE(o.window_scale.has_value());  // after EOL
}

TEST(TcpOptionsTest, UnknownKindsSkipped) {
  TcpOptions o;
  EXPECT_EQ(opts({30, 6, 9, 9, 9, 9, 3, 3, 2, 1}, o), TcpOptionStatus::kOk);
  EXPECT_EQ(o.window_scale, 2);
}

TEST(TcpOptionsTest, WrongLengthForKnownKindIgnored) {
  TcpOptions o;
  EXPECT_EQ(opts({2, 3, 5, 3, 3, 7, 1, 1}, o), TcpOptionStatus::kBadLength);
  EXPECT_FALSE(o.mss.has_value());
  EXPECT_EQ(o.window_scale, 7);  // parsing continued past the bad one
  EXPECT_EQ(opts({8, 8, 0, 0, 0, 0, 0, 0}, o), TcpOptionStatus::kBadLength);
  EXPECT_FALSE(o.timestamps.has_value());
  EXPECT_EQ(opts({5, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0}, o), TcpOptionStatus::kBadLength);
  EXPECT_EQ(o.sack_count, 0);
  EXPECT_EQ(opts({4, 3, 0, 1}, o), TcpOptionStatus::kBadLength);
  EXPECT_FALSE(o.sack_permitted);
}

// NOP, NOP, timestamps is recognised in one compare (the stream's every segment): the
// result must be the general loop's, which reads the same option laid out otherwise,
// and a block that only starts like it must still go through the loop.
TEST(TcpOptionsTest, NopNopTimestampsReadsAsTheGeneralLoop) {
  TcpOptions fast, general;
  // Dirty the outputs first: the shortcut must clear what it does not set.
  EXPECT_EQ(opts({2, 4, 0x05, 0xb4, 3, 3, 7, 4, 2, 1}, fast), TcpOptionStatus::kOk);
  EXPECT_EQ(opts({2, 4, 0x05, 0xb4, 3, 3, 7, 4, 2, 1}, general), TcpOptionStatus::kOk);
  EXPECT_EQ(opts({1, 1, 8, 10, 0x80, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe}, fast), TcpOptionStatus::kOk);
  EXPECT_EQ(opts({8, 10, 0x80, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 1, 1}, general),
            TcpOptionStatus::kOk);
  ASSERT_TRUE(fast.timestamps.has_value());
  EXPECT_EQ(fast.timestamps->value, 0x80000001u);
  EXPECT_EQ(fast.timestamps->echo, 0xfffffffeu);
  EXPECT_EQ(fast, general);
  EXPECT_EQ(opts({1, 1, 8, 11, 0, 0, 0, 1, 0, 0, 0, 2}, fast), TcpOptionStatus::kTruncated);
  EXPECT_FALSE(fast.timestamps.has_value());
}

TEST(TcpOptionsTest, TruncatedOrZeroLengthStops) {
  TcpOptions o;
  EXPECT_EQ(opts({2}, o), TcpOptionStatus::kTruncated);
  EXPECT_EQ(opts({2, 4, 5}, o), TcpOptionStatus::kTruncated);
  EXPECT_FALSE(o.mss.has_value());
  EXPECT_EQ(opts({30, 0, 3, 3, 7}, o), TcpOptionStatus::kTruncated);  // would loop forever
  EXPECT_FALSE(o.window_scale.has_value());
  EXPECT_EQ(opts({30, 1, 3, 3, 7}, o), TcpOptionStatus::kTruncated);
}

TEST(TcpOptionsTest, WindowScaleClampedTo14) {
  TcpOptions o;
  EXPECT_EQ(opts({3, 3, 15}, o), TcpOptionStatus::kOk);
  EXPECT_EQ(o.window_scale, 14);
}

TEST(TcpOptionsTest, FourSackBlocks) {
  TcpOptions o;
  std::vector<std::uint8_t> b = {1, 1, 5, 34};
  for (std::uint32_t i = 0; i < 8; ++i) {
    b.insert(b.end(), {0, 0, 0, static_cast<std::uint8_t>(i + 1)});
  }
  EXPECT_EQ(opts(b, o), TcpOptionStatus::kOk);
  ASSERT_EQ(o.sack_count, 4);
  EXPECT_EQ(o.sack[3].left, SeqNum(7));
  EXPECT_EQ(o.sack[3].right, SeqNum(8));
}

TEST(TcpEmitTest, SackBlocksLimitedBySpace) {
  TcpSegment s;
  s.flags = tcp_flags::kAck;
  s.options.sack_count = 4;
  for (std::uint32_t i = 0; i < 4; ++i) s.options.sack[i] = {SeqNum(i * 10), SeqNum(i * 10 + 5)};
  EXPECT_EQ(tcp_header_len(s), 20u + 4 + 32);  // 4 blocks without TS
  s.options.timestamps = TcpTimestamps{1, 2};
  EXPECT_EQ(tcp_sack_blocks_that_fit(s.options), 3u);
  EXPECT_EQ(tcp_header_len(s), 20u + 12 + 4 + 24);
  std::uint8_t buf[60];
  EXPECT_EQ(emit_tcp_header(buf, 59, s), 0u);
  const std::size_t n = emit_tcp_header(buf, sizeof(buf), s);
  ASSERT_EQ(n, 60u);
  TcpSegment back;
  auto v = TcpView::parse(buf, n);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->to_segment(back), TcpOptionStatus::kOk);
  EXPECT_EQ(back.options.sack_count, 3);
  EXPECT_EQ(back.options.sack[2], s.options.sack[2]);
  EXPECT_EQ(back.options.timestamps, s.options.timestamps);
}

TEST(TcpEmitTest, SynWithoutTimestampsUsesNopPadding) {
  TcpSegment s;
  s.flags = tcp_flags::kSyn;
  s.options.mss = 1400;
  s.options.sack_permitted = true;
  s.options.window_scale = 7;
  std::uint8_t buf[60];
  const std::size_t n = emit_tcp_header(buf, sizeof(buf), s);
  ASSERT_EQ(n, 32u);
  const std::uint8_t expect_opts[] = {2, 4, 0x05, 0x78, 1, 1, 4, 2, 1, 3, 3, 7};
  EXPECT_EQ(0, std::memcmp(buf + 20, expect_opts, sizeof(expect_opts)));
}

TEST(TcpChecksumTest, Ipv6AgreesWithDpdk) {
  // Build IPv6 + TCP in one buffer and compare our address-based sum with DPDK's.
  std::uint8_t pkt[40 + 20 + 5] = {};
  auto* ip6 = reinterpret_cast<rte_ipv6_hdr*>(pkt);
  ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
  ip6->payload_len = rte_cpu_to_be_16(25);
  ip6->proto = IPPROTO_TCP;
  ip6->hop_limits = 64;
  const std::uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const std::uint8_t d6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  std::memcpy(ip6->src_addr, s6, 16);
  std::memcpy(ip6->dst_addr, d6, 16);
  TcpSegment seg;
  seg.src_port = 1234;
  seg.dst_port = 80;
  seg.seq = SeqNum(7);
  seg.flags = tcp_flags::kAck | tcp_flags::kPsh;
  ASSERT_EQ(emit_tcp_header(pkt + 40, 20, seg), 20u);
  std::memcpy(pkt + 60, "abcde", 5);  // odd length on purpose
  const IpAddr src = IpAddr::v6(&s6[0]), dst = IpAddr::v6(&d6[0]);
  const std::uint16_t ours = l4_checksum(src, dst, IPPROTO_TCP, pkt + 40, 25);
  EXPECT_EQ(ours, l4_checksum_ipv6(ip6, pkt + 40));
  set_tcp_checksum(pkt + 40, ours);
  EXPECT_TRUE(l4_checksum_ok(src, dst, IPPROTO_TCP, pkt + 40, 25));
  EXPECT_TRUE(l4_checksum_ok_ipv6(ip6, pkt + 40));
  TcpSegment back;
  EXPECT_EQ(decode_tcp(src, dst, pkt + 40, 25, true, back), TcpWireDrop::kNone);
  EXPECT_EQ(back.payload.len, 5u);
  pkt[64] ^= 0xff;
  EXPECT_FALSE(l4_checksum_ok(src, dst, IPPROTO_TCP, pkt + 40, 25));
  // Offload: pseudo-header sum matches DPDK's, with and without TSO.
  EXPECT_EQ(l4_pseudo_header_checksum(src, dst, IPPROTO_TCP, 25),
            l4_pseudo_header_checksum_ipv6(ip6, 0));
  EXPECT_EQ(l4_pseudo_header_checksum(src, dst, IPPROTO_TCP, 25, RTE_MBUF_F_TX_TCP_SEG),
            l4_pseudo_header_checksum_ipv6(ip6, RTE_MBUF_F_TX_TCP_SEG));
}

TEST(TcpChecksumTest, Ipv4PseudoHeaderMatchesDpdkAndCompletes) {
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(kTcpDataTs + kL3);
  const std::size_t len = sizeof(kTcpDataTs) - kL4;
  const std::uint16_t ph = l4_pseudo_header_checksum(kA, kB, IPPROTO_TCP, len);
  EXPECT_EQ(ph, l4_pseudo_header_checksum_ipv4(ip, 0));
  EXPECT_EQ(l4_pseudo_header_checksum(kA, kB, IPPROTO_TCP, len, RTE_MBUF_F_TX_TCP_SEG),
            l4_pseudo_header_checksum_ipv4(ip, RTE_MBUF_F_TX_TCP_SEG));
  // What a NIC does with the offload value: sum the segment starting from it.
  std::vector<std::uint8_t> seg(kTcpDataTs + kL4, kTcpDataTs + sizeof(kTcpDataTs));
  set_tcp_checksum(seg.data(), ph);
  const std::uint16_t finished = static_cast<std::uint16_t>(~rte_raw_cksum(seg.data(), seg.size()));
  std::uint16_t stored;
  std::memcpy(&stored, kTcpDataTs + kL4 + 16, 2);
  EXPECT_EQ(finished, stored);
}

// Random and mutated inputs must never crash or read out of bounds (run under ASan
// in the sanitizer build); whatever parses must re-emit into a parseable header.
TEST(TcpFuzzTest, RandomBytesNeverCrash) {
  std::mt19937 rng(12345);
  std::vector<std::uint8_t> buf;
  std::size_t parsed = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::size_t len = rng() % 80;
    buf.resize(len);
    for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
    if (len > 12 && (i & 1)) buf[12] = static_cast<std::uint8_t>((5 + rng() % 11) << 4);
    TcpSegment s;
    TcpOptionStatus st;
    if (decode_tcp(kA, kB, buf.data(), buf.size(), false, s, &st) == TcpWireDrop::kNone) {
      ++parsed;
      ASSERT_LE(s.payload.len, len);
      ASSERT_LE(s.options.sack_count, 4);
      if (s.options.window_scale) {
        ASSERT_LE(*s.options.window_scale, 14);
      }
      std::uint8_t out[60];
      const std::size_t n = emit_tcp_header(out, sizeof(out), s);
      ASSERT_GE(n, 20u);
      ASSERT_TRUE(TcpView::parse(out, n).has_value());
    }
  }
  EXPECT_GT(parsed, 1000u);  // the generator does reach the option parser
}

TEST(TcpFuzzTest, MutatedCapturesNeverCrash) {
  std::mt19937 rng(7);
  const std::vector<std::uint8_t> base(kTcpSackAck + kL4, kTcpSackAck + sizeof(kTcpSackAck));
  for (int i = 0; i < 100000; ++i) {
    std::vector<std::uint8_t> f = base;
    const int flips = 1 + rng() % 4;
    for (int k = 0; k < flips; ++k)
      f[20 + rng() % (f.size() - 20)] = static_cast<std::uint8_t>(rng());
    f.resize(rng() % (f.size() + 1));
    TcpSegment s;
    (void)decode_tcp(kB, kC, f.data(), f.size(), true, s);
  }
  SUCCEED();
}

}  // namespace
}  // namespace shardtcp

namespace shardtcp {
namespace {

constexpr std::size_t kL4v6 = 14 + 40;
const IpAddr kA6 = *IpAddr::parse("2001:db8:1::1");
const IpAddr kB6 = *IpAddr::parse("2001:db8:1::2");

template <std::size_t N>
void expect_round_trip_v6(const std::uint8_t (&frame)[N]) {
  TcpSegment seg;
  TcpOptionStatus st = TcpOptionStatus::kTruncated;
  ASSERT_EQ(decode_tcp(kA6, kB6, frame + kL4v6, N - kL4v6, true, seg, &st), TcpWireDrop::kNone);
  EXPECT_EQ(st, TcpOptionStatus::kOk);
  std::vector<std::uint8_t> out(N - kL4v6);
  const std::size_t hlen = emit_tcp_header(out.data(), out.size(), seg);
  ASSERT_GT(hlen, 0u);
  std::memcpy(out.data() + hlen, seg.payload.data, seg.payload.len);
  set_tcp_checksum(out.data(), l4_checksum(kA6, kB6, IPPROTO_TCP, out.data(), out.size()));
  EXPECT_EQ(0, std::memcmp(out.data(), frame + kL4v6, out.size()));
  const auto* ip6 = reinterpret_cast<const rte_ipv6_hdr*>(frame + 14);
  EXPECT_TRUE(l4_checksum_ok_ipv6(ip6, frame + kL4v6));
}

TEST(TcpCodecV6Test, LinuxSyn) {
  TcpSegment s;
  ASSERT_EQ(decode_tcp(kA6, kB6, captured_tcp::kTcp6Syn + kL4v6,
                       sizeof(captured_tcp::kTcp6Syn) - kL4v6, true, s),
            TcpWireDrop::kNone);
  EXPECT_EQ(s.src_port, 39058);
  EXPECT_EQ(s.seq, SeqNum(438773121u));
  EXPECT_EQ(s.options.mss, 1440);
  EXPECT_EQ(s.options.window_scale, 10);
  EXPECT_EQ(s.options.timestamps->value, 3731415850u);
  expect_round_trip_v6(captured_tcp::kTcp6Syn);
}

TEST(TcpCodecV6Test, LinuxDataWithTimestamps) {
  expect_round_trip_v6(captured_tcp::kTcp6DataTs);
  TcpSegment s;
  ASSERT_EQ(decode_tcp(kA6, kB6, captured_tcp::kTcp6DataTs + kL4v6,
                       sizeof(captured_tcp::kTcp6DataTs) - kL4v6, true, s),
            TcpWireDrop::kNone);
  ASSERT_EQ(s.payload.len, 15u);
  EXPECT_EQ(0, std::memcmp(s.payload.data, "hello over ipv6", 15));
  EXPECT_EQ(s.ack, SeqNum(3527373858u));
  // A different destination address in the pseudo-header must fail verification.
  EXPECT_EQ(decode_tcp(kA6, *IpAddr::parse("2001:db8:1::3"), captured_tcp::kTcp6DataTs + kL4v6,
                       sizeof(captured_tcp::kTcp6DataTs) - kL4v6, true, s),
            TcpWireDrop::kBadChecksum);
}

// Fake mbufs over a flat buffer, cut into segments of the given lengths: only what the
// sums read is set.
std::vector<rte_mbuf> fake_chain(std::uint8_t* bytes, const std::vector<std::uint16_t>& cuts) {
  std::vector<rte_mbuf> segs(cuts.size());
  std::uint32_t at = 0;
  for (std::size_t i = 0; i < cuts.size(); ++i) {
    std::memset(&segs[i], 0, sizeof(rte_mbuf));
    segs[i].buf_addr = bytes + at;
    segs[i].data_len = cuts[i];
    segs[i].next = i + 1 < cuts.size() ? &segs[i + 1] : nullptr;
    at += cuts[i];
  }
  segs[0].pkt_len = at;
  segs[0].nb_segs = static_cast<std::uint16_t>(cuts.size());
  return segs;  // moved, not copied: the links stay valid
}

// Cuts of 3000 bytes, most with segments of odd length in front of others.
const std::vector<std::vector<std::uint16_t>> kCuts3000 = {
    {3000}, {1, 2999}, {61, 1387, 1, 1551}, {777, 777, 777, 669}, {2, 3, 5, 7, 11, 2972}};

// A chain cut at odd lengths (zero-copy TX attaches send chunks wherever they end) sums
// as the same bytes in one buffer: segments after an odd-length one count byte-swapped,
// carries kept (DPDK 22.11's rte_raw_cksum_mbuf drops them: see raw_cksum_mbuf).
TEST(ChainChecksum, SegmentsOfOddLengthsSumAsOneBuffer) {
  std::mt19937 rng(7);
  std::vector<std::uint8_t> bytes(3000);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  const IpAddr src = IpAddr::v4(0x0a000001), dst = IpAddr::v4(0x0a000002);
  const IpAddr src6 = *IpAddr::parse("2001:db8::1"), dst6 = *IpAddr::parse("2001:db8::2");
  for (const auto& cuts : kCuts3000) {
    std::vector<rte_mbuf> segs = fake_chain(bytes.data(), cuts);
    const std::uint32_t at = segs[0].pkt_len;
    ASSERT_EQ(at, bytes.size());
    std::uint16_t chain = 0;
    ASSERT_TRUE(raw_cksum_mbuf(&segs[0], 0, at, &chain));
    EXPECT_EQ(chain, rte_raw_cksum(bytes.data(), at)) << cuts.size() << " segments";
    ASSERT_TRUE(raw_cksum_mbuf(&segs[0], 5, at - 9, &chain));
    EXPECT_EQ(chain, rte_raw_cksum(bytes.data() + 5, at - 9)) << cuts.size() << " segments";
    EXPECT_EQ(l4_checksum_mbuf(&segs[0], at, src, dst, IPPROTO_TCP),
              l4_checksum(src, dst, IPPROTO_TCP, bytes.data(), at));
    // From an offset, for any protocol with this pseudo-header (ICMPv6 input sums so).
    EXPECT_EQ(l4_checksum_mbuf(&segs[0], at - 41, src6, dst6, 58, 41),
              l4_checksum(src6, dst6, 58, bytes.data() + 41, at - 41))
        << cuts.size() << " segments";
    EXPECT_EQ(l4_checksum_mbuf(&segs[0], at, src6, dst6, 58, 1), 0xffff);  // past the end
    EXPECT_FALSE(raw_cksum_mbuf(&segs[0], 1, at, &chain));                 // past the chain's end
  }
}

// The sums from a finished IP header over a chain (IPv4 and IPv6 fragmentation, the
// device emulator's checksum offloads and receive verdicts) give what the flat-buffer
// ones give, for TCP and UDP behind IPv4 and IPv6, whatever the cuts; a received frame
// with a flipped bit, or shorter than its IP header says, is rejected. DPDK 22.11's
// rte_ipv4/6_udptcp_cksum_mbuf(_verify), which they replace, fail this.
TEST(ChainChecksum, FromTheIpHeaderOverOddSegmentsAsOverOneBuffer) {
  std::mt19937 rng(11);
  for (const bool v6 : {false, true}) {
    for (const std::uint8_t proto : {std::uint8_t{IPPROTO_TCP}, std::uint8_t{IPPROTO_UDP}}) {
      const std::size_t l3 = v6 ? 40 : 20;
      std::vector<std::uint8_t> bytes(3000);
      for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
      auto* ip4 = reinterpret_cast<rte_ipv4_hdr*>(bytes.data());
      auto* ip6 = reinterpret_cast<rte_ipv6_hdr*>(bytes.data());
      if (v6) {
        ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
        ip6->payload_len = rte_cpu_to_be_16(static_cast<std::uint16_t>(bytes.size() - l3));
        ip6->proto = proto;
      } else {
        ip4->version_ihl = 0x45;
        ip4->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(bytes.size()));
        ip4->next_proto_id = proto;
      }
      std::uint8_t* l4 = bytes.data() + l3;
      std::uint8_t* ck = l4 + (proto == IPPROTO_TCP ? 16 : 6);
      std::memset(ck, 0, 2);
      const std::uint16_t flat = v6 ? l4_checksum_ipv6(ip6, l4) : l4_checksum_ipv4(ip4, l4);
      const auto off = static_cast<std::uint16_t>(l3);
      for (const auto& cuts : kCuts3000) {
        SCOPED_TRACE(::testing::Message() << (v6 ? "IPv6 " : "IPv4 ") << int{proto} << ", "
                                          << cuts.size() << " segments");
        std::vector<rte_mbuf> segs = fake_chain(bytes.data(), cuts);
        std::memset(ck, 0, 2);
        EXPECT_EQ(v6 ? l4_checksum_ipv6_mbuf(&segs[0], ip6, off)
                     : l4_checksum_ipv4_mbuf(&segs[0], ip4, off),
                  flat);
        std::memcpy(ck, &flat, 2);
        auto ok = [&] {
          return v6 ? l4_checksum_ok_ipv6_mbuf(&segs[0], ip6, off)
                    : l4_checksum_ok_ipv4_mbuf(&segs[0], ip4, off);
        };
        ASSERT_TRUE(v6 ? l4_checksum_ok_ipv6(ip6, l4) : l4_checksum_ok_ipv4(ip4, l4));
        EXPECT_TRUE(ok());
        bytes[2999] ^= 0x10;  // a bit of the last segment
        EXPECT_FALSE(ok());
        bytes[2999] ^= 0x10;
        segs[0].pkt_len -= 1;  // shorter than the IP header says
        EXPECT_FALSE(ok());
      }
    }
  }
}

}  // namespace
}  // namespace shardtcp
