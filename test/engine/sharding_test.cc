// Sharding pieces one by one: where steer_target sends each kind of frame, the Stack's
// refusal of more engines than queue pairs, --engines, connect() from a bound port
// another engine owns (kNotOwner naming that engine), listen_all, and two 2-engine
// stacks running on four worker lcores (real threads, real clock) echoing 1 000
// connections each way. The EAL gets five lcores mapped onto the machine's CPUs.
#include <gtest/gtest.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "../../bench/scaling/echo_workload.h"
#include "engine/steering.h"
#include "port/eal.h"
#include "port/ring_pair.h"
#include "shardtcp/stack.h"
#include "shardtcp/stack_options.h"

namespace shardtcp {
namespace {

using namespace std::chrono_literals;

const IpAddr kLocal = IpAddr::v4(0xC6120201);   // 198.18.2.1
const IpAddr kRemote = IpAddr::v4(0xC6120202);  // 198.18.2.2

rte_mempool* pool() {
  static rte_mempool* p = []() -> rte_mempool* {
    // Five lcores on whatever CPUs exist: the main one and four engine workers.
    for (bool huge : {true, false}) {
      if (huge && !hugepages_available()) continue;
      TestEalOptions o;
      o.file_prefix = "sharding_tests";
      std::vector<std::string> args = make_test_eal_args(o, huge);
      for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == "-l") {
          args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
          break;
        }
      }
      args.push_back("--lcores=(0-4)@(0-" +
                     std::to_string(std::max(1u, std::thread::hardware_concurrency()) - 1) + ")");
      if (eal_init(args)) break;
    }
    if (!eal_initialized()) {
      ADD_FAILURE() << "EAL did not come up";
      return nullptr;
    }
    MbufPoolOptions po;
    po.n_mbufs = 65535;
    auto r = create_mbuf_pool("sharding_pool", po);
    return r ? *r : nullptr;
  }();
  return p;
}

// ---- steer_target

struct FrameBuilder {
  std::vector<std::uint8_t> b;
  void eth(std::uint16_t type) {
    b.assign(12, 0);
    b.push_back(static_cast<std::uint8_t>(type >> 8));
    b.push_back(static_cast<std::uint8_t>(type));
  }
  void u16(std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
  }
  void addr(const IpAddr& a) { b.insert(b.end(), a.bytes(), a.bytes() + a.size()); }
  void ipv4(std::uint8_t proto, const IpAddr& src, const IpAddr& dst, std::uint16_t frag = 0) {
    b.insert(b.end(), {0x45, 0, 0, 40, 0, 1});
    u16(frag);
    b.insert(b.end(), {64, proto, 0, 0});
    addr(src);
    addr(dst);
  }
  void ports(std::uint16_t s, std::uint16_t d) {
    u16(s);
    u16(d);
    b.insert(b.end(), 16, 0);
  }
  rte_mbuf* mbuf() const {
    rte_mbuf* m = rte_pktmbuf_alloc(pool());
    std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(b.size())), b.data(), b.size());
    return m;
  }
};

SteerTarget target_of(const FrameBuilder& f, const FlowOwnership& fo,
                      const SteeringConfig& c = {}) {
  rte_mbuf* m = f.mbuf();
  const SteerTarget t = steer_target(m, fo, c);
  rte_pktmbuf_free(m);
  return t;
}

