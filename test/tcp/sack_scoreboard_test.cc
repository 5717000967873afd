#include "tcp/sack_scoreboard.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace shardtcp {
namespace {

constexpr std::uint32_t kMss = 1000;
const SeqNum kUna{1'000'000};

SackBlock blk(std::uint32_t lo, std::uint32_t hi) {
  return {kUna + lo, kUna + hi};
}

class SackScoreboardTest : public ::testing::Test {
 protected:
  void SetUp() override { sb.reset(kUna); }
  SackScoreboard::AckResult ack(std::uint32_t una_off, std::vector<SackBlock> blocks,
                                std::uint32_t nxt_off = 100 * kMss) {
    return sb.on_ack(kUna + una_off, kUna + nxt_off, blocks);
  }
  BlockPool pool;
  SackScoreboard sb{pool};
};

TEST_F(SackScoreboardTest, EmptyAfterReset) {
  EXPECT_EQ(sb.block_count(), 0u);
  EXPECT_EQ(sb.sacked_bytes(), 0u);
  EXPECT_EQ(sb.high_sacked(), kUna);
  EXPECT_FALSE(sb.is_sacked(kUna));
  EXPECT_FALSE(sb.is_lost(kUna, kMss));
  EXPECT_FALSE(sb.next_lost(kUna, kUna, kUna + 10 * kMss, kMss).has_value());
  EXPECT_EQ(sb.pipe(kUna, kUna, kUna + 10 * kMss, kMss), 10 * kMss);
}

TEST_F(SackScoreboardTest, MergesOverlappingAndAdjacentBlocks) {
  auto r = ack(0, {blk(2000, 3000)});
  EXPECT_EQ(r.newly_sacked, 1000u);
  EXPECT_FALSE(r.dsack);
  r = ack(0, {blk(3000, 4000), blk(2000, 3000)});  // adjacent + repeat
  EXPECT_EQ(r.newly_sacked, 1000u);
  EXPECT_EQ(sb.block_count(), 1u);
  r = ack(0, {blk(6000, 7000), blk(2000, 4000)});
  EXPECT_EQ(sb.block_count(), 2u);
  r = ack(0, {blk(3500, 6500)});  // bridges both
  EXPECT_EQ(r.newly_sacked, 2000u);
  EXPECT_EQ(sb.block_count(), 1u);
  EXPECT_EQ(sb.sacked_bytes(), 5000u);
  EXPECT_EQ(sb.high_sacked(), kUna + 7000);
  EXPECT_TRUE(sb.is_sacked(kUna + 2000));
  EXPECT_TRUE(sb.is_sacked(kUna + 6999));
  EXPECT_FALSE(sb.is_sacked(kUna + 7000));
  EXPECT_FALSE(sb.is_sacked(kUna + 1999));
}

TEST_F(SackScoreboardTest, IgnoresInvalidBlocks) {
  // Beyond SND.NXT, empty, inverted: all ignored.
  auto r = ack(0, {blk(5000, 12000), blk(3000, 3000), blk(4000, 3000)}, 10000);
  EXPECT_EQ(r.newly_sacked, 0u);
  EXPECT_EQ(sb.block_count(), 0u);
}

TEST_F(SackScoreboardTest, CumulativeAckTrimsAndDrops) {
  ack(0, {blk(1000, 2000), blk(3000, 5000)});
  EXPECT_EQ(sb.sacked_bytes(), 3000u);
  ack(4000, {});
  EXPECT_EQ(sb.block_count(), 1u);
  EXPECT_EQ(sb.sacked_bytes(), 1000u);
  EXPECT_TRUE(sb.is_sacked(kUna + 4000));
  EXPECT_FALSE(sb.is_sacked(kUna + 3500));
  ack(6000, {});
  EXPECT_EQ(sb.block_count(), 0u);
  EXPECT_EQ(sb.sacked_bytes(), 0u);
  EXPECT_EQ(sb.high_sacked(), kUna + 6000);
}

TEST_F(SackScoreboardTest, OldAckDoesNotMoveUnaBack) {
  ack(3000, {blk(5000, 6000)});
  auto r = ack(1000, {blk(5000, 7000)});
  EXPECT_EQ(r.newly_sacked, 1000u);
  EXPECT_EQ(sb.sacked_bytes(), 2000u);
}

TEST_F(SackScoreboardTest, DsackBelowCumulativeAck) {
  auto r = ack(5000, {blk(1000, 2000), blk(7000, 8000)});
  EXPECT_TRUE(r.dsack);
  EXPECT_EQ(r.newly_sacked, 1000u);  // the D-SACK block is not counted
  EXPECT_EQ(sb.block_count(), 1u);
}

TEST_F(SackScoreboardTest, DsackInsideSecondBlock) {
  ack(0, {blk(4000, 8000)});
  auto r = ack(0, {blk(5000, 6000), blk(4000, 8000)});
  EXPECT_TRUE(r.dsack);
  EXPECT_EQ(r.newly_sacked, 0u);
}

TEST_F(SackScoreboardTest, NotDsackWhenFirstBlockIsNew) {
  auto r = ack(0, {blk(9000, 10000), blk(4000, 8000)});
  EXPECT_FALSE(r.dsack);
  EXPECT_EQ(r.newly_sacked, 5000u);
}

TEST_F(SackScoreboardTest, IsLostByByteCountAndSegmentCount) {
  // Two full segments SACKed above: 2000 bytes is not > (3-1)*1000.
  ack(0, {blk(1000, 3000)});
  EXPECT_FALSE(sb.is_lost(kUna, kMss));
  // A third SACKed segment makes it 3000 bytes: lost.
  ack(0, {blk(1000, 4000)});
  EXPECT_TRUE(sb.is_lost(kUna, kMss));
  EXPECT_FALSE(sb.is_lost(kUna + 4000, kMss));  // nothing SACKed above
  // Bytes rule alone: 2001 bytes in one block above the hole is > 2*SMSS.
  SackScoreboard s2{pool};
  s2.reset(kUna);
  s2.on_ack(kUna, kUna + 10000, std::vector<SackBlock>{blk(1000, 3001)});
  EXPECT_TRUE(s2.is_lost(kUna, kMss));
  s2.reset(kUna);
  s2.on_ack(kUna, kUna + 10000, std::vector<SackBlock>{blk(1000, 3000)});
  EXPECT_FALSE(s2.is_lost(kUna, kMss));
}

TEST_F(SackScoreboardTest, IsLostByDiscontiguousSmallSegments) {
  // Three small discontiguous SACKed segments (300 bytes total) count as DupThresh.
  ack(0, {blk(1000, 1100), blk(2000, 2100), blk(3000, 3100)});
  EXPECT_TRUE(sb.is_lost(kUna, kMss));
  EXPECT_FALSE(sb.is_lost(kUna + 1500, kMss));
}

TEST_F(SackScoreboardTest, NextLostRule1) {
  // Holes: [0,1000) [2000,3000), SACKed [1000,2000) [3000,6000).
  ack(0, {blk(3000, 6000), blk(1000, 2000)});
  auto r = sb.next_lost(kUna, kUna, kUna + 10000, kMss);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->seq, kUna);
  EXPECT_EQ(r->len, 1000u);
  // After retransmitting the first hole, HighRxt moves past it.
  r = sb.next_lost(kUna, kUna + 1000, kUna + 10000, kMss);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->seq, kUna + 2000);
  EXPECT_EQ(r->len, 1000u);
  // Above the highest SACK nothing qualifies for rule 1.
  r = sb.next_lost(kUna, kUna + 3000, kUna + 10000, kMss);
  EXPECT_FALSE(r.has_value());
}

