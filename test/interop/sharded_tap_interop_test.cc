// A 2-engine stack on a 2-queue TAP in a private namespace, Linux as the peer. The
// kernel picks the TAP queue for each frame by its own flow hash, not ours, so this
// is software steering against a real peer: 1 000 connections opened by Linux to a
// listener on every engine, and 1 000 opened by the stack's engines (500 each, ports
// each engine owns) to a Linux echo server, all echoing byte-exact; every callback
// checks that its engine owns the connection's tuple.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "netns.h"
#include "port/eal.h"
#include "shardtcp/stack.h"

namespace shardtcp {
namespace {

using namespace std::chrono_literals;
using testing::BackgroundCommand;

constexpr std::uint16_t kEngines = 2;
const IpAddr kKernel = IpAddr::v4(0xC6120001);  // 198.18.0.1
const IpAddr kStack = IpAddr::v4(0xC6120002);   // 198.18.0.2

std::uint8_t pattern(std::uint32_t i, std::uint32_t k) {
  return static_cast<std::uint8_t>(i * 131 + k * 7 + (k >> 8));
}
std::uint32_t length(std::uint32_t i) {
  return 100 + (i * 37) % 1900;
}

std::string peer() {
  return std::string("python3 ") + SHARDTCP_INTEROP_DIR "/sharded_echo_peer.py";
}

struct Env;
struct Ref {
  Env* env;
  std::uint16_t engine;
};
struct ClientConn {
  std::uint32_t index = 0, got = 0;
  bool active = false;
};

struct Env {
  std::unique_ptr<Stack> stack;
  Ref refs[kEngines];
  std::uint64_t owner_checks = 0, owner_mismatches = 0, failures = 0;
  std::uint32_t accepted[kEngines] = {}, opened[kEngines] = {};
  std::uint32_t verified = 0, in_flight = 0, started = 0;
  std::vector<std::vector<ClientConn>> clients;
  std::string first_failure;

