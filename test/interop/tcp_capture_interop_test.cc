// Kernel interop, TCP, with the pcapng capture on: short runs (a 1 MiB echo each way
// and a connect to a closed port) whose capture tshark then decodes: no malformed
// segment and no bad IP/TCP checksum (the stack checksums in software while it
// captures, since the capture sees frames before a device could fill checksums in),
// the SYN options both ways, and the kernel's RST.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "echo_tcp.h"
#include "tcp_echo_env.h"

using namespace std::chrono_literals;
using shardtcp::testing::BackgroundCommand;
using shardtcp::testing::command_output;

namespace {

constexpr std::uint64_t kBytes = 1 << 20;

std::size_t count_lines(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(TcpCaptureInterop, CapturingStackChecksumsInSoftware) {
  SHARDTCP_ECHO_ENV(env, "tcpcap", true);
  ASSERT_NE(env->stack->capture(), nullptr);
  EXPECT_FALSE(env->stack->port_info().tx_l4_cksum);
  EXPECT_FALSE(env->stack->engine_tcp(0).emitter().config().tx_cksum_offload);
  EXPECT_FALSE(env->stack->port_info().tx_tso);  // recorded frames are wire frames
}

TEST(TcpCaptureInterop, KernelClientEchoes1MiBThroughStack) {
  SHARDTCP_ECHO_ENV(env, "tcpcap", true);
  shardtcp::echo::TcpEchoServerConfig cfg;
  cfg.port = 6001;
  shardtcp::echo::TcpEchoServer server(*env->stack, cfg);
  ASSERT_EQ(server.start(), 0);
  BackgroundCommand client(shardtcp::testing::echo_peer_command("tcp_echo_peer.py") +
                           " client --host " + env->stack_addr.to_string() +
                           " --port 6001 --timeout 30 --bytes " + std::to_string(kBytes));
  ASSERT_TRUE(env->poll_while_running(client, 60s));
  EXPECT_EQ(client.exit_status(), 0) << client.output();
  EXPECT_NE(client.output().find("all verified"), std::string::npos) << client.output();
  env->poll_until([&] { return server.active() == 0; }, 2s);
  EXPECT_EQ(server.completed(), 1u);
  EXPECT_EQ(server.bytes_echoed(), kBytes);
}

TEST(TcpCaptureInterop, StackClientEchoes1MiBThroughKernel) {
  SHARDTCP_ECHO_ENV(env, "tcpcap", true);
  BackgroundCommand peer(shardtcp::testing::echo_peer_command("tcp_echo_peer.py") +
                         " server --port 6002 --timeout 30");
  ASSERT_TRUE(shardtcp::testing::poll_until_output(*env, peer, "listening", 10s));
  shardtcp::echo::TcpEchoClientConfig cfg;
  cfg.server = {env->kernel_addr, 6002};
  cfg.bytes = kBytes;
  shardtcp::echo::TcpEchoClient client(*env->stack, cfg);
  ASSERT_EQ(client.start(), 0);
  ASSERT_TRUE(env->poll_until([&] { return client.finished(); }, 30s));
  EXPECT_FALSE(client.failed()) << client.error();
  EXPECT_EQ(client.bytes_verified(), kBytes);
  env->poll_until([&] { return env->stack->engine_tcp(0).connections() == 0; }, 2s);
}

TEST(TcpCaptureInterop, ConnectToClosedKernelPortGetsRst) {
  SHARDTCP_ECHO_ENV(env, "tcpcap", true);
  shardtcp::echo::TcpEchoClientConfig cfg;
  cfg.server = {env->kernel_addr, 6009};
  shardtcp::echo::TcpEchoClient client(*env->stack, cfg);
  ASSERT_EQ(client.start(), 0);
  ASSERT_TRUE(env->poll_until([&] { return client.finished(); }, 5s));
  EXPECT_TRUE(client.failed());
  EXPECT_NE(client.error().find(std::strerror(ECONNREFUSED)), std::string::npos) << client.error();
}

// Runs last (declaration order): closes the capture and decodes it.
TEST(TcpCaptureInterop, CaptureDecodesCleanly) {
  SHARDTCP_ECHO_ENV(env, "tcpcap", true);
  const std::string path = env->pcap_path;
  const std::string kernel_zero =
      shardtcp::testing::kernel_mangled_zero_checksum(env->kernel_addr.to_string());
  shardtcp::testing::close_interop_env();  // `env` is gone
  const std::string tshark = "tshark -r " + path +
                             " -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE"
                             " -o udp.check_checksum:TRUE ";
  const std::size_t tcp_frames = count_lines(command_output(tshark + "-Y tcp 2>/dev/null"));
  EXPECT_GE(tcp_frames, 2 * kBytes / 1448) << "capture too small";
  std::printf("capture: %zu TCP frames\n", tcp_frames);
  const std::string bad = command_output(
      tshark +
      "-Y '(_ws.malformed || _ws.expert.severity >= \"Error\" || ip.checksum.status == \"Bad\""
      " || tcp.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\") && !" +
      kernel_zero + "' 2>/dev/null");
  EXPECT_TRUE(bad.empty()) << "bad frames:\n" << bad;
  // Checksums were really checked (not "unverified"): every TCP frame's is good.
  const std::size_t good = count_lines(command_output(
      tshark + "-Y 'tcp.checksum.status == \"Good\" || " + kernel_zero + "' 2>/dev/null"));
  EXPECT_EQ(good, tcp_frames);
  // The stack's SYN and SYN-ACK offer window scaling, SACK and timestamps.
  const std::string syn_filter =
      "-Y 'ip.src == 198.18.0.2 && tcp.flags.syn == 1 && tcp.option_kind == 3 && "
      "tcp.option_kind == 4 && tcp.option_kind == 8' 2>/dev/null";
  EXPECT_GE(count_lines(command_output(tshark + syn_filter)), 2u);
  // The kernel answered the SYN to the closed port with RST.
  const std::string rst = command_output(
      tshark +
      "-Y 'ip.src == 198.18.0.1 && tcp.srcport == 6009 && tcp.flags.reset == 1' 2>/dev/null");
  EXPECT_EQ(count_lines(rst), 1u) << rst;
  std::remove(path.c_str());
}

}  // namespace
