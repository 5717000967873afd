// Mixed readiness under the preload library: poll(), select() and epoll_wait() over a
// stack socket and a kernel eventfd report both kinds together, a kernel descriptor
// that becomes ready during a wait ends it, timeouts hold, and epoll's EPOLLET and
// EPOLLONESHOT behave as the kernel's. The stack runs on a null port, so its sockets'
// readiness here is a UDP socket's (always writable) and a listener's (never readable).
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>

#include <algorithm>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <thread>

#include "preload_test_util.h"

namespace {

using preload_test::stack_addr;
using Clock = std::chrono::steady_clock;

struct Fds {
  int udp = -1;       // stack, writable
  int listener = -1;  // stack, idle
  int ev = -1;        // kernel
  Fds() {
    udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    static unsigned short port = 7200;
    sockaddr_in a = stack_addr(port++);
    bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(listener, 4);
    ev = eventfd(0, EFD_NONBLOCK);
  }
  ~Fds() {
    close(udp);
    close(listener);
    close(ev);
  }
  void signal_kernel() const {
    const std::uint64_t one = 1;
    (void)!write(ev, &one, sizeof one);
  }
};

TEST(PreloadPoll, PollReportsStackAndKernelTogether) {
  PRELOAD_REQUIRE_ROOT();
  Fds f;
  ASSERT_GE(f.udp, 0);
  ASSERT_GE(f.ev, 0);
  f.signal_kernel();
  pollfd p[3] = {{f.udp, POLLOUT | POLLIN, 0}, {f.listener, POLLIN, 0}, {f.ev, POLLIN, 0}};
  ASSERT_EQ(2, poll(p, 3, 1000));
  EXPECT_EQ(POLLOUT, p[0].revents);
  EXPECT_EQ(0, p[1].revents);
  EXPECT_EQ(POLLIN, p[2].revents);
  // ppoll: the same, and the descriptors the caller gave are intact afterwards.
  timespec ts{1, 0};
  ASSERT_EQ(2, ppoll(p, 3, &ts, nullptr));
  EXPECT_EQ(f.udp, p[0].fd);
  EXPECT_EQ(f.ev, p[2].fd);
}

TEST(PreloadPoll, KernelDescriptorReadyDuringTheWaitEndsIt) {
  PRELOAD_REQUIRE_ROOT();
  Fds f;
  pollfd p[2] = {{f.listener, POLLIN, 0}, {f.ev, POLLIN, 0}};
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    f.signal_kernel();
  });
  const auto t0 = Clock::now();
  const int n = poll(p, 2, 5000);
  const auto waited = Clock::now() - t0;
  t.join();
  ASSERT_EQ(1, n);
  EXPECT_EQ(POLLIN, p[1].revents);
  EXPECT_EQ(0, p[0].revents);
  EXPECT_GE(waited, std::chrono::milliseconds(40));
  EXPECT_LT(waited, std::chrono::milliseconds(2000));
}

TEST(PreloadPoll, TimeoutWithNothingReady) {
  PRELOAD_REQUIRE_ROOT();
  Fds f;
  pollfd p[2] = {{f.listener, POLLIN, 0}, {f.ev, POLLIN, 0}};
  const auto t0 = Clock::now();
  EXPECT_EQ(0, poll(p, 2, 60));
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(60));
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(f.listener, &rd);
  FD_SET(f.ev, &rd);
  timeval tv{0, 60000};
  const auto t1 = Clock::now();
  EXPECT_EQ(0, select(std::max(f.listener, f.ev) + 1, &rd, nullptr, nullptr, &tv));
  EXPECT_GE(Clock::now() - t1, std::chrono::milliseconds(60));
  EXPECT_FALSE(FD_ISSET(f.listener, &rd));
}

TEST(PreloadPoll, SelectReportsStackAndKernelTogether) {
  PRELOAD_REQUIRE_ROOT();
  Fds f;
  f.signal_kernel();
  fd_set rd, wr;
  FD_ZERO(&rd);
  FD_ZERO(&wr);
  FD_SET(f.listener, &rd);
  FD_SET(f.ev, &rd);
  FD_SET(f.udp, &wr);
  const int nfds = std::max({f.udp, f.listener, f.ev}) + 1;
  timeval tv{1, 0};
  ASSERT_EQ(2, select(nfds, &rd, &wr, nullptr, &tv));
  EXPECT_TRUE(FD_ISSET(f.ev, &rd));
  EXPECT_FALSE(FD_ISSET(f.listener, &rd));
  EXPECT_TRUE(FD_ISSET(f.udp, &wr));
  FD_ZERO(&rd);
  FD_SET(f.ev, &rd);
  FD_ZERO(&wr);
  FD_SET(f.udp, &wr);
  timespec ts{1, 0};
  EXPECT_EQ(2, pselect(nfds, &rd, &wr, nullptr, &ts, nullptr));
}

