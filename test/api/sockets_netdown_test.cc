// Before the stack is initialised every call fails with ENETDOWN (its own process:
// nothing here brings the stack up).
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "sockets.h"

namespace {

TEST(SocketsBeforeInit, EveryCallIsENETDOWN) {
  sockaddr_in a;
  std::memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(7);
  a.sin_addr.s_addr = htonl(0xC6120002);
  char buf[4] = {};
  socklen_t len = sizeof a;
  int v = 0;
  fd_set rd;
  FD_ZERO(&rd);
  timeval tv{0, 0};
  const int results[] = {
      socket(AF_INET, SOCK_STREAM, 0),
      bind(1, &a, sizeof a),
      listen(1, 1),
      accept(1, &a, &len),
      connect(1, &a, sizeof a),
      send(1, buf, 1, 0),
      recv(1, buf, 1, 0),
      sendto(1, buf, 1, 0, &a, sizeof a),
      recvfrom(1, buf, 1, 0, &a, &len),
      closesocket(1),
      shutdown(1, SHUT_RDWR),
      select(0, &rd, nullptr, nullptr, &tv),
      setsockopt(1, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v),
      getsockopt(1, SOL_SOCKET, SO_ERROR, &v, &len),
      getsockname(1, &a, &len),
      getpeername(1, &a, &len),
      ioctlsocket(1, FIONBIO, &v),
  };
  int i = 0;
  for (int r : results) {
    EXPECT_EQ(r, -1) << "call " << i;
    ++i;
  }
  // Each call set errno; check one at a time so a wrong errno names its call.
  errno = 0;
  EXPECT_EQ(connect(1, &a, sizeof a), -1);
  EXPECT_EQ(errno, ENETDOWN);
  errno = 0;
  EXPECT_EQ(socket(AF_INET, SOCK_DGRAM, 0), -1);
  EXPECT_EQ(errno, ENETDOWN);
  errno = 0;
  EXPECT_EQ(select(0, &rd, nullptr, nullptr, &tv), -1);
  EXPECT_EQ(errno, ENETDOWN);
  EXPECT_STREQ(strerror(ENETDOWN), "Network is down");
}

}  // namespace
