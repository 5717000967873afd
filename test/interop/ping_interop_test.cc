// Kernel interop, L2/L3: Linux in a private namespace resolves the stack with ARP and
// pings it; the stack pings Linux; tshark decodes the capture of the whole run and
// finds no malformed frame and no bad checksum.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "interop_env.h"
#include "port/pcapng_capture_port.h"

using namespace std::chrono_literals;
using shardtcp::testing::BackgroundCommand;
using shardtcp::testing::command_output;

namespace {

TEST(PingInterop, KernelPingsStackWithoutLoss) {
  SHARDTCP_INTEROP_ENV(env, "ping");
  BackgroundCommand ping("ping -n -c 20 -i 0.05 -W 2 " + env->stack_addr.to_string());
  ASSERT_TRUE(ping.started());
  ASSERT_TRUE(env->poll_while_running(ping, 30s)) << "ping did not finish";
  const std::string out = ping.output();
  EXPECT_EQ(ping.exit_status(), 0) << out;
  EXPECT_NE(out.find("20 packets transmitted, 20 received, 0% packet loss"), std::string::npos)
      << out;
  auto snap = env->stack->counters().snapshot();
  EXPECT_EQ(snap["icmp.rx_echo_requests"], 20u);
  EXPECT_EQ(snap["icmp.tx_echo_replies"], 20u);
}

TEST(PingInterop, KernelResolvedStackWithArp) {
  SHARDTCP_INTEROP_ENV(env, "ping");
  const std::string neigh =
      command_output("ip neigh show " + env->stack_addr.to_string() + " dev " + env->tap);
  char mac[18];
  const auto& m = env->stack->ip().mac().addr_bytes;
  std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  EXPECT_NE(neigh.find(mac), std::string::npos) << "kernel neighbour table: " << neigh;
  auto snap = env->stack->counters().snapshot();
  EXPECT_GE(snap["arp.tx_replies"], 1u);
}

TEST(PingInterop, StackPingsKernel) {
  SHARDTCP_INTEROP_ENV(env, "ping");
  unsigned replies = 0;
  bool rtt_ok = true;
  std::chrono::nanoseconds max_rtt{0};
  env->stack->ip().set_ping_handler([&](const shardtcp::PingReply& r) {
    if (r.from == env->kernel_addr && r.ident == 0x7777) ++replies;
    rtt_ok = rtt_ok && r.has_rtt && r.rtt > 0ns && r.rtt < 1s;
    max_rtt = std::max(max_rtt, r.rtt);
  });
  for (unsigned seq = 1; seq <= 20; ++seq) {
    shardtcp::PacketContext ctx = env->stack->context();
    auto res =
        env->stack->ip().ping(env->kernel_addr, 0x7777, static_cast<std::uint16_t>(seq), 56, ctx);
    EXPECT_TRUE(res == shardtcp::OutputResult::kSent ||
                res == shardtcp::OutputResult::kQueuedForResolution);
    env->poll_until([&] { return replies >= seq; }, 20ms);
  }
  env->poll_until([&] { return replies >= 20; }, 2s);
  EXPECT_EQ(replies, 20u);
  EXPECT_TRUE(rtt_ok);
  std::printf("stack -> kernel: %u replies, max rtt %.1f us\n", replies, max_rtt.count() / 1e3);
  env->stack->ip().set_ping_handler(nullptr);
}

// Runs last (gtest keeps declaration order within a file): closes the capture.
TEST(PingInterop, CaptureDecodesCleanly) {
  SHARDTCP_INTEROP_ENV(env, "ping");
  const std::string path = env->pcap_path;
  shardtcp::testing::close_interop_env();
  const std::string count = command_output("tshark -r " + path + " 2>/dev/null | wc -l");
  EXPECT_GE(std::stoi(count), 80) << "capture too small: " << count;
  const std::string bad = command_output(
      "tshark -r " + path +
      " -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE"
      " -Y '_ws.malformed || _ws.expert.severity >= \"Error\" || ip.checksum.status == \"Bad\""
      " || icmp.checksum.status == \"Bad\"' 2>/dev/null");
  EXPECT_TRUE(bad.empty()) << "bad frames:\n" << bad;
  std::remove(path.c_str());
}

}  // namespace
