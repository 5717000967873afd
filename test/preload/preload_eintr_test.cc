// Blocking stack calls and signals under the preload library, as on Linux (signal(7)):
// a handler installed without SA_RESTART ends a blocked recv, accept or connect with
// EINTR (an interrupted connect goes on: EALREADY next); one with SA_RESTART lets the
// call go on, unless the socket has a timeout (SO_RCVTIMEO), which is interrupted all
// the same. The stack runs on a null port: nothing ever arrives, so each call blocks
// until the signal (sent by a helper thread after 50 ms) or its timeout.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "preload_test_util.h"

namespace {

using preload_test::stack_addr;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::atomic<int> g_usr1{0}, g_usr2{0};
void on_usr1(int) {
  g_usr1.fetch_add(1);
}
void on_usr2(int) {
  g_usr2.fetch_add(1);
}

void install(int sig, void (*fn)(int), bool restart) {
  struct sigaction a {};
  a.sa_handler = fn;
  sigemptyset(&a.sa_mask);
  a.sa_flags = restart ? SA_RESTART : 0;
  ASSERT_EQ(0, sigaction(sig, &a, nullptr));
}

struct Outcome {
  long result = 0;
  int err = 0;
  Clock::duration took{};
};

// Runs `call` on this thread while a helper sends it `sig` after each of `after_ms`.
Outcome blocked_call(const std::function<long()>& call,
                     std::initializer_list<std::pair<int, int>> sends) {
  const pthread_t me = pthread_self();
  std::vector<std::pair<int, int>> plan(sends);
  std::thread t([me, plan] {
    const auto t0 = Clock::now();
    for (const auto& [ms, sig] : plan) {
      std::this_thread::sleep_until(t0 + milliseconds(ms));
      pthread_kill(me, sig);
    }
  });
  const auto t0 = Clock::now();
  errno = 0;
  Outcome o;
  o.result = call();
  o.err = errno;
  o.took = Clock::now() - t0;
  t.join();
  return o;
}

TEST(PreloadEintr, BlockingRecvAndAcceptEndWithEintr) {
  PRELOAD_REQUIRE_ROOT();
  install(SIGUSR1, &on_usr1, false);
  const int u = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(u, 0);
  sockaddr_in a = stack_addr(7301);
  ASSERT_EQ(0, bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a));
  char buf[16];
  int before = g_usr1.load();
  Outcome o =
      blocked_call([&] { return static_cast<long>(recv(u, buf, sizeof buf, 0)); }, {{50, SIGUSR1}});
  EXPECT_EQ(-1, o.result);
  EXPECT_EQ(EINTR, o.err);
  EXPECT_EQ(before + 1, g_usr1.load());
  EXPECT_LT(o.took, milliseconds(2000));
  const int l = socket(AF_INET, SOCK_STREAM, 0);
  a = stack_addr(7302);
  ASSERT_EQ(0, bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a));
  ASSERT_EQ(0, listen(l, 4));
  before = g_usr1.load();
  o = blocked_call([&] { return static_cast<long>(accept(l, nullptr, nullptr)); }, {{50, SIGUSR1}});
  EXPECT_EQ(-1, o.result);
  EXPECT_EQ(EINTR, o.err);
  EXPECT_EQ(before + 1, g_usr1.load());
  EXPECT_LT(o.took, milliseconds(2000));
  close(l);
  close(u);
  signal(SIGUSR1, SIG_DFL);
}

// The SYN to a host that never answers (nothing on the null port): the blocking
// connect is interrupted, the attempt goes on (EALREADY), as Linux's.
TEST(PreloadEintr, InterruptedConnectGoesOn) {
  PRELOAD_REQUIRE_ROOT();
  install(SIGUSR1, &on_usr1, false);
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_in to = stack_addr(80);
  to.sin_addr.s_addr = htonl(0xC6121E09);  // 198.18.30.9 on the stack's link: no one
  const Outcome o = blocked_call(
      [&] { return static_cast<long>(connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to)); },
      {{50, SIGUSR1}});
  EXPECT_EQ(-1, o.result);
  EXPECT_EQ(EINTR, o.err);
  EXPECT_LT(o.took, milliseconds(2000));
  EXPECT_ERRNO(connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to), EALREADY);
  close(s);
  signal(SIGUSR1, SIG_DFL);
}

// SA_RESTART: the first signal's handler runs and the recv goes on; the second one's
// handler (no SA_RESTART) ends it, so it lasted past the first.
TEST(PreloadEintr, SaRestartLetsTheCallGoOn) {
  PRELOAD_REQUIRE_ROOT();
  install(SIGUSR1, &on_usr1, true);
  install(SIGUSR2, &on_usr2, false);
  const int u = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(u, 0);
  sockaddr_in a = stack_addr(7303);
  ASSERT_EQ(0, bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a));
  char buf[16];
  const int usr1 = g_usr1.load(), usr2 = g_usr2.load();
  const Outcome o = blocked_call([&] { return static_cast<long>(recv(u, buf, sizeof buf, 0)); },
                                 {{50, SIGUSR1}, {250, SIGUSR2}});
  EXPECT_EQ(-1, o.result);
  EXPECT_EQ(EINTR, o.err);
  EXPECT_EQ(usr1 + 1, g_usr1.load());
  EXPECT_EQ(usr2 + 1, g_usr2.load());
  EXPECT_GE(o.took, milliseconds(240));  // not ended by the first
  EXPECT_LT(o.took, milliseconds(2000));
  close(u);
  signal(SIGUSR1, SIG_DFL);
  signal(SIGUSR2, SIG_DFL);
}

// A socket with a receive timeout is interrupted even by an SA_RESTART handler.
TEST(PreloadEintr, TimedCallIsInterruptedEvenWithSaRestart) {
  PRELOAD_REQUIRE_ROOT();
  install(SIGUSR1, &on_usr1, true);
  const int u = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(u, 0);
  timeval tv{3, 0};
  ASSERT_EQ(0, setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
  sockaddr_in a = stack_addr(7304);
  ASSERT_EQ(0, bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a));
  char buf[16];
  const Outcome o =
      blocked_call([&] { return static_cast<long>(recv(u, buf, sizeof buf, 0)); }, {{50, SIGUSR1}});
  EXPECT_EQ(-1, o.result);
  EXPECT_EQ(EINTR, o.err);
  EXPECT_LT(o.took, milliseconds(2000));  // not the 3 s timeout
  close(u);
  signal(SIGUSR1, SIG_DFL);
}

}  // namespace
