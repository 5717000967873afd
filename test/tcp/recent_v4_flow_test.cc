#include "tcp/recent_v4_flow.h"

#include <gtest/gtest.h>

namespace shardtcp {
namespace {

const IpAddr kPeer = IpAddr::v4(0xC6120002), kUs = IpAddr::v4(0xC6120001);

TEST(RecentV4FlowTest, MatchesOnlyTheRememberedTupleInItsDirection) {
  RecentV4Flow r;
  EXPECT_EQ(r.find(kPeer, kUs, 1000, 80), RecentV4Flow::kNoSlot);
  r.remember(kPeer, kUs, 1000, 80, 7);
  EXPECT_EQ(r.find(kPeer, kUs, 1000, 80), 7u);
  EXPECT_EQ(r.find(kUs, kPeer, 80, 1000), RecentV4Flow::kNoSlot);  // the reverse direction
  EXPECT_EQ(r.find(kPeer, kUs, 1001, 80), RecentV4Flow::kNoSlot);
  EXPECT_EQ(r.find(kPeer, kUs, 1000, 81), RecentV4Flow::kNoSlot);
  EXPECT_EQ(r.find(IpAddr::v4(0xC6120003), kUs, 1000, 80), RecentV4Flow::kNoSlot);
  EXPECT_EQ(r.find(kPeer, IpAddr::v4(0xC6120003), 1000, 80), RecentV4Flow::kNoSlot);
}

TEST(RecentV4FlowTest, ForgettingItsSlotOnlyForgetsThatSlot) {
  RecentV4Flow r;
  r.remember(kPeer, kUs, 1000, 80, 7);
  r.forget_slot(8);
  EXPECT_EQ(r.find(kPeer, kUs, 1000, 80), 7u);
  r.forget_slot(7);
  EXPECT_EQ(r.find(kPeer, kUs, 1000, 80), RecentV4Flow::kNoSlot);
}

TEST(RecentV4FlowTest, TheEmptyMemoMatchesNoSegmentEvenAllZero) {
  RecentV4Flow r;
  const IpAddr zero = IpAddr::v4(0);
  EXPECT_EQ(r.find(zero, zero, 0, 0), RecentV4Flow::kNoSlot);
  r.remember(kPeer, kUs, 1000, 80, 7);
  r.forget();
  EXPECT_EQ(r.find(zero, zero, 0, 0), RecentV4Flow::kNoSlot);
}

TEST(RecentV4FlowTest, Ipv6IsNeverRememberedNorMatched) {
  RecentV4Flow r;
  const IpAddr a6 = *IpAddr::parse("2001:db8::2"), b6 = *IpAddr::parse("2001:db8::1");
  r.remember(kPeer, kUs, 1000, 80, 7);
  r.remember(a6, b6, 1000, 80, 9);  // forgets the IPv4 flow too
  EXPECT_EQ(r.find(a6, b6, 1000, 80), RecentV4Flow::kNoSlot);
  EXPECT_EQ(r.find(kPeer, kUs, 1000, 80), RecentV4Flow::kNoSlot);
}

TEST(RecentV4FlowTest, HeadWordIsTheFamilyThenTheAddress) {
  // IpAddr's layout as head_word reads it: family byte first, then network-order bytes.
  const std::uint64_t w = RecentV4Flow::head_word(IpAddr::v4(0xC6120002));
  EXPECT_EQ(w & 0xff, static_cast<std::uint64_t>(IpFamily::kV4));
  EXPECT_EQ(w >> 8, 0x020012C6u);  // 198.18.0.2, then zeros (little-endian word)
  EXPECT_EQ(RecentV4Flow::head_word(*IpAddr::parse("2001:db8::2")) & 0xff,
            static_cast<std::uint64_t>(IpFamily::kV6));
}

}  // namespace
}  // namespace shardtcp
