// Kernel-interop tests run the stack and its Linux peer inside a private network
// namespace that the test process makes for itself (unshare(CLONE_NEWNET)): DPDK's
// TAP device appears there, the kernel side gets an address from 198.18.0.0/15, and
// peers started with run_command() inherit the namespace. The namespace dies with the
// process, so nothing is left behind even when a test fails.
#pragma once

#include <string>

namespace shardtcp::testing {

// Enters a fresh network namespace with loopback up. Returns an empty string on
// success, else why it could not (not root, no namespaces).
std::string enter_private_netns();

// True when running under CI (CI=true): interop tests must not skip there.
bool running_in_ci();

// Runs a shell command; returns its exit status (-1 if it could not run).
int run_command(const std::string& cmd);
// Runs a shell command and returns its standard output.
std::string command_output(const std::string& cmd);

}  // namespace shardtcp::testing

// Skips the test with the reason outside CI; fails it under CI=true.
#define SHARDTCP_REQUIRE_NETNS()                                                            \
  do {                                                                                      \
    static const std::string why_ = ::shardtcp::testing::enter_private_netns();             \
    if (!why_.empty()) {                                                                    \
      if (::shardtcp::testing::running_in_ci()) FAIL() << "interop needs netns: " << why_;  \
      GTEST_SKIP() << "interop test skipped (needs root and network namespaces): " << why_; \
    }                                                                                       \
  } while (0)

// Note: a namespace change applies to the calling thread and the threads it creates
// afterwards, so an interop test executable enters its namespace before rte_eal_init.

namespace shardtcp::testing {

// A shell command running in the background (in the caller's namespace) while the
// test thread keeps polling the stack. Output goes to a temporary file.
class BackgroundCommand {
 public:
  explicit BackgroundCommand(const std::string& cmd);
  ~BackgroundCommand();  // kills the command if it still runs
  BackgroundCommand(const BackgroundCommand&) = delete;
  BackgroundCommand& operator=(const BackgroundCommand&) = delete;

  bool started() const { return pid_ > 0; }
  // True once the command has exited (reaps it).
  bool finished();
  int exit_status() const { return status_; }
  std::string output() const;

 private:
  int pid_ = -1;
  int status_ = -1;
  std::string out_path_;
};

}  // namespace shardtcp::testing
