// The TCP layer at scale, over a ring pair on a virtual clock: 20 000 connections
// opened at once up to the exact slot limit, every one echoing, all closed, and every
// resource (slots, table entries, mbufs) back to where it started. The limit is exact:
// each count up to it establishes, the next connection is refused and counted.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "pair_harness.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint16_t kPort = 80;
constexpr std::uint32_t kConnections = 20000;

// Per-slot outcome of each connection, and the connections that became readable
// since the last look (EventLog's linear search, or visiting all 20 000 connections
// every poll, does not scale).
struct Outcomes {
  std::vector<std::uint8_t> connected, failed;
  std::size_t n_connected = 0, n_failed = 0;
  std::uint32_t last_error = 0;
  std::vector<TcpConnId> readable;
  Outcomes() : connected(1u << 20), failed(1u << 20) {}
  static void record(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value) {
    auto* o = static_cast<Outcomes*>(user);
    if (ev == TcpSocketEvent::kReadable || ev == TcpSocketEvent::kPeerFin) {
      o->readable.push_back(id);
    } else if (ev == TcpSocketEvent::kConnected && !o->connected[id.slot()]) {
      o->connected[id.slot()] = 1;
      ++o->n_connected;
    } else if (ev == TcpSocketEvent::kError && !o->failed[id.slot()]) {
      o->failed[id.slot()] = 1;
      ++o->n_failed;
      o->last_error = value;
    }
  }
  TcpCallback callback() { return TcpCallback{&record, this}; }
};

// The counters of a group that are not zero, for failure messages.
std::string nonzero(const CounterGroup& g) {
  std::string s;
  for (std::size_t i = 0; i < g.size(); ++i)
    if (g.value(i) != 0)
      s += " " + std::string(g.group()) + "." + std::string(g.name(i)) + "=" +
           std::to_string(g.value(i));
  return s;
}

class TcpPairScale : public TcpPairTest {};

