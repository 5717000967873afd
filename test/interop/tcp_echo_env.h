// An interop environment like interop_env.h's, but optionally without the pcapng
// capture: the 100 MB echo runs would otherwise write several hundred MB of capture
// (every frame copied, each direction) and measure the capture instead of the stack.
// Capture-checking tests use interop_env() in their own executable with short runs.
//
// Also where the echo interop tests find their peers: the python scripts next to
// this file and the shardtcp-echo binary (paths compiled in by meson).
#pragma once

#include <string>

#include "interop_env.h"

namespace shardtcp::testing {

// Like interop_env(name, why), with the capture only when `capture`. One per process.
InteropEnv* echo_interop_env(const std::string& name, bool capture, std::string* why);

// "python3 <dir>/<script>" for a peer script of test/interop.
std::string echo_peer_command(const std::string& script);

// Polls the stack until the background command's output contains `text` (a peer
// printing "listening"), the command exits, or the timeout passes.
bool poll_until_output(InteropEnv& env, BackgroundCommand& cmd, const std::string& text,
                       std::chrono::milliseconds timeout);

}  // namespace shardtcp::testing

#define SHARDTCP_ECHO_ENV(var, name, capture)                                                   \
  std::string why_##var;                                                                        \
  ::shardtcp::testing::InteropEnv* var =                                                        \
      ::shardtcp::testing::echo_interop_env(name, capture, &why_##var);                         \
  if (var == nullptr) {                                                                         \
    if (::shardtcp::testing::running_in_ci()) FAIL() << "interop set-up failed: " << why_##var; \
    GTEST_SKIP() << "interop test skipped: " << why_##var;                                      \
  }
