#include "sockets_pair_env.h"

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "api/sockets_runtime.h"
#include "peer_services.h"
#include "port/eal.h"

namespace shardtcp::testing {
namespace {

struct PeerJobs {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::function<void()>*> jobs;
  std::uint64_t done = 0;
};

// B's native clients (peer_connect): what each sends first and what it received.
struct PeerClient {
  TcpLayer* tcp = nullptr;
  TcpConnId id;
  std::string hello;
  std::string got;
  static void cb(void* u, TcpConnId id, TcpSocketEvent ev, std::uint32_t) {
    auto* p = static_cast<PeerClient*>(u);
    if (ev == TcpSocketEvent::kConnected && !p->hello.empty())
      p->tcp->send(id, p->hello.data(), p->hello.size());
    if (ev == TcpSocketEvent::kReadable) {
      char b[2048];
      long n;
      while ((n = p->tcp->recv(id, b, sizeof b)) > 0) p->got.append(b, static_cast<std::size_t>(n));
    }
  }
};
std::vector<std::unique_ptr<PeerClient>> g_clients;

SocketsPairEnv* g_env = nullptr;
#ifdef SOCKETS_ENV_EMBEDDED
std::thread g_app_thread;
std::atomic<bool> g_app_stop{false};
#endif
std::thread::id g_owner;  // SOCKETS_ENV_INLINE: the thread that runs the engines
PeerJobs g_jobs;
TcpEchoService g_echo;  // B's echo (runs on the driver thread)
std::unique_ptr<Stack> g_a, g_b;
// One pool for both stacks (StackConfig::pool): net_ring carries the sender's mbufs,
// so each stack ends up holding the other's, and a pool per stack would be freed under
// the other stack's received data when the first stack goes.
rte_mempool* g_pool = nullptr;
UdpSocketId g_udp_echo;

unsigned poll_peer() {
  {
    std::lock_guard<std::mutex> lock(g_jobs.mu);
    if (!g_jobs.jobs.empty()) {
      for (auto* fn : g_jobs.jobs) (*fn)();
      g_jobs.done += g_jobs.jobs.size();
      g_jobs.jobs.clear();
      g_jobs.cv.notify_all();
    }
  }
  if (g_env->peer_paused.load()) return 0;
  return g_b->engine(0).poll_once();
}

Stack* make_stack(const char* device, std::uint32_t addr, bool route_blackhole) {
  StackConfig c;
  c.device = device;
  // net_ring ports start with an all-zero MAC: each stack gets a distinct local one.
  c.mac = rte_ether_addr{{0x02, 0x73, 0x6f, 0x63, 0x00, static_cast<std::uint8_t>(addr & 0xff)}};
  c.pool = g_pool;
  InterfaceAddress ia;
  ia.addr = IpAddr::v4(addr);
  ia.prefix_len = 24;
  c.options.addresses.push_back(ia);
  if (route_blackhole) {
    RouteOption r;
    r.network = IpAddr::v4(0xC6130000);  // 198.19.0.0/16 via B
    r.prefix_len = 16;
    r.gateway = IpAddr::v4(kSockAddrB);
    c.options.routes.push_back(r);
  }
  c.tcp.max_connections = 4096;
  c.tcp.defaults.msl = std::chrono::milliseconds(200);  // short TIME_WAIT for churn tests
  auto s = Stack::create(c);
  if (!s) {
    ADD_FAILURE() << device << ": " << s.error();
    return nullptr;
  }
  return s.value().release();
}

void build() {
  TestEalOptions o;
  o.file_prefix = "sock_pair_tests";
  const Status st = eal_init_for_tests(o);
  ASSERT_TRUE(st.is_ok()) << st.message();
  rte_ring* ab = rte_ring_create("sock_ab", 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* ba = rte_ring_create("sock_ba", 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  ASSERT_NE(ab, nullptr);
  ASSERT_NE(ba, nullptr);
  const int id_a = rte_eth_from_rings("sock_a", &ba, 1, &ab, 1, SOCKET_ID_ANY);
  const int id_b = rte_eth_from_rings("sock_b", &ab, 1, &ba, 1, SOCKET_ID_ANY);
  ASSERT_GE(id_a, 0);
  ASSERT_GE(id_b, 0);
  // The ethdev names net_ring gives them ("net_ring_sock_a").
  char name_a[RTE_ETH_NAME_MAX_LEN], name_b[RTE_ETH_NAME_MAX_LEN];
  ASSERT_EQ(rte_eth_dev_get_name_by_port(static_cast<std::uint16_t>(id_a), name_a), 0);
  ASSERT_EQ(rte_eth_dev_get_name_by_port(static_cast<std::uint16_t>(id_b), name_b), 0);
  MbufPoolOptions po;
  po.n_mbufs = 16383;
  auto pool = create_mbuf_pool("sock_pair_pool", po);
  ASSERT_TRUE(pool.is_ok()) << pool.error();
  g_pool = pool.value();
  g_a.reset(make_stack(name_a, kSockAddrA, true));
  g_b.reset(make_stack(name_b, kSockAddrB, false));
  ASSERT_TRUE(g_a && g_b);
  g_env->a = g_a.get();
  g_env->b = g_b.get();

  TcpLayer& tcp = g_b->engine_tcp(0);
  int err = 0;
  // IPv4 only: the IPv6 tests add their own [::] echo on the same port (sockets6_peer.cc).
  ASSERT_TRUE(g_echo.listen(tcp, {IpAddr::v4(0), kEchoPort}, &err)) << err;
  g_udp_echo = open_udp_echo(g_b->engine_udp(0), kEchoPort);
  ASSERT_TRUE(g_udp_echo.valid());

  sockets::AttachOptions ao;
#if defined(SOCKETS_ENV_INLINE)
  // Run to completion: this thread (the tests' own) runs A's engine inline; its blocking
  // calls run A and, through extra_poll, B until they can return.
  ao.mode = sockets::DriveMode::kInline;
  ao.extra_poll = &poll_peer;
  const Status a = sockets::attach(*g_a, ao);
  ASSERT_TRUE(a.is_ok()) << a.message();
  g_owner = std::this_thread::get_id();
#elif defined(SOCKETS_ENV_EMBEDDED)
  // Embedding mode: the application (this thread of ours) polls the stack itself and
  // lets the sockets runtime drain its requests in between; blocking calls from other
  // threads wait for that loop.
  ao.mode = sockets::DriveMode::kApplication;
  const Status a = sockets::attach(*g_a, ao);
  ASSERT_TRUE(a.is_ok()) << a.message();
  g_app_thread = std::thread([] {
    while (!g_app_stop.load()) {
      sockets::poll();
      // The peer's jobs run as part of the loop, as an application's handlers would:
      // their calls act as an engine callback's (never waiting).
      sockets::InsideEngine inside;
      poll_peer();
    }
  });
#else
  ao.extra_poll = &poll_peer;
  const Status a = sockets::attach(*g_a, ao);
  ASSERT_TRUE(a.is_ok()) << a.message();
#endif
}

// Registered before RUN_ALL_TESTS (static initialiser) so its TearDown runs at the end.
class Env : public ::testing::Environment {
 public:
  void TearDown() override {
#ifdef SOCKETS_ENV_EMBEDDED
    if (g_app_thread.joinable()) {
      // Stop the application loop; detach() then closes the sockets from here.
      g_app_stop = true;
      g_app_thread.join();
    }
#endif
    sockets::detach();
    g_a.reset();
    g_b.reset();
    if (g_pool != nullptr) rte_mempool_free(g_pool);
    g_pool = nullptr;
  }
};
[[maybe_unused]] ::testing::Environment* const g_registered =
    ::testing::AddGlobalTestEnvironment(new Env);

}  // namespace

void SocketsPairEnv::run_on_peer(const std::function<void()>& fn) {
  if (std::this_thread::get_id() == g_owner) {
    // The engines' own thread: run it here, as a callback of theirs would run.
    sockets::InsideEngine inside;
    fn();
    return;
  }
  std::function<void()> job = fn;
  std::unique_lock<std::mutex> lock(g_jobs.mu);
  g_jobs.jobs.push_back(&job);
  const std::uint64_t target = g_jobs.done + g_jobs.jobs.size();
  g_jobs.cv.wait(lock, [&] { return g_jobs.done >= target; });
}

std::uint32_t SocketsPairEnv::peer_connect(std::uint16_t port, const std::string& hello) {
  std::uint32_t id = 0;
  run_on_peer([&] {
    auto c = std::make_unique<PeerClient>();
    c->tcp = &b->engine_tcp(0);
    c->hello = hello;
    int err = 0;
    c->id = c->tcp->connect({IpAddr::v4(kSockAddrA), port}, TcpCallback{&PeerClient::cb, c.get()},
                            &err);
    id = c->id.value;
    if (id != 0) g_clients.push_back(std::move(c));
  });
  return id;
}

std::string SocketsPairEnv::peer_received(std::uint32_t conn) {
  std::string got;
  run_on_peer([&] {
    for (auto& c : g_clients)
      if (c->id.value == conn) got = c->got;
  });
  return got;
}

void SocketsPairEnv::peer_abort(std::uint32_t conn) {
  run_on_peer([&] {
    for (auto& c : g_clients)
      if (c->id.value == conn) c->tcp->abort(c->id);
  });
}

void SocketsPairEnv::peer_shutdown(std::uint32_t conn) {
  run_on_peer([&] {
    for (auto& c : g_clients)
      if (c->id.value == conn) c->tcp->shutdown_write(c->id);
  });
}

unsigned SocketsPairEnv::a_pool_avail() const {
  return rte_mempool_avail_count(a->pool());
}

std::size_t SocketsPairEnv::b_connections() const {
  return b->engine_tcp(0).connections();
}

SocketsPairEnv& sockets_env() {
  static SocketsPairEnv* env = [] {
    g_env = new SocketsPairEnv;
    build();
    return g_env;
  }();
  return *env;
}

}  // namespace shardtcp::testing
