// <sockets.h> over a stack with two engines on two worker lcores (DriveMode::kLcores):
// the engines drain their own request rings, connections are spread over both and
// each lives on the engine that owns its tuple, a bound-port connect moves to the
// owning engine, a listener listens on every engine and accept() from an ordinary
// thread takes from both, closing it stops every engine's listener, and UDP sockets
// live on the home engine. The peer is a second two-engine stack (native API echo on
// every engine) polled by a test thread, over a two-queue net_ring cable: neither side
// has RSS, so software steering carries what arrives on the wrong queue.
//
// Built twice: as is, and with SOCKETS_SHARDED_PER_THREAD (DriveMode::kPerThread): one
// application thread per engine runs it (claim_engine) and serves jobs the tests give
// it, so the same ordinary-thread tests go over the rings to engine threads, and the
// per-thread tests at the end run on the engine threads themselves: the sockets a
// thread creates live on its engine, accept() on thread k returns engine k's
// connections, and a connection's handle works from the other engine's thread.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "api/sockets_internal.h"
#include "peer_services.h"
#include "port/eal.h"
#include "port/ring_pair.h"
#include "shardtcp/stack.h"
// The prefixed names: this file also calls the native layers' send/listen/accept.
#define SHARDTCP_NO_COMPAT
#include "sockets.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint16_t kEngines = 2;
constexpr std::uint32_t kAddrA = 0xC6120101;  // 198.18.1.1 (the sockets side)
constexpr std::uint32_t kAddrB = 0xC6120102;  // 198.18.1.2 (the native peer)
constexpr std::uint16_t kEchoPort = 7;

int engine_of_handle(int h) {
  return (h >> sockets::HandleTable::kSlotBits) & (sockets::HandleTable::kMaxEngines - 1);
}

// A native client of the peer: sends `hello` once connected, records how it ended.
struct PeerClient {
  TcpLayer* tcp = nullptr;
  std::string hello;
  std::atomic<bool> connected{false};
  std::atomic<int> error{0};
  static void on_event(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value) {
    auto* c = static_cast<PeerClient*>(user);
    if (ev == TcpSocketEvent::kConnected) {
      c->tcp->send(id, c->hello.data(), c->hello.size());
      c->connected = true;
    }
    if (ev == TcpSocketEvent::kError) c->error = static_cast<int>(value);
  }
};

#ifdef SOCKETS_SHARDED_PER_THREAD
// An application thread that runs engine `e` (claim_engine) and, between polls, the
// jobs the test gives it.
class EngineThread {
 public:
  void start(std::uint16_t e) {
    thread_ = std::thread([this, e] {
      claimed_ = shardtcp_thread_engine(e) == 0 ? 1 : -1;
      while (!stop_.load()) {
        std::function<void()> job;
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (!jobs_.empty()) {
            job = std::move(jobs_.front());
            jobs_.erase(jobs_.begin());
          }
        }
        if (job) job();
        shardtcp_poll();
      }
      shardtcp_thread_release();
    });
    while (claimed_.load() == 0) std::this_thread::yield();
    ASSERT_EQ(claimed_.load(), 1) << "engine " << e;
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Runs `fn` on the thread; the flag returned turns true when it has.
  std::shared_ptr<std::atomic<bool>> post(std::function<void()> fn) {
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back([fn = std::move(fn), done] {
      fn();
      done->store(true);
    });
    return done;
  }

 private:
  std::thread thread_;
  std::atomic<int> claimed_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::function<void()>> jobs_;
};
#endif

class ShardedSockets : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TestEalOptions o;
#ifdef SOCKETS_SHARDED_PER_THREAD
    o.file_prefix = "sock_sharded_pt_tests";
#else
    o.file_prefix = "sock_sharded_tests";
