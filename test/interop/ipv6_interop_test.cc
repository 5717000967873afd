// Kernel interop over IPv6: the stack on a TAP in a private namespace with
// 2001:db8::2/64 (plus its EUI-64 link-local address), Linux on the other side with
// 2001:db8::1/64. Linux resolves the stack with neighbour discovery and pings both of
// its addresses; a kernel TCP client echoes 20 MB through the stack; the stack
// connects to a kernel server and echoes 4 MB through it; finally tshark decodes the
// capture of the whole run and finds no malformed packet and no bad checksum.
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
#include "tcp/tcp_layer.h"
#include "tshark_filters.h"
#include "wire/icmpv6.h"

using namespace std::chrono_literals;

namespace shardtcp::testing {
namespace {

const IpAddr kKernel6 = *IpAddr::parse("2001:db8::1");
const IpAddr kStack6 = *IpAddr::parse("2001:db8::2");

struct Env6 {
  std::string tap = "stv6";
  std::string pcap = "/tmp/shardtcp-ipv6-" + std::to_string(getpid()) + ".pcapng";
  std::unique_ptr<Stack> stack;
  bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      stack->poll_once();
      if (done()) return true;
    }
    return done();
  }
};

std::unique_ptr<Env6> g_env;
std::string g_why;
bool g_tried = false;

Env6* env6() {
  if (g_tried) return g_env.get();
  g_tried = true;
  if (std::string r = enter_private_netns(); !r.empty()) {
    g_why = r;
    return nullptr;
  }
  // Before the TAP exists (this namespace is the test's own): the kernel makes no
  // link-local address of its own on new interfaces and runs no DAD. The TAP PMD gives
  // the kernel side the DPDK side's MAC, so its automatic EUI-64 link-local would be
  // the stack's own, and whichever DAD ran first failed the other's (seen as a flaky
  // DadSucceededOnBothAddresses). The kernel's link-local is added by hand below.
  if (run_command("sysctl -qw net.ipv6.conf.default.addr_gen_mode=1 "
                  "net.ipv6.conf.default.accept_dad=0") != 0) {
    g_why = "could not set the namespace's IPv6 defaults";
    return nullptr;
  }
  auto env = std::make_unique<Env6>();
  TestEalOptions eo;
  eo.file_prefix = "interop_v6" + std::to_string(getpid());
  eo.vdevs = {"net_tap0,iface=" + env->tap};
  eo.lcores = "0";
  if (Status s = eal_init_for_tests(eo); !s) {
    g_why = s.message();
    return nullptr;
  }
  StackConfig sc;
  sc.device = "net_tap0";
  sc.options.addresses.push_back({kStack6, 64});
  sc.options.pcap_path = env->pcap;
  auto st = Stack::create(sc);
  if (!st) {
    g_why = st.error();
    return nullptr;
  }
  env->stack = std::move(*st);
  // The kernel side gets its own MAC (the TAP PMD copies the DPDK side's, and the
  // kernel already made its link-local address from it: that one would be ours too,
  // so it goes) and skips DAD so it answers at once; the stack runs its own DAD.
  const std::string t = env->tap;
  const std::string k = "sysctl -qw net.ipv6.conf." + t + ".accept_dad=0 && ip link set " + t +
                        " address 02:4b:45:52:4e:01 && ip -6 addr flush dev " + t +
                        " scope link && ip -6 addr add fe80::4b:45ff:fe52:4e01/64 dev " + t +
                        " nodad && ip -6 addr add " + kKernel6.to_string() + "/64 dev " + t +
                        " nodad && ip link set " + t + " up";
  if (run_command(k) != 0) {
    g_why = "could not configure the kernel side: " + k;
    return nullptr;
  }
  g_env = std::move(env);
  IpStack& ip = g_env->stack->ip();
  g_env->poll_until([&] { return !ip.dad_pending(kStack6) && !ip.dad_pending(ip.link_local()); },
                    5s);
  return g_env.get();
}

#define SHARDTCP_ENV6(var)                                             \
  Env6* var = env6();                                                  \
  if (var == nullptr) {                                                \
    if (running_in_ci()) FAIL() << "interop set-up failed: " << g_why; \
    GTEST_SKIP() << "interop test skipped: " << g_why;                 \
  }

std::string peer_script(const std::string& name) {
  return std::string("python3 ") + SHARDTCP_INTEROP_DIR + "/" + name;
}