TEST_F(TcpPairScale, TwentyThousandConnectionsEchoCloseAndReturnEverything) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  a.tcp.max_connections = kConnections + 1;  // one more to try past B's limit
  b.tcp.max_connections = kConnections + 1;  // the listener's slot too: exactly full
  a.tcp.time_wait_capacity = b.tcp.time_wait_capacity = kConnections;
  build(a, b, 4096);
  const std::size_t a_slots_start = a_.tcp->slots_in_use();
  const std::size_t b_slots_start = b_.tcp->slots_in_use();

  int err = 0;
  Outcomes clients, servers;  // accepted connections keep the listener's callback
  const TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, kConnections, servers.callback(), &err);
  ASSERT_TRUE(l.valid()) << err;
  std::vector<std::uint32_t> index_of(1u << 20);  // client slot -> its index
  std::vector<TcpConnId> client_ids, server_ids;
  client_ids.reserve(kConnections);
  server_ids.reserve(kConnections);
  auto accept_all = [&] {
    for (TcpConnId s = b_.tcp->accept(l, &err); s.valid(); s = b_.tcp->accept(l, &err)) {
      server_ids.push_back(s);
      // Data that came with the handshake (a cookie ACK carrying the first request)
      // was announced before the application held the id: look at it now.
      servers.readable.push_back(s);
    }
  };
  // Opened in waves of 512 (what a burst of SYNs on a real link looks like), the next
  // wave while the last one's handshakes are under way.
  while (client_ids.size() < kConnections) {
    for (int k = 0; k < 512 && client_ids.size() < kConnections; ++k) {
      const TcpConnId c = a_.tcp->connect({kAddrB, kPort}, clients.callback(), &err);
      ASSERT_TRUE(c.valid()) << "connect #" << client_ids.size() << ": " << err;
      index_of[c.slot()] = static_cast<std::uint32_t>(client_ids.size());
      client_ids.push_back(c);
    }
    for (int i = 0; i < 20; ++i) {
      poll();
      accept_all();
    }
  }
  // Waves overflow the SYN queue (256): most SYNs are answered with cookies, and some
  // frames are lost to the full rings, so a client may be established while its last
  // handshake ACK never reached B; B then learns of it from the first data (a valid
  // cookie ACK). Every client completes its handshake first.
  ASSERT_TRUE(run_until(
      [&] {
        accept_all();
        return clients.n_connected + clients.n_failed == kConnections;
      },
      30s))
      << clients.n_connected << " connected, " << clients.n_failed
      << " failed; counters:" << nonzero(b_.tcp->counters()) << nonzero(a_.tcp->counters());
  EXPECT_EQ(clients.n_connected, kConnections);
  EXPECT_EQ(clients.n_failed, 0u) << "last error " << clients.last_error;

  // Every connection echoes 4 bytes of its own; B accepts the rest as their data comes.
  // Each unacknowledged send, and each received segment until it is read, holds a
  // whole mbuf of the pool both stacks share here (32 767), so at most 4 096 echoes are
  // under way at once, as a client with a bounded number of outstanding requests; a
  // send the pool refuses for now (EAGAIN) is tried again, as on the writable event.
  constexpr std::size_t kOutstanding = 4096;
  auto tag_of = [](std::size_t i) { return static_cast<std::uint32_t>(i) * 2654435761u; };
  std::vector<std::uint8_t> echoed(client_ids.size());
  std::vector<std::pair<TcpConnId, std::string>> to_echo;  // read by B, not yet sent back
  std::size_t n_sent = 0, n_echoed = 0;
  ASSERT_TRUE(run_until(
      [&] {
        for (; n_sent < client_ids.size() && n_sent < n_echoed + kOutstanding; ++n_sent) {
          const std::uint32_t tag = tag_of(n_sent);
          if (a_.tcp->send(client_ids[n_sent], &tag, sizeof tag) != 4) break;  // later
        }
        accept_all();
        std::vector<TcpConnId> ready;
        ready.swap(servers.readable);
        for (TcpConnId s : ready) {
          char buf[16];
          const long n = b_.tcp->recv(s, buf, sizeof buf);
          if (n > 0) to_echo.emplace_back(s, std::string(buf, static_cast<std::size_t>(n)));
        }
        std::erase_if(to_echo, [&](auto& e) {
          const long m = b_.tcp->send(e.first, e.second.data(), e.second.size());
          if (m < 0) {
            EXPECT_EQ(m, -EAGAIN);
            return false;
          }
          e.second.erase(0, static_cast<std::size_t>(m));
          return e.second.empty();
        });
        ready.clear();
        ready.swap(clients.readable);
        for (TcpConnId c : ready) {
          const std::uint32_t i = index_of[c.slot()];
          std::uint32_t got = 0;
          if (!echoed[i] && a_.tcp->recv(c, &got, sizeof got) == 4) {
            EXPECT_EQ(got, tag_of(i)) << i;
            echoed[i] = 1;
            ++n_echoed;
          }
        }
        return n_echoed == client_ids.size();
      },
      60s))
      << n_echoed << " echoed, " << server_ids.size()
      << " accepted; counters:" << nonzero(b_.tcp->counters()) << nonzero(a_.tcp->counters());
  EXPECT_EQ(server_ids.size(), kConnections);
  EXPECT_EQ(b_.tcp->connections(), kConnections);
  EXPECT_EQ(b_.tcp->slots_in_use(), kConnections + 1);

  // One past B's limit: refused at once (RST, ECONNREFUSED at A), and counted.
  Outcomes late;
  const std::uint64_t refused_before = b_.tcp->counter(TcpLayerCounter::kSynRefusedNoSlot);
  const TcpConnId over = a_.tcp->connect({kAddrB, kPort}, late.callback(), &err);
  ASSERT_TRUE(over.valid()) << err;
  ASSERT_TRUE(run_until([&] { return late.n_failed == 1; }, 1s));
  EXPECT_EQ(late.last_error, static_cast<std::uint32_t>(ECONNREFUSED));
  EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kSynRefusedNoSlot), refused_before + 1);
  EXPECT_EQ(b_.tcp->connections(), kConnections);
  // A is full now too (the refused socket still holds its slot until closed): a new
  // socket is refused locally with ENOBUFS.
  EXPECT_FALSE(a_.tcp->connect({kAddrB, kPort}, late.callback(), &err).valid());
  EXPECT_EQ(err, -ENOBUFS);
  ASSERT_EQ(a_.tcp->close(over), 0);

  // All closed from the client side; the servers close on EOF; TIME_WAIT (2 s of
  // virtual time here) runs out. Then nothing is held: slots, tables, mbufs.
  for (TcpConnId c : client_ids) ASSERT_EQ(a_.tcp->close(c), 0);
  ASSERT_TRUE(run_until(
      [&] {
        std::vector<TcpConnId> ready;
        ready.swap(servers.readable);
        for (TcpConnId s : ready) {
          char buf[16];
          if (b_.tcp->is_open(s) && b_.tcp->recv(s, buf, sizeof buf) == 0) {
            EXPECT_EQ(b_.tcp->close(s), 0);
          }
        }
        return a_.tcp->connections() == 0 && b_.tcp->connections() == 0 &&
               a_.tcp->time_wait_records() == 0;
      },
      30s))
      << a_.tcp->connections() << " and " << b_.tcp->connections() << " connections left, "
      << a_.tcp->time_wait_records() << " in TIME_WAIT";
  ASSERT_EQ(b_.tcp->close(l), 0);
  run_for(100ms);
  EXPECT_EQ(a_.tcp->slots_in_use(), a_slots_start);
  EXPECT_EQ(b_.tcp->slots_in_use(), b_slots_start);
  EXPECT_EQ(a_.tcp->buffer_ops().live_chunks(), 0);
  EXPECT_EQ(b_.tcp->buffer_ops().live_chunks(), 0);
  // Every mbuf back in the pool (the frames in flight were delivered or freed).
  EXPECT_EQ(rte_mempool_avail_count(shared_), shared_start_);
}

