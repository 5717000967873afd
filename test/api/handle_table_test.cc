// The handle table behind <sockets.h>: what a handle encodes, and that every handle
// that is not a live socket (never issued, closed, stale after its slot was reused,
// forged engine bits, zero or negative) is rejected. Pure: no EAL.
#include "api/handle_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

namespace shardtcp::sockets {
namespace {

int open_live(HandleTable& t, std::uint16_t engine) {
  const int h = t.allocate(engine);
  EXPECT_GT(h, 0);
  t.make_live(h);
  return h;
}

TEST(HandleTable, HandleEncodesEngineSlotAndGeneration) {
  HandleTable t;
  const int a = open_live(t, 0);
  const int b = open_live(t, 3);
  EXPECT_EQ((static_cast<unsigned>(b) >> HandleTable::kSlotBits) & 0xf, 3u);
  EXPECT_EQ(HandleTable::slot_of(a), 0u);
  EXPECT_EQ(HandleTable::slot_of(b), 1u);
  EXPECT_NE(t.lookup(a), nullptr);
  ASSERT_NE(t.lookup(b), nullptr);
  EXPECT_EQ(t.lookup(b)->engine, 3u);
  EXPECT_EQ(t.live_count(), 2);
}

TEST(HandleTable, NotYetLiveClosedAndForgedHandlesAreRejected) {
  HandleTable t;
  const int h = t.allocate(1);
  EXPECT_EQ(t.lookup(h), nullptr);  // allocated, not yet published
  t.make_live(h);
  std::uint32_t gen = 0;
  ASSERT_NE(t.lookup(h, &gen), nullptr);
  EXPECT_TRUE(t.still(h, gen));
  // Another engine's bits, generation zero, a slot never handed out, 0, negative.
  EXPECT_EQ(t.lookup(h ^ (1 << HandleTable::kSlotBits)), nullptr);
  EXPECT_EQ(t.lookup(h & ((1 << (HandleTable::kSlotBits + HandleTable::kEngineBits)) - 1)),
            nullptr);
  EXPECT_EQ(t.lookup(h + 5), nullptr);
  EXPECT_EQ(t.lookup(0), nullptr);
  EXPECT_EQ(t.lookup(-h), nullptr);
  EXPECT_EQ(t.lookup(-1), nullptr);
  t.release(h);
  EXPECT_EQ(t.lookup(h), nullptr);
  EXPECT_FALSE(t.still(h, gen));
  EXPECT_EQ(t.live_count(), 0);
}

TEST(HandleTable, AReusedSlotGetsANewGenerationAndTheOldHandleStaysDead) {
  HandleTable t;
  const int first = open_live(t, 0);
  t.release(first);
  // The only free slot is the one just released: it comes back with a new generation.
  std::set<int> seen{first};
  int prev = first;
  for (int i = 0; i < 300; ++i) {  // more than the 127 generations: wraps, never 0
    const int h = open_live(t, 0);
    EXPECT_EQ(HandleTable::slot_of(h), HandleTable::slot_of(first));
    EXPECT_NE(h, prev);
    EXPECT_GT(h, 0);
    EXPECT_EQ(t.lookup(prev), nullptr);
    EXPECT_NE(t.lookup(h), nullptr);
    seen.insert(h);
    t.release(h);
    prev = h;
  }
  EXPECT_EQ(seen.size(), 127u);  // every generation 1..127 was used
}

TEST(HandleTable, FreedSlotsAreReusedLast) {
  HandleTable t;
  std::vector<int> hs;
  for (int i = 0; i < 8; ++i) hs.push_back(open_live(t, 0));
  t.release(hs[2]);
  t.release(hs[5]);
  // FIFO: the slot freed first is reused first, a fresh slot only when none is free.
  EXPECT_EQ(HandleTable::slot_of(open_live(t, 0)), HandleTable::slot_of(hs[2]));
  EXPECT_EQ(HandleTable::slot_of(open_live(t, 0)), HandleTable::slot_of(hs[5]));
  EXPECT_EQ(HandleTable::slot_of(open_live(t, 0)), 8u);
}

TEST(HandleTable, ThreadsAllocateDistinctHandlesAcrossChunks) {
  HandleTable t;
  constexpr int kThreads = 4, kEach = 5000;  // 20 000 slots: five chunks
  std::vector<std::vector<int>> got(kThreads);
  std::vector<std::thread> th;
  for (int i = 0; i < kThreads; ++i)
    th.emplace_back([&, i] {
      for (int k = 0; k < kEach; ++k) got[i].push_back(open_live(t, static_cast<std::uint16_t>(i)));
    });
  for (auto& x : th) x.join();
  std::set<std::uint32_t> slots;
  for (int i = 0; i < kThreads; ++i)
    for (int h : got[i]) {
      ASSERT_NE(t.lookup(h), nullptr);
      EXPECT_EQ(t.lookup(h)->engine, static_cast<std::uint16_t>(i));
      slots.insert(HandleTable::slot_of(h));
    }
  EXPECT_EQ(slots.size(), static_cast<std::size_t>(kThreads * kEach));
  EXPECT_EQ(t.live_count(), kThreads * kEach);
  int live = 0;
  t.for_each_live([&](int h) {
    EXPECT_NE(t.lookup(h), nullptr);
    ++live;
  });
  EXPECT_EQ(live, kThreads * kEach);
}

TEST(HandleTable, FullTableRefusesAndEngineOutOfRangeIsRefused) {
  HandleTable t;
  EXPECT_EQ(t.allocate(HandleTable::kMaxEngines), -1);
  for (std::uint32_t i = 0; i < HandleTable::kMaxSlots; ++i) ASSERT_GT(t.allocate(0), 0) << i;
  EXPECT_EQ(t.allocate(0), -1);
}

}  // namespace
}  // namespace shardtcp::sockets