TEST(Ipv6Interop, DadSucceededOnBothAddresses) {
  SHARDTCP_ENV6(env);
  IpStack& ip = env->stack->ip();
  EXPECT_TRUE(ipv6_is_link_local(ip.link_local()));
  EXPECT_FALSE(ip.dad_failed(kStack6));
  EXPECT_FALSE(ip.dad_failed(ip.link_local()));
  EXPECT_TRUE(ip.routes().is_local(kStack6));
  auto snap = env->stack->counters().snapshot();
  EXPECT_EQ(snap["ipv6.dad_succeeded"], 2u);
}

TEST(Ipv6Interop, KernelPingsGlobalAndLinkLocal) {
  SHARDTCP_ENV6(env);
  const std::string ll = env->stack->ip().link_local().to_string() + "%" + env->tap;
  for (const std::string& to : {kStack6.to_string(), ll}) {
    SCOPED_TRACE(to);
    BackgroundCommand ping("ping -6 -n -c 10 -i 0.05 -W 2 " + to);
    ASSERT_TRUE(ping.started());
    ASSERT_TRUE(env->poll_until([&] { return ping.finished(); }, 30s)) << "ping did not finish";
    const std::string out = ping.output();
    EXPECT_EQ(ping.exit_status(), 0) << out << command_output("ip -6 addr show; ip -6 neigh");
    EXPECT_NE(out.find("10 packets transmitted, 10 received, 0% packet loss"), std::string::npos)
        << out;
  }
  auto snap = env->stack->counters().snapshot();
  EXPECT_EQ(snap["icmp6.tx_echo_replies"], 20u);
  EXPECT_GE(snap["ipv6.na_sent"], 1u);  // Linux solicited us (multicast filter let it in)
  const std::string neigh = command_output("ip -6 neigh show " + kStack6.to_string());
  EXPECT_NE(neigh.find("lladdr"), std::string::npos) << neigh;
}

TEST(Ipv6Interop, StackPingsKernel) {
  SHARDTCP_ENV6(env);
  unsigned replies = 0;
  env->stack->ip().set_ping_handler([&](const PingReply& r) {
    if (r.from == kKernel6 && r.ident == 0x6606) ++replies;
  });
  for (unsigned seq = 1; seq <= 10; ++seq) {
    PacketContext ctx = env->stack->context();
    const auto res = env->stack->ip().ping(kKernel6, 0x6606, static_cast<std::uint16_t>(seq),
                                           seq == 10 ? 3000 : 56, ctx);  // the last fragmented
    EXPECT_TRUE(res == OutputResult::kSent || res == OutputResult::kQueuedForResolution);
    env->poll_until([&] { return replies >= seq; }, 500ms);
  }
  EXPECT_EQ(replies, 10u);
  env->stack->ip().set_ping_handler(nullptr);
}

// An echo service on the stack's native TCP API, driven from the poll loop.
struct EchoServer {
  TcpLayer& tcp;
  TcpConnId listener;
  struct Conn {
    TcpConnId id;
    std::vector<std::uint8_t> pending;
    std::size_t off = 0;
    bool eof = false, closed = false;
    std::uint64_t echoed = 0;
  };
  std::vector<Conn> conns;
  std::vector<std::uint8_t> buf;

  void step() {
    if (buf.empty()) buf.resize(64 * 1024);
    int err = 0;
    Endpoint peer;
    for (TcpConnId c = tcp.accept(listener, &err, &peer); c.valid();
         c = tcp.accept(listener, &err, &peer))
      conns.push_back(Conn{c, {}, 0, false, false, 0});
    for (Conn& c : conns) {
      if (c.closed) continue;
      while (c.off < c.pending.size()) {
        const long r = tcp.send(c.id, c.pending.data() + c.off, c.pending.size() - c.off);
        if (r <= 0) break;
        c.off += static_cast<std::size_t>(r);
        c.echoed += static_cast<std::uint64_t>(r);
      }
      if (c.off == c.pending.size() && !c.eof) {
        c.pending.clear();
        c.off = 0;
        const long r = tcp.recv(c.id, buf.data(), buf.size());
        if (r > 0) c.pending.assign(buf.begin(), buf.begin() + r);
        if (r == 0) c.eof = true;
      }
      if (c.eof && c.off == c.pending.size()) {
        tcp.shutdown_write(c.id);
        tcp.close(c.id);
        c.closed = true;
      }
    }
  }
};

