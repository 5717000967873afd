#include "tcp/time_wait_table.h"

#include <gtest/gtest.h>

namespace shardtcp {
namespace {

using namespace std::chrono_literals;
using Kind = TimeWaitAction::Kind;

TcpTuple tup(std::uint16_t rport) {
  return TcpTuple{Endpoint{IpAddr::v4(0xC6120001), 80}, Endpoint{IpAddr::v4(0xC6120002), rport}};
}
TcpTuple tup6(std::uint16_t rport) {
  return TcpTuple{Endpoint{*IpAddr::parse("2001:db8::1"), 80},
                  Endpoint{*IpAddr::parse("2001:db8::2"), rport}};
}
TimeWaitState state(std::optional<std::uint32_t> ts = std::nullopt) {
  return TimeWaitState{SeqNum(1000), SeqNum(5000), ts, Instant{}};
}
TcpSegment seg(std::uint8_t flags, std::uint32_t seq, std::optional<std::uint32_t> tsval = {}) {
  TcpSegment s;
  s.flags = flags;
  s.seq = SeqNum(seq);
  if (tsval) s.options.timestamps = TcpTimestamps{*tsval, 0};
  return s;
}

class TimeWaitTest : public ::testing::Test {
 protected:
  TimeWaitTable tw{8, 60s, SipKey{1, 2}};
  Instant now{1'000'000'000};
};

TEST_F(TimeWaitTest, InsertFindEraseBothFamilies) {
  EXPECT_FALSE(tw.insert(tup(1), state(77), now));
  EXPECT_FALSE(tw.insert(tup6(1), state(), now));
  EXPECT_EQ(tw.size(), 2u);
  auto s = tw.find(tup(1));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->snd_nxt, SeqNum(1000));
  EXPECT_EQ(s->rcv_nxt, SeqNum(5000));
  EXPECT_EQ(s->ts_recent, 77u);
  EXPECT_FALSE(tw.find(tup6(1))->ts_recent.has_value());
  EXPECT_FALSE(tw.find(tup(2)).has_value());
  EXPECT_TRUE(tw.erase(tup(1)));
  EXPECT_FALSE(tw.erase(tup(1)));
  EXPECT_FALSE(tw.find(tup(1)).has_value());
  EXPECT_TRUE(tw.find(tup6(1)).has_value());
}

TEST_F(TimeWaitTest, ExpiresByTime) {
  tw.insert(tup(1), state(), now);
  tw.insert(tup(2), state(), now + 10s);
  EXPECT_EQ(tw.next_expiry(), now + 60s);
  EXPECT_EQ(tw.expire(now + 59s), 0u);
  EXPECT_EQ(tw.expire(now + 60s), 1u);
  EXPECT_FALSE(tw.find(tup(1)).has_value());
  EXPECT_TRUE(tw.find(tup(2)).has_value());
  EXPECT_EQ(tw.next_expiry(), now + 70s);
  EXPECT_EQ(tw.expire(now + 100s), 1u);
  EXPECT_EQ(tw.size(), 0u);
  EXPECT_EQ(tw.next_expiry(), Instant::never());
}

TEST_F(TimeWaitTest, FullTableEvictsOldest) {
  for (std::uint16_t p = 1; p <= 8; ++p) EXPECT_FALSE(tw.insert(tup(p), state(), now + 1s * p));
  EXPECT_TRUE(tw.insert(tup(9), state(), now + 9s));
  EXPECT_EQ(tw.size(), 8u);
  EXPECT_EQ(tw.evictions(), 1u);
  EXPECT_FALSE(tw.find(tup(1)).has_value());
  for (std::uint16_t p = 2; p <= 9; ++p) EXPECT_TRUE(tw.find(tup(p)).has_value()) << p;
  // Erasing in the middle leaves room without evicting.
  tw.erase(tup(5));
  EXPECT_FALSE(tw.insert(tup(10), state(), now + 10s));
  EXPECT_EQ(tw.evictions(), 1u);
  for (std::uint16_t p : {2, 3, 4, 6, 7, 8, 9, 10}) EXPECT_TRUE(tw.find(tup(p)).has_value()) << p;
}

TEST_F(TimeWaitTest, ManyChurnKeepsIndexConsistent) {
  TimeWaitTable big{64, 60s, SipKey{3, 4}};
  for (std::uint32_t i = 0; i < 5000; ++i) {
    big.insert(tup(static_cast<std::uint16_t>(i)), state(), now);
    if (i % 3 == 0) big.erase(tup(static_cast<std::uint16_t>(i - i % 7)));
  }
  std::size_t found = 0;
  for (std::uint32_t i = 0; i < 5000; ++i)
    found += big.find(tup(static_cast<std::uint16_t>(i))).has_value();
  EXPECT_EQ(found, big.size());
  EXPECT_LE(big.size(), 64u);
  EXPECT_TRUE(big.find(tup(4999)).has_value());
}

// The engine asks for the next expiry every loop iteration: erasing the oldest records
// (RFC 6191 reuse, an RST) must leave the answer right without a walk over them.
TEST_F(TimeWaitTest, NextExpiryFollowsErasedOldest) {
  for (std::uint16_t p = 1; p <= 5; ++p) tw.insert(tup(p), state(), now + 1s * p);
  EXPECT_EQ(tw.next_expiry(), now + 61s);
  tw.erase(tup(1));
  EXPECT_EQ(tw.next_expiry(), now + 62s);
  tw.erase(tup(3));  // a hole behind the head
  tw.erase(tup(2));
  EXPECT_EQ(tw.next_expiry(), now + 64s);
  EXPECT_EQ(tw.expire(now + 64s), 1u);
  EXPECT_EQ(tw.next_expiry(), now + 65s);
  tw.erase(tup(5));
  EXPECT_EQ(tw.size(), 0u);
  EXPECT_EQ(tw.next_expiry(), Instant::never());
  // Usable again from empty, through eviction.
  for (std::uint16_t p = 10; p < 20; ++p) tw.insert(tup(p), state(), now + 1s * p);
  EXPECT_EQ(tw.size(), 8u);
  EXPECT_EQ(tw.next_expiry(), now + 72s);
}

TEST_F(TimeWaitTest, SynWithHigherTimestampMayReuse) {
  tw.insert(tup(1), state(100), now);
  auto a = tw.on_segment(tup(1), seg(tcp_flags::kSyn, 10, 101), now);
  EXPECT_EQ(a.kind, Kind::kReuse);
  EXPECT_GT(a.reuse_isn, SeqNum(1000));
  EXPECT_FALSE(tw.find(tup(1)).has_value());
}

TEST_F(TimeWaitTest, SynWithOldTimestampIsReAcked) {
  tw.insert(tup(1), state(100), now);
  // The ISN is higher, but the timestamps decide when both sides have them.
  auto a = tw.on_segment(tup(1), seg(tcp_flags::kSyn, 9000, 100), now);
  EXPECT_EQ(a.kind, Kind::kAck);
  EXPECT_EQ(a.seq, SeqNum(1000));
  EXPECT_EQ(a.ack, SeqNum(5000));
  EXPECT_EQ(a.tsecr, 100u);
  EXPECT_TRUE(tw.find(tup(1)).has_value());
}

TEST_F(TimeWaitTest, SynWithoutTimestampsUsesIsn) {
  tw.insert(tup(1), state(), now);
  EXPECT_EQ(tw.on_segment(tup(1), seg(tcp_flags::kSyn, 4000), now).kind, Kind::kAck);
  EXPECT_EQ(tw.on_segment(tup(1), seg(tcp_flags::kSyn, 5000), now).kind, Kind::kAck);
  EXPECT_EQ(tw.on_segment(tup(1), seg(tcp_flags::kSyn, 5001), now).kind, Kind::kReuse);
}

TEST_F(TimeWaitTest, FinRetransmissionReAcksAndRestartsTimer) {
  tw.insert(tup(1), state(100), now);
  auto a = tw.on_segment(tup(1), seg(tcp_flags::kFin | tcp_flags::kAck, 4999, 150), now + 30s);
  EXPECT_EQ(a.kind, Kind::kAck);
  EXPECT_EQ(a.tsecr, 150u);
  EXPECT_EQ(tw.expire(now + 61s), 0u);  // restarted at now+30s
  EXPECT_EQ(tw.find(tup(1))->ts_recent, 150u);
  EXPECT_EQ(tw.expire(now + 90s), 1u);
}

TEST_F(TimeWaitTest, RstAndOtherSegments) {
  tw.insert(tup(1), state(), now);
  EXPECT_EQ(tw.on_segment(tup(1), seg(tcp_flags::kRst, 1234), now).kind, Kind::kDrop);
  EXPECT_EQ(tw.on_segment(tup(1), seg(tcp_flags::kAck, 5000), now).kind, Kind::kDrop);
  EXPECT_EQ(tw.on_segment(tup(1), seg(tcp_flags::kAck, 4000), now).kind, Kind::kAck);
  EXPECT_EQ(tw.on_segment(tup(1), seg(tcp_flags::kRst, 5000), now).kind, Kind::kKilled);
  EXPECT_EQ(tw.on_segment(tup(1), seg(tcp_flags::kAck, 5000), now).kind, Kind::kNone);
}

}  // namespace
}  // namespace shardtcp
