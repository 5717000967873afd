// connect() over IPv6: the manual's errno table again with sockaddr_in6 on AF_INET6
// sockets, each row run three ways (blocking thread, non-blocking thread, engine
// thread), over the ring pair of sockets_pair_env.h with IPv6 added at run time:
// A 2001:db8:5::1/64, B 2001:db8:5::2/64 (B echoes TCP and UDP on [::]:7; port 9 is
// closed), and 2001:db8:7::/64 routed via B, which drops it (a blackhole).
#include <rte_mbuf.h>

#include <chrono>
#include <thread>
#include <vector>

#include "sockets6_peer.h"
#include "sockets_pair_env.h"
// Last: <sockets.h> renames socket/connect/send/... for what follows.
#include "sockets_test_util.h"

namespace shardtcp::testing {
namespace {

using namespace std::chrono_literals;

const std::uint8_t kA6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const std::uint8_t kB6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

sockaddr_in6 sin6(const std::uint8_t (&a)[16], std::uint16_t port) {
  sockaddr_in6 s;
  std::memset(&s, 0, sizeof s);
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  std::memcpy(s.sin6_addr.s6_addr, a, 16);
  return s;
}
sockaddr_in6 sin6(const char* text, std::uint16_t port) {
  sockaddr_in6 s;
  std::memset(&s, 0, sizeof s);
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET6, text, &s.sin6_addr), 1) << text;
  return s;
}

class Connect6 : public ConnectMatrix {
 protected:
  static void SetUpTestSuite() {
    SocketsPairEnv& env = sockets_env();
    ASSERT_NE(env.a, nullptr);
    ASSERT_TRUE(add_ipv6_to_pair(env, kA6, kB6));
  }
  int sock(int type = SOCK_STREAM) { return sock_of(AF_INET6, type); }
  int on_callers_thread(const std::function<int()>& f) {
    int r = 0;
    if (GetParam() == Caller::kEngineThread)
      env_->run_on_peer([&] { r = f(); });
    else
      r = f();
    return r;
  }
};

TEST_P(Connect6, ConnectsAndNamesBothEndsWithSockaddrIn6) {
  const sockaddr_in6 to = sin6(kB6, kEchoPort);
  const int s = sock();
  const ConnectOutcome o = connect_as(GetParam(), s, &to, sizeof to);
  ASSERT_EQ(o.final, 0) << strerror(o.final);
  sockaddr_in6 local{}, peer{};
  socklen_t ll = sizeof local, pl = sizeof peer;
  ASSERT_EQ(getsockname(s, &local, &ll), 0);
  ASSERT_EQ(getpeername(s, &peer, &pl), 0);
  EXPECT_EQ(ll, sizeof(sockaddr_in6));
  EXPECT_EQ(local.sin6_family, AF_INET6);
  EXPECT_EQ(0, std::memcmp(local.sin6_addr.s6_addr, kA6, 16));  // the route's source
  EXPECT_NE(local.sin6_port, 0);
  EXPECT_EQ(peer.sin6_family, AF_INET6);
  EXPECT_EQ(0, std::memcmp(peer.sin6_addr.s6_addr, kB6, 16));
  EXPECT_EQ(ntohs(peer.sin6_port), kEchoPort);
  expect_sync(s, to, EISCONN);
}