TEST(PreloadPoll, EpollReportsStackAndKernelTogether) {
  PRELOAD_REQUIRE_ROOT();
  Fds f;
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  epoll_event e{};
  e.events = EPOLLOUT;
  e.data.u64 = 0x1111;
  ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, f.udp, &e));
  EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, f.udp, &e), EEXIST);
  e.events = EPOLLIN;
  e.data.u64 = 0x2222;
  ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, f.listener, &e));
  e.data.u64 = 0x3333;
  ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, f.ev, &e));
  epoll_event out[8];
  // Only the stack socket is ready yet.
  ASSERT_EQ(1, epoll_wait(ep, out, 8, 1000));
  EXPECT_EQ(0x1111u, out[0].data.u64);
  EXPECT_EQ(static_cast<std::uint32_t>(EPOLLOUT), out[0].events);
  f.signal_kernel();
  ASSERT_EQ(2, epoll_wait(ep, out, 8, 1000));
  std::uint64_t seen = out[0].data.u64 | out[1].data.u64;
  EXPECT_EQ(0x1111u | 0x3333u, seen);
  // maxevents 1: one per wait, the other comes next (neither is starved).
  ASSERT_EQ(1, epoll_wait(ep, out, 1, 1000));
  std::uint64_t first = out[0].data.u64;
  ASSERT_EQ(1, epoll_wait(ep, out, 1, 1000));
  EXPECT_NE(first, out[0].data.u64);
  // DEL of the stack socket: only the kernel one is left.
  ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_DEL, f.udp, nullptr));
  EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_DEL, f.udp, nullptr), ENOENT);
  EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_MOD, f.udp, &e), ENOENT);
  EXPECT_ERRNO(epoll_ctl(ep, EPOLL_CTL_ADD, f.udp, nullptr), EFAULT);
  EXPECT_ERRNO(epoll_wait(ep, out, 0, 0), EINVAL);
  ASSERT_EQ(1, epoll_wait(ep, out, 8, 1000));
  EXPECT_EQ(0x3333u, out[0].data.u64);
  close(ep);
}

TEST(PreloadPoll, EpollEdgeTriggeredAndOneShot) {
  PRELOAD_REQUIRE_ROOT();
  Fds f;
  const int ep = epoll_create(8);
  epoll_event e{};
  e.events = EPOLLOUT | EPOLLET | EPOLLRDHUP;
  e.data.fd = f.udp;
  ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, f.udp, &e));
  epoll_event out[4];
  ASSERT_EQ(1, epoll_wait(ep, out, 4, 1000));
  // Edge-triggered: still writable, but no new edge until I/O on the socket.
  EXPECT_EQ(0, epoll_wait(ep, out, 4, 30));
  sockaddr_in to = stack_addr(9);
  to.sin_addr.s_addr = htonl(0xC6121E09);  // 198.18.30.9 on the stack's link
  ASSERT_EQ(1, sendto(f.udp, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to));
  ASSERT_EQ(1, epoll_wait(ep, out, 4, 1000));
  EXPECT_EQ(f.udp, out[0].data.fd);
  // One-shot: reported once, then silent until MOD re-arms it.
  e.events = EPOLLOUT | EPOLLONESHOT;
  ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_MOD, f.udp, &e));
  ASSERT_EQ(1, epoll_wait(ep, out, 4, 1000));
  EXPECT_EQ(0, epoll_wait(ep, out, 4, 30));
  ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_MOD, f.udp, &e));
  EXPECT_EQ(1, epoll_wait(ep, out, 4, 1000));
  // Closing a member removes it, as the kernel does.
  close(f.udp);
  f.udp = -1;
  EXPECT_EQ(0, epoll_wait(ep, out, 4, 30));
  close(ep);
}

std::atomic<int> g_usr1{0};
void on_usr1(int) {
  g_usr1.fetch_add(1);
}

