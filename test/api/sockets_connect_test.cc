// connect(): one test per errno row of the manual's table, each run three ways
// (blocking thread, non-blocking thread, engine thread), over a ring pair with a
// second stack as the peer. ENETDOWN lives in sockets_netdown_test.cc (its own process:
// it needs the stack not yet initialised).
#include <rte_mbuf.h>

#include <chrono>
#include <thread>
#include <vector>

#include "sockets_test_util.h"

namespace shardtcp::testing {
namespace {

using namespace std::chrono_literals;

class Connect : public ConnectMatrix {
 protected:
  int sock(int type = SOCK_STREAM) { return sock_of(AF_INET, type); }
};

TEST_P(Connect, ReturnsEADDRINUSE) {
  // Two sockets on the same local address and port (SO_REUSEADDR) to the same peer:
  // the second would duplicate the 4-tuple.
  // A port per caller: the previous run's connection may still be in TIME_WAIT.
  const sockaddr_in local =
      sin4(kSockAddrA, static_cast<std::uint16_t>(40007 + static_cast<int>(GetParam())));
  const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
  int on = 1;
  const int s1 = sock();
  const int s2 = sock();
  for (int s : {s1, s2}) {
    ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
    ASSERT_EQ(bind(s, &local, sizeof local), 0) << strerror(errno);
  }
  const ConnectOutcome first = connect_as(GetParam(), s1, &to, sizeof to);
  EXPECT_EQ(first.final, 0) << strerror(first.final);
  expect_sync(s2, to, EADDRINUSE);
}

TEST_P(Connect, ReturnsEADDRNOTAVAIL) {
  expect_sync(sock(), sin4(0xE0000001, 80), EADDRNOTAVAIL);  // 224.0.0.1 multicast
  expect_sync(sock(), sin4(0xFFFFFFFF, 80), EADDRNOTAVAIL);  // limited broadcast
  expect_sync(sock(), sin4(0xC61200FF, 80), EADDRNOTAVAIL);  // 198.18.0.255: our subnet's
}

TEST_P(Connect, ReturnsEAFNOSUPPORT) {
  sockaddr_in6 v6;
  std::memset(&v6, 0, sizeof v6);
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(kEchoPort);
  v6.sin6_addr.s6_addr[15] = 1;
  const int s = sock();
  int r = 0;
  auto call = [&] { r = connect_errno(s, &v6, sizeof v6); };
  if (GetParam() == Caller::kEngineThread)
    env_->run_on_peer(call);
  else
    call();
  EXPECT_EQ(r, EAFNOSUPPORT);
  // A family that is neither (the IPv6 matrix is sockets_connect6_test.cc).
  errno = 0;
  EXPECT_EQ(socket(AF_UNIX, SOCK_STREAM, 0), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);
}

TEST_P(Connect, ReturnsEALREADY) {
  const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
  const int s = sock();
  env_->peer_paused = true;  // the SYN waits in the ring: the request stays unanswered
  if (GetParam() == Caller::kBlocking) {
    int blocked = -1;
    ServedThread t([&] { blocked = connect_errno(s, &to, sizeof to); });
    serve_for(100ms);
    EXPECT_EQ(connect_errno(s, &to, sizeof to), EALREADY);
    env_->peer_paused = false;
    t.join();
    EXPECT_EQ(blocked, 0) << strerror(blocked);
  } else {
    int first = 0, second = 0;
    auto call = [&] {
      first = connect_errno(s, &to, sizeof to);
      second = connect_errno(s, &to, sizeof to);
    };
    if (GetParam() == Caller::kEngineThread)
      env_->run_on_peer(call);
    else
      call();
    EXPECT_EQ(first, EINPROGRESS);
    EXPECT_EQ(second, EALREADY);
    env_->peer_paused = false;
  }
}

TEST_P(Connect, ReturnsECONNREFUSED) {
  expect_async(sock(), sin4(kSockAddrB, kClosedPort), ECONNREFUSED);
}

TEST_P(Connect, ReturnsEDESTADDRREQ) {
  expect_sync(sock(), sin4(0, kEchoPort), EDESTADDRREQ);   // INADDR_ANY
  expect_sync(sock(), sin4(kSockAddrB, 0), EDESTADDRREQ);  // port zero
}

TEST_P(Connect, ReturnsEFAULT) {
  const int s = sock();
  int r = 0;
  auto call = [&] { r = connect_errno(s, nullptr, sizeof(sockaddr_in)); };
  if (GetParam() == Caller::kEngineThread)
    env_->run_on_peer(call);
  else
    call();
  EXPECT_EQ(r, EFAULT);
}

TEST_P(Connect, ReturnsECONNREFUSEDOnProtocolUnreachable) {
  // B without TCP answers the SYN with ICMP protocol unreachable, a hard error while
  // connecting (RFC 1122 4.2.3.9, as on Linux): refused, not left to time out.
  env_->run_on_peer([&] { env_->b->ip().set_transport(6, nullptr); });
  const int s = sock();
  set_connect_timeout(s, 700);
  expect_async(s, sin4(kSockAddrB, kEchoPort), ECONNREFUSED);
  env_->run_on_peer([&] { env_->b->ip().set_transport(6, &env_->b->engine_tcp(0)); });
}

TEST_P(Connect, EINPROGRESSThenEALREADYThenEISCONN) {
  const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
  const int s = sock();
  if (GetParam() == Caller::kBlocking) {
    EXPECT_EQ(connect_errno(s, &to, sizeof to), 0);
    EXPECT_EQ(connect_errno(s, &to, sizeof to), EISCONN);
    return;
  }
  env_->peer_paused = true;
  int first = 0, second = 0;
  auto call = [&] {
    first = connect_errno(s, &to, sizeof to);
    second = connect_errno(s, &to, sizeof to);
  };
  if (GetParam() == Caller::kEngineThread)
    env_->run_on_peer(call);
  else
    call();
  EXPECT_EQ(first, EINPROGRESS);
  EXPECT_EQ(second, EALREADY);
  env_->peer_paused = false;
  fd_set wr;
  FD_ZERO(&wr);
  FD_SET(s, &wr);
  timeval tv{10, 0};
  ASSERT_EQ(select(s + 1, nullptr, &wr, nullptr, &tv), 1);
  int third = 0;
  auto again = [&] { third = connect_errno(s, &to, sizeof to); };
  if (GetParam() == Caller::kEngineThread)
    env_->run_on_peer(again);
  else
    again();
  EXPECT_EQ(third, EISCONN);
  int err = -1;
  socklen_t el = sizeof err;
  EXPECT_EQ(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el), 0);
  EXPECT_EQ(err, 0);
}

TEST_P(Connect, ReturnsEINVAL) {
  const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
  const int s = sock();
  int r = 0;
  auto call = [&] { r = connect_errno(s, &to, sizeof to - 1); };
  if (GetParam() == Caller::kEngineThread)
    env_->run_on_peer(call);
  else
    call();
  EXPECT_EQ(r, EINVAL);
}

TEST_P(Connect, ReturnsEISCONN) {
  const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
  const int s = sock();
  const ConnectOutcome o = connect_as(GetParam(), s, &to, sizeof to);
  ASSERT_EQ(o.final, 0) << strerror(o.final);
  expect_sync(s, to, EISCONN);
}

TEST_P(Connect, ReturnsENETUNREACH) {
  expect_sync(sock(), sin4(0xC6140001, 80), ENETUNREACH);  // 198.20.0.1: no route
}

TEST_P(Connect, ReturnsENOBUFS) {
  // Exhaust A's pool: the SYN (and the connection's buffers) cannot be allocated.
  rte_mempool* pool = env_->a->pool();
  const int s = sock();
  std::vector<rte_mbuf*> held;
  while (rte_mbuf* m = rte_pktmbuf_alloc(pool)) held.push_back(m);
  ASSERT_FALSE(held.empty());
  expect_sync(s, sin4(kSockAddrB, kEchoPort), ENOBUFS);
  for (rte_mbuf* m : held) rte_pktmbuf_free(m);
  // The socket can try again once buffers are back.
  const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
  EXPECT_EQ(connect_as(GetParam(), s, &to, sizeof to).final, 0);
}

TEST_P(Connect, ReturnsENOTSOCK) {
  const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
  const int closed = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GT(closed, 0);
  ASSERT_EQ(closesocket(closed), 0);
  std::vector<int> bad = {-1, 0, 1023, 1 << 20, closed};
  for (int h : bad) {
    int r = 0;
    auto call = [&] { r = connect_errno(h, &to, sizeof to); };
    if (GetParam() == Caller::kEngineThread)
      env_->run_on_peer(call);
    else
      call();
    EXPECT_EQ(r, ENOTSOCK) << "handle " << h;
  }
}

TEST_P(Connect, ReturnsEOPNOTSUPP) {
  const int l = sock();
  const sockaddr_in local = sin4(kSockAddrA, 0);
  ASSERT_EQ(bind(l, &local, sizeof local), 0);
  ASSERT_EQ(listen(l, 4), 0);
  expect_sync(l, sin4(kSockAddrB, kEchoPort), EOPNOTSUPP);
}

TEST_P(Connect, ReturnsETIMEDOUT) {
  // 198.19.0.0/16 is routed to B, which drops it: nobody answers the SYN.
  const int s = sock();
  set_connect_timeout(s, 500);
  const auto start = std::chrono::steady_clock::now();
  expect_async(s, sin4(0xC6130005, 80), ETIMEDOUT);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 450ms);
}

INSTANTIATE_TEST_SUITE_P(AllCallers, Connect,
                         ::testing::Values(Caller::kBlocking, Caller::kNonBlocking,
                                           Caller::kEngineThread),
                         caller_name);

}  // namespace
}  // namespace shardtcp::testing
