#include "engine/engine.h"

#include <gtest/gtest.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_telemetry.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "../port/eal_fixture.h"
#include "common/counter_registry.h"
#include "common/tsc_clock.h"
#include "engine/engine_launcher.h"
#include "ip/ip_counters.h"
#include "port/ring_pair.h"
#include "tcp/tcb_counters.h"
#include "tcp/tcp_layer_counters.h"
#include "udp/udp_counters.h"

namespace shardtcp {
namespace {

using testing::frame_intact;
using testing::frame_seq;
using testing::make_frame;
using testing::MemoryPort;

// Sends every frame back with source and destination MACs swapped.
class EchoHandler final : public PacketHandler {
 public:
  void on_frames(rte_mbuf** frames, std::uint16_t n, PacketContext& ctx) override {
    for (std::uint16_t i = 0; i < n; ++i) {
      auto* eth = rte_pktmbuf_mtod(frames[i], rte_ether_hdr*);
      std::swap(eth->src_addr, eth->dst_addr);
      ctx.tx->send(frames[i]);
    }
  }
  void on_timers(PacketContext& ctx) override {
    ++timer_calls;
    last_now = ctx.now;
  }
  std::uint64_t timer_calls = 0;
  Instant last_now{};
};

// Sends `to_send` numbered frames on its first timer call, then collects replies.
class PingHandler final : public PacketHandler {
 public:
  explicit PingHandler(std::uint32_t to_send) : to_send_(to_send) {}
  void on_frames(rte_mbuf** frames, std::uint16_t n, PacketContext&) override {
    for (std::uint16_t i = 0; i < n; ++i) {
      if (frame_intact(frames[i])) {
        replies.push_back(frame_seq(frames[i]));
        const auto* eth = rte_pktmbuf_mtod(frames[i], const rte_ether_hdr*);
        swapped_ok = swapped_ok && eth->dst_addr.addr_bytes[5] == 0x01;  // came back to us
      } else {
        ++damaged;
      }
    }
    rte_pktmbuf_free_bulk(frames, n);
  }
  void on_timers(PacketContext& ctx) override {
    if (sent_) return;
    sent_ = true;
    for (std::uint32_t i = 0; i < to_send_; ++i) {
      rte_mbuf* m = make_frame(ctx.pool, i);
      // make_frame writes src ..:01, dst ..:02; the echo swaps them.
      ASSERT_NE(m, nullptr);
      ctx.tx->send(m);
    }
  }
  std::vector<std::uint32_t> replies;
  std::uint32_t damaged = 0;
  bool swapped_ok = true;