#endif
    o.lcores = "0@(0-1),1@(0-1),2@(0-1)";  // the main lcore and one worker per engine
    const Status st = eal_init_for_tests(o);
    ASSERT_TRUE(st.is_ok()) << st.message();
    MbufPoolOptions po;
    po.n_mbufs = 32767;
    auto p = create_mbuf_pool("sock_sharded_pool", po);
    ASSERT_TRUE(p.is_ok()) << p.error();
    RingCableOptions co;
    co.name = "socksh";
    co.nb_queues = kEngines;
    auto cable = RingCable::create(co);
    ASSERT_TRUE(cable.is_ok()) << cable.error();
    cable_ = std::move(cable.value());
    a_ = make_stack(cable_->a_name(), kAddrA, 1, *p);
    b_ = make_stack(cable_->b_name(), kAddrB, 2, *p);
    ASSERT_TRUE(a_ && b_);
    for (std::uint16_t e = 0; e < kEngines; ++e) peer_[e].tcp = &b_->engine_tcp(e);
    // One echo listener per peer engine; the callback's user data names the engine.
    for (std::uint16_t e = 0; e < kEngines; ++e) {
      int err = 0;
      const TcpConnId l =
          b_->engine_tcp(e).listen(Endpoint{IpAddr{}, kEchoPort}, 1024,
                                   TcpCallback{&TcpEchoService::on_event, &peer_[e]}, &err);
      ASSERT_TRUE(l.valid()) << err;
    }
    udp_echo_ = open_udp_echo(b_->engine_udp(0), kEchoPort);  // the home engine: UDP goes there
    ASSERT_TRUE(udp_echo_.valid());
    peer_thread_ = std::thread([] {
      while (!stop_.load()) {
        {
          std::lock_guard<std::mutex> lock(jobs_mu_);
          for (auto& j : jobs_) j();
          jobs_.clear();
        }
        b_->poll_once();
      }
    });
    sockets::AttachOptions ao;
#ifdef SOCKETS_SHARDED_PER_THREAD
    ao.mode = sockets::DriveMode::kPerThread;
#else
    ao.mode = sockets::DriveMode::kLcores;
#endif
    const Status at = sockets::attach(*a_, ao);
    ASSERT_TRUE(at.is_ok()) << at.message();
#ifdef SOCKETS_SHARDED_PER_THREAD
    for (std::uint16_t e = 0; e < kEngines; ++e) engine_threads_[e].start(e);
#endif
  }
  static void TearDownTestSuite() {
#ifdef SOCKETS_SHARDED_PER_THREAD
    for (auto& t : engine_threads_) t.stop();
#endif
    sockets::detach();
    stop_ = true;
    if (peer_thread_.joinable()) peer_thread_.join();
    a_.reset();
    b_.reset();
    if (cable_) cable_->discard_in_flight();
    cable_.reset();
  }

  static std::unique_ptr<Stack> make_stack(const std::string& device, std::uint32_t addr,
                                           std::uint8_t n, rte_mempool* pool) {
    StackConfig c;
    c.device = device;
    c.engines = kEngines;
    c.mac = rte_ether_addr{{0x02, 0x73, 0x68, 0x64, 0x00, n}};
    c.pool = pool;  // shared: net_ring carries the sender's mbufs
    c.options.addresses.push_back(InterfaceAddress{IpAddr::v4(addr), 24});
    c.tcp.max_connections = 4096;
    c.tcp.defaults.msl = std::chrono::milliseconds(200);
    auto s = Stack::create(c);
    EXPECT_TRUE(s.is_ok()) << s.error();
    return s ? std::move(s.value()) : nullptr;
  }

  // Runs `fn` on the peer's polling thread and waits.
  static void on_peer(const std::function<void()>& fn) {
    std::atomic<bool> done{false};
    {
      std::lock_guard<std::mutex> lock(jobs_mu_);
      jobs_.push_back([&] {
        fn();
        done = true;
      });
    }
    while (!done.load()) std::this_thread::yield();
  }

  // `n` native clients of the peer, spread over its engines, connecting to A:port; each
  // sends "<hello_prefix><i>;" once connected.
  static std::vector<std::unique_ptr<PeerClient>> peer_clients_connect(
      int n, std::uint16_t port, const std::string& hello_prefix) {
    std::vector<std::unique_ptr<PeerClient>> clients;
    for (int i = 0; i < n; ++i) {
      auto c = std::make_unique<PeerClient>();
      c->hello = hello_prefix + std::to_string(i) + ";";
      clients.push_back(std::move(c));
    }
    on_peer([&] {
      for (auto& c : clients) {
        // Any peer engine may open it: the peer's ownership picks the port.
        const auto e = static_cast<std::uint16_t>((&c - clients.data()) % kEngines);
        TcpLayer& tcp = b_->engine_tcp(e);
        c->tcp = &tcp;
        int err = 0;
        const TcpConnId id = tcp.open(TcpCallback{&PeerClient::on_event, c.get()}, &err);
        ASSERT_TRUE(id.valid()) << err;
        ASSERT_EQ(tcp.connect(id, Endpoint{IpAddr::v4(kAddrA), port}), 0);
      }
    });
    return clients;
  }

  // The engine a live socket of A lives on now, and the engine owning its tuple.
  static std::pair<int, int> engine_and_owner(int h) {
    sockets::SocketEntry* e = sockets::runtime().table.lookup(h);
    if (e == nullptr) return {-1, -2};
    const std::uint16_t engine = e->engine;
    Endpoint local, remote;
    sockets::on_engine(engine, [&]() -> long {
      a_->engine_tcp(engine).local_endpoint(e->tcp, &local);
      a_->engine_tcp(engine).remote_endpoint(e->tcp, &remote);
      return 0;
    });
    return {engine, a_->owner(TcpTuple{local, remote})};
  }

