// The process-wide set-up of the sockets pair tests: the EAL (once), a cable of two
// net_ring ports, Stack A (198.18.0.1/24) attached to <sockets.h> with its own driver
// thread, and Stack B (198.18.0.2/24) as the peer, polled by the same driver thread
// through the runtime's extra_poll hook. Built with SOCKETS_ENV_INLINE the tests' own
// thread runs both stacks inline instead (run to completion: its blocking calls poll
// them); with SOCKETS_ENV_EMBEDDED an application thread polls them. B runs native-API services:
//   port 7  echo (TCP), port 9 closed (RST), UDP port 7 echo
// and A routes 198.19.0.0/16 via B, which drops it (a blackhole). Tests change B only
// through run_on_peer(), which runs a function on the driver thread.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "shardtcp/stack.h"

namespace shardtcp::testing {

inline constexpr std::uint32_t kSockAddrA = 0xC6120001;  // 198.18.0.1
inline constexpr std::uint32_t kSockAddrB = 0xC6120002;  // 198.18.0.2
inline constexpr std::uint16_t kEchoPort = 7;
inline constexpr std::uint16_t kClosedPort = 9;

struct SocketsPairEnv {
  Stack* a = nullptr;
  Stack* b = nullptr;
  std::atomic<bool> peer_paused{false};  // true: B is not polled (frames wait in the ring)
  std::atomic<bool> peer_tcp{true};      // false: B answers TCP with ICMP unreachable
  // Runs `fn` on the driver thread (the engine thread of A and B) and waits; on the
  // inline owner it runs `fn` at once, as inside an engine iteration.
  void run_on_peer(const std::function<void()>& fn);
  // Frees in A's pool (for leak checks).
  unsigned a_pool_avail() const;
  std::size_t b_connections() const;
  // B opens a native connection to A:port, sends `hello` once connected and keeps
  // what it receives (these run on the driver thread; no <sockets.h> macros here).
  std::uint32_t peer_connect(std::uint16_t port, const std::string& hello);
  std::string peer_received(std::uint32_t conn);
  void peer_abort(std::uint32_t conn);
  // B sends its FIN on `conn` (shutdown(SHUT_WR)) and keeps receiving.
  void peer_shutdown(std::uint32_t conn);
};

SocketsPairEnv& sockets_env();

}  // namespace shardtcp::testing
