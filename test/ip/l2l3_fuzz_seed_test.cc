// Runs the L2/L3 fuzz harness (test/fuzz/l2l3_harness.h) over a seed corpus without
// libFuzzer: the captured Linux frames in every presentation mode, every truncation
// of them, every single-byte corruption, and seeded random mutations. Each input must
// be counted as a received frame, and once virtual time has run out every mbuf must
// be back in the pool.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "../fuzz/l2l3_harness.h"
#include "../wire/captured_frames.h"
#include "../wire/ipv6_captured_frames.h"
#include "ip/ip_stack.h"

namespace shardtcp {
namespace {

using Bytes = std::vector<std::uint8_t>;

template <std::size_t N>
Bytes frame(const std::uint8_t (&a)[N]) {
  return {a, a + N};
}

// An IPv6 frame captured from Linux, re-addressed to the harness's MAC when unicast.
template <std::size_t N>
Bytes frame6(const std::uint8_t (&a)[N]) {
  Bytes f(a, a + N);
  if ((f[0] & 1) == 0) {
    const std::uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x02};
    std::copy(mac, mac + 6, f.begin());
  }
  return f;
}

std::vector<Bytes> seeds() {
  return {frame(captured::kArpRequest),
          frame(captured::kArpReply),
          frame(captured::kEchoRequest),
          frame(captured::kEchoReply),
          frame(captured::kFrag0),
          frame(captured::kFrag1),
          frame(captured::kFragLast),
          frame6(captured6::kNeighborSolicit),
          frame6(captured6::kEchoRequest),
          frame6(captured6::kEchoFragment0),
          frame6(captured6::kEchoFragment1),
          frame6(captured6::kEchoFragment2),
          frame6(captured6::kEchoDestOptions),
          frame6(captured6::kEchoRouting),
          frame6(captured6::kUnknownNextHeader),
          frame6(captured6::kPacketTooBig),
          frame6(captured6::kTimeExceeded),
          frame6(captured6::kPortUnreachable),
          frame6(captured6::kRouterAdvert),
          frame6(captured6::kMldReportHopByHop)};
}

// The seeds are addressed to 198.18.0.2 from 198.18.0.1: the harness's stack owns
// .2, so they reach ARP, ICMP and reassembly rather than the early drops.
class L2L3FuzzSeeds : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(fuzz::l2l3_init()); }
  void run(std::uint8_t mode, const Bytes& f) {
    Bytes in;
    in.reserve(f.size() + 1);
    in.push_back(mode);
    in.insert(in.end(), f.begin(), f.end());
    fuzz::l2l3_run_one(in.data(), in.size());
    ++inputs_;
  }
  std::uint64_t rx_frames() const {
    return fuzz::l2l3_stack().eth_counters().get(EthCounter::kRxFrames);
  }
  std::uint64_t inputs_ = 0;
};

TEST_F(L2L3FuzzSeeds, CapturedFramesInEveryMode) {
  const std::uint64_t before = rx_frames();
  const auto replies_before = fuzz::l2l3_stack().eth_counters().get(EthCounter::kTxFrames);
  for (std::uint8_t mode = 0; mode < 8; ++mode)
    for (const Bytes& f : seeds()) run(mode, f);
  EXPECT_EQ(rx_frames() - before, inputs_);
  // ARP requests were answered and the echo request and fragments produced replies.
  EXPECT_GT(fuzz::l2l3_stack().eth_counters().get(EthCounter::kTxFrames), replies_before);
  EXPECT_GT(fuzz::l2l3_stack().ipv4_counters().get(Ipv4Counter::kRxReassembled), 0u);
  // The IPv6 seeds got past validation: echo answered, fragments reassembled, the
  // unknown next header and the extension headers walked.
  const IpStack& st = fuzz::l2l3_stack();
  EXPECT_GT(st.icmp6_counters().get(IcmpCounter::kTxEchoReplies), 0u);
  EXPECT_GT(st.ipv6_counters().get(Ipv6Counter::kRxReassembled), 0u);
  EXPECT_GT(st.ipv6_counters().get(Ipv6Counter::kRxUnknownProtocol), 0u);
  EXPECT_GT(st.ipv6_counters().get(Ipv6Counter::kNaSent), 0u);
  EXPECT_GT(st.ipv6_counters().get(Ipv6Counter::kPmtuUpdated), 0u);
  fuzz::l2l3_drain();
  EXPECT_EQ(fuzz::l2l3_pool_avail(), fuzz::l2l3_pool_size());
}

TEST_F(L2L3FuzzSeeds, EveryTruncation) {
  const std::uint64_t before = rx_frames();
  for (const Bytes& f : seeds())
    for (std::size_t n = 0; n <= f.size(); n += (f.size() > 200 && n > 80 ? 97 : 1))
      run(0, Bytes(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(n)));
  EXPECT_EQ(rx_frames() - before, inputs_);
  fuzz::l2l3_drain();
  EXPECT_EQ(fuzz::l2l3_pool_avail(), fuzz::l2l3_pool_size());
}

TEST_F(L2L3FuzzSeeds, EverySingleByteCorruptionOfHeaders) {
  const std::uint64_t before = rx_frames();
  for (const Bytes& f : seeds()) {
    const std::size_t hdr = std::min<std::size_t>(f.size(), 14 + 20 + 8 + 28);
    for (std::size_t i = 0; i < hdr; ++i)
      for (std::uint8_t x : {0x01, 0x80, 0xff}) {
        Bytes g = f;
        g[i] ^= x;
        run(static_cast<std::uint8_t>(i & 3), g);
      }
  }
  EXPECT_EQ(rx_frames() - before, inputs_);
  fuzz::l2l3_drain();
  EXPECT_EQ(fuzz::l2l3_pool_avail(), fuzz::l2l3_pool_size());
}

TEST_F(L2L3FuzzSeeds, SeededRandomMutations) {
  std::mt19937 rng(20261127);
  const auto s = seeds();
  const std::uint64_t before = rx_frames();
  for (int iter = 0; iter < 3000; ++iter) {
    Bytes f = s[rng() % s.size()];
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 4) {
        case 0:
          f[rng() % f.size()] = static_cast<std::uint8_t>(rng());
          break;
        case 1:
          f.resize(rng() % (f.size() + 1));
          break;
        case 2:
          f.insert(f.begin() + static_cast<std::ptrdiff_t>(rng() % (f.size() + 1)),
                   static_cast<std::uint8_t>(rng()));
          break;
        default: {
          // Header-field-sized noise where parsers look hardest.
          const std::size_t at = 14 + rng() % 40;
          if (at + 2 <= f.size()) f[at] = static_cast<std::uint8_t>(rng()), f[at + 1] = 0;
        }
      }
      if (f.empty()) f.push_back(0);
    }
    run(static_cast<std::uint8_t>(rng()), f);
  }
  EXPECT_EQ(rx_frames() - before, inputs_);
  fuzz::l2l3_drain();
  EXPECT_EQ(fuzz::l2l3_pool_avail(), fuzz::l2l3_pool_size());
}

}  // namespace
}  // namespace shardtcp
