// Two shard-like assemblies (IpStack + ShardHandler + Engine + TcpLayer) back to back
// over a ring pair, each port optionally wrapped in a seeded FaultInjectingPort
// (impairing what that side transmits), under one VirtualClock and polled alternately
// from the test thread: every run is the same run. TearDown checks that every mbuf went
// back to its pool.
#pragma once

#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/time.h"
#include "engine/engine.h"
#include "ip/ip_stack.h"
#include "port/eal.h"
#include "port/fault_injecting_port.h"
#include "port/offload_emulating_port.h"
#include "port/ring_pair.h"
#include "tcp/shard_handler.h"
#include "tcp/tcp_layer.h"

namespace shardtcp::testing {

using namespace std::chrono_literals;

inline const IpAddr kAddrA = IpAddr::v4(0xC6120001);  // 198.18.0.1
inline const IpAddr kAddrB = IpAddr::v4(0xC6120002);  // 198.18.0.2

// EAL (once per process) and a cache-less pool, so avail counts are exact.
inline rte_mempool* tcp_pair_pool() {
  static rte_mempool* pool = []() -> rte_mempool* {
    TestEalOptions o;
    o.file_prefix = "tcp_pair_tests";
    const Status s = eal_init_for_tests(o);
    if (!s) {
      ADD_FAILURE() << s.message();
      return nullptr;
    }
    MbufPoolOptions po;
    po.n_mbufs = 32767;
    po.cache_size = 0;
    auto p = create_mbuf_pool("tcp_pair_pool", po);
    if (!p) {
      ADD_FAILURE() << p.error();
      return nullptr;
    }
    return p.value();
  }();
  return pool;
}

// Records every event a TcpLayer callback delivers.
struct EventLog {
  struct Entry {
    TcpConnId id;
    TcpSocketEvent ev;
    std::uint32_t value;
  };
  std::vector<Entry> entries;

  static void record(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value) {
    static_cast<EventLog*>(user)->entries.push_back(Entry{id, ev, value});
  }
  TcpCallback callback() { return TcpCallback{&record, this}; }
  bool has(TcpConnId id, TcpSocketEvent ev, std::uint32_t* value = nullptr) const {
    for (const Entry& e : entries) {
      if (e.id == id && e.ev == ev) {
        if (value) *value = e.value;
        return true;
      }
    }
    return false;
  }
  std::size_t count(TcpSocketEvent ev) const {
    std::size_t n = 0;
    for (const Entry& e : entries) n += e.ev == ev ? 1 : 0;
    return n;
  }
  void clear() { entries.clear(); }
};

// A wire that drops, duplicates, reorders (within `window`) and corrupts frames.
inline ImpairmentConfig lossy_wire(double drop, double duplicate, double reorder,
                                   std::uint32_t window, double corrupt) {
  ImpairmentConfig c;
  c.drop = drop;
  c.duplicate = duplicate;
  c.reorder = reorder;
  c.reorder_window = window;
  c.corrupt = corrupt;
  return c;
}

struct PairSideOptions {
  bool with_tcp = true;
  std::optional<ImpairmentConfig> impair;  // applied to frames this side transmits
  TcpLayerConfig tcp;
  rte_mempool* pool = nullptr;                   // the engine's pool; null: the shared one
  std::vector<InterfaceAddress> more_addresses;  // besides kAddrA/kAddrB /24 (IPv6 ones)
  // Between the stack and the (impaired) wire: a NIC with checksum offloads, TSO and
  // LRO (OffloadEmulatingPort), and the stack configured to use them.
  bool emulate_offloads = false;
};

struct PairSide {
  rte_mempool* pool = nullptr;
  std::unique_ptr<FaultInjectingPort> faults;
  std::unique_ptr<OffloadEmulatingPort> offloads;
  std::unique_ptr<IpStack> ip;
  std::unique_ptr<ShardHandler> handler;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<TcpLayer> tcp;
  unsigned start_avail = 0;

  void reset() {
    tcp.reset();  // returns queued payloads and send chunks
    engine.reset();
    handler.reset();
    ip.reset();
    offloads.reset();
    faults.reset();  // frees frames it still holds
  }
};

class TcpPairTest : public ::testing::Test {
 protected:
  void TearDown() override {
    teardown();
    if (shared_ != nullptr) {
      EXPECT_EQ(rte_mempool_avail_count(shared_), shared_start_) << "mbuf leak (shared pool)";
    }
    for (rte_mempool* p : extra_pools_) {
      EXPECT_EQ(rte_mempool_avail_count(p), p->size) << "mbuf leak (side pool)";
      rte_mempool_free(p);
    }
    extra_pools_.clear();
  }

