// Dual-stack AF_INET6 sockets (IPV6_V6ONLY off) over the ring pair's IPv4: a `::`
// listener takes IPv4 connections and names their ends v4-mapped (::ffff:a.b.c.d), a
// connect() or sendto() to a v4-mapped address goes out as IPv4, and the binding rules
// are Linux's (a dual `::` conflicts with 0.0.0.0 on the same port; an IPv6-only one
// does not). IPV6_V6ONLY itself: on by default in <sockets.h>, settable until the
// socket has a port.
#include <chrono>
#include <cstdint>
#include <string>

#include "sockets_test_util.h"

namespace shardtcp::testing {
namespace {

using namespace std::chrono_literals;

sockaddr_in6 sin6_mapped(std::uint32_t host_v4, std::uint16_t port) {
  sockaddr_in6 s;
  std::memset(&s, 0, sizeof s);
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  s.sin6_addr.s6_addr[10] = 0xff;
  s.sin6_addr.s6_addr[11] = 0xff;
  const std::uint32_t be = htonl(host_v4);
  std::memcpy(&s.sin6_addr.s6_addr[12], &be, 4);
  return s;
}

sockaddr_in6 sin6_any(std::uint16_t port) {
  sockaddr_in6 s;
  std::memset(&s, 0, sizeof s);
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  return s;
}

// The IPv4 address inside a v4-mapped sockaddr_in6 (host order), or 0 when it is none.
std::uint32_t mapped_v4(const sockaddr_in6& s) {
  if (!IN6_IS_ADDR_V4MAPPED(&s.sin6_addr)) return 0;
  std::uint32_t be = 0;
  std::memcpy(&be, &s.sin6_addr.s6_addr[12], 4);
  return ntohl(be);
}

class DualStack : public PairSocketsTest<> {
 protected:
  int sock6(int type, int v6only) {
    const int s = sock(type, AF_INET6);
    EXPECT_EQ(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only), 0)
        << strerror(errno);
    return s;
  }
  int v6only_of(int s) {
    int v = -1;
    socklen_t l = sizeof v;
    EXPECT_EQ(getsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v, &l), 0) << strerror(errno);
    return v;
  }
  void expect_peer_gets(std::uint32_t conn, const std::string& want) {
    bool got = false;
    for (int i = 0; i < 500 && !got; ++i) {
      got = env_->peer_received(conn) == want;
      if (!got) serve_for(2ms);
    }
    EXPECT_TRUE(got) << "peer has '" << env_->peer_received(conn) << "'";
  }
};

TEST_F(DualStack, V6onlyIsOnByDefaultSettableAndFixedOnceBound) {
  const int s = sock(SOCK_STREAM, AF_INET6);
  EXPECT_EQ(v6only_of(s), 1);
  const int off = 0, on = 1;
  ASSERT_EQ(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off), 0);
  EXPECT_EQ(v6only_of(s), 0);
  ASSERT_EQ(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on), 0);
  EXPECT_EQ(v6only_of(s), 1);
  const sockaddr_in6 any = sin6_any(0);
  ASSERT_EQ(bind(s, &any, sizeof any), 0);
  errno = 0;
  EXPECT_EQ(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off), -1);
  EXPECT_EQ(errno, EINVAL);  // as Linux: not once the socket has a port
  const int u = sock(SOCK_DGRAM, AF_INET6);
  EXPECT_EQ(v6only_of(u), 1);
  ASSERT_EQ(setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off), 0);
  EXPECT_EQ(v6only_of(u), 0);
  const int v4 = sock(SOCK_STREAM, AF_INET);
  errno = 0;
  EXPECT_EQ(setsockopt(v4, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off), -1);
  EXPECT_EQ(errno, ENOPROTOOPT);
}

TEST_F(DualStack, AnyListenerAcceptsIpv4AndNamesItV4Mapped) {
  const int l = sock6(SOCK_STREAM, 0);
  const sockaddr_in6 any = sin6_any(5201);
  ASSERT_EQ(bind(l, &any, sizeof any), 0) << strerror(errno);
  ASSERT_EQ(listen(l, 4), 0);
  sockaddr_in6 name{};
  socklen_t nl = sizeof name;
  ASSERT_EQ(getsockname(l, &name, &nl), 0);
  EXPECT_EQ(name.sin6_family, AF_INET6);
  EXPECT_TRUE(IN6_IS_ADDR_UNSPECIFIED(&name.sin6_addr));
  EXPECT_EQ(ntohs(name.sin6_port), 5201);
  const std::uint32_t c = env_->peer_connect(5201, "hello over ipv4");
  ASSERT_NE(c, 0u);
  sockaddr_in6 from{};
  socklen_t fl = sizeof from;
  const int a = accept(l, &from, &fl);
  ASSERT_GT(a, 0) << strerror(errno);
  open_.push_back(a);
  EXPECT_EQ(fl, sizeof(sockaddr_in6));
  EXPECT_EQ(from.sin6_family, AF_INET6);
  EXPECT_EQ(mapped_v4(from), kSockAddrB);
  EXPECT_NE(from.sin6_port, 0);
  sockaddr_in6 local{}, peer{};
  socklen_t ll = sizeof local, pl = sizeof peer;
  ASSERT_EQ(getsockname(a, &local, &ll), 0);
  ASSERT_EQ(getpeername(a, &peer, &pl), 0);
  EXPECT_EQ(mapped_v4(local), kSockAddrA);
  EXPECT_EQ(ntohs(local.sin6_port), 5201);
  EXPECT_EQ(mapped_v4(peer), kSockAddrB);
  EXPECT_EQ(peer.sin6_port, from.sin6_port);
  EXPECT_EQ(v6only_of(a), 0);  // inherited from the listener
  char buf[32];
  ASSERT_EQ(recv(a, buf, 15, MSG_WAITALL), 15);
  EXPECT_EQ(std::string(buf, 15), "hello over ipv4");
  ASSERT_EQ(send(a, "back", 4, 0), 4);
  expect_peer_gets(c, "back");
  env_->peer_abort(c);
}

