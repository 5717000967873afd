// The stack under attack and at its limits, with Linux as both attacker and legitimate
// client: the stack's echo server on a TAP in a private namespace, the kernel side
// running test/hostile/hostile_peer.py (raw-socket SYN and ACK floods from spoofed
// 198.18.64.0/18 sources, malformed frames on the link, many clients at once, a bulk
// echo). Each case takes a few seconds. Needs root; skips outside CI without it.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "../interop/interop_env.h"
#include "echo_tcp.h"

namespace shardtcp::testing {
namespace {

using namespace std::chrono_literals;

// Connection slots of the stack under test: small, so the slot-exhaustion case needs
// hundreds of clients, not thousands.
constexpr std::uint32_t kSlots = 512;

InteropEnv* hostile_env(std::string* why) {
  return interop_env("hostile", why, false, [](StackConfig& c) { c.tcp.max_connections = kSlots; });
}

#define HOSTILE_ENV(var)                                                                       \
  std::string why_##var;                                                                       \
  InteropEnv* var = hostile_env(&why_##var);                                                   \
  if (var == nullptr) {                                                                        \
    if (running_in_ci()) FAIL() << "hostile set-up failed: " << why_##var;                     \
    GTEST_SKIP() << "hostile test skipped (needs root and network namespaces): " << why_##var; \
  }

std::string peer(InteropEnv& env, const std::string& what, const std::string& args) {
  return "python3 " SHARDTCP_HOSTILE_DIR "/hostile_peer.py " + what + " --dst " +
         env.stack_addr.to_string() + " " + args;
}

// The number after "key=" in a result line; -1 when absent.
double field(const std::string& out, const std::string& key) {
  const std::size_t at = out.find(" " + key + "=");
  if (at == std::string::npos) return -1;
  return std::atof(out.c_str() + at + key.size() + 2);
}

std::uint64_t counter(InteropEnv& env, const std::string& name) {
  return env.stack->counters().snapshot()[name];
}

// Runs the commands to the end while polling the stack; their outputs.
std::vector<std::string> run_all(InteropEnv& env, const std::vector<std::string>& cmds,
                                 std::chrono::milliseconds timeout) {
  std::vector<std::unique_ptr<BackgroundCommand>> running;
  for (const std::string& c : cmds) running.push_back(std::make_unique<BackgroundCommand>(c));
  const bool done = env.poll_until(
      [&] {
        for (auto& r : running)
          if (!r->finished()) return false;
        return true;
      },
      timeout);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < running.size(); ++i) {
    out.push_back(running[i]->output());
    std::printf("%s", out.back().c_str());
    EXPECT_TRUE(done) << "still running: " << cmds[i];
    if (done) {
      EXPECT_EQ(running[i]->exit_status(), 0) << cmds[i] << "\n" << out.back();
    }
  }
  return out;
}

// `count` connects at 50/s, each echoing 4 bytes within a 3 s timeout: all work.
void expect_quick_connects(InteropEnv& env, int port, int count) {
  const auto out = run_all(env,
                           {peer(env, "connects",
                                 "--port " + std::to_string(port) + " --count " +
                                     std::to_string(count) + " --rate 50 --timeout 3")},
                           std::chrono::seconds(30));
  EXPECT_EQ(field(out[0], "ok"), count) << out[0];
}

echo::TcpEchoServerConfig server_on(std::uint16_t port, std::uint32_t backlog) {
  echo::TcpEchoServerConfig c;
  c.port = port;
  c.backlog = backlog;
  return c;
}

// A spoofed SYN flood at the rate the kernel can push through the TAP while a
// legitimate client connects 25 times a second: at least 99% of its connects work (the
// echo comes back), against a backlog of 16 (the C example's), and the listener
// serves normally the moment the flood stops.
TEST(Hostile, SynFloodWithLegitimateClients) {
  HOSTILE_ENV(env);
  echo::TcpEchoServer server(*env->stack, server_on(7001, 16));
  ASSERT_EQ(server.start(), 0);
  const std::uint64_t cookies0 = counter(*env, "tcp_layer.cookies_sent");
  const auto out =
      run_all(*env,
              {peer(*env, "synflood", "--port 7001 --seconds 4.5"),
               peer(*env, "connects", "--port 7001 --count 100 --rate 25 --timeout 3")},
              60s);
  EXPECT_GT(field(out[0], "sent"), 10000);
  EXPECT_GE(field(out[1], "ok"), 99) << out[1];
  EXPECT_GT(counter(*env, "tcp_layer.cookies_sent"), cookies0 + 1000);
  EXPECT_LE(env->stack->engine_tcp(0).half_open(), 16u);
  // Right after: every connect works.
  expect_quick_connects(*env, 7001, 10);
  std::printf("cookies sent %llu, validated %llu, listen overflows %llu\n",
              (unsigned long long)counter(*env, "tcp_layer.cookies_sent"),
              (unsigned long long)counter(*env, "tcp_layer.cookies_validated"),
              (unsigned long long)counter(*env, "tcp_layer.listen_overflows"));
}

// 256 spoofed SYNs at once against a backlog-16 listener: legitimate connects right
// after all work (the half-open ones no longer shut the listener for their timeout).
TEST(Hostile, SynBurstAgainstABacklogOf16) {
  HOSTILE_ENV(env);
  echo::TcpEchoServer server(*env->stack, server_on(7002, 16));
  ASSERT_EQ(server.start(), 0);
  run_all(*env, {peer(*env, "synflood", "--port 7002 --burst 256 --seed 2")}, 30s);
  expect_quick_connects(*env, 7002, 10);
}

// Malformed frames for 2 s: no crash, each defect counted where it is found, and
// connects work afterwards.
TEST(Hostile, MalformedFramesAreCountedAndConnectsStillWork) {
  HOSTILE_ENV(env);
  echo::TcpEchoServer server(*env->stack, server_on(7003, 16));
  ASSERT_EQ(server.start(), 0);
  const auto snap0 = env->stack->counters().snapshot();
  const auto junk =
      run_all(*env, {peer(*env, "junk", "--port 7003 --seconds 2 --iface " + env->tap)}, 30s);
  EXPECT_GT(field(junk[0], "sent"), 900);
  auto snap = env->stack->counters().snapshot();
  for (const char* c :
       {"ipv4.rx_truncated", "ipv4.rx_bad_checksum", "ipv4.rx_bad_ihl", "ipv4.rx_bad_length",
        "ipv4.rx_fragments", "tcp_layer.rx_bad_data_offset", "tcp_layer.rx_bad_options"}) {
    EXPECT_GT(snap[c], snap0.at(c)) << c << " did not count its defect";
  }
  // A bad TCP checksum is found by the device (the TAP checks it) or by software.
  EXPECT_GT(snap["tcp_layer.rx_bad_checksum"] + snap["tcp_layer.rx_bad_checksum_hw"],
            snap0.at("tcp_layer.rx_bad_checksum") + snap0.at("tcp_layer.rx_bad_checksum_hw"));
  expect_quick_connects(*env, 7003, 5);
}

// More clients at once than the stack has connection slots: each client either works
// or hears that it does not (refused at connect, reset at its first bytes); none holds
// a connection that silently goes nowhere. After they close, no connection is left
// behind and new clients get in.
TEST(Hostile, AFullSlotTableRefusesVisiblyAndLeavesNothingBehind) {
  HOSTILE_ENV(env);
  echo::TcpEchoServer server(*env->stack, server_on(7004, 128));
  ASSERT_EQ(server.start(), 0);
  const auto out =
      run_all(*env, {peer(*env, "hold", "--port 7004 --count 600 --hold 1 --timeout 8")}, 60s);
  EXPECT_EQ(field(out[0], "silent"), 0) << out[0];
  EXPECT_GE(field(out[0], "refused"), 600 - kSlots + 1) << out[0];
  EXPECT_GE(field(out[0], "working"), 300) << out[0];
  EXPECT_GT(
      counter(*env, "tcp_layer.syn_refused_no_slot") + counter(*env, "tcp_layer.cookies_refused"),
      0u);
  EXPECT_EQ(counter(*env, "tcp_slots.capacity"), kSlots);
  // The clients closed: the server's side of every connection goes too.
  EXPECT_TRUE(env->poll_until([&] { return server.active() == 0; }, 10s))
      << server.active() << " connections left";
  expect_quick_connects(*env, 7004, 5);
}

// A bulk echo while spoofed ACKs and UDP to closed ports flood the stack: the stream
// stays byte-exact and finishes; RSTs answering the ACKs are rate-limited, and those
// to spoofed on-link sources hold at most half the ARP table with pending
// resolutions (the peer's entry is never pushed out: that stalled the stream).
TEST(Hostile, AckAndUdpFloodDuringABulkEcho) {
  HOSTILE_ENV(env);
  echo::TcpEchoServer server(*env->stack, server_on(7005, 16));
  ASSERT_EQ(server.start(), 0);
  const std::uint64_t limited0 = counter(*env, "tcp_layer.rst_rate_limited");
  const auto out =
      run_all(*env,
              {peer(*env, "bulk", "--port 7005 --bytes 60000000 --delay 0.5 --timeout 60"),
               peer(*env, "ackflood", "--seconds 5")},
              90s);
  EXPECT_EQ(field(out[0], "received"), 60000000) << out[0];
  EXPECT_EQ(field(out[0], "mismatches"), 0) << out[0];
  EXPECT_GT(field(out[1], "acks"), 1000) << out[1];
  EXPECT_GT(counter(*env, "tcp_layer.rst_rate_limited"), limited0);
  EXPECT_GT(counter(*env, "arp.incomplete_limit"), 0u);
}

}  // namespace
}  // namespace shardtcp::testing