  void teardown() {
    a_.reset();
    b_.reset();
    pair_.reset();  // frees frames still in the rings
  }

  // A private pool (freed in TearDown, checked for leaks); `data_room` as
  // MbufPoolOptions' (StackConfig::kSendChunkDataRoom for send chunks).
  rte_mempool* make_pool(unsigned n, std::uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE) {
    if (tcp_pair_pool() == nullptr) return nullptr;  // brings the EAL up (a test run alone)
    static int serial = 0;
    MbufPoolOptions po;
    po.n_mbufs = n;
    po.cache_size = 0;
    po.data_room = data_room;
    auto p = create_mbuf_pool("tcpl_side" + std::to_string(serial++), po);
    if (!p) {
      ADD_FAILURE() << p.error();
      return nullptr;
    }
    extra_pools_.push_back(p.value());
    return p.value();
  }

  static TcpLayerConfig default_tcp() {
    TcpLayerConfig c;
    c.max_connections = 256;
    c.time_wait_capacity = 16384;
    c.defaults.msl = 1s;  // TIME_WAIT lasts 2 s of virtual time
    c.key = SipKey{0x0123456789abcdefull, 0xfedcba9876543210ull};
    return c;
  }

  // Builds the pair with IPv6 addresses a6 and b6 (/64) beside the IPv4 ones, and runs
  // until both have passed duplicate address detection.
  void build_dual_stack(PairSideOptions a, PairSideOptions b, const IpAddr& a6, const IpAddr& b6) {
    a.more_addresses.push_back({a6, 64});
    b.more_addresses.push_back({b6, 64});
    build(a, b);
    if (::testing::Test::HasFatalFailure()) return;
    ASSERT_TRUE(run_until([&] { return !a_.ip->dad_pending(a6) && !b_.ip->dad_pending(b6); }));
  }

  void build(PairSideOptions a = {}, PairSideOptions b = {}, unsigned ring_size = 1024) {
    shared_ = tcp_pair_pool();
    ASSERT_NE(shared_, nullptr);
    shared_start_ = rte_mempool_avail_count(shared_);
    static int serial = 0;
    RingPairOptions o;
    o.name = "tcpl_rp" + std::to_string(serial++);
    o.pool = shared_;
    o.mtu = 1500;
    o.ring_size = ring_size;
    auto pair = RingPair::create(o);
    ASSERT_TRUE(pair.is_ok()) << pair.error();
    pair_ = std::move(pair.value());
    make_side(a_, pair_->a(), kAddrA, a);
    make_side(b_, pair_->b(), kAddrB, b);
  }

  void make_side(PairSide& s, PacketPort& port, const IpAddr& addr, const PairSideOptions& opt) {
    s.pool = opt.pool != nullptr ? opt.pool : shared_;
    PacketPort* p = &port;
    if (opt.impair) {
      ImpairmentConfig ic = *opt.impair;
      ic.direction = ImpairmentConfig::Direction::kTx;
      s.faults = std::make_unique<FaultInjectingPort>(port, clock_, ic);
      p = s.faults.get();
    }
    if (opt.emulate_offloads) {
      s.offloads = std::make_unique<OffloadEmulatingPort>(*p);
      p = s.offloads.get();
    }
    IpStackConfig c;
    c.port = p->info();
    c.port.mtu = 1500;
    c.addresses.push_back({addr, 24});
    for (const InterfaceAddress& a : opt.more_addresses) c.addresses.push_back(a);
    c.icmp_errors_per_second = 1000;
    s.ip = std::make_unique<IpStack>(c);
    s.handler = std::make_unique<ShardHandler>(*s.ip);
    s.engine = std::make_unique<Engine>(*p, s.pool, *s.handler, clock_);
    if (opt.with_tcp) {
      TcpLayerConfig tc = opt.tcp;
      tc.tx_cksum_offload = p->info().tx_l4_cksum;
      tc.tso = p->info().tx_tso && p->info().tx_multi_seg;
      tc.zero_copy_tx = tc.zero_copy_tx && p->info().tx_zero_copy;
      s.tcp = std::make_unique<TcpLayer>(*s.ip, *s.engine, tc);
      s.ip->set_transport(TcpLayer::kProtocol, s.tcp.get());
      s.handler->set_tcp(s.tcp.get());
    }
    s.start_avail = rte_mempool_avail_count(s.pool);
  }

