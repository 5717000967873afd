// <sockets.h> against Linux's own TCP: the stack on a TAP in a private namespace
// (interop_env), driven by the sockets runtime's driver thread, talking to kernel
// peers started in the same namespace.
#include <chrono>
#include <string>
#include <thread>

#include "api/sockets_runtime.h"
#include "interop_env.h"
// Last: <sockets.h> renames socket/connect/send/... for what follows.
#include "sockets.h"

using namespace std::chrono_literals;
using shardtcp::testing::BackgroundCommand;

namespace {

// Attaches the sockets API to the interop stack once (the driver thread polls it).
shardtcp::testing::InteropEnv* attached_env(std::string* why) {
  static shardtcp::testing::InteropEnv* env = [&]() -> shardtcp::testing::InteropEnv* {
    auto* e = shardtcp::testing::interop_env("sockets", why);
    if (e == nullptr) return nullptr;
    if (!shardtcp::sockets::attach(*e->stack).is_ok()) return nullptr;
    return e;
  }();
  return env;
}

// Detaches before the interop environment (and its stack) goes away.
class DetachAtEnd : public ::testing::Environment {
 public:
  void TearDown() override { shardtcp::sockets::detach(); }
};
[[maybe_unused]] ::testing::Environment* const g_detach =
    ::testing::AddGlobalTestEnvironment(new DetachAtEnd);

#define SOCKETS_INTEROP_ENV(var)                                                       \
  std::string why_##var;                                                               \
  shardtcp::testing::InteropEnv* var = attached_env(&why_##var);                       \
  if (var == nullptr) {                                                                \
    if (shardtcp::testing::running_in_ci()) FAIL() << "interop set-up: " << why_##var; \
    GTEST_SKIP() << "interop test skipped: " << why_##var;                             \
  }

sockaddr_in kernel(std::uint16_t port, const shardtcp::testing::InteropEnv* env) {
  sockaddr_in a;
  std::memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = env->kernel_addr.v4_be();
  return a;
}

// A kernel echo server (python) on `port`; returns once it accepts connections.
std::string echo_server_cmd(std::uint16_t port) {
  return "python3 -c 'import socket\n"
         "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
         "s.bind((\"0.0.0.0\"," +
         std::to_string(port) +
         "));s.listen(8)\n"
         "while True:\n"
         " c,_=s.accept()\n"
         " while True:\n"
         "  d=c.recv(4096)\n"
         "  if not d: break\n"
         "  c.sendall(d)\n"
         " c.close()\n'";
}

TEST(SocketsInterop, KernelPortWithoutListenerIsECONNREFUSEDBlocking) {
  SOCKETS_INTEROP_ENV(env);
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GT(s, 0);
  const sockaddr_in to = kernel(7301, env);
  errno = 0;
  EXPECT_EQ(connect(s, &to, sizeof to), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  EXPECT_STREQ(strerror(errno), "Connection refused");
  EXPECT_EQ(closesocket(s), 0);
}

TEST(SocketsInterop, KernelPortWithoutListenerIsECONNREFUSEDNonBlocking) {
  SOCKETS_INTEROP_ENV(env);
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GT(s, 0);
  int on = 1;
  ASSERT_EQ(ioctlsocket(s, FIONBIO, &on), 0);
  const sockaddr_in to = kernel(7302, env);
  errno = 0;
  EXPECT_EQ(connect(s, &to, sizeof to), -1);
  EXPECT_EQ(errno, EINPROGRESS);
  fd_set wr;
  FD_ZERO(&wr);
  FD_SET(s, &wr);
  timeval tv{10, 0};
  ASSERT_EQ(select(s + 1, nullptr, &wr, nullptr, &tv), 1);
  int err = 0;
  socklen_t el = sizeof err;
  ASSERT_EQ(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el), 0);
  EXPECT_EQ(err, ECONNREFUSED);
  errno = 0;
  EXPECT_EQ(connect(s, &to, sizeof to), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  EXPECT_EQ(closesocket(s), 0);
}

TEST(SocketsInterop, EchoThroughAKernelServer) {
  SOCKETS_INTEROP_ENV(env);
  BackgroundCommand server(echo_server_cmd(7303));
  ASSERT_TRUE(server.started());
  const sockaddr_in to = kernel(7303, env);
  int s = -1;
  for (int i = 0; i < 100; ++i) {  // until python listens
    s = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GT(s, 0);
    if (connect(s, &to, sizeof to) == 0) break;
    ASSERT_EQ(errno, ECONNREFUSED);
    closesocket(s);
    s = -1;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GT(s, 0) << "kernel echo server never listened";
  std::string out(200000, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(i * 13 + 1);
  std::string in(out.size(), '\0');
  std::thread reader([&] {
    EXPECT_EQ(recv(s, in.data(), static_cast<int>(in.size()), MSG_WAITALL),
              static_cast<int>(in.size()));
  });
  EXPECT_EQ(send(s, out.data(), static_cast<int>(out.size()), 0), static_cast<int>(out.size()));
  reader.join();
  EXPECT_TRUE(in == out);
  EXPECT_EQ(closesocket(s), 0);
}

TEST(SocketsInterop, KernelClientAgainstASocketsServer) {
  SOCKETS_INTEROP_ENV(env);
  const int l = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GT(l, 0);
  sockaddr_in local;
  std::memset(&local, 0, sizeof local);
  local.sin_family = AF_INET;
  local.sin_port = htons(7304);
  ASSERT_EQ(bind(l, &local, sizeof local), 0);
  ASSERT_EQ(listen(l, 4), 0);
  std::thread server([&] {
    const int c = accept(l, nullptr, nullptr);
    ASSERT_GT(c, 0);
    char buf[256];
    int n;
    while ((n = recv(c, buf, sizeof buf, 0)) > 0) send(c, buf, n, 0);
    closesocket(c);
  });
  BackgroundCommand client(
      "python3 -c 'import socket\n"
      "c=socket.create_connection((\"" +
      env->stack_addr.to_string() +
      "\",7304),timeout=10)\n"
      "c.sendall(b\"kernel says hi\")\n"
      "d=b\"\"\n"
      "while len(d)<14: d+=c.recv(64)\n"
      "print(d.decode())\n"
      "c.close()\n'");
  ASSERT_TRUE(client.started());
  for (int i = 0; i < 200 && !client.finished(); ++i) std::this_thread::sleep_for(50ms);
  server.join();
  EXPECT_EQ(client.exit_status(), 0) << client.output();
  EXPECT_NE(client.output().find("kernel says hi"), std::string::npos) << client.output();
  EXPECT_EQ(closesocket(l), 0);
}

}  // namespace
