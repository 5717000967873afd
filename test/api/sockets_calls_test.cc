// The calls other than connect()'s errno rows, from ordinary threads, over the ring
// pair: accept, blocking/non-blocking send and recv, MSG_PEEK/MSG_DONTWAIT/MSG_WAITALL,
// timeouts, options, names, shutdown, SO_LINGER zero, UDP, select(), and many threads
// at once against the peer's echo server.
#include <malloc.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/sockets_internal.h"
#include "api/sockets_runtime.h"
#include "sockets_test_util.h"

namespace shardtcp::testing {
namespace {

using namespace std::chrono_literals;

class Calls : public PairSocketsTest<> {
 protected:
  int connected_to_echo() {
    const int s = sock();
    const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
    EXPECT_EQ(connect(s, &to, sizeof to), 0) << strerror(errno);
    return s;
  }
  // Resets the peer received so far, and a wait (up to a second) until it has more
  // than `before`.
  std::uint64_t peer_resets() {
    std::uint64_t n = 0;
    env_->run_on_peer([&] { n = env_->b->engine_tcp(0).counter(TcpCounter::kResetsReceived); });
    return n;
  }
  // A blocking recv on `s` (SO_RCVTIMEO = `timeout`) that gets nothing ends with
  // EWOULDBLOCK once the timeout has passed (and not much later).
  void expect_receive_times_out(int s, std::chrono::milliseconds timeout) {
    char buf[8];
    const auto start = std::chrono::steady_clock::now();
    errno = 0;
    EXPECT_EQ(recv(s, buf, sizeof buf, 0), -1);
    EXPECT_EQ(errno, EWOULDBLOCK);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, timeout - 10ms);
    EXPECT_LT(took, timeout + 2s);
  }
  std::uint64_t wait_peer_resets_above(std::uint64_t before) {
    std::uint64_t after = before;
    for (int i = 0; i < 500 && after == before; ++i) {
      serve_for(2ms);
      after = peer_resets();
    }
    return after;
  }
};

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

TEST_F(Calls, BlockingEchoOfHundredKilobytesWithWaitall) {
  const int s = connected_to_echo();
  const std::string out = pattern(100000, 3);
  // A blocking send queues everything (it waits while the send buffer is full).
  std::string in(out.size(), '\0');
  ServedThread reader([&] {
    EXPECT_EQ(recv(s, in.data(), static_cast<int>(in.size()), MSG_WAITALL),
              static_cast<int>(in.size()));
  });
  EXPECT_EQ(send(s, out.data(), static_cast<int>(out.size()), 0), static_cast<int>(out.size()));
  reader.join();
  EXPECT_EQ(in, out);
}

// Bulk through the echo both ways at once from two ordinary threads: every byte comes
// back in order. The rate is printed (a figure, not a pass/fail threshold).
TEST_F(Calls, BulkEchoIsByteExactAndReportsItsRate) {
  const int s = connected_to_echo();
  const timeval tv{20, 0};  // a stalled stream fails the test instead of hanging it
  ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  const std::size_t total = std::getenv("SHARDTCP_SOCK_BULK")
                                ? std::strtoul(std::getenv("SHARDTCP_SOCK_BULK"), nullptr, 10)
                                : (16u << 20);
  constexpr std::size_t kChunk = 64 * 1024;
  const std::string block = pattern(kChunk * 3, 11);  // 3 chunks: offsets cycle mod 26
  std::atomic<bool> mismatch{false};
  std::size_t got = 0;
  const auto t0 = std::chrono::steady_clock::now();
  ServedThread reader([&] {
    std::string buf(kChunk, '\0');
    while (got < total) {
      const int n = recv(s, buf.data(), static_cast<int>(buf.size()), 0);
      if (n <= 0) break;
      for (int i = 0; i < n; ++i)
        if (buf[static_cast<std::size_t>(i)] !=
            block[(got + static_cast<std::size_t>(i)) % block.size()])
          mismatch = true;
      got += static_cast<std::size_t>(n);
    }
  });
  std::size_t sent = 0;
  while (sent < total) {
    const std::size_t n = std::min(kChunk, total - sent);
    const int r = send(s, block.data() + sent % block.size(), static_cast<int>(n), 0);
    ASSERT_EQ(r, static_cast<int>(n)) << strerror(errno);
    sent += n;
  }
  reader.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(got, total);
  EXPECT_FALSE(mismatch.load());
  std::printf("sockets bulk echo: %zu bytes each way in %.3f s = %.1f Mbit/s each way\n", total,
              secs, static_cast<double>(total) * 8 / secs / 1e6);
  if (std::getenv("SHARDTCP_SOCK_BULK_COUNTERS")) {
    std::printf("A:\n%s\nB:\n%s\n", env_->a->counters().dump().c_str(),
                env_->b->counters().dump().c_str());
  }
}

TEST_F(Calls, PeekDontwaitFionreadAndNonBlockingRecv) {
  const int s = connected_to_echo();
  char buf[64];
  errno = 0;
  EXPECT_EQ(recv(s, buf, sizeof buf, MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, EWOULDBLOCK);
  ASSERT_EQ(send(s, "hello", 5, 0), 5);
  // Wait for the echo without consuming it.
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(s, &rd);
  timeval tv{5, 0};
  ASSERT_EQ(select(s + 1, &rd, nullptr, nullptr, &tv), 1);
  int avail = 0;
  ASSERT_EQ(ioctlsocket(s, FIONREAD, &avail), 0);
  EXPECT_EQ(avail, 5);
  EXPECT_EQ(recv(s, buf, sizeof buf, MSG_PEEK), 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  EXPECT_EQ(recv(s, buf, 2, 0), 2);
  EXPECT_EQ(std::string(buf, 2), "he");
  EXPECT_EQ(recv(s, buf, sizeof buf, 0), 3);
  EXPECT_EQ(std::string(buf, 3), "llo");
  int on = 1;
  ASSERT_EQ(ioctlsocket(s, FIONBIO, &on), 0);
  errno = 0;
  EXPECT_EQ(recv(s, buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, EWOULDBLOCK);
}

// The zero-copy receive: shardtcp_recv_inplace hands the echo over in place (blocking
// until it is there), MSG_PEEK leaves it queued, recv(NULL, MSG_TRUNC) discards exactly
// the bytes it names, and bad arguments get the errno the header names.
TEST_F(Calls, InPlaceReceiveAndTruncatingDiscard) {
  const int s = connected_to_echo();
  const std::string sent = pattern(20000, 3);
  ASSERT_EQ(send(s, sent.data(), static_cast<int>(sent.size()), 0), 20000);
  std::string got;
  auto append = [](const void* data, int n, void* user) {
    static_cast<std::string*>(user)->append(static_cast<const char*>(data),
                                            static_cast<std::size_t>(n));
  };
  // Blocking, all of the first 1000 bytes (MSG_WAITALL), peeked first.
  std::string peeked;
  EXPECT_EQ(shardtcp_recv_inplace(s, 10, MSG_PEEK, append, &peeked), 10);
  EXPECT_EQ(peeked, sent.substr(0, 10));
  EXPECT_EQ(shardtcp_recv_inplace(s, 1000, MSG_WAITALL, append, &got), 1000);
  EXPECT_EQ(got, sent.substr(0, 1000));
  // Discard the next 5000 without a buffer.
  int dropped = 0;
  while (dropped < 5000) {
    const int n = recv(s, nullptr, 5000 - dropped, MSG_TRUNC);
    ASSERT_GT(n, 0) << strerror(errno);
    dropped += n;
  }
  EXPECT_EQ(dropped, 5000);
  while (got.size() < sent.size() - 5000) {
    const int n = shardtcp_recv_inplace(s, 4096, 0, append, &got);
    ASSERT_GT(n, 0) << strerror(errno);
  }
  EXPECT_EQ(got, sent.substr(0, 1000) + sent.substr(6000));
  // Bad arguments.
  errno = 0;
  EXPECT_EQ(shardtcp_recv_inplace(s, 10, 0, nullptr, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  errno = 0;
  EXPECT_EQ(shardtcp_recv_inplace(s, -1, 0, append, &got), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(recv(s, nullptr, 10, 0), -1);  // no buffer without MSG_TRUNC
  EXPECT_EQ(errno, EFAULT);
  errno = 0;
  EXPECT_EQ(shardtcp_recv_inplace(s, 10, MSG_DONTWAIT, append, &got), -1);
  EXPECT_EQ(errno, EWOULDBLOCK);
  const int u = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(u, 0);
  errno = 0;
  EXPECT_EQ(shardtcp_recv_inplace(u, 10, 0, append, &got), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  errno = 0;
  EXPECT_EQ(shardtcp_recv_inplace(123456, 10, 0, append, &got), -1);
  EXPECT_EQ(errno, ENOTSOCK);
  closesocket(u);
}

TEST_F(Calls, SendBlocksWhileTheBufferIsFullUntilSndtimeo) {
  const int s = connected_to_echo();
  env_->peer_paused = true;  // nothing is acknowledged: the send buffer fills
  timeval tv{0, 200000};
  ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
  const std::string big = pattern(4 << 20, 9);
  const auto start = std::chrono::steady_clock::now();
  const int n = send(s, big.data(), static_cast<int>(big.size()), 0);
  const auto took = std::chrono::steady_clock::now() - start;
  // It queued what fitted, waited for room until the timeout, and reports the part.
  EXPECT_GT(n, 0);
  EXPECT_LT(n, static_cast<int>(big.size()));
  EXPECT_GE(took, 190ms);
  errno = 0;
  EXPECT_EQ(send(s, big.data(), 1000, MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, EWOULDBLOCK);
  fd_set wr;
  FD_ZERO(&wr);
  FD_SET(s, &wr);
  timeval zero{0, 0};
  EXPECT_EQ(select(s + 1, nullptr, &wr, nullptr, &zero), 0);  // not writable while full
  env_->peer_paused = false;
}

TEST_F(Calls, ReceiveTimeoutEndsWithEwouldblock) {
  const int s = connected_to_echo();
  timeval tv{0, 200000};
  ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  timeval back{};
  socklen_t bl = sizeof back;
  ASSERT_EQ(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &back, &bl), 0);
  EXPECT_EQ(back.tv_usec, 200000);
  expect_receive_times_out(s, 200ms);
}

// An echo made of event callbacks: the listener's accepts (non-blocking), each new
// socket's echoes what arrives and closes its own socket when the connection ends.
// Everything runs inside the engines, whichever thread runs them.
struct CallbackEcho {
  std::atomic<int> accepted{0}, echoed{0}, closed{0}, last{0};
  static void on_listener(int l, int ev, int, void* user) {
    auto* self = static_cast<CallbackEcho*>(user);
    if (ev != SHARDTCP_EV_ACCEPTED) return;
    for (;;) {
      const int a = accept(l, nullptr, nullptr);
      if (a < 0) return;  // EWOULDBLOCK: nothing more waits
      ++self->accepted;
      self->last = a;
      shardtcp_set_event_callback(a, &on_conn, self);
      on_conn(a, SHARDTCP_EV_DATA, 0, self);  // bytes may have come before the accept
    }
  }
  static void on_conn(int s, int ev, int, void* user) {
    auto* self = static_cast<CallbackEcho*>(user);
    if (ev == SHARDTCP_EV_ERROR || ev == SHARDTCP_EV_CLOSED) {
      if (closesocket(s) == 0) ++self->closed;  // our own socket, from its callback
      return;
    }
    if (ev != SHARDTCP_EV_DATA) return;
    char b[512];
    int n;
    // A blocking socket, but inside a callback its recv never waits.
    while ((n = recv(s, b, sizeof b, 0)) > 0) self->echoed += send(s, b, n, 0);
  }
};

// While one socket waits in a blocking recv with SO_RCVTIMEO, the engine keeps serving
// the others: callbacks accept a peer's connection, echo it, and close their socket
// when the peer resets it, all during the wait; the recv still ends with EWOULDBLOCK at
// its timeout. Run to completion (the inline build) the waiting call itself runs them.
TEST_F(Calls, BlockingReceiveTimeoutWhileCallbacksServeOtherSockets) {
  CallbackEcho echo;
  const int l = sock();
  const sockaddr_in local = sin4(0, 5004);
  ASSERT_EQ(bind(l, &local, sizeof local), 0);
  ASSERT_EQ(listen(l, 8), 0);
  int on = 1;
  ASSERT_EQ(ioctlsocket(l, FIONBIO, &on), 0);
  ASSERT_EQ(shardtcp_set_event_callback(l, &CallbackEcho::on_listener, &echo), 0);
  const int s = connected_to_echo();
  timeval tv{0, 300000};
  ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  auto timed_out_recv = [&] { expect_receive_times_out(s, 300ms); };
  const std::uint32_t c = env_->peer_connect(5004, "served during the wait");
  ASSERT_NE(c, 0u);
  timed_out_recv();
  EXPECT_EQ(echo.accepted.load(), 1);
  EXPECT_EQ(echo.echoed.load(), 22);
  EXPECT_EQ(env_->peer_received(c), "served during the wait");
  // The peer resets; the callback closes its socket while we wait again.
  env_->peer_abort(c);
  timed_out_recv();
  EXPECT_EQ(echo.closed.load(), 1);
  errno = 0;
  EXPECT_EQ(send(echo.last.load(), "x", 1, 0), -1);
  EXPECT_EQ(errno, ENOTSOCK);  // closed from inside its callback
}

// Run to completion: the thread that runs the engines makes its calls on them directly,
// blocking ones included; nothing goes through a request ring. The other builds of
// this test (driver thread, embedding) post every call of this thread.
TEST_F(Calls, CallsOfTheEnginesOwnThreadPostNoRequest) {
  const std::uint64_t before = sockets::requests_posted();
  const int s = connected_to_echo();  // blocking connect
  ASSERT_EQ(send(s, "inline", 6, 0), 6);
  char buf[8];
  ASSERT_EQ(recv(s, buf, 6, MSG_WAITALL), 6);  // blocking receive
  EXPECT_EQ(std::string(buf, 6), "inline");
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(s, &rd);
  timeval tv{0, 1000};
  EXPECT_EQ(select(0, &rd, nullptr, nullptr, &tv), 0);
  const std::uint64_t posted = sockets::requests_posted() - before;
#ifdef SOCKETS_ENV_INLINE
  EXPECT_EQ(posted, 0u);
#else
  EXPECT_GT(posted, 0u);
#endif
}

// The epoll-style set: the sockets that are ready, with the caller's data, reported
// while they stay ready (level-triggered); MOD, DEL and the errors of the calls.
TEST_F(Calls, EpollSetReportsReadySocketsLevelTriggered) {
  const int ep = shardtcp_epoll_create();
  ASSERT_GT(ep, 0) << strerror(errno);
  const int a = connected_to_echo();
  const int b = connected_to_echo();
  int tag_a = 1, tag_b = 2;
  shardtcp_epoll_event ev{SHARDTCP_EPOLLIN, &tag_a};
  ASSERT_EQ(shardtcp_epoll_ctl(ep, SHARDTCP_EPOLL_CTL_ADD, a, &ev), 0);
  ev.data = &tag_b;
  ASSERT_EQ(shardtcp_epoll_ctl(ep, SHARDTCP_EPOLL_CTL_ADD, b, &ev), 0);
  shardtcp_epoll_event out[4];
  // Nothing to read: the wait times out.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(shardtcp_epoll_wait(ep, out, 4, 100), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 90ms);
  // b's echo arrives: b alone is reported, with its data.
  ASSERT_EQ(send(b, "xy", 2, 0), 2);
  ASSERT_EQ(shardtcp_epoll_wait(ep, out, 4, 5000), 1);
  EXPECT_EQ(out[0].data, &tag_b);
  EXPECT_EQ(out[0].events, SHARDTCP_EPOLLIN);
  // Unread, it is reported again; read, it is not.
  ASSERT_EQ(shardtcp_epoll_wait(ep, out, 4, 0), 1);
  EXPECT_EQ(out[0].data, &tag_b);
  char buf[4];
  ASSERT_EQ(recv(b, buf, 2, MSG_WAITALL), 2);
  EXPECT_EQ(shardtcp_epoll_wait(ep, out, 4, 0), 0);
  // MOD: a asks for room to send, which a connected socket has.
  ev = {SHARDTCP_EPOLLOUT, &tag_a};
  ASSERT_EQ(shardtcp_epoll_ctl(ep, SHARDTCP_EPOLL_CTL_MOD, a, &ev), 0);
  ASSERT_EQ(shardtcp_epoll_wait(ep, out, 4, 0), 1);
  EXPECT_EQ(out[0].data, &tag_a);
  EXPECT_EQ(out[0].events, SHARDTCP_EPOLLOUT);
  // DEL: no longer reported.
  ASSERT_EQ(shardtcp_epoll_ctl(ep, SHARDTCP_EPOLL_CTL_DEL, a, nullptr), 0);
  EXPECT_EQ(shardtcp_epoll_wait(ep, out, 4, 0), 0);
  // The calls' errors.
  auto fails_with = [](int r, int err) { return r == -1 && errno == err; };
  EXPECT_TRUE(fails_with(shardtcp_epoll_ctl(ep, SHARDTCP_EPOLL_CTL_ADD, b, &ev), EEXIST));
  EXPECT_TRUE(fails_with(shardtcp_epoll_ctl(ep, SHARDTCP_EPOLL_CTL_DEL, a, nullptr), ENOENT));
  EXPECT_TRUE(fails_with(shardtcp_epoll_ctl(ep, SHARDTCP_EPOLL_CTL_ADD, a, nullptr), EFAULT));
  EXPECT_TRUE(fails_with(shardtcp_epoll_ctl(ep, 77, a, &ev), EINVAL));
  EXPECT_TRUE(fails_with(shardtcp_epoll_ctl(ep, SHARDTCP_EPOLL_CTL_ADD, -5, &ev), ENOTSOCK));
  EXPECT_TRUE(fails_with(shardtcp_epoll_ctl(ep + 1000, SHARDTCP_EPOLL_CTL_ADD, a, &ev), EBADF));
  EXPECT_TRUE(fails_with(shardtcp_epoll_wait(ep, out, 0, 0), EINVAL));
  EXPECT_TRUE(fails_with(shardtcp_epoll_wait(ep, nullptr, 4, 0), EFAULT));
  // A socket closed while watched leaves the set; a closed set is gone.
  ASSERT_EQ(send(b, "z", 1, 0), 1);
  ASSERT_EQ(shardtcp_epoll_wait(ep, out, 4, 5000), 1);
  ASSERT_EQ(closesocket(b), 0);
  open_.erase(std::find(open_.begin(), open_.end(), b));
  EXPECT_EQ(shardtcp_epoll_wait(ep, out, 4, 0), 0);
  ASSERT_EQ(shardtcp_epoll_close(ep), 0);
  EXPECT_TRUE(fails_with(shardtcp_epoll_wait(ep, out, 4, 0), EBADF));
}

// Sockets that come and go through a set leave no memory behind: its queue keeps
// nodes for the most members it had at once, not two for every socket ever added
// (which grew a TCP_CRR server's heap by 460 bytes a connection).
TEST_F(Calls, EpollSetMembersComingAndGoingDoNotGrowTheHeap) {
  const int ep = shardtcp_epoll_create();
  ASSERT_GT(ep, 0) << strerror(errno);
  shardtcp_epoll_event ev{SHARDTCP_EPOLLIN, nullptr};
  auto churn = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const int s = socket(AF_INET, SOCK_STREAM, 0);
      ASSERT_GE(s, 0) << strerror(errno);
      ASSERT_EQ(shardtcp_epoll_ctl(ep, SHARDTCP_EPOLL_CTL_ADD, s, &ev), 0);
      ASSERT_EQ(closesocket(s), 0);
    }
  };
  churn(100);  // the first handle chunk and nodes
  const std::size_t before = mallinfo2().uordblks;
  churn(20000);
  const std::size_t after = mallinfo2().uordblks;
  EXPECT_LT(after > before ? after - before : 0, 64u * 1024);  // two nodes each: 2.5 MB
  ASSERT_EQ(shardtcp_epoll_close(ep), 0);
}

// More sockets than a select() set holds: the one that becomes ready is reported, the
// 1 099 others are not.
TEST_F(Calls, EpollSetWatchesMoreSocketsThanSelectCan) {
  constexpr int kSockets = 1100;
  const int ep = shardtcp_epoll_create();
  ASSERT_GT(ep, 0) << strerror(errno);
  for (int i = 0; i < kSockets; ++i) {
    const int s = i + 1 < kSockets ? sock() : connected_to_echo();
    ASSERT_GT(s, 0);
    shardtcp_epoll_event ev{SHARDTCP_EPOLLIN,
                            reinterpret_cast<void*>(static_cast<std::intptr_t>(i))};
    ASSERT_EQ(shardtcp_epoll_ctl(ep, SHARDTCP_EPOLL_CTL_ADD, s, &ev), 0) << i;
  }
  std::vector<shardtcp_epoll_event> out(64);
  EXPECT_EQ(shardtcp_epoll_wait(ep, out.data(), 64, 0), 0);
  ASSERT_EQ(send(open_.back(), "ready", 5, 0), 5);
  ASSERT_EQ(shardtcp_epoll_wait(ep, out.data(), 64, 5000), 1);
  EXPECT_EQ(reinterpret_cast<std::intptr_t>(out[0].data), kSockets - 1);
  EXPECT_EQ(out[0].events, SHARDTCP_EPOLLIN);
  EXPECT_EQ(shardtcp_epoll_close(ep), 0);
}

TEST_F(Calls, AcceptAPeerConnectionAndTalk) {
  const int l = sock();
  const sockaddr_in local = sin4(0, 5001);  // any address
  ASSERT_EQ(bind(l, &local, sizeof local), 0);
  ASSERT_EQ(listen(l, 8), 0);
  // B connects with its native API and sends "ping"; it keeps what it receives.
  const std::uint32_t c = env_->peer_connect(5001, "ping");
  ASSERT_NE(c, 0u);
  sockaddr_in from{};
  socklen_t fl = sizeof from;
  const int a = accept(l, &from, &fl);
  ASSERT_GT(a, 0) << strerror(errno);
  open_.push_back(a);
  EXPECT_EQ(fl, sizeof(sockaddr_in));
  EXPECT_EQ(ntohl(from.sin_addr.s_addr), kSockAddrB);
  sockaddr_in peer_name{};
  socklen_t pl = sizeof peer_name;
  ASSERT_EQ(getpeername(a, &peer_name, &pl), 0);
  EXPECT_EQ(peer_name.sin_port, from.sin_port);
  char buf[8];
  ASSERT_EQ(recv(a, buf, 4, MSG_WAITALL), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");
  ASSERT_EQ(send(a, "pong", 4, 0), 4);
  bool got = false;
  for (int i = 0; i < 500 && !got; ++i) {
    got = env_->peer_received(c) == "pong";
    if (!got) serve_for(2ms);
  }
  EXPECT_TRUE(got);
  // Nothing more pending: a non-blocking accept says so.
  int on = 1;
  ASSERT_EQ(ioctlsocket(l, FIONBIO, &on), 0);
  errno = 0;
  EXPECT_EQ(accept(l, nullptr, nullptr), -1);
  EXPECT_EQ(errno, EWOULDBLOCK);
  env_->peer_abort(c);
}

// Hysteresis: a sender blocked on a full send buffer is woken when a third of it is
// free again, not at every ACK. Its socket's event counter (what blocked callers wait
// on) moves once per such refill: four buffers' worth take at most a dozen refills,
// where a wake per ACK would be hundreds (one ACK per two segments).
TEST_F(Calls, ABlockedSenderIsWokenOncePerThirdOfItsSendBufferNotPerAck) {
  const int l = sock();
  const sockaddr_in local = sin4(0, 5005);
  ASSERT_EQ(bind(l, &local, sizeof local), 0);
  ASSERT_EQ(listen(l, 8), 0);
  const std::uint32_t c = env_->peer_connect(5005, "x");  // B keeps what it receives
  ASSERT_NE(c, 0u);
  const int a = accept(l, nullptr, nullptr);
  ASSERT_GT(a, 0) << strerror(errno);
  open_.push_back(a);
  char hello = 0;
  ASSERT_EQ(recv(a, &hello, 1, MSG_WAITALL), 1);  // B sends nothing more
  int sndbuf = 0;
  socklen_t len = sizeof sndbuf;
  ASSERT_EQ(getsockopt(a, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len), 0);
  ASSERT_GT(sndbuf, 0);
  const std::string data = pattern(4 * static_cast<std::size_t>(sndbuf), 5);
  sockets::SocketEntry* e = sockets::runtime().table.lookup(a);
  ASSERT_NE(e, nullptr);
  const std::uint32_t before = e->events.load();
  ASSERT_EQ(send(a, data.data(), static_cast<int>(data.size()), 0), static_cast<int>(data.size()));
  const std::uint32_t wakes = e->events.load() - before;
  // (How many depends on timing: a sender that takes the space as it frees, as the
  // inline owner does, or a slow one, never waits and is never woken.)
  EXPECT_LE(wakes, 4u * 3u + 2u);
  bool all = false;
  for (int i = 0; i < 2500 && !all; ++i) {
    all = env_->peer_received(c).size() >= data.size();
    if (!all) serve_for(2ms);
  }
  EXPECT_TRUE(all);
  EXPECT_EQ(env_->peer_received(c), data);
  env_->peer_abort(c);
}

TEST_F(Calls, BindZeroAddressAndPortThenConnectFillsThemIn) {
  const int s = sock();
  const sockaddr_in any = sin4(0, 0);
  ASSERT_EQ(bind(s, &any, sizeof any), 0);
  const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
  ASSERT_EQ(connect(s, &to, sizeof to), 0);
  sockaddr_in name{};
  socklen_t nl = sizeof name;
  ASSERT_EQ(getsockname(s, &name, &nl), 0);
  EXPECT_EQ(name.sin_family, AF_INET);
  EXPECT_EQ(ntohl(name.sin_addr.s_addr), kSockAddrA);  // the interface that routes to B
  EXPECT_NE(name.sin_port, 0);
  // Bind with a port but no address keeps the port.
  const int t = sock();
  const sockaddr_in port_only = sin4(0, 41234);
  ASSERT_EQ(bind(t, &port_only, sizeof port_only), 0);
  ASSERT_EQ(connect(t, &to, sizeof to), 0);
  nl = sizeof name;
  ASSERT_EQ(getsockname(t, &name, &nl), 0);
  EXPECT_EQ(ntohl(name.sin_addr.s_addr), kSockAddrA);
  EXPECT_EQ(ntohs(name.sin_port), 41234);
}

TEST_F(Calls, OptionsRoundTrip) {
  const int s = sock();
  auto set_int = [&](int level, int name, int v) {
    return setsockopt(s, level, name, &v, sizeof v);
  };
  auto get_int = [&](int level, int name) {
    int v = -1;
    socklen_t l = sizeof v;
    EXPECT_EQ(getsockopt(s, level, name, &v, &l), 0);
    return v;
  };
  EXPECT_EQ(set_int(SOL_SOCKET, SO_REUSEADDR, 1), 0);
  EXPECT_EQ(get_int(SOL_SOCKET, SO_REUSEADDR), 1);
  EXPECT_EQ(set_int(SOL_SOCKET, SO_KEEPALIVE, 1), 0);
  EXPECT_EQ(get_int(SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(set_int(IPPROTO_TCP, TCP_NODELAY, 1), 0);
  EXPECT_EQ(get_int(IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(set_int(SOL_SOCKET, SO_RCVBUF, 65536), 0);
  EXPECT_EQ(get_int(SOL_SOCKET, SO_RCVBUF), 65536);
  EXPECT_EQ(set_int(SOL_SOCKET, SO_SNDBUF, 131072), 0);
  EXPECT_EQ(get_int(SOL_SOCKET, SO_SNDBUF), 131072);
  EXPECT_EQ(get_int(SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  EXPECT_EQ(get_int(SOL_SOCKET, SO_ERROR), 0);
  linger lg{1, 0};
  EXPECT_EQ(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  linger back{};
  socklen_t bl = sizeof back;
  EXPECT_EQ(getsockopt(s, SOL_SOCKET, SO_LINGER, &back, &bl), 0);
  EXPECT_EQ(back.l_onoff, 1);
  EXPECT_EQ(back.l_linger, 0);
  errno = 0;
  EXPECT_EQ(set_int(SOL_SOCKET, SO_BROADCAST, 1), -1);
  EXPECT_EQ(errno, ENOPROTOOPT);
  errno = 0;
  EXPECT_EQ(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, nullptr, 4), -1);
  EXPECT_EQ(errno, EFAULT);
  const int u = sock(SOCK_DGRAM);
  int t = 0;
  socklen_t tl = sizeof t;
  EXPECT_EQ(getsockopt(u, SOL_SOCKET, SO_TYPE, &t, &tl), 0);
  EXPECT_EQ(t, SOCK_DGRAM);
}

TEST_F(Calls, ShutdownWriteGetsEndOfStream) {
  const int s = connected_to_echo();
  ASSERT_EQ(send(s, "bye", 3, 0), 3);
  ASSERT_EQ(shutdown(s, SHUT_WR), 0);
  char buf[8];
  EXPECT_EQ(recv(s, buf, sizeof buf, MSG_WAITALL), 3);
  EXPECT_EQ(recv(s, buf, sizeof buf, 0), 0);  // the echo server closed after our FIN
  errno = 0;
  EXPECT_EQ(send(s, "x", 1, 0), -1);
  EXPECT_EQ(errno, EPIPE);
  errno = 0;
  EXPECT_EQ(shutdown(s, 7), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(Calls, LingerZeroClosesWithReset) {
  const int s = connected_to_echo();
  linger lg{1, 0};
  ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  const std::uint64_t before = peer_resets();
  ASSERT_EQ(closesocket(s), 0);
  open_.clear();
  EXPECT_EQ(wait_peer_resets_above(before), before + 1);
  // The handle is gone.
  errno = 0;
  EXPECT_EQ(send(s, "x", 1, 0), -1);
  EXPECT_EQ(errno, ENOTSOCK);
}

// SO_LINGER with a time: closesocket() waits while what we sent is unacknowledged
// (the peer is not polled: no ACK can come), and returns once the peer acknowledges.
TEST_F(Calls, LingerWithATimeWaitsUntilTheDataIsAcknowledged) {
  const int s = connected_to_echo();
  linger lg{1, 30};
  ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  env_->peer_paused = true;
  const std::string data = pattern(20000, 5);
  ASSERT_EQ(send(s, data.data(), static_cast<int>(data.size()), 0), static_cast<int>(data.size()));
  std::atomic<bool> returned{false};
  int rc = -2;
  ServedThread closer([&] {
    rc = closesocket(s);
    returned = true;
  });
  serve_for(100ms);
  EXPECT_FALSE(returned.load());  // nothing acknowledged yet
  env_->peer_paused = false;
  closer.join();
  open_.clear();
  EXPECT_EQ(rc, 0);
  errno = 0;
  EXPECT_EQ(send(s, "x", 1, 0), -1);
  EXPECT_EQ(errno, ENOTSOCK);
}

// SO_LINGER with a time that passes: closesocket() returns and the connection is reset.
TEST_F(Calls, LingerTimeoutResetsTheConnection) {
  const int s = connected_to_echo();
  linger lg{1, 1};
  ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  const std::uint64_t before = peer_resets();
  env_->peer_paused = true;
  const std::string data = pattern(20000, 6);
  ASSERT_EQ(send(s, data.data(), static_cast<int>(data.size()), 0), static_cast<int>(data.size()));
  EXPECT_EQ(closesocket(s), 0);
  open_.clear();
  env_->peer_paused = false;
  EXPECT_EQ(wait_peer_resets_above(before), before + 1);
}

TEST_F(Calls, UdpSendtoRecvfromConnectAndReconnect) {
  const int u = sock(SOCK_DGRAM);
  errno = 0;
  EXPECT_EQ(send(u, "x", 1, 0), -1);  // not connected: sendto() is required
  EXPECT_EQ(errno, EDESTADDRREQ);
  const sockaddr_in echo = sin4(kSockAddrB, kEchoPort);
  ASSERT_EQ(sendto(u, "dgram", 5, 0, &echo, sizeof echo), 5);
  char buf[32];
  sockaddr_in from{};
  socklen_t fl = sizeof from;
  ASSERT_EQ(recvfrom(u, buf, sizeof buf, 0, &from, &fl), 5);
  EXPECT_EQ(std::string(buf, 5), "dgram");
  EXPECT_EQ(ntohl(from.sin_addr.s_addr), kSockAddrB);
  EXPECT_EQ(ntohs(from.sin_port), kEchoPort);
  // Connect (never blocks), then send()/recv().
  int on = 1;
  ASSERT_EQ(ioctlsocket(u, FIONBIO, &on), 0);
  ASSERT_EQ(connect(u, &echo, sizeof echo), 0);
  sockaddr_in peer{};
  socklen_t pl = sizeof peer;
  ASSERT_EQ(getpeername(u, &peer, &pl), 0);
  EXPECT_EQ(ntohs(peer.sin_port), kEchoPort);
  ASSERT_EQ(send(u, "again", 5, 0), 5);
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(u, &rd);
  timeval tv{5, 0};
  ASSERT_EQ(select(u + 1, &rd, nullptr, nullptr, &tv), 1);
  int next = 0;
  ASSERT_EQ(ioctlsocket(u, FIONREAD, &next), 0);
  EXPECT_EQ(next, 5);
  ASSERT_EQ(recv(u, buf, sizeof buf, 0), 5);
  EXPECT_EQ(std::string(buf, 5), "again");
  // Re-connect to another peer port.
  const sockaddr_in other = sin4(kSockAddrB, 4242);
  ASSERT_EQ(connect(u, &other, sizeof other), 0);
  pl = sizeof peer;
  ASSERT_EQ(getpeername(u, &peer, &pl), 0);
  EXPECT_EQ(ntohs(peer.sin_port), 4242);
  // INADDR_ANY as destination is refused.
  const sockaddr_in any = sin4(0, 7);
  errno = 0;
  EXPECT_EQ(connect(u, &any, sizeof any), -1);
  EXPECT_EQ(errno, EDESTADDRREQ);
}

TEST_F(Calls, SelectOverListeningConnectingAndConnectedSockets) {
  const int l = sock();
  const sockaddr_in local = sin4(kSockAddrA, 5002);
  ASSERT_EQ(bind(l, &local, sizeof local), 0);
  ASSERT_EQ(listen(l, 8), 0);
  const int c = connected_to_echo();
  const int p = sock();
  int on = 1;
  ASSERT_EQ(ioctlsocket(p, FIONBIO, &on), 0);

  // Nothing ready for reading: a 100 ms timeout expires.
  fd_set rd, wr, ex;
  auto reset = [&] {
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_ZERO(&ex);
    for (int s : {l, c, p}) {
      FD_SET(s, &rd);
      FD_SET(s, &ex);
    }
    FD_SET(p, &wr);
  };
  env_->peer_paused = true;
  const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
  ASSERT_EQ(connect(p, &to, sizeof to), -1);
  ASSERT_EQ(errno, EINPROGRESS);
  reset();
  timeval tv{0, 100000};
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(select(FD_SETSIZE, &rd, &wr, &ex, &tv), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 90ms);
  // The handshake completes: the connecting socket becomes writable.
  env_->peer_paused = false;
  reset();
  timeval tv2{5, 0};
  ASSERT_EQ(select(FD_SETSIZE, nullptr, &wr, nullptr, &tv2), 1);
  EXPECT_TRUE(FD_ISSET(p, &wr));
  // Echoed data makes the connected one readable.
  ASSERT_EQ(send(c, "z", 1, 0), 1);
  reset();
  FD_ZERO(&wr);
  timeval tv3{5, 0};
  ASSERT_EQ(select(FD_SETSIZE, &rd, nullptr, nullptr, &tv3), 1);
  EXPECT_TRUE(FD_ISSET(c, &rd));
  EXPECT_FALSE(FD_ISSET(l, &rd));
  // A pending connection makes the listener readable.
  const std::uint32_t peer_conn = env_->peer_connect(5002, "");
  ASSERT_NE(peer_conn, 0u);
  char b;
  ASSERT_EQ(recv(c, &b, 1, 0), 1);
  reset();
  timeval tv4{5, 0};
  ASSERT_EQ(select(FD_SETSIZE, &rd, nullptr, nullptr, &tv4), 1);
  EXPECT_TRUE(FD_ISSET(l, &rd));
  const int a = accept(l, nullptr, nullptr);
  EXPECT_GT(a, 0);
  open_.push_back(a);
  env_->peer_abort(peer_conn);
  // A stale handle in a set is refused.
  const int gone = socket(AF_INET, SOCK_STREAM, 0);
  closesocket(gone);
  FD_ZERO(&rd);
  FD_SET(gone, &rd);
  timeval tv5{0, 0};
  errno = 0;
  EXPECT_EQ(select(gone + 1, &rd, nullptr, nullptr, &tv5), -1);
  EXPECT_EQ(errno, ENOTSOCK);
}

TEST_F(Calls, RouteAddDeletePingDumpAndErrorText) {
  // 198.21.0.0/16 has no route until we add one via B.
  const sockaddr_in far = sin4(0xC6150001, 80);
  const int s1 = sock();
  int on = 1;
  ASSERT_EQ(ioctlsocket(s1, FIONBIO, &on), 0);
  errno = 0;
  EXPECT_EQ(connect(s1, &far, sizeof far), -1);
  EXPECT_EQ(errno, ENETUNREACH);
  ASSERT_EQ(shardtcp_route_add(htonl(0xC6150000), 16, htonl(kSockAddrB)), 0);
  errno = 0;
  EXPECT_EQ(shardtcp_route_add(htonl(0xC6150000), 16, htonl(kSockAddrB)), -1);
  EXPECT_EQ(errno, EEXIST);
  errno = 0;
  EXPECT_EQ(connect(s1, &far, sizeof far), -1);
  EXPECT_EQ(errno, EINPROGRESS);  // routed now (B drops it, which does not matter here)
  // The dump shows the sockets, the buffers and the new route.
  char* text = nullptr;
  std::size_t text_len = 0;
  FILE* f = open_memstream(&text, &text_len);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(shardtcp_dump(f), 0);
  std::fclose(f);
  const std::string dump(text, text_len);
  std::free(text);
  EXPECT_NE(dump.find("sockets:"), std::string::npos) << dump;
  EXPECT_NE(dump.find("198.21.0.1:80"), std::string::npos) << dump;
  EXPECT_NE(dump.find("SYN_SENT"), std::string::npos) << dump;
  EXPECT_NE(dump.find("buffers:"), std::string::npos) << dump;
  EXPECT_NE(dump.find("198.21.0.0/16 via 198.18.0.2"), std::string::npos) << dump;
  ASSERT_EQ(shardtcp_route_delete(htonl(0xC6150000), 16), 0);
  errno = 0;
  EXPECT_EQ(shardtcp_route_delete(htonl(0xC6150000), 16), -1);
  EXPECT_EQ(errno, ESRCH);
  const int s2 = sock();
  errno = 0;
  EXPECT_EQ(connect(s2, &far, sizeof far), -1);
  EXPECT_EQ(errno, ENETUNREACH);
  // Ping B: every echo request is answered.
  EXPECT_EQ(shardtcp_ping(htonl(kSockAddrB), 3, 2000), 3);
  EXPECT_EQ(shardtcp_ping(htonl(0xC6140001), 1, 100), -1);  // no route
  EXPECT_STREQ(shardtcp_strerror(ECONNREFUSED), "Connection refused");
}

// Records what the per-socket callback heard (it runs on the engine thread).
struct EventRecorder {
  std::atomic<int> counts[9] = {};
  std::atomic<long> acked{0};
  std::atomic<int> last_socket{0};
  static void on_event(int s, int ev, int value, void* user) {
    auto* r = static_cast<EventRecorder*>(user);
    if (ev > 0 && ev < 9) r->counts[ev].fetch_add(1);
    if (ev == SHARDTCP_EV_ACKED) r->acked.fetch_add(value);
    r->last_socket = s;
  }
  bool wait_for(int ev, int n = 1) {
    for (int i = 0; i < 1000 && counts[ev].load() < n; ++i) serve_for(2ms);
    return counts[ev].load() >= n;
  }
};

TEST_F(Calls, EventCallbacksReportOpenedDataAckedPeerFinAndAccepted) {
  EventRecorder rec;
  const int s = sock();
  ASSERT_EQ(shardtcp_set_event_callback(s, &EventRecorder::on_event, &rec), 0);
  const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
  ASSERT_EQ(connect(s, &to, sizeof to), 0);
  EXPECT_TRUE(rec.wait_for(SHARDTCP_EV_OPENED));
  ASSERT_EQ(send(s, "events", 6, 0), 6);
  EXPECT_TRUE(rec.wait_for(SHARDTCP_EV_DATA));
  EXPECT_TRUE(rec.wait_for(SHARDTCP_EV_ACKED));
  EXPECT_GE(rec.acked.load(), 6);
  char buf[8];
  EXPECT_EQ(recv(s, buf, 6, MSG_WAITALL), 6);
  ASSERT_EQ(shutdown(s, SHUT_WR), 0);
  EXPECT_TRUE(rec.wait_for(SHARDTCP_EV_PEER_FIN));
  EXPECT_EQ(rec.last_socket.load(), s);
  // A listener hears of a waiting connection.
  EventRecorder lrec;
  const int l = sock();
  const sockaddr_in local = sin4(kSockAddrA, 5003);
  ASSERT_EQ(bind(l, &local, sizeof local), 0);
  ASSERT_EQ(listen(l, 4), 0);
  ASSERT_EQ(shardtcp_set_event_callback(l, &EventRecorder::on_event, &lrec), 0);
  const std::uint32_t c = env_->peer_connect(5003, "");
  EXPECT_TRUE(lrec.wait_for(SHARDTCP_EV_ACCEPTED));
  const int a = accept(l, nullptr, nullptr);
  EXPECT_GT(a, 0);
  open_.push_back(a);
  env_->peer_abort(c);
  errno = 0;
  EXPECT_EQ(shardtcp_set_event_callback(-5, nullptr, nullptr), -1);
  EXPECT_EQ(errno, ENOTSOCK);
}

TEST_F(Calls, ManyThreadsConnectSendRecvCloseWithoutLeaks) {
  constexpr int kThreads = 8;
  // 8 threads x 250 connect/send/recv/close cycles: 2 000 connections through the
  // request rings, each with its own tuple, buffers and TIME_WAIT record. Under ASan
  // on two cores one cycle costs about 8 ms in either mode (1 000 cycles took 65 s
  // of the CI suite's budget and check nothing more); SHARDTCP_SOCK_CYCLES sets more.
  constexpr int kDefaultCycles = 250;
  const int cycles = std::getenv("SHARDTCP_SOCK_CYCLES")
                         ? std::atoi(std::getenv("SHARDTCP_SOCK_CYCLES"))
                         : kDefaultCycles;
  const int open_before = sockets::open_sockets();
  std::atomic<int> failures{0};
  std::atomic<long> bytes{0};
  std::vector<std::unique_ptr<ServedThread>> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.push_back(std::make_unique<ServedThread>([&, t] {
      const sockaddr_in to = sin4(kSockAddrB, kEchoPort);
      for (int i = 0; i < cycles; ++i) {
        const int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s <= 0) {
          ++failures;
          continue;
        }
        const std::string msg = pattern(64 + static_cast<std::size_t>((t * 131 + i * 17) % 1400),
                                        static_cast<unsigned>(t * 1000 + i));
        std::string in(msg.size(), '\0');
        if (connect(s, &to, sizeof to) != 0 ||
            send(s, msg.data(), static_cast<int>(msg.size()), 0) != static_cast<int>(msg.size()) ||
            recv(s, in.data(), static_cast<int>(in.size()), MSG_WAITALL) !=
                static_cast<int>(in.size()) ||
            in != msg) {
          ++failures;
        } else {
          bytes += static_cast<long>(msg.size());
        }
        if (closesocket(s) != 0) ++failures;
      }
    }));
  }
  for (auto& th : threads) th->join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(bytes.load(), 0);
  EXPECT_EQ(sockets::open_sockets(), open_before);  // no leaked handles
  // Every connection finishes (TIME_WAIT holds no buffers): the pool refills.
  unsigned avail = 0;
  for (int i = 0; i < 300; ++i) {
    avail = env_->a_pool_avail();
    std::size_t conns = 0;
    env_->run_on_peer([&] { conns = env_->a->engine_tcp(0).connections(); });
    if (conns == 0 && avail + 600 >= env_->a->pool()->size) break;
    serve_for(10ms);
  }
  std::size_t conns = 1;
  env_->run_on_peer([&] { conns = env_->a->engine_tcp(0).connections(); });
  EXPECT_EQ(conns, 0u);
  // The pool's per-lcore cache may hold a few hundred; everything else is back.
  EXPECT_GE(avail + 600, env_->a->pool()->size);
}

}  // namespace
}  // namespace shardtcp::testing
