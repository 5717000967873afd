// Shared by the preload unit tests, which run under LD_PRELOAD=libshardtcp-preload.so
// with a stack on a null port (meson sets SHARDTCP_ARGS): plain POSIX calls reach the
// stack for AF_INET sockets and the kernel for everything else.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace preload_test {

// The stack's address (SHARDTCP_ARGS gives it); the kernel has no such address in the
// test's namespace, so a bind to it succeeds only on the stack.
inline sockaddr_in stack_addr(unsigned short port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, "198.18.30.2", &a.sin_addr);
  return a;
}

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::strcmp(ci, "true") == 0;
}

// The EAL needs root here (DPDK's runtime directory, the vdev): skip outside CI.
#define PRELOAD_REQUIRE_ROOT()                                              \
  do {                                                                      \
    if (geteuid() != 0) {                                                   \
      if (::preload_test::in_ci()) FAIL() << "the preload tests need root"; \
      GTEST_SKIP() << "preload tests skipped: need root for the EAL";       \
    }                                                                       \
  } while (0)

// Expects `call` to fail with `err` (the kernel's errno for the same mistake).
#define EXPECT_ERRNO(call, err)                                     \
  do {                                                              \
    errno = 0;                                                      \
    EXPECT_EQ(-1, static_cast<long>(call)) << #call;                \
    EXPECT_EQ(err, errno) << #call << ": " << std::strerror(errno); \
  } while (0)

}  // namespace preload_test
