// The TCP layer at scale, over a ring pair on a virtual clock: 20 000 connections
// opened at once up to the exact slot limit, every one echoing, all closed, and every
// resource (slots, table entries, mbufs) back to where it started. The limit is exact:
// each count up to it establishes, the next connection is refused and counted.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "pair_harness.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint16_t kPort = 80;
constexpr std::uint32_t kConnections = 20000;

// Per-slot outcome of each connection (EventLog's linear search does not scale).
struct Outcomes {
  std::vector<std::uint8_t> connected, failed;
  std::size_t n_connected = 0, n_failed = 0;
  std::uint32_t last_error = 0;
  Outcomes() : connected(1u << 20), failed(1u << 20) {}
  static void record(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value) {
    auto* o = static_cast<Outcomes*>(user);
    if (ev == TcpSocketEvent::kConnected && !o->connected[id.slot()]) {
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
  const TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, kConnections, {}, &err);
  ASSERT_TRUE(l.valid()) << err;
  Outcomes clients;
  std::vector<TcpConnId> client_ids, server_ids;
  client_ids.reserve(kConnections);
  server_ids.reserve(kConnections);
  auto accept_all = [&] {
    for (TcpConnId s = b_.tcp->accept(l, &err); s.valid(); s = b_.tcp->accept(l, &err))
      server_ids.push_back(s);
  };
  // Opened in waves of 512 (what a burst of SYNs on a real link looks like), the next
  // wave while the last one's handshakes are under way.
  while (client_ids.size() < kConnections) {
    for (int k = 0; k < 512 && client_ids.size() < kConnections; ++k) {
      const TcpConnId c = a_.tcp->connect({kAddrB, kPort}, clients.callback(), &err);
      ASSERT_TRUE(c.valid()) << "connect #" << client_ids.size() << ": " << err;
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
  std::vector<std::uint8_t> sent(client_ids.size()), echoed(client_ids.size());
  std::vector<std::string> to_echo;  // by server index: bytes read, not yet sent back
  std::size_t n_echoed = 0;
  ASSERT_TRUE(run_until(
      [&] {
        for (std::size_t i = 0; i < client_ids.size(); ++i) {
          const std::uint32_t tag = tag_of(i);
          if (i >= n_echoed + kOutstanding) break;
          if (!sent[i]) sent[i] = a_.tcp->send(client_ids[i], &tag, sizeof tag) == 4;
        }
        accept_all();
        to_echo.resize(server_ids.size());
        for (std::size_t k = 0; k < server_ids.size(); ++k) {
          char buf[16];
          const long n = to_echo[k].empty() ? b_.tcp->recv(server_ids[k], buf, sizeof buf) : 0;
          if (n > 0) to_echo[k].assign(buf, static_cast<std::size_t>(n));
          if (to_echo[k].empty()) continue;
          const long m = b_.tcp->send(server_ids[k], to_echo[k].data(), to_echo[k].size());
          if (m > 0) to_echo[k].erase(0, static_cast<std::size_t>(m));
          if (m < 0) {
            EXPECT_EQ(m, -EAGAIN);
          }
        }
        for (std::size_t i = 0; i < client_ids.size(); ++i) {
          std::uint32_t got = 0;
          if (!echoed[i] && a_.tcp->recv(client_ids[i], &got, sizeof got) == 4) {
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
        for (TcpConnId& s : server_ids) {
          char buf[16];
          if (s.valid() && b_.tcp->recv(s, buf, sizeof buf) == 0) {
            EXPECT_EQ(b_.tcp->close(s), 0);
            s = TcpConnId{};
          }
        }
        return a_.tcp->connections() == 0 && b_.tcp->connections() == 0 &&
               a_.tcp->time_wait_records() == 0;
      },
      30s));
  ASSERT_EQ(b_.tcp->close(l), 0);
  run_for(100ms);
  EXPECT_EQ(a_.tcp->slots_in_use(), a_slots_start);
  EXPECT_EQ(b_.tcp->slots_in_use(), b_slots_start);
  EXPECT_EQ(a_.tcp->buffer_ops().live_chunks(), 0);
  EXPECT_EQ(b_.tcp->buffer_ops().live_chunks(), 0);
  // Every mbuf back in the pool (the frames in flight were delivered or freed).
  EXPECT_EQ(rte_mempool_avail_count(shared_), shared_start_);
}

}  // namespace
}  // namespace shardtcp::testing