TEST_F(SackScoreboardTest, NextLostClipsToMssAndNeedsIsLost) {
  ack(0, {blk(5000, 6000)});
  // One SACKed segment only: hole [0,5000) is not yet lost.
  EXPECT_FALSE(sb.next_lost(kUna, kUna, kUna + 10000, kMss).has_value());
  ack(0, {blk(5000, 8000)});
  auto r = sb.next_lost(kUna, kUna, kUna + 10000, kMss);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->seq, kUna);
  EXPECT_EQ(r->len, kMss);
  r = sb.next_lost(kUna, kUna + 4500, kUna + 10000, kMss);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->seq, kUna + 4500);
  EXPECT_EQ(r->len, 500u);
}

// NextSeg rule 3: the first hole below the highest SACK, lost or not.
TEST_F(SackScoreboardTest, NextUnsackedRule3IgnoresIsLost) {
  ack(0, {blk(1000, 2000)});  // one segment above hole [0, 1000): not lost
  EXPECT_FALSE(sb.next_lost(kUna, kUna, kUna + 10 * kMss, kMss).has_value());
  auto r = sb.next_unsacked(kUna, kUna, kUna + 10 * kMss, kMss);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->seq, kUna);
  EXPECT_EQ(r->len, kMss);
  // Above HighRxt only; the tail above the highest SACK is no hole.
  EXPECT_FALSE(sb.next_unsacked(kUna, kUna + 1000, kUna + 10 * kMss, kMss).has_value());
}

