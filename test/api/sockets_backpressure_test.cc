// Back-pressure of the request rings: when an engine's ring is full (nobody polls the
// engine, and it holds as many requests as it can), a non-blocking call fails at once
// with ENOBUFS, a blocking call waits for room, and everything completes once the
// engine runs again. Embedding mode with a two-request ring makes this deterministic.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "api/sockets_internal.h"
#include "port/eal.h"
#include "port/ring_pair.h"
#include "shardtcp/stack.h"
// Last: <sockets.h> renames socket/connect/send/... for what follows.
#include "sockets.h"

namespace shardtcp::testing {
namespace {

using namespace std::chrono_literals;

TEST(SocketsBackpressure, FullRingFailsNonBlockingCallsAndDelaysBlockingOnes) {
  TestEalOptions o;
  o.file_prefix = "sock_backpressure";
  ASSERT_TRUE(eal_init_for_tests(o).is_ok());
  RingCableOptions co;
  co.name = "sockbp";
  auto cable = RingCable::create(co);
  ASSERT_TRUE(cable.is_ok()) << cable.error();
  StackConfig c;
  c.device = (*cable)->a_name();
  c.mac = rte_ether_addr{{0x02, 0x62, 0x70, 0, 0, 1}};
  c.n_mbufs = 2047;
  c.options.addresses.push_back(InterfaceAddress{IpAddr::v4(0xC6120301), 24});
  auto stack = Stack::create(c);
  ASSERT_TRUE(stack.is_ok()) << stack.error();
  sockets::AttachOptions ao;
  ao.mode = sockets::DriveMode::kApplication;
  ao.request_ring_capacity = 2;
  ASSERT_TRUE(sockets::attach(**stack, ao).is_ok());

  // A socket to ask about, made while the application polls.
  std::atomic<bool> polling{true};
  std::thread poller([&] {
    while (polling.load()) sockets::poll();
  });
  const int u = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GT(u, 0);
  int on = 1;
  ASSERT_EQ(ioctlsocket(u, FIONBIO, &on), 0);
  polling = false;
  poller.join();

  // Nobody polls now: two blocking calls fill the two-request ring and wait.
  sockets::RequestRing& ring = *sockets::runtime().rings[0];
  int s1 = 0, s2 = 0;
  std::thread t1([&] { s1 = socket(AF_INET, SOCK_STREAM, 0); });
  std::thread t2([&] { s2 = socket(AF_INET, SOCK_STREAM, 0); });
  for (int i = 0; i < 5000 && ring.pending() < 2; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(ring.pending(), 2u);

  // A non-blocking call is refused at once...
  char buf[8];
  errno = 0;
  EXPECT_EQ(recv(u, buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, ENOBUFS);
  // ...a blocking one waits for room (it cannot finish while nobody polls)...
  std::atomic<bool> t3_done{false};
  int r3 = -2;
  std::thread t3([&] {
    sockaddr_in name{};
    socklen_t len = sizeof name;
    r3 = getsockname(u, &name, &len);
    t3_done = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(t3_done.load());
  EXPECT_EQ(ring.pending(), 2u);

  // ...and once the engine runs again everything completes.
  polling = true;
  std::thread poller2([&] {
    while (polling.load()) sockets::poll();
  });
  t1.join();
  t2.join();
  t3.join();
  EXPECT_GT(s1, 0);
  EXPECT_GT(s2, 0);
  EXPECT_EQ(r3, 0);
  errno = 0;
  EXPECT_EQ(recv(u, buf, sizeof buf, 0), -1);  // room again: just nothing to read
  EXPECT_EQ(errno, EWOULDBLOCK);
  EXPECT_EQ(closesocket(s1), 0);
  EXPECT_EQ(closesocket(s2), 0);
  EXPECT_EQ(closesocket(u), 0);
  polling = false;
  poller2.join();
  sockets::detach();
  stack->reset();
}

}  // namespace
}  // namespace shardtcp::testing