TEST(SteerTarget, EachKindOfFrameGoesWhereTheDesignSays) {
  ASSERT_NE(pool(), nullptr);
  const FlowOwnership fo(4);
  int tcp_seen[4] = {};
  for (std::uint16_t lport = 40000; lport < 40064; ++lport) {
    // TCP: the owner of the received tuple (src = the peer).
    FrameBuilder tcp;
    tcp.eth(RTE_ETHER_TYPE_IPV4);
    tcp.ipv4(6, kRemote, kLocal);
    tcp.ports(80, lport);
    const SteerTarget t = target_of(tcp, fo);
    ASSERT_EQ(t.kind, SteerTarget::kEngine);
    ASSERT_TRUE(t.by_flow);  // a device with our RSS delivers it to its owner
    const std::uint16_t owner = fo.owner(TcpTuple{Endpoint{kLocal, lport}, Endpoint{kRemote, 80}});
    ASSERT_EQ(t.engine, owner);
    ++tcp_seen[owner];
    // ICMP error quoting a segment we sent (src = us): the same connection's owner.
    FrameBuilder icmp;
    icmp.eth(RTE_ETHER_TYPE_IPV4);
    icmp.ipv4(1, IpAddr::v4(0xC6120203), kLocal);
    icmp.b.insert(icmp.b.end(), {3, 1, 0, 0, 0, 0, 0, 0});
    icmp.ipv4(6, kLocal, kRemote);
    icmp.ports(lport, 80);
    const SteerTarget ti = target_of(icmp, fo);
    ASSERT_EQ(ti.kind, SteerTarget::kEngine);
    ASSERT_TRUE(ti.by_flow);
    ASSERT_EQ(ti.engine, owner);
  }
  for (int e = 0; e < 4; ++e) EXPECT_GT(tcp_seen[e], 0) << e;

  SteeringConfig home3;
  home3.home_engine = 3;
  FrameBuilder udp;
  udp.eth(RTE_ETHER_TYPE_IPV4);
  udp.ipv4(17, kRemote, kLocal);
  udp.ports(53, 5353);
  EXPECT_EQ(target_of(udp, fo, home3).kind, SteerTarget::kEngine);
  EXPECT_EQ(target_of(udp, fo, home3).engine, 3);
  EXPECT_FALSE(target_of(udp, fo, home3).by_flow);  // home is not where RSS puts it
  SteeringConfig by_tuple;
  by_tuple.udp_by_tuple = true;
  EXPECT_EQ(target_of(udp, fo, by_tuple).engine, fo.owner_of_received(kRemote, 53, kLocal, 5353));
  EXPECT_TRUE(target_of(udp, fo, by_tuple).by_flow);

  FrameBuilder frag;  // a TCP fragment (MF set): reassembly lives at home
  frag.eth(RTE_ETHER_TYPE_IPV4);
  frag.ipv4(6, kRemote, kLocal, 0x2000);
  frag.ports(80, 40000);
  EXPECT_EQ(target_of(frag, fo, home3).engine, 3);

  FrameBuilder echo_req, echo_rep;  // requests: anyone answers; replies: home (ping)
  echo_req.eth(RTE_ETHER_TYPE_IPV4);
  echo_req.ipv4(1, kRemote, kLocal);
  echo_req.b.insert(echo_req.b.end(), {8, 0, 0, 0, 0, 1, 0, 1});
  EXPECT_EQ(target_of(echo_req, fo).kind, SteerTarget::kLocal);
  echo_rep = echo_req;
  echo_rep.b[34] = 0;
  EXPECT_EQ(target_of(echo_rep, fo, home3).engine, 3);

  // ARP: replies and gratuitous announcements to every engine; requests stay.
  FrameBuilder arp;
  arp.eth(RTE_ETHER_TYPE_ARP);
  arp.b.insert(arp.b.end(), {0, 1, 8, 0, 6, 4, 0, 1});
  arp.b.insert(arp.b.end(), 6, 0xaa);
  arp.addr(kRemote);
  arp.b.insert(arp.b.end(), 6, 0);
  arp.addr(kLocal);
  EXPECT_EQ(target_of(arp, fo).kind, SteerTarget::kLocal);
  arp.b[21] = 2;
  EXPECT_EQ(target_of(arp, fo).kind, SteerTarget::kAllEngines);
  arp.b[21] = 1;
  std::memcpy(arp.b.data() + 38, kRemote.bytes(), 4);  // target == sender: gratuitous
  EXPECT_EQ(target_of(arp, fo).kind, SteerTarget::kAllEngines);

  // IPv6 TCP by its tuple; neighbour adverts to every engine.
  std::uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::uint8_t b6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  FrameBuilder v6;
  v6.eth(RTE_ETHER_TYPE_IPV6);
  v6.b.insert(v6.b.end(), {0x60, 0, 0, 0, 0, 20, 6, 64});
  v6.addr(IpAddr::v6(b6));
  v6.addr(IpAddr::v6(a6));
  v6.ports(443, 50000);
  EXPECT_EQ(target_of(v6, fo).engine,
            fo.owner_of_received(IpAddr::v6(b6), 443, IpAddr::v6(a6), 50000));
  v6.b[20] = 58;  // ICMPv6
  v6.b[54] = 136;
  EXPECT_EQ(target_of(v6, fo).kind, SteerTarget::kAllEngines);

  // Truncated or foreign: left to the receiving engine (the IP layer drops and counts).
  FrameBuilder shorty;
  shorty.eth(RTE_ETHER_TYPE_IPV4);
  EXPECT_EQ(target_of(shorty, fo).kind, SteerTarget::kLocal);
}