  void fail(const std::string& s) {
    if (failures++ == 0) first_failure = s;
  }
  void check_owner(std::uint16_t e, TcpConnId id) {
    Endpoint l, r;
    if (stack->engine_tcp(e).local_endpoint(id, &l) != 0 ||
        stack->engine_tcp(e).remote_endpoint(id, &r) != 0)
      return;
    ++owner_checks;
    if (stack->owner(TcpTuple{l, r}) != e) ++owner_mismatches;
  }
  void poll_for(std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) stack->poll_once();
  }
};

void server_cb(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t) {
  auto* ref = static_cast<Ref*>(user);
  Env& env = *ref->env;
  TcpLayer& tcp = env.stack->engine_tcp(ref->engine);
  switch (ev) {
    case TcpSocketEvent::kAcceptable:
      for (;;) {
        const TcpConnId c = tcp.accept(id);
        if (!c.valid()) break;
        ++env.accepted[ref->engine];
        env.check_owner(ref->engine, c);
      }
      break;
    case TcpSocketEvent::kReadable: {
      env.check_owner(ref->engine, id);
      char buf[4096];
      for (;;) {
        const long n = tcp.recv(id, buf, sizeof buf);
        if (n <= 0) break;
        if (tcp.send(id, buf, static_cast<std::size_t>(n)) != n) env.fail("echo send short");
      }
      break;
    }
    case TcpSocketEvent::kPeerFin:
      tcp.close(id);
      break;
    case TcpSocketEvent::kError:
      tcp.close(id);
      break;
    default:
      break;
  }
}

void client_cb(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value) {
  auto* ref = static_cast<Ref*>(user);
  Env& env = *ref->env;
  TcpLayer& tcp = env.stack->engine_tcp(ref->engine);
  ClientConn& c = env.clients[ref->engine][id.slot()];
  switch (ev) {
    case TcpSocketEvent::kConnected: {
      env.check_owner(ref->engine, id);
      std::vector<std::uint8_t> p(length(c.index));
      for (std::uint32_t k = 0; k < p.size(); ++k) p[k] = pattern(c.index, k);
      if (tcp.send(id, p.data(), p.size()) != static_cast<long>(p.size())) env.fail("send short");
      break;
    }
    case TcpSocketEvent::kReadable: {
      env.check_owner(ref->engine, id);
      std::uint8_t buf[4096];
      for (;;) {
        const long n = tcp.recv(id, buf, sizeof buf);
        if (n <= 0) break;
        for (long k = 0; k < n; ++k) {
          if (c.got >= length(c.index) || buf[k] != pattern(c.index, c.got)) {
            env.fail("echo differs in connection " + std::to_string(c.index));
            break;
          }
          ++c.got;
        }
      }
      if (c.active && c.got == length(c.index)) {
        c.active = false;
        --env.in_flight;
        ++env.verified;
        tcp.close(id);
      }
      break;
    }
    case TcpSocketEvent::kError:
      env.fail("connection " + std::to_string(c.index) + ": error " + std::to_string(value));
      if (c.active) {
        c.active = false;
        --env.in_flight;
      }
      tcp.close(id);
      break;
    default:
      break;
  }
}

Env* env_or_skip(std::string* why) {
  static std::unique_ptr<Env> env;
  static std::string reason;
  static bool tried = false;
  if (tried) {
    *why = reason;
    return env.get();
  }
  tried = true;
  if (std::string r = testing::enter_private_netns(); !r.empty()) {
    *why = reason = r;
    return nullptr;
  }
  const std::string tap = "stshard0";
  TestEalOptions eo;
  eo.file_prefix = "interop_sharded" + std::to_string(getpid());
  eo.vdevs = {"net_tap0,iface=" + tap};
  if (Status s = eal_init_for_tests(eo); !s) {
    *why = reason = s.message();
    return nullptr;
  }
  auto e = std::make_unique<Env>();
  StackConfig sc;
  sc.device = "net_tap0";
  sc.engines = kEngines;  // two queue pairs: a multi-queue TAP
  sc.options.addresses.push_back({kStack, 24});
  sc.tcp.max_connections = 4096;
  auto st = Stack::create(sc);
  if (!st) {
    *why = reason = st.error();
    return nullptr;
  }
  e->stack = std::move(*st);
  const std::string k = "ip link set " + tap + " address 02:4b:45:52:4e:01 && ip addr add " +
                        kKernel.to_string() + "/24 dev " + tap + " && ip link set " + tap + " up";
  if (testing::run_command(k) != 0) {
    *why = reason = "could not configure the kernel side: " + k;
    return nullptr;
  }
  for (std::uint16_t i = 0; i < kEngines; ++i) e->refs[i] = Ref{e.get(), i};
  e->clients.assign(kEngines, std::vector<ClientConn>(4096));
  e->poll_for(200ms);
  env = std::move(e);
  return env.get();
}

#define SHARDED_ENV(var)                                                       \
  std::string why_;                                                            \
  Env* var = env_or_skip(&why_);                                               \
  if (var == nullptr) {                                                        \
    if (testing::running_in_ci()) FAIL() << "interop set-up failed: " << why_; \
    GTEST_SKIP() << "interop test skipped: " << why_;                          \
  }

void print_steering(Env& env, const char* what) {
  for (std::uint16_t e = 0; e < kEngines; ++e) {
    const SteeringHandler* s = env.stack->steering(e);
    std::printf(
        "%s: engine %u accepted %u opened %u rx_frames %llu steered_out %llu "
        "steered_in %llu drops %llu\n",
        what, e, env.accepted[e], env.opened[e],
        static_cast<unsigned long long>(env.stack->engine(e).counter(EngineCounter::kRxFrames)),
        static_cast<unsigned long long>(s->counter(SteeringCounter::kSteeredOut)),
        static_cast<unsigned long long>(s->counter(SteeringCounter::kSteeredIn)),
        static_cast<unsigned long long>(s->counter(SteeringCounter::kSteerDrops)));
  }
}

TEST(ShardedTapInterop, ThousandKernelInitiatedConnectionsEchoOnTheirOwners) {
  SHARDED_ENV(env);
  EXPECT_EQ(env->stack->port_info().nb_queues, kEngines);
  EXPECT_FALSE(env->stack->port_info().rss_active);  // TAP: key not settable
  // One callback per engine: each knows which engine's TcpLayer calls it.
  auto listeners = env->stack->listen_all(
      Endpoint{IpAddr{}, 7}, 1024,
      {TcpCallback{&server_cb, &env->refs[0]}, TcpCallback{&server_cb, &env->refs[1]}});
  ASSERT_TRUE(listeners.is_ok()) << listeners.error();
  BackgroundCommand client(peer() + " client --host " + kStack.to_string() +
                           " --port 7 --conns 1000 --parallel 20");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!client.finished() && std::chrono::steady_clock::now() < deadline) env->stack->poll_once();
  env->poll_for(300ms);
  ASSERT_TRUE(client.finished()) << client.output();
  EXPECT_EQ(client.exit_status(), 0) << client.output();
  EXPECT_NE(client.output().find("ok 1000"), std::string::npos) << client.output();
  EXPECT_EQ(env->accepted[0] + env->accepted[1], 1000u);
  EXPECT_GT(env->accepted[0], 0u);
  EXPECT_GT(env->accepted[1], 0u);
  EXPECT_EQ(env->owner_mismatches, 0u) << "of " << env->owner_checks;
  EXPECT_GE(env->owner_checks, 2000u);
  EXPECT_EQ(env->failures, 0u) << env->first_failure;
  for (std::uint16_t e = 0; e < kEngines; ++e) {
    EXPECT_EQ(env->stack->engine_tcp(e).segments_not_owned(), 0u);
    EXPECT_EQ(env->stack->steering(e)->counter(SteeringCounter::kSteerDrops), 0u);
  }
  print_steering(*env, "kernel-initiated");
  env->stack->close_all(*listeners);
  env->poll_for(100ms);
}