#ifdef SOCKETS_SHARDED_PER_THREAD
  // Runs `fn` on engine `e`'s thread and waits.
  static void on_engine_thread(std::uint16_t e, std::function<void()> fn) {
    auto done = engine_threads_[e].post(std::move(fn));
    while (!done->load()) std::this_thread::yield();
  }
  static inline EngineThread engine_threads_[kEngines];
#endif

  static inline std::unique_ptr<RingCable> cable_;
  static inline std::unique_ptr<Stack> a_, b_;
  static inline TcpEchoService peer_[kEngines];
  static inline UdpSocketId udp_echo_;
  static inline std::thread peer_thread_;
  static inline std::atomic<bool> stop_{false};
  static inline std::mutex jobs_mu_;
  static inline std::vector<std::function<void()>> jobs_;
};

TEST_F(ShardedSockets, ConnectionsSpreadOverBothEnginesEachOnItsOwnerAndEchoByteExact) {
  constexpr int kThreads = 4, kCycles = 100;
  const int open_before = sockets::open_sockets();
  std::atomic<int> failures{0}, misplaced{0};
  std::atomic<int> per_engine[kEngines] = {};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const sockaddr_in to = sin4(kAddrB, kEchoPort);
      for (int i = 0; i < kCycles; ++i) {
        const int s = shardtcp_socket(AF_INET, SOCK_STREAM, 0);
        if (s <= 0) {
          ++failures;
          continue;
        }
        std::string msg(100 + (t * 37 + i * 11) % 1300, '\0');
        for (std::size_t k = 0; k < msg.size(); ++k)
          msg[k] = static_cast<char>('a' + (k + i + t) % 26);
        std::string in(msg.size(), '\0');
        if (shardtcp_connect(s, &to, sizeof to) != 0) {
          ++failures;
        } else {
          const auto [engine, owner] = engine_and_owner(s);
          if (engine != owner) ++misplaced;
          if (engine >= 0 && engine < kEngines) ++per_engine[engine];
          if (shardtcp_send(s, msg.data(), static_cast<int>(msg.size()), 0) !=
                  static_cast<int>(msg.size()) ||
              shardtcp_recv(s, in.data(), static_cast<int>(in.size()), MSG_WAITALL) !=
                  static_cast<int>(in.size()) ||
              in != msg)
            ++failures;
        }
        if (shardtcp_closesocket(s) != 0) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(misplaced.load(), 0);
  EXPECT_GT(per_engine[0].load(), 0);
  EXPECT_GT(per_engine[1].load(), 0);
  EXPECT_EQ(per_engine[0].load() + per_engine[1].load(), kThreads * kCycles);
  EXPECT_EQ(sockets::open_sockets(), open_before);
  for (std::uint16_t e = 0; e < kEngines; ++e) {
    std::uint64_t not_owned = 1;
    sockets::on_engine(e, [&]() -> long {
      not_owned = a_->engine_tcp(e).segments_not_owned();
      return 0;
    });
    EXPECT_EQ(not_owned, 0u) << "engine " << e;
  }
}

TEST_F(ShardedSockets, BoundPortConnectMovesTheSocketToTheEngineOwningItsTuple) {
  int moved = 0;
  for (std::uint16_t port = 41000; port < 41016; ++port) {
    SCOPED_TRACE(port);
    const int s = shardtcp_socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GT(s, 0);
    const sockaddr_in local = sin4(0, port);
    ASSERT_EQ(shardtcp_bind(s, &local, sizeof local), 0) << strerror(errno);
    const sockaddr_in to = sin4(kAddrB, kEchoPort);
    ASSERT_EQ(shardtcp_connect(s, &to, sizeof to), 0) << strerror(errno);
    const auto [engine, owner] = engine_and_owner(s);
    EXPECT_EQ(engine, owner);
    if (engine != engine_of_handle(s)) ++moved;
    sockaddr_in name{};
    socklen_t len = sizeof name;
    ASSERT_EQ(shardtcp_getsockname(s, &name, &len), 0);
    EXPECT_EQ(ntohs(name.sin_port), port);  // the bound port came along
    char out[32], in[32];
    const int n = std::snprintf(out, sizeof out, "port %u", port);
    ASSERT_EQ(shardtcp_send(s, out, n, 0), n);
    ASSERT_EQ(shardtcp_recv(s, in, n, MSG_WAITALL), n);
    EXPECT_EQ(std::string(in, static_cast<std::size_t>(n)),
              std::string(out, static_cast<std::size_t>(n)));
    EXPECT_EQ(shardtcp_closesocket(s), 0);
  }
  // 16 ports, two engines: some tuples belong to the engine the socket did not start on.
  EXPECT_GT(moved, 0);
}

TEST_F(ShardedSockets, ListenerOnEveryEngineAcceptsFromBothAndCloseStopsThemAll) {
  constexpr std::uint16_t kPort = 8080;
  constexpr int kConns = 48;
  const int l = shardtcp_socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GT(l, 0);
  const sockaddr_in local = sin4(0, kPort);
  ASSERT_EQ(shardtcp_bind(l, &local, sizeof local), 0);
  ASSERT_EQ(shardtcp_listen(l, 128), 0);
  const auto clients = peer_clients_connect(kConns, kPort, "hello ");
  int per_engine[kEngines] = {};
  std::set<std::string> got;
  for (int i = 0; i < kConns; ++i) {
    const int a = shardtcp_accept(l, nullptr, nullptr);
    ASSERT_GT(a, 0) << strerror(errno);
    const auto [engine, owner] = engine_and_owner(a);
    EXPECT_EQ(engine, owner);
    EXPECT_EQ(engine, engine_of_handle(a));  // accepted where the SYN was owned
    if (engine >= 0 && engine < kEngines) ++per_engine[engine];
    std::string msg;
    char c = 0;
    while (shardtcp_recv(a, &c, 1, 0) == 1 && c != ';') msg += c;
    got.insert(msg);
    shardtcp_closesocket(a);
  }
  EXPECT_EQ(got.size(), static_cast<std::size_t>(kConns));
  EXPECT_GT(per_engine[0], 0);
  EXPECT_GT(per_engine[1], 0);
  // Closed: every engine's listener is gone, so a SYN to either is refused.
  ASSERT_EQ(shardtcp_closesocket(l), 0);
  const auto late = peer_clients_connect(8, kPort, "late ");
  for (auto& c : late) {
    for (int k = 0; k < 500 && c->error.load() == 0 && !c->connected.load(); ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_FALSE(c->connected.load());
    EXPECT_EQ(c->error.load(), ECONNREFUSED);
  }
}

TEST_F(ShardedSockets, UdpSocketsLiveOnTheHomeEngineAndEcho) {
  const int u = shardtcp_socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GT(u, 0);
  EXPECT_EQ(engine_of_handle(u), 0);
  const timeval tv{2, 0};  // a lost answer fails the test instead of hanging it
  ASSERT_EQ(shardtcp_setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  const sockaddr_in to = sin4(kAddrB, kEchoPort);
  for (int i = 0; i < 20; ++i) {
    const std::string msg = "datagram " + std::to_string(i);
    ASSERT_EQ(shardtcp_sendto(u, msg.data(), static_cast<int>(msg.size()), 0, &to, sizeof to),
              static_cast<int>(msg.size()));
    char buf[64];
    const int n = shardtcp_recv(u, buf, sizeof buf, 0);
    ASSERT_EQ(n, static_cast<int>(msg.size()));
    EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), msg);
  }
  EXPECT_EQ(shardtcp_closesocket(u), 0);
}

#ifdef SOCKETS_SHARDED_PER_THREAD

TEST_F(ShardedSockets, ThreadEngineRefusesWhatItMust) {
  // Both engines are taken by the fixture's threads; this thread runs none.
  EXPECT_EQ(shardtcp_engine_count(), kEngines);
  EXPECT_EQ(shardtcp_thread_engine(0), -1);
  EXPECT_EQ(errno, EBUSY);
  EXPECT_EQ(shardtcp_thread_engine(kEngines), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(shardtcp_thread_engine(-1), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(shardtcp_thread_release(), -1);
  EXPECT_EQ(errno, EINVAL);
  int again = 0, again_errno = 0;
  on_engine_thread(1, [&] {
    again = shardtcp_thread_engine(1);
    again_errno = errno;
  });
  EXPECT_EQ(again, -1);
  EXPECT_EQ(again_errno, EALREADY);
}

TEST_F(ShardedSockets, AThreadsSocketsLiveOnItsEngineAndItsCallsRunInline) {
  for (std::uint16_t k = 0; k < kEngines; ++k) {
    SCOPED_TRACE(k);
    int s = 0, engine = -1, owner = -2;
    bool echoed = false;
    std::uint64_t posted = 0;
    on_engine_thread(k, [&] {
      const std::uint64_t before = sockets::requests_posted();
      s = shardtcp_socket(AF_INET, SOCK_STREAM, 0);
      const sockaddr_in to = sin4(kAddrB, kEchoPort);
      if (s <= 0 || shardtcp_connect(s, &to, sizeof to) != 0) return;
      const std::string msg(3000, static_cast<char>('k' + k));
      std::string in(msg.size(), '\0');
      echoed = shardtcp_send(s, msg.data(), static_cast<int>(msg.size()), 0) ==
                   static_cast<int>(msg.size()) &&
               shardtcp_recv(s, in.data(), static_cast<int>(in.size()), MSG_WAITALL) ==
                   static_cast<int>(in.size()) &&
               in == msg;
      posted = sockets::requests_posted() - before;
      std::tie(engine, owner) = engine_and_owner(s);
      shardtcp_closesocket(s);
    });
    ASSERT_GT(s, 0);
    EXPECT_EQ(engine_of_handle(s), k);
    EXPECT_EQ(engine, k);  // connect() picked a port whose tuple engine k owns
    EXPECT_EQ(owner, k);
    EXPECT_TRUE(echoed);
    EXPECT_EQ(posted, 0u);  // socket, connect, send, recv: all inline on engine k
  }
}

TEST_F(ShardedSockets, AcceptOnEachEngineThreadReturnsTheConnectionsItsEngineOwns) {
  constexpr std::uint16_t kPort = 8081;
  constexpr int kConns = 40;
  int l = 0;
  on_engine_thread(0, [&] {
    l = shardtcp_socket(AF_INET, SOCK_STREAM, 0);
    const sockaddr_in local = sin4(0, kPort);
    const int on = 1;
    if (l <= 0 || shardtcp_bind(l, &local, sizeof local) != 0 || shardtcp_listen(l, 128) != 0 ||
        shardtcp_ioctlsocket(l, FIONBIO, const_cast<int*>(&on)) != 0)
      l = -1;
  });
  ASSERT_GT(l, 0);
  const auto clients = peer_clients_connect(kConns, kPort, "hi ");
  // Both engine threads accept at once, each until all connections are taken.
  std::atomic<int> taken{0};
  int per_engine[kEngines] = {}, foreign[kEngines] = {}, bad[kEngines] = {};
  std::mutex got_mu;
  std::set<std::string> got;
  std::shared_ptr<std::atomic<bool>> done[kEngines];
  for (std::uint16_t k = 0; k < kEngines; ++k) {
    done[k] = engine_threads_[k].post([&, k] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (taken.load() < kConns && std::chrono::steady_clock::now() < deadline) {
        const int a = shardtcp_accept(l, nullptr, nullptr);
        if (a < 0) {
          if (errno != EWOULDBLOCK) ++bad[k];
          shardtcp_poll();
          continue;
        }
        ++taken;
        ++per_engine[k];
        const auto [engine, owner] = engine_and_owner(a);
        if (engine != k || owner != k || engine_of_handle(a) != k) ++foreign[k];
        std::string msg;
        char c = 0;
        while (shardtcp_recv(a, &c, 1, 0) == 1 && c != ';') msg += c;
        {
          std::lock_guard<std::mutex> lock(got_mu);
          got.insert(msg);
        }
        shardtcp_closesocket(a);
      }
    });
  }
  for (auto& d : done)
    while (!d->load()) std::this_thread::yield();
  EXPECT_EQ(taken.load(), kConns);
  EXPECT_EQ(got.size(), static_cast<std::size_t>(kConns));
  for (std::uint16_t k = 0; k < kEngines; ++k) {
    EXPECT_GT(per_engine[k], 0) << "engine " << k;
    EXPECT_EQ(foreign[k], 0) << "engine " << k;
    EXPECT_EQ(bad[k], 0) << "engine " << k;
  }
  on_engine_thread(0, [&] { EXPECT_EQ(shardtcp_closesocket(l), 0); });
}

TEST_F(ShardedSockets, TwoEngineThreadsEachUseTheOthersConnectionCrossCore) {
  // Thread k opens a connection to the echo peer (it lives on engine k); then each
  // thread, at the same time, sends and receives on the other's connection: its calls
  // go over the other engine's ring while that thread is itself waiting on ours.
  int s[kEngines] = {};
  for (std::uint16_t k = 0; k < kEngines; ++k) {
    on_engine_thread(k, [&, k] {
      s[k] = shardtcp_socket(AF_INET, SOCK_STREAM, 0);
      const sockaddr_in to = sin4(kAddrB, kEchoPort);
      if (s[k] > 0 && shardtcp_connect(s[k], &to, sizeof to) != 0) s[k] = -1;
    });
    ASSERT_GT(s[k], 0);
    EXPECT_EQ(engine_and_owner(s[k]).first, k);
  }
  int ok[kEngines] = {};
  std::uint64_t posted_before = sockets::requests_posted();
  std::shared_ptr<std::atomic<bool>> done[kEngines];
  for (std::uint16_t k = 0; k < kEngines; ++k) {
    done[k] = engine_threads_[k].post([&, k] {
      const int other = s[(k + 1) % kEngines];
      for (int round = 0; round < 50; ++round) {
        std::string msg(200 + round * 97 % 4000, '\0');
        for (std::size_t i = 0; i < msg.size(); ++i)
          msg[i] = static_cast<char>('A' + (i + round + k) % 26);
        std::string in(msg.size(), '\0');
        if (shardtcp_send(other, msg.data(), static_cast<int>(msg.size()), 0) ==
                static_cast<int>(msg.size()) &&
            shardtcp_recv(other, in.data(), static_cast<int>(in.size()), MSG_WAITALL) ==
                static_cast<int>(in.size()) &&
            in == msg)
          ++ok[k];
      }
    });
  }
  for (auto& d : done)
    while (!d->load()) std::this_thread::yield();
  for (std::uint16_t k = 0; k < kEngines; ++k) EXPECT_EQ(ok[k], 50) << "thread " << k;
  EXPECT_GT(sockets::requests_posted(), posted_before);  // the calls went over the rings
  for (std::uint16_t k = 0; k < kEngines; ++k)
    on_engine_thread(k, [&, k] { EXPECT_EQ(shardtcp_closesocket(s[k]), 0); });
}

#endif  // SOCKETS_SHARDED_PER_THREAD

}  // namespace
}  // namespace shardtcp::testing
