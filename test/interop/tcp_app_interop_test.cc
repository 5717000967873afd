// The shardtcp-echo binary against Linux, each run in the test's private namespace on
// its own TAP (the test process itself runs no EAL): its client sends 100 MiB on each
// of two connections through a kernel echo server and verifies it; its server echoes a
// kernel client and stops cleanly on SIGTERM with its counters; a connect to a closed
// kernel port fails with the strerror text of ECONNREFUSED and a non-zero exit; the UDP
// client and server echo through/for the kernel; `--engines 2` serves 1 000 kernel
// connections on both engines of a 2-queue TAP with none reset; one `--listen` port
// serves kernel clients over IPv4 and IPv6 at once.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "netns.h"
#include "port/eal.h"

#ifndef SHARDTCP_ECHO_APP
#error "meson defines SHARDTCP_ECHO_APP (the shardtcp-echo binary)"
#endif
#ifndef SHARDTCP_INTEROP_DIR
#error "meson defines SHARDTCP_INTEROP_DIR"
#endif

using namespace std::chrono_literals;
using shardtcp::testing::BackgroundCommand;
using shardtcp::testing::run_command;

namespace {

const std::string kTap = "stechoapp";
const std::string kKernel = "198.18.0.1";
const std::string kStack = "198.18.0.2";
const std::string kKernel6 = "2001:db8::1";
const std::string kStack6 = "2001:db8::2";

std::string peer(const std::string& script) {
  return std::string("exec python3 ") + SHARDTCP_INTEROP_DIR + "/" + script;
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

bool wait_output(BackgroundCommand& cmd, const std::string& text, std::chrono::milliseconds t) {
  return wait_for([&] { return cmd.output().find(text) != std::string::npos || cmd.finished(); },
                  t) &&
         cmd.output().find(text) != std::string::npos;
}

// Starts shardtcp-echo on a fresh TAP with `args` after the stack options, waits for
// "ready" and brings the kernel side of the TAP up (the app's --start-delay-ms covers
// the moment in between).
class EchoApp {
 public:
  explicit EchoApp(const std::string& args) {
    static unsigned serial = 0;
    std::string eal = "--no-pci -l 0 --file-prefix echoapp" + std::to_string(getpid()) + "_" +
                      std::to_string(serial++) + " --vdev=net_tap0,iface=" + kTap;
    eal += shardtcp::hugepages_available() ? " --in-memory" : " --no-huge --no-shconf -m 512";
    // The shell writes its pid, then becomes the app: that pid is the app's, for SIGTERM.
    char tmpl[] = "/tmp/shardtcp-echoapp-XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd >= 0) close(fd);
    pid_file_ = tmpl;
    cmd_ = std::make_unique<BackgroundCommand>("echo $$ > " + pid_file_ + "; exec " +
                                               SHARDTCP_ECHO_APP + " " + eal + " -- --ip " +
                                               kStack + "/24 " + args);
  }
  ~EchoApp() {
    cmd_.reset();  // kills the app if it still runs
    unlink(pid_file_.c_str());
  }
  // SIGTERM to the app: it prints its summary and counters and exits.
  bool terminate() {
    FILE* f = std::fopen(pid_file_.c_str(), "r");
    if (f == nullptr) return false;
    int pid = 0;
    const bool ok = std::fscanf(f, "%d", &pid) == 1 && pid > 1;
    std::fclose(f);
    return ok && !cmd_->finished() && kill(pid, SIGTERM) == 0;
  }
  // Empty when up, else why not.
  std::string bring_up() {
    if (!cmd_->started()) return "could not start " SHARDTCP_ECHO_APP;
    if (!wait_output(*cmd_, "\nready", 30s) && cmd_->output().rfind("ready", 0) != 0)
      return "the app did not print ready:\n" + cmd_->output();
    const std::string k = "ip link set " + kTap + " address 02:4b:45:52:4e:01 && ip addr add " +
                          kKernel + "/24 dev " + kTap + " && ip -6 addr add " + kKernel6 +
                          "/64 dev " + kTap + " nodad && ip link set " + kTap + " up";
    if (run_command(k) != 0) return "could not configure the kernel side";
    return {};
  }
  BackgroundCommand& cmd() { return *cmd_; }
  // SIGTERM, then the app's whole output once it exited; a clean exit (status 0) is
  // expected. Empty when it could not be stopped (reported).
  std::string stop() {
    EXPECT_TRUE(terminate());
    if (!wait_exit(10s)) {
      ADD_FAILURE() << "the app did not exit on SIGTERM:\n" << cmd_->output();
      return {};
    }
    EXPECT_EQ(cmd_->exit_status(), 0) << cmd_->output();
    return cmd_->output();
  }
  bool wait_exit(std::chrono::milliseconds t) {
    return wait_for([&] { return cmd_->finished(); }, t);
  }

 private:
  std::unique_ptr<BackgroundCommand> cmd_;
  std::string pid_file_;
};

#define REQUIRE_NETNS_OR_SKIP() SHARDTCP_REQUIRE_NETNS()

// Waits for a kernel-side client, prints its output and expects a clean exit and
// `success` (its closing words) in that output.
void expect_client_ok(BackgroundCommand& client, const std::string& success,
                      std::chrono::milliseconds limit) {
  ASSERT_TRUE(wait_for([&] { return client.finished(); }, limit)) << client.output();
  std::printf("%s", client.output().c_str());
  EXPECT_EQ(client.exit_status(), 0) << client.output();
  EXPECT_NE(client.output().find(success), std::string::npos) << client.output();
}

TEST(EchoAppInterop, TcpClientSends100MiBOnTwoConnectionsThroughKernelEchoServer) {
  REQUIRE_NETNS_OR_SKIP();
  BackgroundCommand server(peer("tcp_echo_peer.py") + " server --port 7001 --timeout 60");
  ASSERT_TRUE(wait_output(server, "listening", 10s)) << server.output();
  EchoApp app("--connect " + kKernel +
              ":7001 --bytes 100m --conns 2 --start-delay-ms 300 --timeout 90");
  ASSERT_EQ(app.bring_up(), "");
  ASSERT_TRUE(app.wait_exit(120s)) << app.cmd().output();
  const std::string out = app.cmd().output();
  if (const auto l = out.find("tcp echo:"); l != std::string::npos)
    std::printf("%s\n", out.substr(l, out.find('\n', l) - l).c_str());
  EXPECT_EQ(app.cmd().exit_status(), 0) << out;
  EXPECT_NE(out.find("tcp echo: 2 conns x 104857600 bytes, 209715200 bytes echoed and verified"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("counters:"), std::string::npos) << out;
  EXPECT_NE(out.find("tcp.ActiveOpens 2"), std::string::npos) << out;
  // The kernel echo server saw both connections end cleanly.
  EXPECT_TRUE(wait_for(
      [&] {
        const std::string so = server.output();
        std::size_t n = 0, pos = 0;
        while ((pos = so.find("echoed 104857600 bytes", pos)) != std::string::npos) ++n, ++pos;
        return n == 2;
      },
      5s))
      << server.output();
}

TEST(EchoAppInterop, TcpClientReportsConnectionRefused) {
  REQUIRE_NETNS_OR_SKIP();
  EchoApp app("--connect " + kKernel + ":9 --bytes 1k --start-delay-ms 300 --timeout 20");
  ASSERT_EQ(app.bring_up(), "");
  ASSERT_TRUE(app.wait_exit(30s)) << app.cmd().output();
  const std::string out = app.cmd().output();
  EXPECT_EQ(app.cmd().exit_status(), 1) << out;
  EXPECT_NE(out.find("shardtcp-echo: conn 0 to " + kKernel + ":9: Connection refused"),
            std::string::npos)
      << out;
}

TEST(EchoAppInterop, TcpServerEchoesKernelClientAndStopsOnSigterm) {
  REQUIRE_NETNS_OR_SKIP();
  EchoApp app("--listen 7002");
  ASSERT_EQ(app.bring_up(), "");
  ASSERT_TRUE(wait_output(app.cmd(), "echoing tcp on port 7002", 5s)) << app.cmd().output();
  BackgroundCommand client(peer("tcp_echo_peer.py") + " client --host " + kStack +
                           " --port 7002 --conns 4 --bytes 8388608 --timeout 30");
  expect_client_ok(client, "all verified", 60s);
  const std::string out = app.stop();
  EXPECT_NE(out.find("tcp echo server: 4 connections (4 completed, 0 failed, 0 open), 33554432 "
                     "bytes echoed"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("counters:"), std::string::npos) << out;
}

TEST(EchoAppInterop, UdpClientAndServerEchoWithKernel) {
  REQUIRE_NETNS_OR_SKIP();
  {
    BackgroundCommand server(peer("udp_echo_peer.py") + " server --port 7003 --timeout 20");
    ASSERT_TRUE(wait_output(server, "listening", 10s)) << server.output();
    EchoApp app("--udp --connect " + kKernel +
                ":7003 --bytes 4m --conns 2 --datagram 1400 --start-delay-ms 300 --timeout 30");
    ASSERT_EQ(app.bring_up(), "");
    ASSERT_TRUE(app.wait_exit(40s)) << app.cmd().output();
    const std::string out = app.cmd().output();
    EXPECT_EQ(app.cmd().exit_status(), 0) << out;
    EXPECT_NE(out.find("udp echo: 2 conns x 4194304 bytes, 8388608 bytes echoed and verified"),
              std::string::npos)
        << out;
    const auto l = out.find("udp echo:");
    if (l != std::string::npos) std::printf("%s", out.substr(l, out.find("counters:") - l).c_str());
  }
  {
    EchoApp app("--udp --listen 7004");
    ASSERT_EQ(app.bring_up(), "");
    ASSERT_TRUE(wait_output(app.cmd(), "echoing udp on port 7004", 5s)) << app.cmd().output();
    BackgroundCommand client(peer("udp_echo_peer.py") + " client --host " + kStack +
                             " --port 7004 --count 2000 --size 1200 --timeout 30");
    expect_client_ok(client, "all verified", 40s);
    const std::string out = app.stop();
    EXPECT_NE(out.find("udp echo server: "), std::string::npos) << out;
  }
}

// The number after `key` in the app's counter dump ("tcp_layer.rx_no_connection 0").
long counter(const std::string& out, const std::string& key) {
  const auto at = out.find("\n" + key + " ");
  if (at == std::string::npos) return -1;
  return std::strtol(out.c_str() + at + key.size() + 2, nullptr, 10);
}

// `--engines 2` on a 2-queue TAP (software steering): the listener is on both engines,
// so every SYN finds one whichever engine owns it; none is answered with a RST.
TEST(EchoAppInterop, TwoEnginesServeThousandKernelConnectionsNoneReset) {
  REQUIRE_NETNS_OR_SKIP();
  EchoApp app("--engines 2 --listen 7005");
  ASSERT_EQ(app.bring_up(), "");
  ASSERT_TRUE(wait_output(app.cmd(), "echoing tcp on port 7005", 5s)) << app.cmd().output();
  BackgroundCommand client(std::string("exec python3 ") + SHARDTCP_INTEROP_DIR +
                           "/sharded_echo_peer.py client --host " + kStack +
                           " --port 7005 --conns 1000 --parallel 32 --timeout 60");
  expect_client_ok(client, "ok 1000", 120s);
  const std::string out = app.stop();
  EXPECT_NE(out.find("tcp echo server: 1000 connections (1000 completed, 0 failed, 0 open)"),
            std::string::npos)
      << out;
  // Both engines accepted a share (the owner of a tuple is its Toeplitz hash's).
  unsigned long long e0 = 0, e1 = 0;
  const auto per = out.find("accepted per engine:");
  ASSERT_NE(per, std::string::npos) << out;
  ASSERT_EQ(std::sscanf(out.c_str() + per, "accepted per engine: %llu %llu", &e0, &e1), 2) << out;
  std::printf("accepted per engine: %llu %llu\n", e0, e1);
  EXPECT_EQ(e0 + e1, 1000u);
  EXPECT_GT(e0, 300u);
  EXPECT_GT(e1, 300u);
  // Every SYN found a listener on the engine that owns it (with the listener on one
  // engine only, about half were answered with RST).
  EXPECT_EQ(counter(out, "tcp_layer.listen_syns"), 1000) << out;
  EXPECT_EQ(counter(out, "tcp.PassiveOpens"), 1000) << out;
  // Late segments that arrive after a connection closed are answered with a RST, as
  // Linux does (a few per thousand here, with PAWS drops before them: see issue 17);
  // printed, not asserted.
  std::printf("late segments answered with RST: %ld\n", counter(out, "tcp_layer.rst_sent_no_conn"));
}

// `--listen PORT` with addresses of both families: kernel clients over IPv4 and IPv6
// echo through the same port at the same time.
TEST(EchoAppInterop, ListenServesIpv4AndIpv6OnOnePort) {
  REQUIRE_NETNS_OR_SKIP();
  EchoApp app("--ip " + kStack6 + "/64 --listen 7006");
  ASSERT_EQ(app.bring_up(), "");
  ASSERT_TRUE(wait_output(app.cmd(), "echoing tcp on port 7006", 5s)) << app.cmd().output();
  // The stack answers on its IPv6 address once duplicate address detection is done.
  ASSERT_TRUE(wait_for(
      [] { return run_command("ping -6 -n -c 1 -W 1 " + kStack6 + " >/dev/null") == 0; }, 20s));
  BackgroundCommand v4(peer("tcp_echo_peer.py") + " client --host " + kStack +
                       " --port 7006 --conns 2 --bytes 4194304 --timeout 30");
  BackgroundCommand v6(peer("tcp_echo_peer.py") + " client --host " + kStack6 +
                       " --port 7006 --conns 2 --bytes 4194304 --timeout 30");
  expect_client_ok(v4, "all verified", 60s);
  expect_client_ok(v6, "all verified", 60s);
  const std::string out = app.stop();
  EXPECT_NE(out.find("tcp echo server: 4 connections (4 completed, 0 failed, 0 open)"),
            std::string::npos)
      << out;
  EXPECT_EQ(counter(out, "tcp.PassiveOpens"), 4) << out;
}

}  // namespace
