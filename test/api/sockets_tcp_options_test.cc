// IPPROTO_TCP options through <sockets.h>, over the ring pair against the peer's echo
// server: Linux's units and bounds, the values read back, TCP_INFO, TCP_CORK and
// MSG_MORE holding a partial segment, and SHUT_RD discarding input.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "sockets_test_util.h"

namespace shardtcp::testing {
namespace {

using namespace std::chrono_literals;

class TcpOptions : public PairSocketsTest<> {
 protected:
  int connected_to_echo(int s) {
    const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
    EXPECT_EQ(connect(s, &to, sizeof to), 0) << strerror(errno);
    return s;
  }
  static int set_int(int s, int name, int v) {
    return setsockopt(s, IPPROTO_TCP, name, &v, sizeof v);
  }
  static int get_int(int s, int name) {
    int v = -12345;
    socklen_t l = sizeof v;
    EXPECT_EQ(getsockopt(s, IPPROTO_TCP, name, &v, &l), 0) << name << ": " << strerror(errno);
    EXPECT_EQ(l, static_cast<socklen_t>(sizeof v));
    return v;
  }
  static void expect_error(int r, int err) {
    EXPECT_EQ(r, -1);
    EXPECT_EQ(errno, err) << strerror(errno);
    errno = 0;
  }
  // What recv gets within `wait` (SO_RCVTIMEO): "" when nothing came.
  static std::string receive_within(int s, std::chrono::milliseconds wait) {
    timeval tv{static_cast<time_t>(wait.count() / 1000),
               static_cast<suseconds_t>(wait.count() % 1000 * 1000)};
    EXPECT_EQ(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char buf[256];
    const int n = recv(s, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
};

TEST_F(TcpOptions, ValuesRoundTripWithLinuxDefaultsAndBounds) {
  const int s = sock();
  // Defaults, as Linux reports them.
  EXPECT_EQ(get_int(s, TCP_KEEPIDLE), 7200);
  EXPECT_EQ(get_int(s, TCP_KEEPINTVL), 75);
  EXPECT_EQ(get_int(s, TCP_KEEPCNT), 9);
  EXPECT_EQ(get_int(s, TCP_USER_TIMEOUT), 0);
  EXPECT_EQ(get_int(s, TCP_NOTSENT_LOWAT), -1);  // UINT32_MAX: off
  EXPECT_EQ(get_int(s, TCP_CORK), 0);
  EXPECT_EQ(get_int(s, TCP_MAXSEG), 536);
  // Set and read back.
  EXPECT_EQ(set_int(s, TCP_MAXSEG, 1000), 0);
  EXPECT_EQ(get_int(s, TCP_MAXSEG), 1000);
  EXPECT_EQ(set_int(s, TCP_KEEPIDLE, 30), 0);
  EXPECT_EQ(set_int(s, TCP_KEEPINTVL, 5), 0);
  EXPECT_EQ(set_int(s, TCP_KEEPCNT, 3), 0);
  EXPECT_EQ(get_int(s, TCP_KEEPIDLE), 30);
  EXPECT_EQ(get_int(s, TCP_KEEPINTVL), 5);
  EXPECT_EQ(get_int(s, TCP_KEEPCNT), 3);
  EXPECT_EQ(set_int(s, TCP_USER_TIMEOUT, 1500), 0);
  EXPECT_EQ(get_int(s, TCP_USER_TIMEOUT), 1500);
  EXPECT_EQ(set_int(s, TCP_NOTSENT_LOWAT, 16384), 0);
  EXPECT_EQ(get_int(s, TCP_NOTSENT_LOWAT), 16384);
  EXPECT_EQ(set_int(s, TCP_CORK, 1), 0);
  EXPECT_EQ(get_int(s, TCP_CORK), 1);
  // Out of Linux's bounds: EINVAL, the value kept.
  expect_error(set_int(s, TCP_MAXSEG, 87), EINVAL);
  expect_error(set_int(s, TCP_MAXSEG, 32768), EINVAL);
  EXPECT_EQ(get_int(s, TCP_MAXSEG), 1000);
  expect_error(set_int(s, TCP_KEEPIDLE, 0), EINVAL);
  expect_error(set_int(s, TCP_KEEPINTVL, 32768), EINVAL);
  expect_error(set_int(s, TCP_KEEPCNT, 128), EINVAL);
  expect_error(set_int(s, TCP_USER_TIMEOUT, -1), EINVAL);
  EXPECT_EQ(get_int(s, TCP_KEEPCNT), 3);
  // Unknown options, TCP options on UDP, a short value: the contract's errors.
  expect_error(set_int(s, TCP_QUICKACK, 1), ENOPROTOOPT);
  int v = 0;
  socklen_t l = sizeof v;
  expect_error(getsockopt(s, IPPROTO_TCP, TCP_QUICKACK, &v, &l), ENOPROTOOPT);
  const int u = sock(SOCK_DGRAM);
  expect_error(set_int(u, TCP_CORK, 1), ENOPROTOOPT);
  char one = 1;
  expect_error(setsockopt(s, IPPROTO_TCP, TCP_CORK, &one, sizeof one), EINVAL);
  // SO_SNDBUF / SO_RCVBUF read back what a fresh socket has.
  const int f = sock();
  socklen_t bl = sizeof v;
  EXPECT_EQ(getsockopt(f, SOL_SOCKET, SO_RCVBUF, &v, &bl), 0);
  EXPECT_GT(v, 0);
}

TEST_F(TcpOptions, TcpInfoOfAConnectionBeforeAndAfterAnEcho) {
  const int s = sock();
  tcp_info ti{};
  socklen_t l = sizeof ti;
  ASSERT_EQ(getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &l), 0);
  EXPECT_EQ(ti.tcpi_state, 7);  // TCP_CLOSE, before connect
  connected_to_echo(s);
  const std::string data(100'000, 'q');
  ASSERT_EQ(send(s, data.data(), static_cast<int>(data.size()), 0), static_cast<int>(data.size()));
  std::string back(data.size(), '\0');
  ASSERT_EQ(recv(s, back.data(), static_cast<int>(back.size()), MSG_WAITALL),
            static_cast<int>(back.size()));
  l = sizeof ti;
  ASSERT_EQ(getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &l), 0);
  EXPECT_EQ(l, static_cast<socklen_t>(sizeof ti));
  EXPECT_EQ(ti.tcpi_state, 1);  // TCP_ESTABLISHED
  EXPECT_EQ(ti.tcpi_options & (TCPI_OPT_SACK | TCPI_OPT_TIMESTAMPS | TCPI_OPT_WSCALE),
            TCPI_OPT_SACK | TCPI_OPT_TIMESTAMPS | TCPI_OPT_WSCALE);
  EXPECT_GT(ti.tcpi_snd_mss, 1000u);
  EXPECT_GE(ti.tcpi_snd_cwnd, 10u);
  EXPECT_GE(ti.tcpi_rto, 200'000u);  // microseconds: at least the minimum RTO
  EXPECT_GT(ti.tcpi_pmtu, ti.tcpi_snd_mss);
  // A short buffer gets the start of the structure, as Linux copies.
  std::uint8_t head[8];
  l = sizeof head;
  ASSERT_EQ(getsockopt(s, IPPROTO_TCP, TCP_INFO, head, &l), 0);
  EXPECT_EQ(l, static_cast<socklen_t>(sizeof head));
  EXPECT_EQ(head[0], 1);
  // A listener reports its state.
  const int ls = sock();
  sockaddr_in any = sin4(0, 0);
  ASSERT_EQ(bind(ls, &any, sizeof any), 0);
  ASSERT_EQ(listen(ls, 4), 0);
  l = sizeof ti;
  ASSERT_EQ(getsockopt(ls, IPPROTO_TCP, TCP_INFO, &ti, &l), 0);
  EXPECT_EQ(ti.tcpi_state, 10);  // TCP_LISTEN
}

TEST_F(TcpOptions, CorkAndMsgMoreHoldAPartialSegmentUntilTheLastPart) {
  const int s = connected_to_echo(sock());
  ASSERT_EQ(set_int(s, TCP_NODELAY, 1), 0);
  ASSERT_EQ(set_int(s, TCP_CORK, 1), 0);
  ASSERT_EQ(send(s, "cork", 4, 0), 4);
  EXPECT_EQ(receive_within(s, 100ms), "");  // held: nothing reached the echo server
  ASSERT_EQ(set_int(s, TCP_CORK, 0), 0);
  EXPECT_EQ(receive_within(s, 2000ms), "cork");
  ASSERT_EQ(send(s, "more-", 5, MSG_MORE), 5);
  EXPECT_EQ(receive_within(s, 100ms), "");
  ASSERT_EQ(send(s, "last", 4, 0), 4);
  std::string got;
  while (got.size() < 9) {
    const std::string part = receive_within(s, 2000ms);
    if (part.empty()) break;
    got += part;
  }
  EXPECT_EQ(got, "more-last");
}

TEST_F(TcpOptions, ShutdownReadDiscardsWhatArrivesAndTheSenderIsNotStalled) {
  const int s = connected_to_echo(sock());
  ASSERT_EQ(shutdown(s, SHUT_RD), 0);
  // Far more than our receive buffer: the echo server echoes it all back, which only
  // finishes if what it sends us is acknowledged though nobody reads it.
  timeval tv{10, 0};
  ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
  const std::string data(2'000'000, 'r');
  EXPECT_EQ(send(s, data.data(), static_cast<int>(data.size()), 0), static_cast<int>(data.size()));
  char buf[16];
  EXPECT_EQ(recv(s, buf, sizeof buf, 0), 0);
}

}  // namespace
}  // namespace shardtcp::testing