TEST(ShardedTapInterop, ThousandStackInitiatedConnectionsEchoOnTheirOwners) {
  SHARDED_ENV(env);
  BackgroundCommand server(peer() + " server --port 9 --timeout 60");
  const auto ready = std::chrono::steady_clock::now() + 10s;
  while (server.output().find("listening") == std::string::npos &&
         std::chrono::steady_clock::now() < ready)
    env->stack->poll_once();
  ASSERT_NE(server.output().find("listening"), std::string::npos) << server.output();
  const std::uint32_t before = env->verified;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (env->verified - before + env->failures < 1000 &&
         std::chrono::steady_clock::now() < deadline) {
    while (env->in_flight < 50 && env->started < 1000) {
      const std::uint32_t index = env->started++;
      const auto e = static_cast<std::uint16_t>(index % kEngines);
      int err = 0;
      const TcpConnId id = env->stack->engine_tcp(e).connect(
          Endpoint{kKernel, 9}, TcpCallback{&client_cb, &env->refs[e]}, &err);
      if (!id.valid()) {
        env->fail("connect: " + std::to_string(err));
        continue;
      }
      env->clients[e][id.slot()] = ClientConn{index, 0, true};
      ++env->in_flight;
      ++env->opened[e];
    }
    env->stack->poll_once();
  }
  env->poll_for(300ms);
  EXPECT_EQ(env->verified - before, 1000u);
  EXPECT_EQ(env->failures, 0u) << env->first_failure;
  EXPECT_EQ(env->opened[0], 500u);
  EXPECT_EQ(env->opened[1], 500u);
  EXPECT_EQ(env->owner_mismatches, 0u) << "of " << env->owner_checks;
  for (std::uint16_t e = 0; e < kEngines; ++e) {
    EXPECT_EQ(env->stack->engine_tcp(e).segments_not_owned(), 0u);
    EXPECT_EQ(env->stack->steering(e)->counter(SteeringCounter::kSteerDrops), 0u);
  }
  print_steering(*env, "stack-initiated");
}

}  // namespace
}  // namespace shardtcp
