#include "tcp_echo_env.h"



#ifndef SHARDTCP_INTEROP_DIR
#error "meson defines SHARDTCP_INTEROP_DIR (the source folder of the peer scripts)"
#endif

namespace shardtcp::testing {

// One process makes one environment (rte_eal_init runs once): the first caller decides
// whether it captures.
InteropEnv* echo_interop_env(const std::string& name, bool capture, std::string* why) {
  return interop_env(name, why, capture);
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
