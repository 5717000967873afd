#include "common/reserved_array.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

#include "tcp/connection_table.h"

namespace shardtcp {
namespace {

// Resident memory of this process, in KiB (getrusage's peak would not show release).
long rss_kib() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  const int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 ? resident * 4 : -1;
}

TEST(ZeroedArray, StartsZeroAndCommitsOnlyWhatIsWritten) {
  const long before = rss_kib();
  ZeroedArray<std::uint64_t> a(64u << 20);  // 512 MiB of address space
  EXPECT_EQ(a.size(), 64u << 20);
  EXPECT_EQ(a[0], 0u);
  EXPECT_EQ(a[a.size() / 2], 0u);
  a[12345] = 7;
  a[a.size() - 1] = 9;
  EXPECT_EQ(a[12345], 7u);
  EXPECT_EQ(a[a.size() - 1], 9u);
  // A few pages touched (on some kernels a read commits its page too): far below the
  // 512 MiB reserved.
  EXPECT_LT(rss_kib() - before, 16 * 1024);
  ZeroedArray<std::uint64_t> b(std::move(a));
  EXPECT_EQ(b[12345], 7u);
  EXPECT_EQ(a.size(), 0u);
}

struct Counted {
  explicit Counted(int* live, int v) : live(live), value(v) { ++*live; }
  ~Counted() { --*live; }
  int* live;
  int value;
};

TEST(ReservedArray, ConstructsInOrderAndDestroysWhatItBuilt) {
  int live = 0;
  {
    ReservedArray<Counted> a(1u << 20);
    EXPECT_EQ(a.capacity(), 1u << 20);
    EXPECT_EQ(a.constructed(), 0u);
    Counted* first = &a.construct_next(&live, 10);
    for (int i = 1; i < 100; ++i) a.construct_next(&live, 10 + i);
    EXPECT_EQ(live, 100);
    EXPECT_EQ(a.constructed(), 100u);
    EXPECT_EQ(&a[0], first);  // never moves
    EXPECT_EQ(a[99].value, 109);
    int sum = 0;
    for (const Counted& c : a) sum += c.value;
    EXPECT_EQ(sum, 100 * 10 + 99 * 100 / 2);
    EXPECT_FALSE(a.full());
  }
  EXPECT_EQ(live, 0);
  ReservedArray<Counted> small(2);
  small.construct_next(&live, 1);
  small.construct_next(&live, 2);
  EXPECT_TRUE(small.full());
}

// A connection table sized for a million entries holding a thousand costs what the
// thousand touch, not its 2 Mi slots.
TEST(ZeroedArray, MillionEntryTableInSmallPagesCostsItsUse) {
  const long before = rss_kib();
  auto table = std::make_unique<ConnectionTable<int>>(1u << 20, SipKey{1, 2},
                                                      reserved_memory::Paging::kSmall);
  int v = 0;
  for (std::uint16_t p = 1; p <= 1000; ++p) {
    TcpTuple t{Endpoint{IpAddr::v4(0xC6120001), 80}, Endpoint{IpAddr::v4(0xC6120002), p}};
    ASSERT_EQ(table->insert(t, &v), 0);
  }
  EXPECT_EQ(table->size(), 1000u);
  // At most two pages per entry, its record's and its tag's (8 KiB x 1000), against
  // ~128 MiB if every slot and tag were used.
  EXPECT_LT(rss_kib() - before, 16 * 1024);
}

// kB of this process's memory in transparent hugepages (/proc/self/smaps_rollup).
long anon_huge_kib() {
  FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "AnonHugePages: %ld kB", &kib) == 1) break;
  std::fclose(f);
  return kib;
}

// The default: the table asks for 2 MiB pages, so a thousand random inserts fault a
// few dozen times, not a thousand. Where the kernel grants none (THP "never"), there
// is nothing to see.
TEST(ZeroedArray, MillionEntryTableAsksForHugePages) {
  std::FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  char mode[128] = {};
  if (f != nullptr) {
    if (std::fgets(mode, sizeof mode, f) == nullptr) mode[0] = 0;
    std::fclose(f);
  }
  if (std::strstr(mode, "[never]") != nullptr || mode[0] == 0)
    GTEST_SKIP() << "this kernel grants no transparent hugepages";
  const long before = anon_huge_kib();
  ASSERT_GE(before, 0);
  auto table = std::make_unique<ConnectionTable<int>>(1u << 20, SipKey{1, 2});
  int v = 0;
  for (std::uint16_t p = 1; p <= 1000; ++p) {
    TcpTuple t{Endpoint{IpAddr::v4(0xC6120001), 80}, Endpoint{IpAddr::v4(0xC6120002), p}};
    ASSERT_EQ(table->insert(t, &v), 0);
  }
  EXPECT_GE(anon_huge_kib() - before, 2048) << "no 2 MiB page backs the table";
}

}  // namespace
}  // namespace shardtcp