 private:
  std::uint32_t to_send_;
  bool sent_ = false;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = testing::test_eal("enginetest");
    ASSERT_NE(pool_, nullptr);
    start_avail_ = rte_mempool_avail_count(pool_);
  }
  void TearDown() override {
    EXPECT_EQ(rte_mempool_avail_count(pool_), start_avail_) << "mbuf leak";
  }
  rte_mempool* pool_ = nullptr;
  unsigned start_avail_ = 0;
};

TEST_F(EngineTest, RingPairEchoThroughTwoEnginesOneOnAWorkerLcore) {
  RingPairOptions o;
  o.name = "rp_engine";
  o.pool = pool_;
  auto pair = RingPair::create(o);
  ASSERT_TRUE(pair.is_ok()) << pair.error();
  TscClock clock;
  constexpr std::uint32_t kFrames = 300;  // more than one burst and one TX buffer flush
  PingHandler ping(kFrames);
  EchoHandler echo;
  EngineConfig ca;
  ca.engine_id = 0;
  EngineConfig cb;
  cb.engine_id = 1;
  Engine a((*pair)->a(), pool_, ping, clock, ca);
  Engine b((*pair)->b(), pool_, echo, clock, cb);
  {
    EngineLauncher launcher;
    Engine* workers[] = {&b};
    Status s = launcher.launch(workers);
    ASSERT_TRUE(s) << s.message();
    ASSERT_EQ(launcher.lcores().size(), 1u);
    // Asking for more engines than free lcores fails cleanly.
    EngineLauncher second;
    EXPECT_FALSE(second.launch(workers));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ping.replies.size() < kFrames && std::chrono::steady_clock::now() < deadline) {
      a.poll_once();
    }
    launcher.stop_and_wait();
  }
  ASSERT_EQ(ping.replies.size(), kFrames);
  for (std::uint32_t i = 0; i < kFrames; ++i) EXPECT_EQ(ping.replies[i], i);  // in order
  EXPECT_EQ(ping.damaged, 0u);
  EXPECT_TRUE(ping.swapped_ok);
  EXPECT_EQ(a.counter(EngineCounter::kTxFrames), kFrames);
  EXPECT_EQ(a.counter(EngineCounter::kRxFrames), kFrames);
  EXPECT_EQ(b.counter(EngineCounter::kRxFrames), kFrames);
  EXPECT_EQ(b.counter(EngineCounter::kTxFrames), kFrames);
  EXPECT_EQ(a.counter(EngineCounter::kTxDropped) + b.counter(EngineCounter::kTxDropped), 0u);
  EXPECT_GT(b.counter(EngineCounter::kIterations), b.counter(EngineCounter::kEmptyPolls));
  EXPECT_GT(echo.timer_calls, 0u);
}