  // One iteration of both engines; the clock moves `step` first. Returns frames received.
  std::uint32_t poll(Duration step = 20us) {
    clock_.advance(step);
    return a_.engine->poll_once() + b_.engine->poll_once();
  }

  // Polls until `done` or `virtual_limit` of virtual time has passed. Quiet iterations
  // move the clock by 1 ms so timers come sooner without skipping any.
  bool run_until(const std::function<bool()>& done, Duration virtual_limit = 10s) {
    const Instant end = clock_.now() + virtual_limit;
    std::uint32_t quiet = 0;
    while (clock_.now() < end) {
      if (done()) return true;
      const std::uint32_t n = poll(quiet > 2 ? Duration(1ms) : Duration(20us));
      quiet = n == 0 ? quiet + 1 : 0;
    }
    return done();
  }

  // Listens on B's `port`, connects from A and runs until both ends are established:
  // the client's id and the server's (accepted) one; `listener` is B's.
  // `to`: B's address to connect to (an IPv6 one among its more_addresses, say).
  void open_a_to_b(std::uint16_t port, TcpConnId* client, TcpConnId* server,
                   TcpConnId* listener = nullptr, const IpAddr& to = kAddrB) {
    int err = 0;
    const TcpConnId l = b_.tcp->listen({IpAddr{}, port}, 4, {}, &err);
    ASSERT_TRUE(l.valid());
    if (listener != nullptr) *listener = l;
    *client = a_.tcp->connect({to, port}, {}, &err);
    ASSERT_TRUE(client->valid());
    ASSERT_TRUE(run_until([&] {
      if (!server->valid()) *server = b_.tcp->accept(l, &err);
      return server->valid() && a_.tcp->state(*client) == TcpState::kEstablished;
    }));
  }

  // Everything readable from `id` now, as a string.
  static std::string read_all(TcpLayer& tcp, TcpConnId id) {
    std::string s;
    char buf[4096];
    for (long n; (n = tcp.recv(id, buf, sizeof buf)) > 0;)
      s.append(buf, static_cast<std::size_t>(n));
    return s;
  }

  // Runs for `d` of virtual time.
  void run_for(Duration d) {
    run_until([] { return false; }, d);
  }

  // A's application writes `data` from `sent` on, as far as its send buffer takes it;
  // returns how much of `data` is sent now.
  std::size_t send_what_fits(TcpConnId c, const std::vector<std::uint8_t>& data, std::size_t sent) {
    while (sent < data.size()) {
      const long n = a_.tcp->send(c, data.data() + sent, data.size() - sent);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    return sent;
  }

  // Moves `data` (sent up to `sent` already) from A's `c` to B's `s`, B's application
  // reading all it can into `got`, until every byte arrived or `limit` passed.
  bool stream_a_to_b(TcpConnId c, TcpConnId s, const std::vector<std::uint8_t>& data,
                     std::size_t sent, std::vector<std::uint8_t>& got, Duration limit) {
    std::vector<std::uint8_t> buf(65536);
    return run_until(
        [&] {
          sent = send_what_fits(c, data, sent);
          for (;;) {
            const long n = b_.tcp->recv(s, buf.data(), buf.size());
            if (n <= 0) break;
            got.insert(got.end(), buf.begin(), buf.begin() + n);
          }
          return got.size() == data.size();
        },
        limit);
  }

  // Closes A's `client`, B's `server` and its `listener`, and runs until neither side
  // holds a connection slot.
  void close_and_drain(TcpConnId client, TcpConnId server, TcpConnId listener) {
    a_.tcp->close(client);
    b_.tcp->close(server);
    b_.tcp->close(listener);
    ASSERT_TRUE(
        run_until([&] { return a_.tcp->slots_in_use() == 0 && b_.tcp->slots_in_use() == 0; }));
  }

  // A fault counter summed over both sides' injectors (both sides impaired).
  std::uint64_t faults_total(FaultCounter k) const {
    return a_.faults->total(k) + b_.faults->total(k);
  }

  VirtualClock clock_;
  rte_mempool* shared_ = nullptr;
  unsigned shared_start_ = 0;
  std::vector<rte_mempool*> extra_pools_;
  std::unique_ptr<RingPair> pair_;
  PairSide a_, b_;
};

}  // namespace shardtcp::testing