// NextSeg rule 4: the segment ending at the highest un-SACKed octet below `top`.
TEST_F(SackScoreboardTest, HighestUnsackedForTheRescue) {
  ack(0, {blk(1000, 2000)});
  auto tail = sb.highest_unsacked(kUna, kUna + 5000, kMss);
  ASSERT_TRUE(tail.has_value());
  EXPECT_EQ(tail->seq, kUna + 4000);
  EXPECT_EQ(tail->len, kMss);
  // The tail SACKed: the hole below the SACKed run, clipped to what it holds.
  ack(0, {blk(1000, 2000), blk(2500, 5000)});
  auto hole = sb.highest_unsacked(kUna, kUna + 5000, kMss);
  ASSERT_TRUE(hole.has_value());
  EXPECT_EQ(hole->seq, kUna + 2000);
  EXPECT_EQ(hole->len, 500u);
  // Everything SACKed below `top`.
  ack(0, {blk(0, 5000)});
  EXPECT_FALSE(sb.highest_unsacked(kUna, kUna + 5000, kMss).has_value());
}

TEST_F(SackScoreboardTest, PipeCountsNotLostAndRetransmitted) {
  // Window [0,10000). SACKed [3000,6000). Hole [0,3000) lost (3 segs above),
  // tail [6000,10000) not lost.
  ack(0, {blk(3000, 6000)});
  EXPECT_EQ(sb.pipe(kUna, kUna, kUna + 10000, kMss), 4000u);
  // Retransmitted [0,1000): counts once more.
  EXPECT_EQ(sb.pipe(kUna, kUna + 1000, kUna + 10000, kMss), 5000u);
  // Hole not lost (only 2 SACKed segments above): counted as in flight.
  SackScoreboard s2{pool};
  s2.reset(kUna);
  s2.on_ack(kUna, kUna + 10000, std::vector<SackBlock>{blk(3000, 5000)});
  EXPECT_EQ(s2.pipe(kUna, kUna, kUna + 10000, kMss), 8000u);
}

TEST_F(SackScoreboardTest, BoundedStorageKeepsLowestBlocks) {
  // 40 disjoint blocks, more than kMaxBlocks.
  for (std::uint32_t i = 0; i < 40; ++i) {
    ack(0, {blk(1000 + i * 2000, 2000 + i * 2000)}, 200000);
  }
  EXPECT_EQ(sb.block_count(), SackScoreboard::kMaxBlocks);
  EXPECT_EQ(sb.sacked_bytes(), SackScoreboard::kMaxBlocks * 1000);
  EXPECT_TRUE(sb.is_sacked(kUna + 1000));
  // A new low block still gets in (evicting the highest).
  ack(0, {blk(0, 500)}, 200000);
  EXPECT_TRUE(sb.is_sacked(kUna));
  EXPECT_EQ(sb.block_count(), SackScoreboard::kMaxBlocks);
}

TEST_F(SackScoreboardTest, SequenceWrapAround) {
  const SeqNum una{0xFFFFF000u};
  sb.reset(una);
  SackBlock b{una + 0x1000, una + 0x2000};  // crosses zero
  auto r = sb.on_ack(una, una + 0x4000, std::span<const SackBlock>(&b, 1));
  EXPECT_EQ(r.newly_sacked, 0x1000u);
  EXPECT_TRUE(sb.is_sacked(SeqNum{0x00000010u}));
  EXPECT_EQ(sb.high_sacked(), una + 0x2000);
}

// Cross-check against a per-byte model with random SACK patterns.
TEST_F(SackScoreboardTest, RandomAgainstBitmapModel) {
  std::mt19937 rng(42);
  for (int iter = 0; iter < 200; ++iter) {
    const std::uint32_t wnd = 20000;
    std::vector<bool> model(wnd, false);
    SackScoreboard s{pool};
    s.reset(kUna);
    std::uint32_t una = 0;
    for (int step = 0; step < 30; ++step) {
      std::vector<SackBlock> blocks;
      int n = rng() % 4;
      for (int k = 0; k < n; ++k) {
        std::uint32_t lo = una + rng() % (wnd - una);
        std::uint32_t hi = std::min(wnd, lo + 1 + static_cast<std::uint32_t>(rng() % 3000));
        blocks.push_back(blk(lo, hi));
      }
      if (rng() % 5 == 0) una = std::min(wnd, una + static_cast<std::uint32_t>(rng() % 2000));
      auto r = s.on_ack(kUna + una, kUna + wnd, blocks);
      std::uint32_t newly = 0;
      std::size_t first = r.dsack ? 1 : 0;
      for (std::size_t k = first; k < blocks.size(); ++k) {
        for (SeqNum q = blocks[k].left; q < blocks[k].right; q += 1) {
          std::uint32_t off = static_cast<std::uint32_t>(q - kUna);
          if (off >= una && !model[off]) {
            model[off] = true;
            ++newly;
          }
        }
      }
      ASSERT_EQ(r.newly_sacked, newly);
      std::uint32_t total = 0;
      for (std::uint32_t o = una; o < wnd; ++o) total += model[o];
      ASSERT_EQ(s.sacked_bytes(), total);
      for (std::uint32_t o = una; o < wnd; o += 97) ASSERT_EQ(s.is_sacked(kUna + o), model[o]);
    }
  }
}

}  // namespace
}  // namespace shardtcp
