#include "tcp/connection_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <tuple>

#include "tcp/port_allocator.h"

namespace shardtcp {
namespace {

struct Conn {
  int id;
};

TcpTuple tup(std::uint32_t raddr, std::uint16_t rport, std::uint16_t lport = 80) {
  return TcpTuple{Endpoint{IpAddr::v4(0xC6120001), lport}, Endpoint{IpAddr::v4(raddr), rport}};
}
TcpTuple tup6(std::uint16_t rport) {
  return TcpTuple{Endpoint{*IpAddr::parse("2001:db8::1"), 80},
                  Endpoint{*IpAddr::parse("2001:db8::2"), rport}};
}

TEST(ConnectionTableTest, InsertFindEraseAndDuplicates) {
  ConnectionTable<Conn> t(16, SipKey{1, 2});
  Conn a{1}, b{2}, c{3};
  EXPECT_EQ(t.insert(tup(0xC6120002, 1000), &a), 0);
  EXPECT_EQ(t.insert(tup6(1000), &b), 0);
  EXPECT_EQ(t.insert(tup(0xC6120002, 1000), &c), EADDRINUSE);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.find(tup(0xC6120002, 1000)), &a);
  EXPECT_EQ(t.find(tup6(1000)), &b);
  EXPECT_EQ(t.find(tup(0xC6120002, 1001)), nullptr);
  EXPECT_EQ(t.find(tup(0xC6120003, 1000)), nullptr);
  EXPECT_TRUE(t.erase(tup(0xC6120002, 1000)));
  EXPECT_FALSE(t.erase(tup(0xC6120002, 1000)));
  EXPECT_EQ(t.find(tup(0xC6120002, 1000)), nullptr);
  EXPECT_EQ(t.insert(tup(0xC6120002, 1000), &c), 0);
  EXPECT_EQ(t.find(tup(0xC6120002, 1000)), &c);
  EXPECT_EQ(t.insert(tup(1, 1), nullptr), EINVAL);
}

TEST(ConnectionTableTest, CapacityIsEnforced) {
  ConnectionTable<Conn> t(4, SipKey{1, 2});
  Conn c{0};
  for (std::uint16_t p = 0; p < 4; ++p) EXPECT_EQ(t.insert(tup(0xC6120002, p), &c), 0);
  EXPECT_EQ(t.insert(tup(0xC6120002, 99), &c), ENOBUFS);
  // A duplicate still reports EADDRINUSE when full.
  EXPECT_EQ(t.insert(tup(0xC6120002, 0), &c), EADDRINUSE);
}

TEST(ConnectionTableTest, RandomOperationsMatchStdMap) {
  ConnectionTable<Conn> t(512, SipKey{5, 6});
  std::map<std::pair<std::uint32_t, std::uint16_t>, Conn*> model;
  std::vector<Conn> conns(512);
  std::mt19937 rng(1);
  for (int i = 0; i < 100000; ++i) {
    const std::uint32_t addr = 0xC6120000 + rng() % 4;
    const std::uint16_t port = static_cast<std::uint16_t>(rng() % 300);
    const auto key = std::make_pair(addr, port);
    const TcpTuple tt = tup(addr, port);
    switch (rng() % 3) {
      case 0: {
        Conn* v = &conns[rng() % conns.size()];
        const int rc = t.insert(tt, v);
        if (model.count(key)) {
          ASSERT_EQ(rc, EADDRINUSE);
        } else if (model.size() >= 512) {
          ASSERT_EQ(rc, ENOBUFS);
        } else {
          ASSERT_EQ(rc, 0);
          model[key] = v;
        }
        break;
      }
      case 1:
        ASSERT_EQ(t.erase(tt), model.erase(key) == 1);
        break;
      default: {
        auto it = model.find(key);
        ASSERT_EQ(t.find(tt), it == model.end() ? nullptr : it->second);
      }
    }
    ASSERT_EQ(t.size(), model.size());
  }
  std::size_t visited = 0;
  t.for_each([&](const TcpTuple& k, Conn* v) {
    ++visited;
    const auto key = std::make_pair(k.remote.addr.v4_host(), k.remote.port);
    ASSERT_EQ(model.at(key), v);
  });
  EXPECT_EQ(visited, model.size());
}

// The receive path's recent()/find_and_remember(): at half load, with erases moving
// entries by backward shift, recent() of the last remembered tuple is that tuple's
// value or a miss, never another entry's value or an erased one's.
TEST(ConnectionTableTest, RecentIsTheRememberedTuplesValueOrAMiss) {
  const SipKey key{5, 6};
  ConnectionTable<Conn> t(512, key);
  std::map<std::pair<std::uint32_t, std::uint16_t>, Conn*> model;
  std::vector<Conn> conns(512);
  std::mt19937 rng(3);
  auto value_of = [&](const TcpTuple& tt) -> Conn* {
    auto it = model.find(std::make_pair(tt.remote.addr.v4_host(), tt.remote.port));
    return it == model.end() ? nullptr : it->second;
  };
  TcpTuple last = tup(0xC6120000, 0);
  std::size_t hits = 0;
  for (int i = 0; i < 100000; ++i) {
    const std::uint32_t addr = 0xC6120000 + rng() % 4;
    const std::uint16_t port = static_cast<std::uint16_t>(rng() % 300);
    const TcpTuple tt = tup(addr, port);
    switch (rng() % 3) {
      case 0:
        if (model.size() < 512 && t.insert(tt, &conns[rng() % conns.size()]) == 0)
          model[std::make_pair(addr, port)] = t.find(tt);
        break;
      case 1:
        t.erase(tt);
        model.erase(std::make_pair(addr, port));
        break;
      default: {
        Conn* r = t.recent(tt);
        hits += r != nullptr;
        if (r == nullptr) r = t.find_and_remember(tt, hash_tuple(key, tt));
        ASSERT_EQ(r, value_of(tt));
        if (r != nullptr) last = tt;
      }
    }
    Conn* r = t.recent(last);
    ASSERT_TRUE(r == nullptr || r == value_of(last)) << i;
  }
  EXPECT_GT(hits, 0u);
}

TEST(ListenerTableTest, ExactThenWildcard) {
  ListenerTable<Conn> l(16, SipKey{7, 8});
  Conn any4{1}, exact{2}, any6{3};
  const IpAddr a = IpAddr::v4(0xC6120001);
  EXPECT_EQ(l.insert(Endpoint{IpAddr::v4(0), 80}, &any4), 0);
  EXPECT_EQ(l.insert(Endpoint{a, 80}, &exact), 0);
  EXPECT_EQ(l.insert(Endpoint{ListenerTable<Conn>::wildcard(IpFamily::kV6), 80}, &any6), 0);
  EXPECT_EQ(l.insert(Endpoint{a, 80}, &any4), EADDRINUSE);
  EXPECT_EQ(l.find(Endpoint{a, 80}), &exact);
  EXPECT_EQ(l.find(Endpoint{IpAddr::v4(0xC6120009), 80}), &any4);
  EXPECT_EQ(l.find(Endpoint{*IpAddr::parse("2001:db8::5"), 80}), &any6);
  EXPECT_EQ(l.find(Endpoint{a, 81}), nullptr);
  EXPECT_TRUE(l.erase(Endpoint{a, 80}));
  EXPECT_EQ(l.find(Endpoint{a, 80}), &any4);
  EXPECT_EQ(l.find_exact(Endpoint{a, 80}), nullptr);
}

class PortAllocatorTest : public ::testing::Test {
 protected:
  PortAllocator pa{PortAllocator::Config{40000, 40009}, SipKey{1, 1}};
  const IpAddr local = IpAddr::v4(0xC6120001);
  const IpAddr any = IpAddr::v4(0);
  const Endpoint remote{IpAddr::v4(0xC6120002), 80};
};

TEST_F(PortAllocatorTest, BindConflictsAndReuseAddr) {
  EXPECT_EQ(pa.bind(local, 8080, false).error, 0);
  EXPECT_EQ(pa.bind(local, 8080, false).error, EADDRINUSE);
  EXPECT_EQ(pa.bind(any, 8080, false).error, EADDRINUSE);            // wildcard overlaps
  EXPECT_EQ(pa.bind(IpAddr::v4(0xC6120003), 8080, false).error, 0);  // other address
  EXPECT_EQ(pa.bind(*IpAddr::parse("::"), 8080, false).error, 0);    // other family
  EXPECT_EQ(pa.bind(local, 9090, true).error, 0);
  EXPECT_EQ(pa.bind(local, 9090, true).error, 0);  // both SO_REUSEADDR
  EXPECT_EQ(pa.bind(local, 9090, false).error, EADDRINUSE);
  EXPECT_EQ(pa.refs(local, 9090), 2u);
  pa.release_bind(local, 9090);
  EXPECT_EQ(pa.refs(local, 9090), 1u);
  pa.release_bind(local, 9090);
  EXPECT_EQ(pa.refs(local, 9090), 0u);
  EXPECT_EQ(pa.bind(local, 9090, false).error, 0);
  EXPECT_EQ(pa.bound_ports(), 4u);  // local:8080, .3:8080, [::]:8080, local:9090
  pa.release_bind(local, 8080);
  EXPECT_EQ(pa.refs(local, 8080), 0u);
  EXPECT_EQ(pa.bound_ports(), 3u);
  EXPECT_EQ(pa.bind(any, 8080, false).error, EADDRINUSE);  // 198.18.0.3:8080 still bound
}

TEST_F(PortAllocatorTest, BindZeroPicksFreeEphemeral) {
  std::set<std::uint16_t> got;
  for (int i = 0; i < 10; ++i) {
    auto r = pa.bind(local, 0, false);
    ASSERT_EQ(r.error, 0);
    EXPECT_GE(r.port, 40000);
    EXPECT_LE(r.port, 40009);
    got.insert(r.port);
  }
  EXPECT_EQ(got.size(), 10u);
  EXPECT_EQ(pa.bind(local, 0, false).error, EADDRINUSE);
}

TEST_F(PortAllocatorTest, ConnectPicksUniqueTuplesAndSharesPortsAcrossRemotes) {
  std::set<std::pair<std::uint16_t, std::uint16_t>> used;  // (local port, remote port)
  auto in_use = [&](const TcpTuple& t) { return used.count({t.local.port, t.remote.port}) > 0; };
  auto any_port = [](std::uint16_t) { return true; };
  for (int i = 0; i < 10; ++i) {
    auto r = pa.connect(local, remote, in_use, any_port);
    ASSERT_EQ(r.error, 0);
    used.insert({r.port, remote.port});
  }
  EXPECT_EQ(pa.connect(local, remote, in_use, any_port).error, EADDRNOTAVAIL);
  // Another remote endpoint can reuse the same local ports.
  Endpoint other{remote.addr, 81};
  auto r = pa.connect(local, other, in_use, any_port);
  ASSERT_EQ(r.error, 0);
  EXPECT_EQ(pa.refs(local, r.port), 2u);
  pa.release_connect(local, r.port);
  EXPECT_EQ(pa.refs(local, r.port), 1u);
}

TEST_F(PortAllocatorTest, ConnectSkipsBoundPortsAndHonoursHook) {
  for (std::uint16_t p = 40000; p <= 40008; ++p) ASSERT_EQ(pa.bind(any, p, false).error, 0);
  auto r = pa.connect(
      local, remote, [](const TcpTuple&) { return false; }, [](std::uint16_t) { return true; });
  ASSERT_EQ(r.error, 0);
  EXPECT_EQ(r.port, 40009);
  PortAllocator pb{PortAllocator::Config{}, SipKey{2, 2}};
  for (int i = 0; i < 50; ++i) {
    auto e = pb.connect(
        local, Endpoint{remote.addr, static_cast<std::uint16_t>(1000 + i)},
        [](const TcpTuple&) { return false; },
        [](std::uint16_t p) { return p % 4 == 1; });  // "hashes to core 1"
    ASSERT_EQ(e.error, 0);
    EXPECT_EQ(e.port % 4, 1);
    EXPECT_GE(e.port, PortAllocator::Config{}.first);
    EXPECT_LE(e.port, PortAllocator::Config{}.last);
  }
  // Explicit bind onto a port in use by a connection needs SO_REUSEADDR.
  auto c = pb.connect(
      local, remote, [](const TcpTuple&) { return false; }, [](std::uint16_t) { return true; });
  EXPECT_EQ(pb.bind(local, c.port, false).error, EADDRINUSE);
  EXPECT_EQ(pb.bind(local, c.port, true).error, 0);
}

}  // namespace
}  // namespace shardtcp