TEST_P(Connect6, ReturnsEADDRINUSE) {
  const int s1 = sock(), s2 = sock();
  int on = 1;
  ASSERT_EQ(setsockopt(s1, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
  ASSERT_EQ(setsockopt(s2, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
  // A port per caller: the previous run's connection may still be in TIME_WAIT.
  const sockaddr_in6 local =
      sin6(kA6, static_cast<std::uint16_t>(40123 + static_cast<int>(GetParam())));
  ASSERT_EQ(bind(s1, &local, sizeof local), 0);
  ASSERT_EQ(bind(s2, &local, sizeof local), 0);
  const sockaddr_in6 to = sin6(kB6, kEchoPort);
  ASSERT_EQ(connect_as(GetParam(), s1, &to, sizeof to).final, 0);
  expect_sync(s2, to, EADDRINUSE);
}

TEST_P(Connect6, ReturnsEADDRNOTAVAIL) {
  expect_sync(sock(), sin6("ff02::1", 80), EADDRNOTAVAIL);     // all nodes
  expect_sync(sock(), sin6("ff0e::1234", 80), EADDRNOTAVAIL);  // global-scope group
}

TEST_P(Connect6, ReturnsEAFNOSUPPORT) {
  // A v4 address on a v6 socket, and the reverse.
  const sockaddr_in v4 = sin4(kSockAddrB, kEchoPort);
  const int s6 = sock();
  EXPECT_EQ(on_callers_thread([&] { return connect_errno(s6, &v4, sizeof v4); }), EAFNOSUPPORT);
  const int s4 = make_socket(GetParam());
  open_.push_back(s4);
  const sockaddr_in6 v6 = sin6(kB6, kEchoPort);
  EXPECT_EQ(on_callers_thread([&] { return connect_errno(s4, &v6, sizeof v6); }), EAFNOSUPPORT);
  // UDP the same.
  const int u6 = sock(SOCK_DGRAM);
  EXPECT_EQ(on_callers_thread([&] { return connect_errno(u6, &v4, sizeof v4); }), EAFNOSUPPORT);
}

TEST_P(Connect6, ReturnsEALREADY) {
  const sockaddr_in6 to = sin6(kB6, kEchoPort);
  const int s = sock();
  if (GetParam() == Caller::kBlocking) {
    EXPECT_EQ(connect_errno(s, &to, sizeof to), 0);
    return;
  }
  env_->peer_paused = true;
  int first = 0, second = 0;
  on_callers_thread([&] {
    first = connect_errno(s, &to, sizeof to);
    second = connect_errno(s, &to, sizeof to);
    return 0;
  });
  EXPECT_EQ(first, EINPROGRESS);
  EXPECT_EQ(second, EALREADY);
  env_->peer_paused = false;
  fd_set wr;
  FD_ZERO(&wr);
  FD_SET(s, &wr);
  timeval tv{10, 0};
  ASSERT_EQ(select(s + 1, nullptr, &wr, nullptr, &tv), 1);
  EXPECT_EQ(on_callers_thread([&] { return connect_errno(s, &to, sizeof to); }), EISCONN);
}

TEST_P(Connect6, ReturnsECONNREFUSED) {
  expect_async(sock(), sin6(kB6, kClosedPort), ECONNREFUSED);
}

TEST_P(Connect6, ReturnsEDESTADDRREQ) {
  expect_sync(sock(), sin6("::", kEchoPort), EDESTADDRREQ);  // in6addr_any
  sockaddr_in6 any;
  std::memset(&any, 0, sizeof any);
  any.sin6_family = AF_INET6;
  any.sin6_addr = IN6ADDR_ANY_INIT;
  any.sin6_port = htons(kEchoPort);
  expect_sync(sock(), any, EDESTADDRREQ);
  expect_sync(sock(), sin6(kB6, 0), EDESTADDRREQ);  // port zero
}

TEST_P(Connect6, ReturnsEFAULT) {
  const int s = sock();
  EXPECT_EQ(on_callers_thread([&] { return connect_errno(s, nullptr, sizeof(sockaddr_in6)); }),
            EFAULT);
}

TEST_P(Connect6, ReturnsECONNREFUSEDOnUnknownNextHeader) {
  // B without TCP answers the SYN with an ICMPv6 parameter problem (unknown next
  // header), IPv6's protocol unreachable: a hard error while connecting, as over IPv4.
  env_->run_on_peer([&] { env_->b->ip().set_transport(6, nullptr); });
  const int s = sock();
  set_connect_timeout(s, 700);
  expect_async(s, sin6(kB6, kEchoPort), ECONNREFUSED);
  env_->run_on_peer([&] { env_->b->ip().set_transport(6, &env_->b->engine_tcp(0)); });
}

TEST_P(Connect6, ReturnsEINVAL) {
  // addrlen smaller than sockaddr_in6 (even if it would hold a sockaddr_in).
  const sockaddr_in6 to = sin6(kB6, kEchoPort);
  const int s = sock();
  EXPECT_EQ(on_callers_thread([&] { return connect_errno(s, &to, sizeof to - 1); }), EINVAL);
  EXPECT_EQ(on_callers_thread([&] { return connect_errno(s, &to, sizeof(sockaddr_in)); }), EINVAL);
}

TEST_P(Connect6, ReturnsEISCONN) {
  const sockaddr_in6 to = sin6(kB6, kEchoPort);
  const int s = sock();
  ASSERT_EQ(connect_as(GetParam(), s, &to, sizeof to).final, 0);
  expect_sync(s, to, EISCONN);
}

TEST_P(Connect6, ReturnsENETUNREACH) {
  expect_sync(sock(), sin6("2001:db8:99::1", 80), ENETUNREACH);  // no route
}

TEST_P(Connect6, ReturnsENOBUFS) {
  rte_mempool* pool = env_->a->pool();
  const int s = sock();
  std::vector<rte_mbuf*> held;
  while (rte_mbuf* m = rte_pktmbuf_alloc(pool)) held.push_back(m);
  ASSERT_FALSE(held.empty());
  expect_sync(s, sin6(kB6, kEchoPort), ENOBUFS);
  for (rte_mbuf* m : held) rte_pktmbuf_free(m);
  const sockaddr_in6 to = sin6(kB6, kEchoPort);
  EXPECT_EQ(connect_as(GetParam(), s, &to, sizeof to).final, 0);
}

TEST_P(Connect6, ReturnsENOTSOCK) {
  const sockaddr_in6 to = sin6(kB6, kEchoPort);
  const int closed = socket(AF_INET6, SOCK_STREAM, 0);
  ASSERT_GT(closed, 0);
  ASSERT_EQ(closesocket(closed), 0);
  for (int h : {-1, 0, 1023, closed})
    EXPECT_EQ(on_callers_thread([&] { return connect_errno(h, &to, sizeof to); }), ENOTSOCK)
        << "handle " << h;
}

TEST_P(Connect6, ReturnsEOPNOTSUPP) {
  const int l = sock();
  const sockaddr_in6 local = sin6(kA6, 0);
  ASSERT_EQ(bind(l, &local, sizeof local), 0);
  ASSERT_EQ(listen(l, 4), 0);
  expect_sync(l, sin6(kB6, kEchoPort), EOPNOTSUPP);
}

TEST_P(Connect6, ReturnsETIMEDOUT) {
  // 2001:db8:7::/64 is routed to B, which drops it: nobody answers the SYN.
  const int s = sock();
  set_connect_timeout(s, 500);
  expect_async(s, sin6("2001:db8:7::5", 80), ETIMEDOUT);
}

TEST_P(Connect6, UdpConnectAndV6OnlyOption) {
  const int u = sock(SOCK_DGRAM);
  const sockaddr_in6 to = sin6(kB6, kEchoPort);
  EXPECT_EQ(on_callers_thread([&] { return connect_errno(u, &to, sizeof to); }), 0);
  EXPECT_EQ(on_callers_thread([&] { return connect_errno(u, &to, sizeof to - 1); }), EINVAL);
  int v6only = -1;
  socklen_t len = sizeof v6only;
  ASSERT_EQ(getsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), 0);
  EXPECT_EQ(v6only, 1);  // <sockets.h>'s default: IPv6 only (no v4-mapped addresses)
  int one = 1, zero = 0;
  EXPECT_EQ(setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one), 0);
  errno = 0;
  EXPECT_EQ(setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero), -1);
  EXPECT_EQ(errno, EINVAL);  // as Linux: not once the socket has a port (connected)
  // Not an option of IPv4 sockets.
  const int s4 = make_socket(GetParam());
  open_.push_back(s4);
  errno = 0;
  EXPECT_EQ(getsockopt(s4, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), -1);
  EXPECT_EQ(errno, ENOPROTOOPT);
}

// A dual-stack socket (IPV6_V6ONLY off) still speaks IPv6 to an IPv6 peer, names it
// as such (not v4-mapped), and so does a dual-stack datagram socket.
TEST_P(Connect6, DualStackSocketsStillSpeakIpv6) {
  const sockaddr_in6 to = sin6(kB6, kEchoPort);
  const int s = sock();
  const int u = sock(SOCK_DGRAM);
  const int zero = 0;
  ASSERT_EQ(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero), 0);
  ASSERT_EQ(setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero), 0);
  const ConnectOutcome o = connect_as(GetParam(), s, &to, sizeof to);
  ASSERT_EQ(o.final, 0) << strerror(o.final);
  sockaddr_in6 peer{};
  socklen_t pl = sizeof peer;
  ASSERT_EQ(getpeername(s, &peer, &pl), 0);
  EXPECT_EQ(0, std::memcmp(peer.sin6_addr.s6_addr, kB6, 16));
  int on = 0;
  ASSERT_EQ(ioctlsocket(s, FIONBIO, &on), 0);
  ASSERT_EQ(send(s, "six", 3, 0), 3);
  char buf[8];
  ASSERT_EQ(recv(s, buf, 3, MSG_WAITALL), 3);
  EXPECT_EQ(std::string(buf, 3), "six");
  ASSERT_EQ(sendto(u, "udp6", 4, 0, &to, sizeof to), 4) << strerror(errno);
  ASSERT_EQ(ioctlsocket(u, FIONBIO, &on), 0);
  sockaddr_in6 from{};
  socklen_t fl = sizeof from;
  ASSERT_EQ(recvfrom(u, buf, sizeof buf, 0, &from, &fl), 4) << strerror(errno);
  EXPECT_EQ(0, std::memcmp(from.sin6_addr.s6_addr, kB6, 16));
}