// A signal handler that runs during a mixed wait ends it with EINTR (nginx's SIGTERM
// handler only sets a flag its loop reads when epoll_wait() returns), and the handler
// the program installed is the one sigaction()/signal() report back.
TEST(PreloadPoll, SignalDuringAWaitGivesEintr) {
  PRELOAD_REQUIRE_ROOT();
  Fds f;
  struct sigaction a {};
  a.sa_handler = &on_usr1;
  sigemptyset(&a.sa_mask);
  ASSERT_EQ(0, sigaction(SIGUSR1, &a, nullptr));
  struct sigaction back {};
  ASSERT_EQ(0, sigaction(SIGUSR1, nullptr, &back));
  EXPECT_EQ(&on_usr1, back.sa_handler);
  EXPECT_EQ(&on_usr1, signal(SIGUSR1, &on_usr1));
  const int ep = epoll_create1(0);
  epoll_event e{};
  e.events = EPOLLIN;
  ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, f.listener, &e));
  const pthread_t me = pthread_self();
  for (int which = 0; which < 3; ++which) {
    SCOPED_TRACE(which == 0 ? "poll" : which == 1 ? "select" : "epoll_wait");
    const int before = g_usr1.load();
    std::thread t([me] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      pthread_kill(me, SIGUSR1);
    });
    const auto t0 = Clock::now();
    int r = 0;
    if (which == 0) {
      pollfd p[2] = {{f.listener, POLLIN, 0}, {f.ev, POLLIN, 0}};
      r = poll(p, 2, 5000);
    } else if (which == 1) {
      fd_set rd;
      FD_ZERO(&rd);
      FD_SET(f.listener, &rd);
      FD_SET(f.ev, &rd);
      timeval tv{5, 0};
      r = select(std::max(f.listener, f.ev) + 1, &rd, nullptr, nullptr, &tv);
    } else {
      epoll_event out[2];
      r = epoll_wait(ep, out, 2, 5000);
    }
    const int err = errno;
    t.join();
    EXPECT_EQ(-1, r);
    EXPECT_EQ(EINTR, err);
    EXPECT_EQ(before + 1, g_usr1.load());
    EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(2000));
  }
  close(ep);
  signal(SIGUSR1, SIG_DFL);
}

}  // namespace

// Hang-ups as the kernel reports them, on a connected UDP socket shut down in two steps
// (the null port has no TCP peer to send a FIN): SHUT_RD gives readable and RDHUP
// (POLLRDHUP only when asked), SHUT_WR then gives HUP, which poll() and epoll report
// whether asked or not, and select() counts as readable.
TEST(PreloadPoll, ShutdownReportsRdhupThenHupAsTheKernel) {
  PRELOAD_REQUIRE_ROOT();
  const int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(s, 0);
  sockaddr_in to = stack_addr(9);
  to.sin_addr.s_addr = htonl(0xC6121E09);  // 198.18.30.9 on the stack's link
  ASSERT_EQ(0, connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to));
  pollfd p{s, POLLIN | POLLRDHUP, 0};
  ASSERT_EQ(0, poll(&p, 1, 0));
  ASSERT_EQ(0, shutdown(s, SHUT_RD));
  ASSERT_EQ(1, poll(&p, 1, 0));
  EXPECT_EQ(POLLIN | POLLRDHUP, p.revents);
  p.events = POLLIN;
  ASSERT_EQ(1, poll(&p, 1, 0));
  EXPECT_EQ(POLLIN, p.revents);
  const int ep = epoll_create1(0);
  ASSERT_GE(ep, 0);
  epoll_event e{};
  e.events = EPOLLIN | EPOLLRDHUP;
  ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
  epoll_event out[2];
  ASSERT_EQ(1, epoll_wait(ep, out, 2, 1000));
  EXPECT_EQ(static_cast<std::uint32_t>(EPOLLIN | EPOLLRDHUP), out[0].events);
  ASSERT_EQ(0, shutdown(s, SHUT_WR));
  // Nothing asked: POLLHUP all the same.
  p.events = 0;
  ASSERT_EQ(1, poll(&p, 1, 0));
  EXPECT_EQ(POLLHUP, p.revents);
  e.events = EPOLLOUT;
  ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
  ASSERT_EQ(1, epoll_wait(ep, out, 2, 1000));
  EXPECT_EQ(static_cast<std::uint32_t>(EPOLLOUT | EPOLLHUP), out[0].events);
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(s, &rd);
  timeval tv{0, 0};
  ASSERT_EQ(1, select(s + 1, &rd, nullptr, nullptr, &tv));
  EXPECT_TRUE(FD_ISSET(s, &rd));
  close(ep);
  close(s);
}
