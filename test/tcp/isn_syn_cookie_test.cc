#include <gtest/gtest.h>

#include <set>

#include "tcp/isn_generator.h"
#include "tcp/syn_cookies.h"

namespace shardtcp {
namespace {

using namespace std::chrono_literals;

const SipKey kRefKey{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};

TcpTuple tuple4(std::uint16_t rport = 40000) {
  return TcpTuple{Endpoint{IpAddr::v4(0xC6120001), 80}, Endpoint{IpAddr::v4(0xC6120002), rport}};
}
TcpTuple tuple6() {
  return TcpTuple{Endpoint{*IpAddr::parse("2001:db8::1"), 443},
                  Endpoint{*IpAddr::parse("2001:db8::2"), 50000}};
}

TEST(SipHashTest, ReferenceVectors) {
  // From the SipHash paper / reference implementation (key 00..0f, message 00..n-1).
  std::uint8_t msg[64];
  for (int i = 0; i < 64; ++i) msg[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(siphash24(kRefKey, msg, 0), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(siphash24(kRefKey, msg, 1), 0x74f839c593dc67fdULL);
  EXPECT_EQ(siphash24(kRefKey, msg, 8), 0x93f5f5799a932462ULL);
  EXPECT_EQ(siphash24(kRefKey, msg, 15), 0xa129ca6149be45e5ULL);
}

TEST(SipHashTest, TwelveByteFormIsSipHash13OfTheSameBytes) {
  std::uint8_t msg[12];
  for (std::uint64_t seed = 1; seed < 200; ++seed) {
    const std::uint64_t head = seed * 0x9e3779b97f4a7c15ULL;
    const auto tail = static_cast<std::uint32_t>(seed * 2654435761u);
    for (int i = 0; i < 8; ++i) msg[i] = static_cast<std::uint8_t>(head >> (8 * i));
    for (int i = 0; i < 4; ++i) msg[8 + i] = static_cast<std::uint8_t>(tail >> (8 * i));
    ASSERT_EQ(siphash13_12bytes(kRefKey, head, tail), siphash13(kRefKey, msg, 12)) << seed;
  }
}

TEST(SipHashTest, KeyAndInputSensitive) {
  std::uint8_t msg[12] = {1, 2, 3};
  const SipKey other{kRefKey.k0 ^ 1, kRefKey.k1};
  EXPECT_NE(siphash13(kRefKey, msg, 12), siphash13(other, msg, 12));
  EXPECT_NE(siphash13(kRefKey, msg, 12), siphash13(kRefKey, msg, 11));
  EXPECT_NE(hash_tuple(kRefKey, tuple4(1)), hash_tuple(kRefKey, tuple4(2)));
  TcpTuple swapped = tuple4(1);  // the local and remote ends are not interchangeable
  std::swap(swapped.local, swapped.remote);
  EXPECT_NE(hash_tuple(kRefKey, tuple4(1)), hash_tuple(kRefKey, swapped));
  EXPECT_NE(hash_tuple(kRefKey, tuple6()), hash_tuple(kRefKey, tuple4(50000)));
  EXPECT_EQ(hash_tuple(kRefKey, tuple4(1)), hash_tuple(kRefKey, tuple4(1)));
  const SipKey r1 = SipKey::random(), r2 = SipKey::random();
  EXPECT_FALSE(r1.k0 == r2.k0 && r1.k1 == r2.k1);
}

TEST(IsnTest, ClockTicksEvery4Microseconds) {
  IsnGenerator g(kRefKey);
  const Instant t0{1'000'000'000};
  const SeqNum a = g.generate(tuple4(), t0);
  EXPECT_EQ(g.generate(tuple4(), t0 + 3us), a);
  EXPECT_EQ(g.generate(tuple4(), t0 + 4us), a + 1);
  EXPECT_EQ(g.generate(tuple4(), t0 + 1s), a + 250'000);
}

TEST(IsnTest, TuplesAndKeysGiveUnrelatedIsns) {
  IsnGenerator g(kRefKey);
  IsnGenerator h(SipKey{1, 2});
  const Instant t{5'000'000'000};
  std::set<std::uint32_t> seen;
  for (std::uint16_t p = 1; p <= 1000; ++p) seen.insert(g.generate(tuple4(p), t).raw());
  EXPECT_GT(seen.size(), 995u);  // no structure: essentially all distinct
  EXPECT_NE(g.generate(tuple4(), t), h.generate(tuple4(), t));
  EXPECT_NE(g.generate(tuple6(), t), g.generate(tuple4(), t));
  // Consecutive ports must not give consecutive ISNs (the point of F).
  const std::int32_t d = g.generate(tuple4(2), t) - g.generate(tuple4(1), t);
  EXPECT_GT(std::abs(static_cast<std::int64_t>(d)), 1000);
}

class SynCookieTest : public ::testing::Test {
 protected:
  SynCookies sc{kRefKey};
  const Instant t0{3'600'000'000'000};  // one hour on the clock
  const SeqNum client_isn{0x12345678};
};

TEST_F(SynCookieTest, RoundTripWithoutTimestamps) {
  SynCookieRequest req;
  req.peer_mss = 1460;
  const SynCookie c = sc.encode(tuple4(), client_isn, req, t0);
  EXPECT_EQ(c.mss, 1460);
  EXPECT_FALSE(c.tsval.has_value());
  const auto o = sc.validate(tuple4(), c.isn, client_isn, t0 + 5s, std::nullopt);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->mss, 1460);
  EXPECT_FALSE(o->timestamps);
  EXPECT_FALSE(o->sack);
  EXPECT_FALSE(o->window_scale.has_value());
}

TEST_F(SynCookieTest, MssTableRoundsDown) {
  for (auto [offered, expect] : {std::pair<int, int>{1400, 1300},
                                 {1459, 1440},
                                 {9000, 1460},
                                 {536, 536},
                                 {300, 536},
                                 {1300, 1300}}) {
    SynCookieRequest req;
    req.peer_mss = static_cast<std::uint16_t>(offered);
    const SynCookie c = sc.encode(tuple4(), client_isn, req, t0);
    EXPECT_EQ(c.mss, expect) << offered;
    const auto o = sc.validate(tuple4(), c.isn, client_isn, t0, std::nullopt);
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->mss, expect);
  }
  SynCookieRequest req6;
  req6.peer_mss = 1400;
  const SynCookie c6 = sc.encode(tuple6(), client_isn, req6, t0);
  EXPECT_EQ(c6.mss, 1340);
  EXPECT_EQ(sc.validate(tuple6(), c6.isn, client_isn, t0, std::nullopt)->mss, 1340);
}

TEST_F(SynCookieTest, OptionsRideInTimestamp) {
  SynCookieRequest req;
  req.peer_mss = 1460;
  req.peer_window_scale = 7;
  req.sack = true;
  req.timestamps = true;
  req.ts_now = 1'000'000;
  const SynCookie c = sc.encode(tuple4(), client_isn, req, t0);
  ASSERT_TRUE(c.tsval.has_value());
  EXPECT_LE(*c.tsval, req.ts_now);       // never ahead of our clock
  EXPECT_GT(*c.tsval + 64, req.ts_now);  // and at most one option unit behind
  const auto o = sc.validate(tuple4(), c.isn, client_isn, t0 + 1s, c.tsval);
  ASSERT_TRUE(o.has_value());
  EXPECT_TRUE(o->timestamps);
  EXPECT_TRUE(o->sack);
  EXPECT_EQ(o->window_scale, 7);
  EXPECT_EQ(o->mss, 1460);
  // No window scale offered.
  req.peer_window_scale.reset();
  req.sack = false;
  const SynCookie c2 = sc.encode(tuple4(), client_isn, req, t0);
  const auto o2 = sc.validate(tuple4(), c2.isn, client_isn, t0, c2.tsval);
  ASSERT_TRUE(o2.has_value());
  EXPECT_FALSE(o2->window_scale.has_value());
  EXPECT_FALSE(o2->sack);
}

TEST_F(SynCookieTest, ValidWithinTwoMinutesThenExpires) {
  SynCookieRequest req;
  req.peer_mss = 1440;
  const SynCookie c = sc.encode(tuple4(), client_isn, req, t0);
  EXPECT_TRUE(sc.validate(tuple4(), c.isn, client_isn, t0 + 59s, std::nullopt).has_value());
  EXPECT_TRUE(sc.validate(tuple4(), c.isn, client_isn, t0 + 119s, std::nullopt).has_value());
  EXPECT_FALSE(sc.validate(tuple4(), c.isn, client_isn, t0 + 121s, std::nullopt).has_value());
  EXPECT_FALSE(sc.validate(tuple4(), c.isn, client_isn, t0 + 1h, std::nullopt).has_value());
  // A cookie "from the future" (clock went back) is not accepted either.
  EXPECT_FALSE(sc.validate(tuple4(), c.isn, client_isn, t0 - 61s, std::nullopt).has_value());
}

TEST_F(SynCookieTest, ForgedAndMisdirectedCookiesRejected) {
  SynCookieRequest req;
  req.peer_mss = 1460;
  const SynCookie c = sc.encode(tuple4(), client_isn, req, t0);
  // Other tuple, other client ISN, other key.
  EXPECT_FALSE(sc.validate(tuple4(40001), c.isn, client_isn, t0, std::nullopt).has_value());
  EXPECT_FALSE(sc.validate(tuple4(), c.isn, client_isn + 1, t0, std::nullopt).has_value());
  SynCookies other(SipKey{9, 9});
  EXPECT_FALSE(other.validate(tuple4(), c.isn, client_isn, t0, std::nullopt).has_value());
  // Blind guesses: almost none pass (expected 4/2^24 per guess, times two counts).
  int accepted = 0;
  for (std::uint32_t g = 0; g < 200000; ++g) {
    if (sc.validate(tuple4(), c.isn + 1 + g * 7919u, client_isn, t0, std::nullopt)) ++accepted;
  }
  EXPECT_LE(accepted, 2);
  for (std::uint32_t d = 1; d < 16; ++d) {
    EXPECT_FALSE(sc.validate(tuple4(), c.isn, client_isn + d, t0, std::nullopt).has_value());
    EXPECT_FALSE(sc.validate(tuple4(), c.isn + d, client_isn, t0, std::nullopt).has_value());
  }
}

}  // namespace
}  // namespace shardtcp