// With every tuple of the ephemeral range in use toward one server endpoint, the next
// connect() says so at once (EADDRNOTAVAIL, nothing sent); another server port has
// its own tuples; a closed connection's tuple comes back after TIME_WAIT.
TEST_F(TcpPairScale, EphemeralRangeExhaustionIsEaddrnotavail) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  a.tcp.ports = PortAllocator::Config{40000, 40009};  // --local-ports 40000-40009
  build(a, b);
  int err = 0;
  const TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 64, {}, &err);
  ASSERT_TRUE(l.valid());
  ASSERT_TRUE(b_.tcp->listen({IpAddr{}, kPort + 1}, 64, {}, &err).valid());
  std::vector<TcpConnId> open;
  for (int i = 0; i < 10; ++i) {
    open.push_back(a_.tcp->connect({kAddrB, kPort}, {}, &err));
    ASSERT_TRUE(open.back().valid()) << i << ": " << err;
  }
  const std::uint64_t tx_before = a_.engine->counters().get(EngineCounter::kTxFrames);
  EXPECT_FALSE(a_.tcp->connect({kAddrB, kPort}, {}, &err).valid());
  EXPECT_EQ(err, -EADDRNOTAVAIL);
  EXPECT_EQ(a_.engine->counters().get(EngineCounter::kTxFrames), tx_before);
  const TcpConnId other = a_.tcp->connect({kAddrB, kPort + 1}, {}, &err);
  ASSERT_TRUE(other.valid()) << err;
  // Both ends of every connection: the server's completes one client iteration after
  // the client's (the handshake's last ACK waits for the client's next iteration).
  std::vector<std::pair<TcpConnId, Endpoint>> accepted;
  ASSERT_TRUE(run_until([&] {
    Endpoint peer;
    for (TcpConnId s; (s = b_.tcp->accept(l, &err, &peer)).valid();) accepted.emplace_back(s, peer);
    for (TcpConnId c : open)
      if (a_.tcp->state(c) != TcpState::kEstablished) return false;
    return accepted.size() == open.size();
  }));
  // The active closer keeps the tuple in TIME_WAIT (2 s here), then it is free again.
  Endpoint first;
  ASSERT_EQ(a_.tcp->local_endpoint(open.front(), &first), 0);
  ASSERT_EQ(a_.tcp->close(open.front()), 0);
  for (const auto& [s, peer] : accepted) {
    if (peer.port == first.port) {
      ASSERT_EQ(b_.tcp->close(s), 0);
    }
  }
  run_for(500ms);
  EXPECT_EQ(a_.tcp->time_wait_records(), 1u);
  EXPECT_FALSE(a_.tcp->connect({kAddrB, kPort}, {}, &err).valid());
  EXPECT_EQ(err, -EADDRNOTAVAIL);
  // A second after the record was made (and before its 2 s run out), connect() may take
  // the tuple over (timestamps in use, as Linux's tcp_tw_reuse=1), and it works.
  run_for(700ms);
  EXPECT_EQ(a_.tcp->time_wait_records(), 1u);
  const TcpConnId again = a_.tcp->connect({kAddrB, kPort}, {}, &err);
  ASSERT_TRUE(again.valid()) << err;
  EXPECT_EQ(a_.tcp->counter(TcpLayerCounter::kTimeWaitReusedByConnect), 1u);
  EXPECT_EQ(a_.tcp->time_wait_records(), 0u);
  Endpoint again_local;
  ASSERT_EQ(a_.tcp->local_endpoint(again, &again_local), 0);
  EXPECT_EQ(again_local.port, first.port);
  ASSERT_TRUE(run_until([&] { return a_.tcp->state(again) == TcpState::kEstablished; }));
  // With reuse off, an aborted connection (RST, no TIME_WAIT) still frees its tuple at once.
  PairSideOptions no_reuse = a;
  no_reuse.tcp.time_wait_reuse = false;
  teardown();
  build(no_reuse, b);
  ASSERT_TRUE(b_.tcp->listen({IpAddr{}, kPort}, 64, {}, &err).valid());
  std::vector<TcpConnId> conns;
  for (int i = 0; i < 10; ++i) conns.push_back(a_.tcp->connect({kAddrB, kPort}, {}, &err));
  ASSERT_TRUE(run_until([&] { return a_.tcp->state(conns.back()) == TcpState::kEstablished; }));
  ASSERT_EQ(a_.tcp->abort(conns.front()), 0);  // RST: no TIME_WAIT, the tuple is free
  run_for(10ms);
  EXPECT_TRUE(a_.tcp->connect({kAddrB, kPort}, {}, &err).valid()) << err;
  EXPECT_EQ(a_.tcp->counter(TcpLayerCounter::kTimeWaitReusedByConnect), 0u);
}

}  // namespace
}  // namespace shardtcp::testing