// ---- Stack

std::unique_ptr<Stack> make_stack(const std::string& dev, const IpAddr& addr, std::uint8_t mac,
                                  std::uint16_t engines, std::string* error = nullptr) {
  StackConfig c;
  c.device = dev;
  c.engines = engines;
  c.mac = rte_ether_addr{{0x02, 0x73, 0x68, 0x65, 0x00, mac}};
  c.pool = pool();  // shared: each stack ends up holding the other's frames
  c.options.addresses.push_back(InterfaceAddress{addr, 24});
  c.tcp.max_connections = 4096;
  auto s = Stack::create(c);
  if (!s) {
    if (error != nullptr) *error = s.error();
    return nullptr;
  }
  return std::move(s.value());
}

std::unique_ptr<RingCable> cable(const std::string& name, std::uint16_t queues) {
  RingCableOptions o;
  o.name = name;
  o.nb_queues = queues;
  auto c = RingCable::create(o);
  EXPECT_TRUE(c.is_ok()) << c.error();
  return c ? std::move(c.value()) : nullptr;
}

TEST(ShardedStack, MoreEnginesThanQueuePairsIsRefusedWithAClearMessage) {
  ASSERT_NE(pool(), nullptr);
  auto c = cable("refuse", 2);
  ASSERT_TRUE(c);
  std::string error;
  EXPECT_EQ(make_stack(c->a_name(), kLocal, 1, 3, &error), nullptr);
  EXPECT_NE(error.find("3 engines need as many queue pairs"), std::string::npos) << error;
  EXPECT_NE(error.find("device allows rx 2"), std::string::npos) << error;
  // Two engines on the same device work.
  auto ok = make_stack(c->a_name(), kLocal, 1, 2, &error);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(ok->engine_count(), 2);
  EXPECT_EQ(ok->flow_ownership().engines(), 2);
}

TEST(ShardedStack, EnginesOption) {
  std::vector<std::string> args = {"--ip", "198.18.0.1/24", "--engines", "2", "--port", "9"};
  auto p = parse_stack_options(args);
  ASSERT_TRUE(p.is_ok()) << p.error();
  EXPECT_EQ(p->options.engines, std::optional<std::uint16_t>(2));
  EXPECT_EQ(p->rest, (std::vector<std::string>{"--port", "9"}));
  for (const char* bad : {"0", "65", "x"}) {
    std::vector<std::string> b = {"--engines", bad};
    EXPECT_FALSE(parse_stack_options(b).is_ok()) << bad;
  }
}

void poll_pair(Stack& a, Stack& b, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    a.poll_once();
    b.poll_once();
  }
}

// connect() from a socket bound to a port whose reply tuple another engine owns: the
// caller learns which engine, and that engine's connect succeeds.
TEST(ShardedStack, ConnectFromABoundPortNamesTheOwnerEngine) {
  ASSERT_NE(pool(), nullptr);
  auto c = cable("notowner", 2);
  ASSERT_TRUE(c);
  auto a = make_stack(c->a_name(), kLocal, 1, 2);
  auto b = make_stack(c->b_name(), kRemote, 2, 2);
  ASSERT_TRUE(a && b);
  auto listeners = b->listen_all(Endpoint{IpAddr{}, 80}, 16);
  ASSERT_TRUE(listeners.is_ok()) << listeners.error();
  ASSERT_EQ(listeners->size(), 2u);
  // A port engine 1 owns for this peer.
  std::uint16_t port = 20000;
  while (a->owner(TcpTuple{Endpoint{kLocal, port}, Endpoint{kRemote, 80}}) != 1) ++port;
  TcpLayer& t0 = a->engine_tcp(0);
  const TcpConnId s0 = t0.open();
  ASSERT_EQ(t0.bind(s0, Endpoint{kLocal, port}), 0);
  std::uint16_t owner = 99;
  EXPECT_EQ(t0.connect(s0, Endpoint{kRemote, 80}, &owner), TcpLayer::kNotOwner);
  EXPECT_EQ(owner, 1);
  EXPECT_EQ(t0.state(s0), TcpState::kClosed);  // nothing sent, still a plain socket
  EXPECT_EQ(t0.close(s0), 0);
  TcpLayer& t1 = a->engine_tcp(1);
  const TcpConnId s1 = t1.open();
  ASSERT_EQ(t1.bind(s1, Endpoint{kLocal, port}), 0);
  ASSERT_EQ(t1.connect(s1, Endpoint{kRemote, 80}), 0);
  poll_pair(*a, *b, 200);
  EXPECT_EQ(t1.state(s1), TcpState::kEstablished);
  // The accepting engine on B is the owner of B's view of the tuple.
  const std::uint16_t b_owner = b->owner(TcpTuple{Endpoint{kRemote, 80}, Endpoint{kLocal, port}});
  int err = 0;
  EXPECT_TRUE(b->engine_tcp(b_owner).accept((*listeners)[b_owner], &err).valid()) << err;
  EXPECT_FALSE(b->engine_tcp(1 - b_owner).accept((*listeners)[1 - b_owner], &err).valid());
  // Ephemeral connects on either engine always pick a port they own.
  for (std::uint16_t e = 0; e < 2; ++e) {
    for (int i = 0; i < 50; ++i) {
      const TcpConnId id = a->engine_tcp(e).connect(Endpoint{kRemote, 80}, {}, &err);
      ASSERT_TRUE(id.valid()) << err;
      Endpoint local;
      ASSERT_EQ(a->engine_tcp(e).local_endpoint(id, &local), 0);
      EXPECT_EQ(a->owner(TcpTuple{local, Endpoint{kRemote, 80}}), e);
      a->engine_tcp(e).abort(id);
    }
  }
  b->close_all(*listeners);
  poll_pair(*a, *b, 50);
}