// Listening without bind() on a dual-stack socket takes IPv4 too (the ephemeral port
// is bound to both families).
TEST_F(DualStack, ListenWithoutBindTakesIpv4) {
  const int l = sock6(SOCK_STREAM, 0);
  ASSERT_EQ(listen(l, 4), 0);
  sockaddr_in6 name{};
  socklen_t nl = sizeof name;
  ASSERT_EQ(getsockname(l, &name, &nl), 0);
  const std::uint16_t port = ntohs(name.sin6_port);
  ASSERT_NE(port, 0);
  const std::uint32_t c = env_->peer_connect(port, "x");
  ASSERT_NE(c, 0u);
  const int a = accept(l, nullptr, nullptr);
  ASSERT_GT(a, 0) << strerror(errno);
  open_.push_back(a);
  char b = 0;
  ASSERT_EQ(recv(a, &b, 1, 0), 1);
  EXPECT_EQ(b, 'x');
  env_->peer_abort(c);
}

// An IPv6-only `::` and 0.0.0.0 share a port, and IPv4 goes to the IPv4 socket; a
// dual-stack `::` conflicts with 0.0.0.0 either way round.
TEST_F(DualStack, BindingRulesAreLinuxs) {
  {
    const int v6 = sock6(SOCK_STREAM, 1);
    const sockaddr_in6 any6 = sin6_any(5202);
    ASSERT_EQ(bind(v6, &any6, sizeof any6), 0) << strerror(errno);
    ASSERT_EQ(listen(v6, 4), 0);
    const int v4 = sock(SOCK_STREAM, AF_INET);
    const sockaddr_in any4 = sin4(0, 5202);
    ASSERT_EQ(bind(v4, &any4, sizeof any4), 0) << strerror(errno);
    ASSERT_EQ(listen(v4, 4), 0);
    const std::uint32_t c = env_->peer_connect(5202, "v4");
    ASSERT_NE(c, 0u);
    const int a = accept(v4, nullptr, nullptr);
    ASSERT_GT(a, 0) << strerror(errno);
    open_.push_back(a);
    int on = 1;
    ASSERT_EQ(ioctlsocket(v6, FIONBIO, &on), 0);
    errno = 0;
    EXPECT_EQ(accept(v6, nullptr, nullptr), -1);  // the IPv6-only one got nothing
    EXPECT_EQ(errno, EWOULDBLOCK);
    env_->peer_abort(c);
  }
  {
    const int v4 = sock(SOCK_STREAM, AF_INET);
    const sockaddr_in any4 = sin4(0, 5203);
    ASSERT_EQ(bind(v4, &any4, sizeof any4), 0);
    const int dual = sock6(SOCK_STREAM, 0);
    const sockaddr_in6 any6 = sin6_any(5203);
    errno = 0;
    EXPECT_EQ(bind(dual, &any6, sizeof any6), -1);
    EXPECT_EQ(errno, EADDRINUSE);
  }
  {
    const int dual = sock6(SOCK_STREAM, 0);
    const sockaddr_in6 any6 = sin6_any(5204);
    ASSERT_EQ(bind(dual, &any6, sizeof any6), 0);
    const int v4 = sock(SOCK_STREAM, AF_INET);
    const sockaddr_in any4 = sin4(0, 5204);
    errno = 0;
    EXPECT_EQ(bind(v4, &any4, sizeof any4), -1);
    EXPECT_EQ(errno, EADDRINUSE);
  }
}

