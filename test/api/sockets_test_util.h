// Helpers of the sockets tests: addresses as sockaddr_in, and connect() driven the
// three ways a caller can (blocking thread, non-blocking thread, engine thread).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "peer_services.h"
#include "sockets_pair_env.h"
// Last: <sockets.h> renames socket/connect/send/... for what follows.
#include "sockets.h"

namespace shardtcp::testing {

// A helper thread whose join() keeps the engines running while it waits, for a joining
// thread that runs them inline (the helper's calls wait for the engines' next round,
// which only the joiner can give them); elsewhere join() is a plain join.
class ServedThread {
 public:
  template <class F>
  explicit ServedThread(F&& f)
      : thread_([this, fn = std::forward<F>(f)]() mutable {
          fn();
          done_.store(true);
        }) {}
  ~ServedThread() {
    if (thread_.joinable()) join();
  }
  ServedThread(const ServedThread&) = delete;
  ServedThread& operator=(const ServedThread&) = delete;
  void join() {
    while (!done_.load())
      if (shardtcp_poll() <= 0) std::this_thread::yield();
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};  // before thread_: set up before the thread starts
  std::thread thread_;
};

// Lets `d` pass: the inline owner keeps running the engines meanwhile, another thread
// sleeps.
template <class Rep, class Period>
void serve_for(std::chrono::duration<Rep, Period> d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end)
    if (shardtcp_poll() <= 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

enum class Caller { kBlocking, kNonBlocking, kEngineThread };

inline std::string caller_name(const ::testing::TestParamInfo<Caller>& i) {
  switch (i.param) {
    case Caller::kBlocking:
      return "Blocking";
    case Caller::kNonBlocking:
      return "NonBlocking";
    case Caller::kEngineThread:
      return "EngineThread";
  }
  return "?";
}

struct ConnectOutcome {
  int first = 0;  // errno of the connect() call itself (0: it returned 0)
  int final = 0;  // how the attempt ended: 0 connected, else the errno (SO_ERROR)
};

// A socket set up for `caller` (non-blocking for the last two).
inline int make_socket(Caller caller, int type = SOCK_STREAM, int family = AF_INET) {
  const int s = socket(family, type, 0);
  EXPECT_GT(s, 0) << strerror(errno);
  if (caller != Caller::kBlocking) {
    int on = 1;
    EXPECT_EQ(ioctlsocket(s, FIONBIO, &on), 0);
  }
  return s;
}

inline int connect_errno(int s, const void* addr, socklen_t len) {
  errno = 0;
  const int r = connect(s, addr, len);
  return r == 0 ? 0 : errno;
}

// connect() as `caller` would; for an attempt in progress, waits (select, 15 s) for
// writability and reads SO_ERROR.
inline ConnectOutcome connect_as(Caller caller, int s, const void* addr, socklen_t len) {
  ConnectOutcome o;
  if (caller == Caller::kEngineThread) {
    sockets_env().run_on_peer([&] { o.first = connect_errno(s, addr, len); });
  } else {
    o.first = connect_errno(s, addr, len);
  }
  o.final = o.first;
  if (o.first == EINPROGRESS) {
    fd_set wr;
    FD_ZERO(&wr);
    FD_SET(s, &wr);
    timeval tv{15, 0};
    const int n = select(s + 1, nullptr, &wr, nullptr, &tv);
    EXPECT_EQ(n, 1) << "connect did not finish";
    int err = -1;
    socklen_t el = sizeof err;
    EXPECT_EQ(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el), 0);
    o.final = err;
  }
  return o;
}

// Tests over the pair environment: the sockets they open are closed after each test,
// and the peer runs again.
template <class Base = ::testing::Test>
class PairSocketsTest : public Base {
 protected:
  void SetUp() override {
    env_ = &sockets_env();
    ASSERT_NE(env_->a, nullptr);
  }
  void TearDown() override {
    for (int s : open_) closesocket(s);
    env_->peer_paused = false;
  }
  int sock(int type = SOCK_STREAM, int family = AF_INET) {
    const int s = socket(family, type, 0);
    EXPECT_GT(s, 0) << strerror(errno);
    open_.push_back(s);
    return s;
  }
  SocketsPairEnv* env_ = nullptr;
  std::vector<int> open_;
};

// The fixture of the connect() matrices (IPv4 and IPv6): sockets made for the caller
// kind under test, and the two shapes of expectation.
class ConnectMatrix : public PairSocketsTest<::testing::TestWithParam<Caller>> {
 protected:
  int sock_of(int family, int type) {
    const int s = make_socket(GetParam(), type, family);
    open_.push_back(s);
    return s;
  }
  // The first call's errno for a synchronous failure is the same for every caller.
  template <class Addr>
  void expect_sync(int s, const Addr& to, int expected) {
    const ConnectOutcome o = connect_as(GetParam(), s, &to, sizeof to);
    EXPECT_EQ(o.first, expected) << strerror(o.first);
  }
  // An asynchronous failure: blocking connect returns it; the others start with
  // EINPROGRESS and end with it in SO_ERROR, and connect() then repeats it.
  template <class Addr>
  void expect_async(int s, const Addr& to, int expected) {
    const ConnectOutcome o = connect_as(GetParam(), s, &to, sizeof to);
    if (GetParam() == Caller::kBlocking) {
      EXPECT_EQ(o.first, expected) << strerror(o.first);
    } else {
      EXPECT_EQ(o.first, EINPROGRESS) << strerror(o.first);
      EXPECT_EQ(o.final, expected) << strerror(o.final);
      EXPECT_EQ(connect_errno(s, &to, sizeof to), expected);
    }
  }
  void set_connect_timeout(int s, long ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    ASSERT_EQ(setsockopt(s, SOL_SOCKET, SHARDTCP_SO_CONNECT_TIMEOUT, &tv, sizeof tv), 0);
  }
};

}  // namespace shardtcp::testing