TEST(Ipv6Interop, KernelClientEchoes20MBThroughTheStack) {
  SHARDTCP_ENV6(env);
  TcpLayer& tcp = env->stack->engine_tcp(0);
  int err = 0;
  EchoServer srv{tcp, tcp.listen({*IpAddr::parse("::"), 7}, 8, {}, &err), {}, {}};
  ASSERT_TRUE(srv.listener.valid()) << err;
  BackgroundCommand client(peer_script("tcp_echo_peer.py") + " client --host " +
                           kStack6.to_string() + " --port 7 --bytes 20000000 --timeout 60");
  ASSERT_TRUE(client.started());
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(env->poll_until(
      [&] {
        srv.step();
        return client.finished();
      },
      120s))
      << client.output();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string out = client.output();
  EXPECT_EQ(client.exit_status(), 0) << out;
  EXPECT_NE(out.find("all verified"), std::string::npos) << out;
  ASSERT_EQ(srv.conns.size(), 1u);
  EXPECT_EQ(srv.conns[0].echoed, 20000000u);
  std::printf("kernel client over IPv6: 20 MB echoed in %.2f s (%.0f Mbit/s each way)\n", s,
              20e6 * 8 / s / 1e6);
  env->poll_until([] { return false; }, 200ms);
  tcp.close(srv.listener);
}

TEST(Ipv6Interop, StackConnectsToKernelServer) {
  SHARDTCP_ENV6(env);
  BackgroundCommand server(peer_script("ipv6_echo_server.py") + " " + kKernel6.to_string() +
                           " 5006 1 20");
  ASSERT_TRUE(server.started());
  ASSERT_TRUE(env->poll_until(
      [&] { return server.output().find("listening") != std::string::npos || server.finished(); },
      10s));
  TcpLayer& tcp = env->stack->engine_tcp(0);
  int err = 0;
  TcpConnId c = tcp.connect({kKernel6, 5006}, {}, &err);
  ASSERT_TRUE(c.valid()) << err;
  ASSERT_TRUE(env->poll_until([&] { return tcp.state(c) == TcpState::kEstablished; }, 5s));
  EXPECT_EQ(tcp.tcb(c)->mss(), 1440u);  // Linux's MSS over IPv6 at MTU 1500
  constexpr std::size_t kBytes = 4 << 20;
  std::vector<std::uint8_t> out(kBytes), in;
  for (std::size_t i = 0; i < kBytes; ++i) out[i] = static_cast<std::uint8_t>(i * 31 + (i >> 12));
  std::size_t sent = 0;
  bool shut = false, eof = false;
  std::vector<std::uint8_t> buf(64 * 1024);
  ASSERT_TRUE(env->poll_until(
      [&] {
        if (sent < kBytes) {
          const long r = tcp.send(c, out.data() + sent, kBytes - sent);
          if (r > 0) sent += static_cast<std::size_t>(r);
        } else if (!shut) {
          tcp.shutdown_write(c);
          shut = true;
        }
        for (;;) {
          const long r = tcp.recv(c, buf.data(), buf.size());
          if (r == 0) eof = true;
          if (r <= 0) break;
          in.insert(in.end(), buf.begin(), buf.begin() + r);
        }
        return eof;
      },
      60s))
      << "sent " << sent << " got " << in.size();
  EXPECT_EQ(in.size(), kBytes);
  EXPECT_TRUE(in == out) << "echo differs";
  tcp.close(c);
  env->poll_until([&] { return server.finished(); }, 25s);
  EXPECT_NE(server.output().find("echoed 4194304 bytes"), std::string::npos) << server.output();
}

// Runs last: closes the capture and has tshark decode all of it.
TEST(Ipv6Interop, CaptureDecodesCleanly) {
  SHARDTCP_ENV6(env);
  const std::string path = env->pcap;
  g_env.reset();
  const std::string count = command_output("tshark -r " + path + " -Y ipv6 2>/dev/null | wc -l");
  EXPECT_GE(std::stoi(count), 100) << "capture too small: " << count;
  const std::string nd = command_output("tshark -r " + path +
                                        " -Y 'icmpv6.type == 135 || icmpv6.type == 136' "
                                        "2>/dev/null | wc -l");
  EXPECT_GE(std::stoi(nd), 2) << "no neighbour discovery in the capture";
  const std::string bad = command_output(
      "tshark -r " + path +
      " -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE"
      " -Y '(_ws.malformed || _ws.expert.severity >= \"Error\" || icmpv6.checksum.status == "
      "\"Bad\" || tcp.checksum.status == \"Bad\") && !" +
      kernel_mangled_zero_checksum(kKernel6.to_string()) + "' 2>/dev/null | head -20");
  EXPECT_TRUE(bad.empty()) << "bad frames:\n" << bad;
  std::remove(path.c_str());
}

}  // namespace
}  // namespace shardtcp::testing