// Two 2-engine stacks on four worker lcores (threads sharing the machine's cores),
// real clock: 1 000 connections opened from each side by the engines themselves (a
// poll hook per engine), each echoing a request byte-exact, every callback checking
// that its engine owns the connection.
TEST(ShardedStack, TwoEnginesPerSideOnWorkerLcoresThousandConnectionsEachWay) {
  ASSERT_NE(pool(), nullptr);
  ASSERT_GE(rte_lcore_count(), 5u);
  auto c = cable("threads", 2);
  ASSERT_TRUE(c);
  auto a = make_stack(c->a_name(), kLocal, 1, 2);
  auto b = make_stack(c->b_name(), kRemote, 2, 2);
  ASSERT_TRUE(a && b);
  workload::EchoPair a_to_b, b_to_a;
  ASSERT_EQ(a_to_b.setup(*b, *a, Endpoint{kRemote, 7}, workload::Mode::kCrr, 50, 500, 300, 4096),
            "");
  ASSERT_EQ(b_to_a.setup(*a, *b, Endpoint{kLocal, 8}, workload::Mode::kCrr, 50, 500, 300, 4096),
            "");
  ASSERT_TRUE(a->start().is_ok());
  ASSERT_TRUE(b->start().is_ok());
  a_to_b.go();
  b_to_a.go();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  using workload::Tally;
  while (std::chrono::steady_clock::now() < deadline &&
         (a_to_b.sum(&Tally::connections) < 1000 || b_to_a.sum(&Tally::connections) < 1000) &&
         a_to_b.sum(&Tally::failures) + b_to_a.sum(&Tally::failures) == 0) {
    std::this_thread::sleep_for(10ms);
  }
  std::this_thread::sleep_for(200ms);  // the last closes
  a->stop();
  b->stop();
  c->discard_in_flight();
  for (workload::EchoPair* p : {&a_to_b, &b_to_a}) {
    EXPECT_EQ(p->sum(&Tally::connections), 1000u);
    EXPECT_EQ(p->sum(&Tally::transactions), 1000u);
    EXPECT_EQ(p->sum(&Tally::failures), 0u);
    EXPECT_EQ(p->sum(&Tally::failures, false), 0u);
    EXPECT_EQ(p->sum(&Tally::owner_mismatches) + p->sum(&Tally::owner_mismatches, false), 0u);
    EXPECT_GE(p->sum(&Tally::owner_checks) + p->sum(&Tally::owner_checks, false), 2000u);
    p->teardown();
  }
  for (Stack* s : {a.get(), b.get()}) {
    for (std::uint16_t e = 0; e < 2; ++e) {
      EXPECT_EQ(s->engine_tcp(e).segments_not_owned(), 0u);
      // A plain ring cable delivers by the sender's queue: replies cross engines.
      EXPECT_GT(s->steering(e)->counter(SteeringCounter::kSteeredIn), 0u);
      EXPECT_EQ(s->steering(e)->counter(SteeringCounter::kSteerDrops), 0u);
    }
  }
}

}  // namespace
}  // namespace shardtcp
