#include "tcp_echo_env.h"

#include <unistd.h>

#include "port/eal.h"

#ifndef SHARDTCP_INTEROP_DIR
#error "meson defines SHARDTCP_INTEROP_DIR (the source folder of the peer scripts)"
#endif

namespace shardtcp::testing {

namespace {
std::unique_ptr<InteropEnv> g_env;
std::string g_why;
bool g_tried = false;
}  // namespace

InteropEnv* echo_interop_env(const std::string& name, bool capture, std::string* why) {
  if (capture) return interop_env(name, why);
  if (g_tried) {
    *why = g_why;
    return g_env.get();
  }
  g_tried = true;
  auto fail = [&](std::string reason) -> InteropEnv* {
    g_why = std::move(reason);
    *why = g_why;
    return nullptr;
  };
  if (std::string r = enter_private_netns(); !r.empty()) return fail(r);

  auto env = std::make_unique<InteropEnv>();
  env->tap = "st" + name.substr(0, 8);
  TestEalOptions eo;
  eo.file_prefix = "interop_" + name + std::to_string(getpid());
  eo.vdevs = {"net_tap0,iface=" + env->tap};
  eo.lcores = "0";
  if (Status s = eal_init_for_tests(eo); !s) return fail(s.message());

  StackConfig sc;
  sc.device = "net_tap0";
  sc.options.addresses.push_back({env->stack_addr, 24});
  auto st = Stack::create(sc);
  if (!st) return fail(st.error());
  env->stack = std::move(*st);

  // As interop_env does: the kernel side gets its own MAC, the address, and comes up.
  const std::string k = "ip link set " + env->tap + " address 02:4b:45:52:4e:01 && ip addr add " +
                        env->kernel_addr.to_string() + "/24 dev " + env->tap + " && ip link set " +
                        env->tap + " up";
  if (run_command(k) != 0) return fail("could not configure the kernel side: " + k);
  g_env = std::move(env);
  g_env->poll_until([] { return false; }, std::chrono::milliseconds(200));
  return g_env.get();
}

std::string echo_peer_command(const std::string& script) {
  return std::string("exec python3 ") + SHARDTCP_INTEROP_DIR + "/" + script;
}

bool poll_until_output(InteropEnv& env, BackgroundCommand& cmd, const std::string& text,
                       std::chrono::milliseconds timeout) {
  return env.poll_until(
             [&] {
               // Reading the output file on every poll would slow the stack: look every 1024.
               static unsigned n = 0;
               if (++n % 1024 != 0) return false;
               return cmd.output().find(text) != std::string::npos || cmd.finished();
             },
             timeout) &&
         cmd.output().find(text) != std::string::npos;
}

}  // namespace shardtcp::testing
