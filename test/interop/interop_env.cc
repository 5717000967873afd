#include "interop_env.h"

#include <unistd.h>

#include "port/eal.h"

namespace shardtcp::testing {

namespace {
std::unique_ptr<InteropEnv> g_env;
std::string g_why;
bool g_tried = false;
}  // namespace

bool InteropEnv::poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    stack->poll_once();
    if (done()) return true;
  }
  return done();
}

bool InteropEnv::poll_while_running(BackgroundCommand& cmd, std::chrono::milliseconds timeout) {
  return poll_until([&] { return cmd.finished(); }, timeout);
}

InteropEnv* interop_env(const std::string& name, std::string* why, bool capture,
                        const std::function<void(StackConfig&)>& configure) {
  if (g_tried) {
    *why = g_why;
    return g_env.get();
  }
  g_tried = true;
  auto fail = [&](std::string reason) -> InteropEnv* {
    g_why = std::move(reason);
    *why = g_why;
    g_env.reset();
    return nullptr;
  };
  if (std::string r = enter_private_netns(); !r.empty()) return fail(r);

  auto env = std::make_unique<InteropEnv>();
  env->tap = "st" + name.substr(0, 8);
  if (capture)
    env->pcap_path = "/tmp/shardtcp-" + name + "-" + std::to_string(getpid()) + ".pcapng";
  TestEalOptions eo;
  eo.file_prefix = "interop_" + name + std::to_string(getpid());
  eo.vdevs = {"net_tap0,iface=" + env->tap};
  eo.lcores = "0";
  if (Status s = eal_init_for_tests(eo); !s) return fail(s.message());

  StackConfig sc;
  sc.device = "net_tap0";
  sc.options.addresses.push_back({env->stack_addr, 24});
  sc.options.pcap_path = env->pcap_path;
  if (configure) configure(sc);
  auto st = Stack::create(sc);
  if (!st) return fail(st.error());
  env->stack = std::move(*st);

  // The TAP PMD gives the kernel side the same MAC as the DPDK side; give the kernel
  // its own so frames in either direction are unambiguous.
  const std::string k = "ip link set " + env->tap + " address 02:4b:45:52:4e:01 && ip addr add " +
                        env->kernel_addr.to_string() + "/24 dev " + env->tap + " && ip link set " +
                        env->tap + " up";
  if (run_command(k) != 0) return fail("could not configure the kernel side: " + k);
  g_env = std::move(env);
  // Let the kernel finish bringing the link up (its IPv6 DAD chatter is harmless).
  g_env->poll_until([] { return false; }, std::chrono::milliseconds(200));
  return g_env.get();
}

void close_interop_env() {
  g_env.reset();
}

}  // namespace shardtcp::testing
