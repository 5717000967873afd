// Kernel interop, UDP echo both ways with the capture on: a kernel client (python
// sockets) has 2000 datagrams echoed by the stack's UDP echo server, intact; the
// stack's UDP echo client has 2 x 1 MiB echoed by a kernel UDP echo server and
// verifies every byte; an echo request to a closed kernel port surfaces the kernel's
// ICMP port-unreachable as ECONNREFUSED; tshark finds no malformed datagram and no
// bad checksum in the capture.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "echo_udp.h"
#include "tcp_echo_env.h"

using namespace std::chrono_literals;
using shardtcp::testing::BackgroundCommand;
using shardtcp::testing::command_output;

namespace {

std::size_t count_lines(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(UdpEchoInterop, KernelClientThroughStackEchoServer) {
  SHARDTCP_ECHO_ENV(env, "udpecho", true);
  shardtcp::echo::UdpEchoServer server(env->stack->engine_udp(0), 6101);
  ASSERT_EQ(server.start(), 0);
  BackgroundCommand client(shardtcp::testing::echo_peer_command("udp_echo_peer.py") +
                           " client --host " + env->stack_addr.to_string() +
                           " --port 6101 --count 2000 --size 1200 --timeout 30");
  ASSERT_TRUE(env->poll_while_running(client, 60s));
  std::printf("%s", client.output().c_str());
  EXPECT_EQ(client.exit_status(), 0) << client.output();
  EXPECT_NE(client.output().find("2000 of 2000 datagrams"), std::string::npos) << client.output();
  // Resent datagrams are echoed again: at least one echo per datagram.
  EXPECT_GE(server.datagrams(), 2000u);
  EXPECT_EQ(server.send_errors(), 0u);
  server.stop();
}

TEST(UdpEchoInterop, StackClientThroughKernelEchoServer) {
  SHARDTCP_ECHO_ENV(env, "udpecho", true);
  BackgroundCommand peer(shardtcp::testing::echo_peer_command("udp_echo_peer.py") +
                         " server --port 6102 --timeout 10");
  ASSERT_TRUE(shardtcp::testing::poll_until_output(*env, peer, "listening", 10s));
  shardtcp::echo::UdpEchoClientConfig cfg;
  cfg.server = {env->kernel_addr, 6102};
  cfg.bytes = 1 << 20;
  cfg.conns = 2;
  cfg.datagram = 1400;
  shardtcp::echo::UdpEchoClient client(env->stack->engine_udp(0), env->stack->clock(), cfg);
  ASSERT_EQ(client.start(), 0);
  ASSERT_TRUE(env->poll_until(
      [&] {
        client.tick();
        return client.finished();
      },
      30s));
  EXPECT_FALSE(client.failed()) << client.error();
  EXPECT_EQ(client.bytes_verified(), 2u << 20);
  const double s = std::chrono::duration<double>(client.elapsed()).count();
  std::printf("stack udp client: %llu bytes echoed in %.3f s (%llu datagrams, %llu resent)\n",
              static_cast<unsigned long long>(client.bytes_verified()), s,
              static_cast<unsigned long long>(client.datagrams_sent()),
              static_cast<unsigned long long>(client.resends()));
}

TEST(UdpEchoInterop, ClosedKernelPortIsConnectionRefused) {
  SHARDTCP_ECHO_ENV(env, "udpecho", true);
  shardtcp::echo::UdpEchoClientConfig cfg;
  cfg.server = {env->kernel_addr, 6109};  // nothing bound: the kernel answers ICMP
  cfg.bytes = 100;
  shardtcp::echo::UdpEchoClient client(env->stack->engine_udp(0), env->stack->clock(), cfg);
  ASSERT_EQ(client.start(), 0);
  ASSERT_TRUE(env->poll_until(
      [&] {
        client.tick();
        return client.finished();
      },
      5s));
  ASSERT_TRUE(client.failed());
  EXPECT_NE(client.error().find(std::strerror(ECONNREFUSED)), std::string::npos) << client.error();
}

// Runs last: closes the capture and decodes it.
TEST(UdpEchoInterop, CaptureDecodesCleanly) {
  SHARDTCP_ECHO_ENV(env, "udpecho", true);
  const std::string path = env->pcap_path;
  shardtcp::testing::close_interop_env();
  const std::string tshark = "tshark -r " + path +
                             " -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE"
                             // The payload is pattern bytes: without "decode as data", tshark
                             // takes some datagrams for RTCP by their port and calls them
                             // malformed. (ICMP checksums are always checked.)
                             " -d udp.port==6101,data -d udp.port==6102,data"
                             " -d udp.port==6109,data ";
  const std::size_t udp_frames =
      count_lines(command_output(tshark + "-Y 'udp && !icmp' 2>/dev/null"));
  EXPECT_GE(udp_frames, 4000u + 2 * 2 * (1u << 20) / 1392);
  std::printf("capture: %zu UDP frames\n", udp_frames);
  const std::string bad = command_output(
      tshark +
      "-Y '_ws.malformed || _ws.expert.severity >= \"Error\" || ip.checksum.status == \"Bad\""
      " || udp.checksum.status == \"Bad\" || icmp.checksum.status == \"Bad\"' 2>/dev/null");
  EXPECT_TRUE(bad.empty()) << "bad frames:\n" << bad;
  const std::size_t good = count_lines(
      command_output(tshark + "-Y '!icmp && udp.checksum.status == \"Good\"' 2>/dev/null"));
  EXPECT_EQ(good, udp_frames);
  const std::string unreach = command_output(
      tshark + "-Y 'ip.src == 198.18.0.1 && icmp.type == 3 && icmp.code == 3' 2>/dev/null");
  EXPECT_GE(count_lines(unreach), 1u);
  if (!HasFailure()) std::remove(path.c_str());
}

}  // namespace
