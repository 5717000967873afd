// Idle connections between two stacks hold nothing but their TCBs (issue 15): after a
// request and a response each, with the connections still open, neither layer holds a
// bookkeeping block, a send chunk or an mbuf more than before they opened, and all
// connections of a side share one config. Then every connection echoes once more
// (they are alive, not just counted), and closing them leaves the pools as they began.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "pair_harness.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint16_t kPort = 7070;
constexpr int kConnections = 2000;

// Resident memory of this process (both stacks, the test's own vectors).
long resident_bytes() {
  std::ifstream f("/proc/self/statm");
  long size = 0, resident = 0;
  f >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

class TcpPairIdle : public TcpPairTest {
 protected:
  // Sends `msg` on `from` and runs until `to` has it all; returns what `to` read.
  std::string send_and_read(TcpLayer& from, TcpConnId f, TcpLayer& to, TcpConnId t,
                            const std::string& msg) {
    EXPECT_EQ(from.send(f, msg.data(), msg.size()), static_cast<long>(msg.size()));
    std::string got;
    EXPECT_TRUE(run_until([&] {
      got += read_all(to, t);
      return got.size() >= msg.size();
    }));
    return got;
  }
  // Runs until each of `ids` has `n` bytes to read; returns what each read.
  std::vector<std::string> read_each(TcpLayer& tcp, const std::vector<TcpConnId>& ids,
                                     std::size_t n) {
    std::vector<std::string> got(ids.size());
    EXPECT_TRUE(run_until([&] {
      bool all = true;
      for (std::size_t i = 0; i < ids.size(); ++i) {
        got[i] += read_all(tcp, ids[i]);
        all = all && got[i].size() >= n;
      }
      return all;
    }));
    return got;
  }
  static void expect_holds_nothing(const TcpLayer& tcp, const char* side) {
    EXPECT_EQ(tcp.buffer_ops().blocks().blocks_in_use(), 0u) << side;
    EXPECT_EQ(tcp.buffer_ops().live_chunks(), 0) << side;
  }
};

TEST_F(TcpPairIdle, IdleConnectionsHoldNoBuffersAndShareTheirConfig) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  a.tcp.max_connections = b.tcp.max_connections = 2 * kConnections;
  build(a, b);
  int err = 0;
  const TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, kConnections, {}, &err);
  ASSERT_TRUE(l.valid());
  // Warm up ARP so the mbuf baseline does not count the neighbour cache's frames.
  {
    TcpConnId c = a_.tcp->connect({kAddrB, kPort}, {}, &err);
    TcpConnId s;
    ASSERT_TRUE(run_until([&] {
      if (!s.valid()) s = b_.tcp->accept(l, &err);
      return s.valid() && a_.tcp->state(c) == TcpState::kEstablished;
    }));
    a_.tcp->abort(c);
    b_.tcp->abort(s);
    run_for(10ms);
  }
  const unsigned mbufs_start = rte_mempool_avail_count(shared_);
  const long rss_start = resident_bytes();

  std::vector<TcpConnId> clients(kConnections), servers(kConnections);
  for (TcpConnId& c : clients) {
    c = a_.tcp->connect({kAddrB, kPort}, {}, &err);
    ASSERT_TRUE(c.valid()) << err;
  }
  std::size_t accepted = 0;
  ASSERT_TRUE(run_until([&] {
    for (TcpConnId s; accepted < servers.size() && (s = b_.tcp->accept(l, &err)).valid();)
      servers[accepted++] = s;
    return accepted == servers.size();
  }));
  // Accept order is arrival order: pair each server end with its client by port.
  std::vector<TcpConnId> paired(kConnections);
  for (TcpConnId sv : servers) {
    ASSERT_NE(b_.tcp->tcb(sv), nullptr);
    const std::uint16_t port = b_.tcp->tcb(sv)->remote().port;
    for (int i = 0; i < kConnections; ++i)
      if (a_.tcp->tcb(clients[i])->local().port == port) paired[i] = sv;
  }
  servers = paired;
  for (TcpConnId sv : servers) ASSERT_TRUE(sv.valid());
  const std::string request = "ping";
  const std::string response(1500, 'r');
  for (int i = 0; i < kConnections; ++i)
    ASSERT_EQ(a_.tcp->send(clients[i], request.data(), request.size()),
              static_cast<long>(request.size()));
  const std::vector<std::string> requests = read_each(*b_.tcp, servers, request.size());
  for (int i = 0; i < kConnections; ++i) {
    EXPECT_EQ(requests[i], request);
    ASSERT_EQ(b_.tcp->send(servers[i], response.data(), response.size()),
              static_cast<long>(response.size()));
  }
  const std::vector<std::string> responses = read_each(*a_.tcp, clients, response.size());
  for (const std::string& r : responses) EXPECT_EQ(r, response);
  run_for(500ms);  // delayed ACKs go out; nothing is left in flight

  // Idle: every connection open, none holding anything but its TCB.
  EXPECT_EQ(a_.tcp->connections(), static_cast<std::size_t>(kConnections));
  EXPECT_EQ(b_.tcp->connections(), static_cast<std::size_t>(kConnections));
  expect_holds_nothing(*a_.tcp, "client side");
  expect_holds_nothing(*b_.tcp, "server side");
  EXPECT_EQ(rte_mempool_avail_count(shared_), mbufs_start) << "mbufs held by idle connections";
  EXPECT_EQ(a_.tcp->buffer_ops().configs().size(), 1u);
  EXPECT_EQ(b_.tcp->buffer_ops().configs().size(), 1u);
  // A figure, not a check: it counts the test's own per-connection vectors and the
  // tables' pages as they are first touched too.
  std::printf(
      "%d idle connection ends: RSS growth %.0f B each, sizeof(Tcb) %zu B, pool slabs "
      "%zu + %zu B\n",
      2 * kConnections, static_cast<double>(resident_bytes() - rss_start) / (2.0 * kConnections),
      sizeof(Tcb), a_.tcp->buffer_ops().blocks().slab_bytes(),
      b_.tcp->buffer_ops().blocks().slab_bytes());

  // Alive: each echoes once more, then closes.
  for (int i = 0; i < kConnections; ++i) {
    const std::string msg = "echo " + std::to_string(i);
    EXPECT_EQ(send_and_read(*a_.tcp, clients[i], *b_.tcp, servers[i], msg), msg);
    EXPECT_EQ(send_and_read(*b_.tcp, servers[i], *a_.tcp, clients[i], msg), msg);
    ASSERT_EQ(a_.tcp->close(clients[i]), 0);
    ASSERT_EQ(b_.tcp->close(servers[i]), 0);
  }
  ASSERT_EQ(b_.tcp->close(l), 0);
  ASSERT_TRUE(
      run_until([&] { return a_.tcp->slots_in_use() == 0 && b_.tcp->slots_in_use() == 0; }, 60s));
  expect_holds_nothing(*a_.tcp, "client side, closed");
  expect_holds_nothing(*b_.tcp, "server side, closed");
  EXPECT_EQ(a_.tcp->buffer_ops().configs().size(), 0u);
  EXPECT_EQ(b_.tcp->buffer_ops().configs().size(), 0u);
}

}  // namespace
}  // namespace shardtcp::testing