// Data through AF_INET6 sockets: TCP and UDP echoes from B, peers named in sockaddr_in6.
TEST_P(Connect6, TcpAndUdpEchoOverIpv6) {
  const sockaddr_in6 to = sin6(kB6, kEchoPort);
  const int s = sock();
  ASSERT_EQ(connect_as(GetParam(), s, &to, sizeof to).final, 0);
  const char msg[] = "hello over IPv6";
  char got[64] = {};
  timeval tv{5, 0};
  ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  if (GetParam() == Caller::kBlocking) {
    ASSERT_EQ(send(s, msg, sizeof msg, 0), static_cast<int>(sizeof msg));
    std::size_t n = 0;
    while (n < sizeof msg) {
      const int r = recv(s, got + n, static_cast<int>(sizeof got - n), 0);
      ASSERT_GT(r, 0) << strerror(errno);
      n += static_cast<std::size_t>(r);
    }
    EXPECT_STREQ(got, msg);
  }
  const int u = sock(SOCK_DGRAM);
  int off = 0;
  ASSERT_EQ(ioctlsocket(u, FIONBIO, &off), 0);
  ASSERT_EQ(setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  ASSERT_EQ(sendto(u, msg, sizeof msg, 0, &to, sizeof to), static_cast<int>(sizeof msg));
  sockaddr_in6 from{};
  socklen_t fl = sizeof from;
  std::memset(got, 0, sizeof got);
  ASSERT_EQ(recvfrom(u, got, sizeof got, 0, &from, &fl), static_cast<int>(sizeof msg))
      << strerror(errno);
  EXPECT_STREQ(got, msg);
  EXPECT_EQ(fl, sizeof(sockaddr_in6));
  EXPECT_EQ(from.sin6_family, AF_INET6);
  EXPECT_EQ(0, std::memcmp(from.sin6_addr.s6_addr, kB6, 16));
  EXPECT_EQ(ntohs(from.sin6_port), kEchoPort);
  // A v4 destination on this socket is refused.
  const sockaddr_in v4 = sin4(kSockAddrB, kEchoPort);
  errno = 0;
  EXPECT_EQ(sendto(u, msg, sizeof msg, 0, &v4, sizeof v4), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);
}

INSTANTIATE_TEST_SUITE_P(AllCallers, Connect6,
                         ::testing::Values(Caller::kBlocking, Caller::kNonBlocking,
                                           Caller::kEngineThread),
                         caller_name);

}  // namespace
}  // namespace shardtcp::testing
