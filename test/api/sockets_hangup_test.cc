// Hang-up readiness of <sockets.h> sockets over the ring pair: what the epoll-style
// set and shardtcp_socket_events() report after the peer's FIN (RDHUP with IN, no HUP),
// a reset (HUP and ERR, whether asked or not) and a local shutdown(SHUT_WR) followed by
// the peer's FIN (HUP), as Linux's tcp_poll() reports them.
#include <chrono>
#include <cstdint>

#include "sockets_test_util.h"

namespace shardtcp::testing {
namespace {

using namespace std::chrono_literals;

class Hangup : public PairSocketsTest<> {
 protected:
  // A listener on `port` and the connection B opens to it, accepted.
  int accepted_from_peer(std::uint16_t port, std::uint32_t* conn) {
    const int l = sock();
    const sockaddr_in local = sin4(0, port);
    EXPECT_EQ(bind(l, &local, sizeof local), 0) << strerror(errno);
    EXPECT_EQ(listen(l, 4), 0) << strerror(errno);
    *conn = env_->peer_connect(port, "");
    EXPECT_NE(*conn, 0u);
    const int a = accept(l, nullptr, nullptr);
    EXPECT_GT(a, 0) << strerror(errno);
    open_.push_back(a);
    return a;
  }
  // A socket connected to B's echo server.
  int connected_to_echo() {
    const int s = sock();
    const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
    EXPECT_EQ(connect(s, &to, sizeof to), 0) << strerror(errno);
    return s;
  }
  // Waits (up to 5 s) until `s` reports every bit of `bits`; returns what it reports.
  unsigned wait_events(int s, unsigned bits) {
    int ev = 0;
    for (int i = 0; i < 2500; ++i) {
      ev = shardtcp_socket_events(s);
      if (ev < 0 || (static_cast<unsigned>(ev) & bits) == bits) break;
      serve_for(2ms);
    }
    return static_cast<unsigned>(ev);
  }
  // One wait of a set watching only `asked` on `s`: the events it reports.
  unsigned epoll_once(int s, unsigned asked) {
    const int ep = shardtcp_epoll_create();
    EXPECT_GT(ep, 0);
    shardtcp_epoll_event ev{asked, nullptr};
    EXPECT_EQ(shardtcp_epoll_ctl(ep, SHARDTCP_EPOLL_CTL_ADD, s, &ev), 0);
    shardtcp_epoll_event out[2]{};
    const int n = shardtcp_epoll_wait(ep, out, 2, 1000);
    EXPECT_EQ(shardtcp_epoll_close(ep), 0);
    return n == 1 ? out[0].events : 0u;
  }
};

TEST_F(Hangup, AConnectedSocketReportsNoHangup) {
  std::uint32_t c = 0;
  const int a = accepted_from_peer(5101, &c);
  const unsigned ev = wait_events(a, SHARDTCP_EPOLLOUT);
  EXPECT_EQ(ev & (SHARDTCP_EPOLLRDHUP | SHARDTCP_EPOLLHUP | SHARDTCP_EPOLLERR), 0u) << ev;
  env_->peer_abort(c);
}

TEST_F(Hangup, PeerFinReportsRdhupAndInButNoHup) {
  std::uint32_t c = 0;
  const int a = accepted_from_peer(5102, &c);
  env_->peer_shutdown(c);
  const unsigned ev = wait_events(a, SHARDTCP_EPOLLRDHUP);
  EXPECT_TRUE(ev & SHARDTCP_EPOLLRDHUP) << ev;
  EXPECT_TRUE(ev & SHARDTCP_EPOLLIN) << ev;
  EXPECT_TRUE(ev & SHARDTCP_EPOLLOUT) << ev;  // our direction is still open
  EXPECT_FALSE(ev & SHARDTCP_EPOLLHUP) << ev;
  EXPECT_FALSE(ev & SHARDTCP_EPOLLERR) << ev;
  // A set reports RDHUP only when asked for it.
  EXPECT_EQ(epoll_once(a, SHARDTCP_EPOLLIN | SHARDTCP_EPOLLRDHUP),
            SHARDTCP_EPOLLIN | SHARDTCP_EPOLLRDHUP);
  EXPECT_EQ(epoll_once(a, SHARDTCP_EPOLLIN), SHARDTCP_EPOLLIN);
  // And the socket still sends: the peer receives it.
  ASSERT_EQ(send(a, "after", 5, 0), 5);
  bool got = false;
  for (int i = 0; i < 500 && !got; ++i) {
    got = env_->peer_received(c) == "after";
    if (!got) serve_for(2ms);
  }
  EXPECT_TRUE(got);
  env_->peer_abort(c);
}

TEST_F(Hangup, ResetReportsHupAndErrEvenUnasked) {
  std::uint32_t c = 0;
  const int a = accepted_from_peer(5103, &c);
  env_->peer_abort(c);
  const unsigned ev = wait_events(a, SHARDTCP_EPOLLHUP | SHARDTCP_EPOLLERR);
  EXPECT_TRUE(ev & SHARDTCP_EPOLLHUP) << ev;
  EXPECT_TRUE(ev & SHARDTCP_EPOLLERR) << ev;
  EXPECT_TRUE(ev & SHARDTCP_EPOLLRDHUP) << ev;
  EXPECT_TRUE(ev & SHARDTCP_EPOLLIN) << ev;
  // A set that asked for nothing but output still hears of both.
  const unsigned got = epoll_once(a, SHARDTCP_EPOLLOUT);
  EXPECT_TRUE(got & SHARDTCP_EPOLLHUP) << got;
  EXPECT_TRUE(got & SHARDTCP_EPOLLERR) << got;
  EXPECT_FALSE(got & SHARDTCP_EPOLLRDHUP) << got;  // not asked
  // SO_ERROR takes the error; the hang-up stays.
  int err = 0;
  socklen_t el = sizeof err;
  ASSERT_EQ(getsockopt(a, SOL_SOCKET, SO_ERROR, &err, &el), 0);
  EXPECT_EQ(err, ECONNRESET);
  const unsigned after = static_cast<unsigned>(shardtcp_socket_events(a));
  EXPECT_FALSE(after & SHARDTCP_EPOLLERR) << after;
  EXPECT_TRUE(after & SHARDTCP_EPOLLHUP) << after;
}

TEST_F(Hangup, ShutdownWriteThenPeerFinReportsHup) {
  const int s = connected_to_echo();
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(shutdown(s, SHUT_WR), 0);
  // Our FIN alone is no hang-up (the peer may still send).
  const unsigned half = static_cast<unsigned>(shardtcp_socket_events(s));
  EXPECT_FALSE(half & SHARDTCP_EPOLLHUP) << half;
  // The echo server answers our FIN with its own.
  const unsigned ev = wait_events(s, SHARDTCP_EPOLLHUP);
  EXPECT_TRUE(ev & SHARDTCP_EPOLLHUP) << ev;
  EXPECT_TRUE(ev & SHARDTCP_EPOLLRDHUP) << ev;
  EXPECT_TRUE(ev & SHARDTCP_EPOLLIN) << ev;
  EXPECT_FALSE(ev & SHARDTCP_EPOLLERR) << ev;
  EXPECT_TRUE(epoll_once(s, SHARDTCP_EPOLLIN) & SHARDTCP_EPOLLHUP);
  char buf[4];
  EXPECT_EQ(recv(s, buf, sizeof buf, 0), 0);
}

TEST_F(Hangup, ShutdownBothWaysReportsHupAtOnce) {
  const int s = connected_to_echo();
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(shutdown(s, SHUT_RDWR), 0);
  const unsigned ev = static_cast<unsigned>(shardtcp_socket_events(s));
  EXPECT_TRUE(ev & SHARDTCP_EPOLLHUP) << ev;
  EXPECT_TRUE(ev & SHARDTCP_EPOLLRDHUP) << ev;
}

TEST_F(Hangup, SocketEventsFailsOnAClosedHandle) {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GT(s, 0);
  EXPECT_EQ(shardtcp_socket_events(s), 0);  // fresh: nothing to report
  ASSERT_EQ(closesocket(s), 0);
  errno = 0;
  EXPECT_EQ(shardtcp_socket_events(s), -1);
  EXPECT_EQ(errno, ENOTSOCK);
}

}  // namespace
}  // namespace shardtcp::testing