TEST_F(EngineTest, EmbeddingModeInjectPollDrain) {
  VirtualClock clock(Instant{42'000});
  EchoHandler echo;
  EngineConfig c;
  c.tx_buffer_size = 4;
  Engine e(pool_, echo, clock, c);
  EXPECT_TRUE(e.embedded());
  rte_mbuf* in[3];
  for (std::uint32_t i = 0; i < 3; ++i) in[i] = make_frame(pool_, i);
  e.inject(in, 3);
  EXPECT_EQ(e.tx_pending(), 3);
  EXPECT_EQ(e.poll_once(), 0);                // no port: nothing received, timers run
  EXPECT_EQ(echo.last_now, Instant{42'000});  // the application's clock
  clock.advance(std::chrono::milliseconds(1));
  e.poll_once();
  EXPECT_EQ(echo.last_now, Instant{1'042'000});
  EXPECT_EQ(e.tx_pending(), 3);  // still waiting: only the app drains
  rte_mbuf* out[8];
  ASSERT_EQ(e.drain_tx(out, 2), 2);
  EXPECT_EQ(frame_seq(out[0]), 0u);
  EXPECT_EQ(frame_seq(out[1]), 1u);
  EXPECT_EQ(rte_pktmbuf_mtod(out[0], rte_ether_hdr*)->dst_addr.addr_bytes[5], 0x01);  // echoed
  ASSERT_EQ(e.drain_tx(out + 2, 8), 1);
  EXPECT_EQ(frame_seq(out[2]), 2u);
  EXPECT_EQ(e.drain_tx(out, 8), 0);
  rte_pktmbuf_free_bulk(out, 3);
  // Beyond the TX buffer frames are freed and counted.
  rte_mbuf* many[6];
  for (std::uint32_t i = 0; i < 6; ++i) many[i] = make_frame(pool_, 10 + i);
  e.inject(many, 6);
  EXPECT_EQ(e.tx_pending(), 4);
  EXPECT_EQ(e.counter(EngineCounter::kTxDropped), 2u);
  EXPECT_EQ(e.counter(EngineCounter::kRxFrames), 9u);
  EXPECT_EQ(e.counter(EngineCounter::kTxFrames), 3u);
  // Destroying the engine frees what was never drained (TearDown checks the pool).
}

TEST_F(EngineTest, FreesAndCountsWhatTxBurstRefuses) {
  MemoryPort port;
  port.tx_limit = 2;
  VirtualClock clock;
  EchoHandler echo;
  {
    Engine e(port, pool_, echo, clock);
    for (std::uint32_t i = 0; i < 5; ++i) port.inbox.push_back(make_frame(pool_, i));
    EXPECT_EQ(e.poll_once(), 5);
    EXPECT_EQ(port.sent.size(), 2u);
    EXPECT_EQ(e.counter(EngineCounter::kTxFrames), 2u);
    EXPECT_EQ(e.counter(EngineCounter::kTxDropped), 3u);
    EXPECT_EQ(e.tx_pending(), 0);
    EXPECT_EQ(e.poll_once(), 0);
    EXPECT_EQ(e.counter(EngineCounter::kEmptyPolls), 1u);
    EXPECT_EQ(e.counter(EngineCounter::kIterations), 2u);
  }
  port.clear();
}

TEST_F(EngineTest, FullTxBufferFlushesEarlyInPortMode) {
  MemoryPort port;
  VirtualClock clock;
  EchoHandler echo;
  EngineConfig c;
  c.tx_buffer_size = 4;
  c.rx_burst = 10;
  {
    Engine e(port, pool_, echo, clock, c);
    for (std::uint32_t i = 0; i < 10; ++i) port.inbox.push_back(make_frame(pool_, i));
    EXPECT_EQ(e.poll_once(), 10);
    ASSERT_EQ(port.sent.size(), 10u);  // nothing dropped: flushed when full
    for (std::uint32_t i = 0; i < 10; ++i) EXPECT_EQ(frame_seq(port.sent[i]), i);
    EXPECT_EQ(e.counter(EngineCounter::kTxDropped), 0u);
  }
  port.clear();
}

TEST(TscClock, MonotonicAndCalibrated) {
  ASSERT_NE(testing::test_eal("enginetest"), nullptr);
  TscClock clock;
  EXPECT_GT(clock.hz(), 1'000'000u);
  Instant prev = clock.now();
  for (int i = 0; i < 100000; ++i) {
    const Instant t = clock.now();
    ASSERT_GE(t, prev);
    prev = t;
  }
  const Instant before = clock.now();
  const auto wall0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const Instant after = clock.now();
  const auto wall = std::chrono::steady_clock::now() - wall0;
  const auto measured = after - before;
  EXPECT_NEAR(std::chrono::duration<double>(measured).count(),
              std::chrono::duration<double>(wall).count(), 0.005);
}

// Reads one message from the telemetry socket of this process.
std::string telemetry_query(const std::string& command) {
  const std::string path = std::string(rte_eal_get_runtime_dir()) + "/dpdk_telemetry.v2";
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  if (fd < 0) return "socket failed";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "connect to " + path + " failed";
  }
  std::string buf(16384, '\0');
  ssize_t n = read(fd, buf.data(), buf.size());  // greeting
  if (n <= 0) {
    close(fd);
    return "no greeting";
  }
  if (write(fd, command.data(), command.size()) != static_cast<ssize_t>(command.size())) {
    close(fd);
    return "write failed";
  }
  n = read(fd, buf.data(), buf.size());
  close(fd);
  return n > 0 ? buf.substr(0, static_cast<std::size_t>(n)) : "no reply";
}

TEST_F(EngineTest, CounterRegistrySumsByNameAndExportsTelemetry) {
  MemoryPort p1, p2;
  VirtualClock clock;
  EchoHandler echo;
  Engine e1(p1, pool_, echo, clock);
  Engine e2(p2, pool_, echo, clock);
  for (int i = 0; i < 3; ++i) e1.poll_once();
  for (int i = 0; i < 4; ++i) e2.poll_once();
  CounterRegistry reg;
  reg.add(e1.counters());
  reg.add(e2.counters());
  reg.add(e2.counters());  // adding twice counts once
  auto snap = reg.snapshot();
  EXPECT_EQ(snap.at("engine.iterations"), 7u);
  EXPECT_EQ(snap.at("engine.empty_polls"), 7u);
  EXPECT_EQ(snap.at("engine.rx_frames"), 0u);
  EXPECT_EQ(snap.size(), static_cast<std::size_t>(EngineCounter::kCount));
  const std::string text = reg.dump();
  EXPECT_NE(text.find("engine.iterations 7\n"), std::string::npos) << text;

  // The handler itself fills a dict (called directly, as telemetry would).
  rte_tel_data* d = rte_tel_data_alloc();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(reg.fill_telemetry(d, "engine"), 0);
  EXPECT_EQ(reg.fill_telemetry(d, "no_such_group"), -ENOENT);
  rte_tel_data_free(d);

  ASSERT_TRUE(reg.export_telemetry());
  d = rte_tel_data_alloc();
  EXPECT_EQ(CounterRegistry::telemetry_handler("/shardtcp/engine", nullptr, d), 0);
  rte_tel_data_free(d);
  // And through DPDK's telemetry socket, as dpdk-telemetry.py would see it: the index,
  // the group's own command, and the index with the group as parameter.
  const std::string index = telemetry_query("/shardtcp/counters");
  EXPECT_NE(index.find("\"engine\":\"/shardtcp/engine\""), std::string::npos) << index;
  for (const std::string cmd : {"/shardtcp/engine", "/shardtcp/counters,engine"}) {
    const std::string reply = telemetry_query(cmd);
    EXPECT_NE(reply.find("\"iterations\":7"), std::string::npos) << reply;
    EXPECT_NE(reply.find("\"empty_polls\":7"), std::string::npos) << reply;
  }
  reg.remove(e1.counters());
  EXPECT_EQ(reg.snapshot().at("engine.iterations"), 4u);
  e2.poll_once();
  EXPECT_NE(telemetry_query("/shardtcp/engine").find("\"iterations\":5"), std::string::npos);
}

// Every layer's counters are readable through telemetry, each group by its own
// command: none is cut at DPDK's dict limit (the stack's total is above it, 262).
TEST_F(EngineTest, EveryCounterGroupOfTheStackFitsItsTelemetryReply) {
  const std::vector<CounterGroup> groups = {
      CounterGroup("eth", kEthCounterNames),
      CounterGroup("arp", kArpCounterNames),
      CounterGroup("ipv4", kIpv4CounterNames),
      CounterGroup("icmp", kIcmpCounterNames),
      CounterGroup("ipv6", kIpv6CounterNames),
      CounterGroup("icmp6", kIcmpCounterNames),
      make_tcp_counters(),
      CounterGroup("tcp_layer", kTcpLayerCounterNames),
      CounterGroup("tcp_slots", kTcpSlotGaugeNames),
      CounterGroup("udp", kUdpCounterNames),
  };
  CounterRegistry reg;
  std::size_t total = 0;
  for (const CounterGroup& g : groups) {
    reg.add(g);
    total += g.size();
  }
  // With the engine, steering and fault groups the stack has more than one reply
  // holds; these alone come close.
  EXPECT_GT(total, static_cast<std::size_t>(RTE_TEL_MAX_DICT_ENTRIES) * 3 / 4);
  ASSERT_TRUE(reg.export_telemetry());
  for (const CounterGroup& g : groups) {
    EXPECT_LE(g.size(), static_cast<std::size_t>(RTE_TEL_MAX_DICT_ENTRIES));
    const std::string reply = telemetry_query("/shardtcp/" + std::string(g.group()));
    // The first and the last counter of the group are there.
    for (std::size_t i : {std::size_t{0}, g.size() - 1}) {
      EXPECT_NE(reply.find("\"" + std::string(g.name(i)) + "\":0"), std::string::npos)
          << g.group() << ": " << reply.substr(0, 300);
    }
  }
}

}  // namespace
}  // namespace shardtcp