TEST_F(DualStack, ConnectToAV4MappedAddressGoesOutAsIpv4) {
  const int s = sock6(SOCK_STREAM, 0);
  const sockaddr_in6 to = sin6_mapped(kSockAddrB, kEchoPort);
  ASSERT_EQ(connect(s, &to, sizeof to), 0) << strerror(errno);
  sockaddr_in6 local{}, peer{};
  socklen_t ll = sizeof local, pl = sizeof peer;
  ASSERT_EQ(getsockname(s, &local, &ll), 0);
  ASSERT_EQ(getpeername(s, &peer, &pl), 0);
  EXPECT_EQ(local.sin6_family, AF_INET6);
  EXPECT_EQ(mapped_v4(local), kSockAddrA);
  EXPECT_EQ(mapped_v4(peer), kSockAddrB);
  EXPECT_EQ(ntohs(peer.sin6_port), kEchoPort);
  ASSERT_EQ(send(s, "mapped", 6, 0), 6);
  char buf[8];
  ASSERT_EQ(recv(s, buf, 6, MSG_WAITALL), 6);
  EXPECT_EQ(std::string(buf, 6), "mapped");
  // An IPv6-only socket cannot reach a v4-mapped address, nor bind one (Linux's errnos).
  const int only = sock6(SOCK_STREAM, 1);
  errno = 0;
  EXPECT_EQ(connect(only, &to, sizeof to), -1);
  EXPECT_EQ(errno, ENETUNREACH);
  const sockaddr_in6 mine = sin6_mapped(kSockAddrA, 0);
  errno = 0;
  EXPECT_EQ(bind(only, &mine, sizeof mine), -1);
  EXPECT_EQ(errno, EINVAL);
  // A dual-stack one binds it: its port is an IPv4 one.
  const int dual = sock6(SOCK_STREAM, 0);
  ASSERT_EQ(bind(dual, &mine, sizeof mine), 0) << strerror(errno);
  ll = sizeof local;
  ASSERT_EQ(getsockname(dual, &local, &ll), 0);
  EXPECT_EQ(mapped_v4(local), kSockAddrA);
}

TEST_F(DualStack, UdpSendtoAV4MappedAddressAndRecvfromNamesItMapped) {
  const int u = sock6(SOCK_DGRAM, 0);
  const sockaddr_in6 echo = sin6_mapped(kSockAddrB, kEchoPort);
  ASSERT_EQ(sendto(u, "dgram6", 6, 0, &echo, sizeof echo), 6) << strerror(errno);
  char buf[16];
  sockaddr_in6 from{};
  socklen_t fl = sizeof from;
  ASSERT_EQ(recvfrom(u, buf, sizeof buf, 0, &from, &fl), 6) << strerror(errno);
  EXPECT_EQ(std::string(buf, 6), "dgram6");
  EXPECT_EQ(fl, sizeof(sockaddr_in6));
  EXPECT_EQ(mapped_v4(from), kSockAddrB);
  EXPECT_EQ(ntohs(from.sin6_port), kEchoPort);
  // Connected to a mapped peer, send()/recv() work and the peer's name is mapped.
  ASSERT_EQ(connect(u, &echo, sizeof echo), 0) << strerror(errno);
  sockaddr_in6 peer{};
  socklen_t pl = sizeof peer;
  ASSERT_EQ(getpeername(u, &peer, &pl), 0);
  EXPECT_EQ(mapped_v4(peer), kSockAddrB);
  ASSERT_EQ(send(u, "again", 5, 0), 5);
  ASSERT_EQ(recv(u, buf, sizeof buf, 0), 5);
  EXPECT_EQ(std::string(buf, 5), "again");
  const int only = sock6(SOCK_DGRAM, 1);
  errno = 0;
  EXPECT_EQ(sendto(only, "x", 1, 0, &echo, sizeof echo), -1);
  EXPECT_EQ(errno, ENETUNREACH);
}

// A dual-stack UDP socket bound to `::` receives IPv4 datagrams (B's echo answers the
// port we sent from).
TEST_F(DualStack, UdpBoundToAnyReceivesIpv4) {
  const int u = sock6(SOCK_DGRAM, 0);
  const sockaddr_in6 any = sin6_any(5205);
  ASSERT_EQ(bind(u, &any, sizeof any), 0) << strerror(errno);
  const sockaddr_in6 echo = sin6_mapped(kSockAddrB, kEchoPort);
  ASSERT_EQ(sendto(u, "bound", 5, 0, &echo, sizeof echo), 5) << strerror(errno);
  char buf[8];
  sockaddr_in6 from{};
  socklen_t fl = sizeof from;
  ASSERT_EQ(recvfrom(u, buf, sizeof buf, 0, &from, &fl), 5);
  EXPECT_EQ(mapped_v4(from), kSockAddrB);
  sockaddr_in6 name{};
  socklen_t nl = sizeof name;
  ASSERT_EQ(getsockname(u, &name, &nl), 0);
  EXPECT_EQ(ntohs(name.sin6_port), 5205);
  // And conflicts with 0.0.0.0 on its port, as the TCP one does.
  const int v4 = sock(SOCK_DGRAM, AF_INET);
  const sockaddr_in any4 = sin4(0, 5205);
  errno = 0;
  EXPECT_EQ(bind(v4, &any4, sizeof any4), -1);
  EXPECT_EQ(errno, EADDRINUSE);
}

}  // namespace
}  // namespace shardtcp::testing
