// The shared set-up of kernel-interop tests: a private network namespace, the EAL
// with a TAP device in it, the kernel side of the TAP addressed and up, and a Stack on
// the DPDK side. Each interop executable makes one (rte_eal_init runs once).
//
//   kernel: 198.18.0.1/24 on `tap` (MAC 02:4b:45:52:4e:01)
//   stack:  198.18.0.2/24 on the DPDK side
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "netns.h"
#include "shardtcp/stack.h"
#include "tshark_filters.h"

namespace shardtcp::testing {

struct InteropEnv {
  std::string tap;        // kernel interface name
  std::string pcap_path;  // capture of everything the stack saw and sent
  std::unique_ptr<Stack> stack;
  IpAddr kernel_addr = IpAddr::v4(0xC6120001);  // 198.18.0.1
  IpAddr stack_addr = IpAddr::v4(0xC6120002);   // 198.18.0.2

  // Polls the stack until `done()` or the timeout; true if done.
  bool poll_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  // Polls the stack while the command runs; true if it finished within the timeout.
  bool poll_while_running(BackgroundCommand& cmd, std::chrono::milliseconds timeout);
};

// Creates the environment on first use; returns null with a reason when the machine
// cannot (the caller skips outside CI, fails under CI).
// With `capture`, everything the stack sees and sends goes to pcap_path (volume tests
// turn it off: the capture would cost more than the transfer).
// `configure` adjusts the stack's configuration before it is made (limits, options).
InteropEnv* interop_env(const std::string& name, std::string* why, bool capture = true,
                        const std::function<void(StackConfig&)>& configure = {});

// Ends the environment (closes the capture file so it can be read).
void close_interop_env();

}  // namespace shardtcp::testing

// Gets the shared environment or skips/fails the test with the reason.
#define SHARDTCP_INTEROP_ENV(var, name)                                                         \
  std::string why_##var;                                                                        \
  ::shardtcp::testing::InteropEnv* var = ::shardtcp::testing::interop_env(name, &why_##var);    \
  if (var == nullptr) {                                                                         \
    if (::shardtcp::testing::running_in_ci()) FAIL() << "interop set-up failed: " << why_##var; \
    GTEST_SKIP() << "interop test skipped: " << why_##var;                                      \
  }
