// Two stacks with two engines each, back to back over a two-queue ring cable, polled
// from this thread under one virtual clock. Each side listens on every engine and
// opens 10 000 connections to the other; every connection sends a payload of its own,
// gets it echoed and checks it byte for byte. What the "NIC" does with each frame is
// the parameter: emulated RSS with our key and RETA, everything on queue 0, or any
// frame on a random queue. Whatever it does, every connection's segments must be
// processed only by the engine that owns its tuple (checked per connection in every
// callback, and by every TcpLayer's not-owned segment count), and the steering
// counters must show what crossed between engines.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "port/delivery_policy_port.h"
#include "port/eal.h"
#include "port/ring_pair.h"
#include "shardtcp/stack.h"

namespace shardtcp {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t kEngines = 2;
constexpr std::uint16_t kPort = 7;
// Sanitizer builds run the same test at a fifth of the size (it takes minutes under
// ASan on two cores otherwise); the main build runs the full 10 000 each way.
#if defined(__SANITIZE_ADDRESS__)
#define SHARDTCP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SHARDTCP_SANITIZED 1
#endif
#endif
#ifdef SHARDTCP_SANITIZED
constexpr std::uint32_t kConnsPerSide = 2000;
#else
constexpr std::uint32_t kConnsPerSide = 10000;
#endif
constexpr std::uint32_t kInFlightPerSide = 1000;
constexpr std::uint32_t kMaxConns = 8192;  // per engine

const IpAddr kAddrA = IpAddr::v4(0xC6120101);  // 198.18.1.1
const IpAddr kAddrB = IpAddr::v4(0xC6120102);  // 198.18.1.2

std::uint8_t payload_byte(std::uint32_t conn, std::uint32_t i) {
  return static_cast<std::uint8_t>(conn * 131 + i * 7 + (i >> 8));
}
std::uint32_t payload_len(std::uint32_t conn) {
  return 40 + (conn * 37) % 900;
}

struct Side;

// What a callback needs: which side and which engine's TcpLayer called it.
struct EngineRef {
  Side* side = nullptr;
  std::uint16_t engine = 0;
};

struct ClientConn {
  std::uint32_t index = 0;  // which payload
  std::uint32_t received = 0;
  bool active = false;
};

struct Side {
  std::string name;
  Stack* stack = nullptr;
  IpAddr peer;
  EngineRef refs[kEngines];
  std::vector<TcpConnId> listeners;
  std::vector<std::vector<ClientConn>> clients;  // [engine][slot]
  std::uint32_t started = 0, verified = 0, failures = 0, in_flight = 0;
  std::uint32_t owner_mismatches = 0, owner_checks = 0;
  std::uint32_t accepted[kEngines] = {};
  std::uint32_t opened[kEngines] = {};
  std::string first_failure;

  void fail(const std::string& what) {
    ++failures;
    if (first_failure.empty()) first_failure = what;
  }

  // The per-connection ownership check: the engine running this callback must be the
  // one the ownership function names for the connection's tuple.
  void check_owner(std::uint16_t engine, TcpConnId id) {
    TcpLayer& tcp = stack->engine_tcp(engine);
    Endpoint local, remote;
    if (tcp.local_endpoint(id, &local) != 0 || tcp.remote_endpoint(id, &remote) != 0) return;
    ++owner_checks;
    if (stack->owner(TcpTuple{local, remote}) != engine) ++owner_mismatches;
  }
};

void server_cb(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t) {
  auto* ref = static_cast<EngineRef*>(user);
  Side& s = *ref->side;
  TcpLayer& tcp = s.stack->engine_tcp(ref->engine);
  switch (ev) {
    case TcpSocketEvent::kAcceptable:
      for (;;) {
        int err = 0;
        const TcpConnId c = tcp.accept(id, &err);
        if (!c.valid()) break;
        ++s.accepted[ref->engine];
        s.check_owner(ref->engine, c);
      }
      break;
    case TcpSocketEvent::kReadable: {
      s.check_owner(ref->engine, id);
      char buf[2048];
      for (;;) {
        const long n = tcp.recv(id, buf, sizeof buf);
        if (n <= 0) break;
        const long sent = tcp.send(id, buf, static_cast<std::size_t>(n));
        if (sent != n) s.fail("server echo short: " + std::to_string(sent));
      }
      break;
    }
    case TcpSocketEvent::kPeerFin:
      tcp.close(id);
      break;
    case TcpSocketEvent::kError:
      s.fail("server connection error");
      tcp.close(id);
      break;
    default:
      break;
  }
}

void client_cb(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value) {
  auto* ref = static_cast<EngineRef*>(user);
  Side& s = *ref->side;
  TcpLayer& tcp = s.stack->engine_tcp(ref->engine);
  ClientConn& c = s.clients[ref->engine][id.slot()];
  switch (ev) {
    case TcpSocketEvent::kConnected: {
      s.check_owner(ref->engine, id);
      std::vector<std::uint8_t> p(payload_len(c.index));
      for (std::uint32_t i = 0; i < p.size(); ++i) p[i] = payload_byte(c.index, i);
      if (tcp.send(id, p.data(), p.size()) != static_cast<long>(p.size()))
        s.fail("client send short");
      break;
    }
    case TcpSocketEvent::kReadable: {
      s.check_owner(ref->engine, id);
      std::uint8_t buf[2048];
      for (;;) {
        const long n = tcp.recv(id, buf, sizeof buf);
        if (n <= 0) break;
        for (long i = 0; i < n; ++i) {
          if (c.received >= payload_len(c.index) || buf[i] != payload_byte(c.index, c.received)) {
            s.fail(s.name + ": echo differs in connection " + std::to_string(c.index));
            break;
          }
          ++c.received;
        }
      }
      if (c.active && c.received == payload_len(c.index)) {
        c.active = false;
        ++s.verified;
        --s.in_flight;
        tcp.close(id);
      }
      break;
    }
    case TcpSocketEvent::kError:
      s.fail(s.name + ": client error " + std::to_string(value) + " in connection " +
             std::to_string(c.index));
      if (c.active) {
        c.active = false;
        --s.in_flight;
      }
      tcp.close(id);
      break;
    default:
      break;
  }
}

void top_up(Side& s) {
  while (s.in_flight < kInFlightPerSide && s.started < kConnsPerSide) {
    const std::uint32_t index = s.started++;
    const auto engine = static_cast<std::uint16_t>(index % kEngines);
    int err = 0;
    const TcpConnId id = s.stack->engine_tcp(engine).connect(
        Endpoint{s.peer, kPort}, TcpCallback{&client_cb, &s.refs[engine]}, &err);
    if (!id.valid()) {
      s.fail(s.name + ": connect failed " + std::to_string(err));
      continue;
    }
    ClientConn& c = s.clients[engine][id.slot()];
    c = ClientConn{index, 0, true};
    ++s.in_flight;
    ++s.opened[engine];
  }
}

rte_ether_addr mac_for(std::uint8_t n) {
  return rte_ether_addr{{0x02, 0x73, 0x68, 0x64, 0x00, n}};
}

class ShardedPair : public ::testing::TestWithParam<DeliveryPolicy> {
 protected:
  static void SetUpTestSuite() {
    TestEalOptions o;
    o.file_prefix = "sharded_pair_tests";
    const Status st = eal_init_for_tests(o);
    ASSERT_TRUE(st.is_ok()) << st.message();
    MbufPoolOptions po;
    po.n_mbufs = 65535;
    auto p = create_mbuf_pool("sharded_pair_pool", po);
    ASSERT_TRUE(p.is_ok()) << p.error();
    pool_ = *p;
  }

  std::unique_ptr<Stack> make_stack(const std::string& device, const IpAddr& addr, std::uint8_t n,
                                    DeliveryPolicy policy) {
    StackConfig c;
    c.device = device;
    c.engines = kEngines;
    c.mac = mac_for(n);
    c.pool = pool_;  // shared: net_ring carries the sender's mbufs
    c.clock = &clock_;
    c.options.addresses.push_back(InterfaceAddress{addr, 24});
    c.tcp.max_connections = kMaxConns;
    c.tcp.time_wait_capacity = 16384;
    c.wrap_port = [policy](PacketPort& inner) -> std::unique_ptr<PacketPort> {
      // The peer's "NIC": our key and RETA over its two queues.
      return std::make_unique<DeliveryPolicyPort>(inner, policy, FlowOwnership(kEngines), 99);
    };
    auto s = Stack::create(c);
    EXPECT_TRUE(s.is_ok()) << s.error();
    return s ? std::move(s.value()) : nullptr;
  }

  VirtualClock clock_;
  static inline rte_mempool* pool_ = nullptr;
};

TEST_P(ShardedPair, TenThousandConnectionsEachWayByteExactOnTheirOwners) {
  static int serial = 0;
  RingCableOptions co;
  co.name = "shp" + std::to_string(serial++);
  co.nb_queues = kEngines;
  co.ring_size = 4096;
  co.multi_producer = true;
  auto cable = RingCable::create(co);
  ASSERT_TRUE(cable.is_ok()) << cable.error();

  Side a, b;
  a.name = "A";
  b.name = "B";
  auto stack_a = make_stack((*cable)->a_name(), kAddrA, 1, GetParam());
  auto stack_b = make_stack((*cable)->b_name(), kAddrB, 2, GetParam());
  ASSERT_TRUE(stack_a && stack_b);
  a.stack = stack_a.get();
  b.stack = stack_b.get();
  a.peer = kAddrB;
  b.peer = kAddrA;
  for (Side* s : {&a, &b}) {
    ASSERT_FALSE(s->stack->port_info().rss_active);  // net_ring: steering's job
    s->clients.assign(kEngines, std::vector<ClientConn>(kMaxConns));
    for (std::uint16_t e = 0; e < kEngines; ++e) s->refs[e] = EngineRef{s, e};
    // One callback per engine: the listener's user data names the engine.
    for (std::uint16_t e = 0; e < kEngines; ++e) {
      int err = 0;
      const TcpConnId l = s->stack->engine_tcp(e).listen(
          Endpoint{IpAddr{}, kPort}, 4096, TcpCallback{&server_cb, &s->refs[e]}, &err);
      ASSERT_TRUE(l.valid()) << err;
      s->listeners.push_back(l);
    }
  }

  std::uint64_t iterations = 0;
  while ((a.verified + a.failures < kConnsPerSide || b.verified + b.failures < kConnsPerSide) &&
         iterations < 3'000'000) {
    top_up(a);
    top_up(b);
    unsigned work = 0;
    for (std::uint16_t e = 0; e < kEngines; ++e) {
      work += a.stack->engine(e).poll_once();
      work += b.stack->engine(e).poll_once();
    }
    clock_.advance(work == 0 ? Duration(1ms) : Duration(20us));
    ++iterations;
    if (a.failures + b.failures > 20) break;
  }
  EXPECT_EQ(a.failures, 0u) << a.first_failure;
  EXPECT_EQ(b.failures, 0u) << b.first_failure;
  EXPECT_EQ(a.verified, kConnsPerSide);
  EXPECT_EQ(b.verified, kConnsPerSide);
  // Let the closes finish, then look at who processed what.
  for (int i = 0; i < 2000; ++i) {
    for (std::uint16_t e = 0; e < kEngines; ++e) {
      a.stack->engine(e).poll_once();
      b.stack->engine(e).poll_once();
    }
    clock_.advance(1ms);
  }
  for (Side* s : {&a, &b}) {
    SCOPED_TRACE(s->name);
    EXPECT_EQ(s->owner_mismatches, 0u) << "of " << s->owner_checks << " checks";
    EXPECT_GE(s->owner_checks, 4 * kConnsPerSide);  // accept, connected, two reads
    std::uint64_t out = 0, in = 0, copies = 0, drops = 0;
    for (std::uint16_t e = 0; e < kEngines; ++e) {
      EXPECT_EQ(s->stack->engine_tcp(e).segments_not_owned(), 0u) << "engine " << e;
      // Both engines opened and accepted a share.
      EXPECT_GT(s->opened[e], kConnsPerSide / 4) << "engine " << e;
      EXPECT_GT(s->accepted[e], kConnsPerSide / 4) << "engine " << e;
      const SteeringHandler* st = s->stack->steering(e);
      ASSERT_NE(st, nullptr);
      out += st->counter(SteeringCounter::kSteeredOut);
      in += st->counter(SteeringCounter::kSteeredIn);
      copies += st->counter(SteeringCounter::kBroadcastCopies);
      drops += st->counter(SteeringCounter::kSteerDrops);
      std::printf(
          "[ %s ] side %s engine %u: opened %u accepted %u steered_out %llu "
          "steered_in %llu broadcast_copies %llu drops %llu\n",
          ::testing::PrintToString(static_cast<int>(GetParam())).c_str(), s->name.c_str(), e,
          s->opened[e], s->accepted[e],
          static_cast<unsigned long long>(st->counter(SteeringCounter::kSteeredOut)),
          static_cast<unsigned long long>(st->counter(SteeringCounter::kSteeredIn)),
          static_cast<unsigned long long>(st->counter(SteeringCounter::kBroadcastCopies)),
          static_cast<unsigned long long>(st->counter(SteeringCounter::kSteerDrops)));
    }
    EXPECT_EQ(out, in + drops);
    EXPECT_EQ(drops, 0u);
    switch (GetParam()) {
      case DeliveryPolicy::kEmulatedRss:
        // Flows arrive on their owners: only ARP reply copies cross.
        EXPECT_EQ(out, copies);
        break;
      case DeliveryPolicy::kAllToQueue0:
        // Engine 1 receives nothing from the wire: everything it owns came from 0.
        EXPECT_GT(s->stack->steering(0)->counter(SteeringCounter::kSteeredOut), kConnsPerSide);
        EXPECT_EQ(s->stack->steering(1)->counter(SteeringCounter::kSteeredOut), 0u);
        EXPECT_EQ(s->stack->engine(1).counter(EngineCounter::kRxFrames),
                  s->stack->steering(1)->counter(SteeringCounter::kSteeredIn));
        break;
      default:
        EXPECT_GT(s->stack->steering(0)->counter(SteeringCounter::kSteeredOut), kConnsPerSide);
        EXPECT_GT(s->stack->steering(1)->counter(SteeringCounter::kSteeredOut), kConnsPerSide);
        break;
    }
    s->stack->close_all(s->listeners);
  }
  (*cable)->discard_in_flight();
  stack_a.reset();
  stack_b.reset();
}

INSTANTIATE_TEST_SUITE_P(Delivery, ShardedPair,
                         ::testing::Values(DeliveryPolicy::kEmulatedRss,
                                           DeliveryPolicy::kAllToQueue0,
                                           DeliveryPolicy::kRandomQueue),
                         [](const ::testing::TestParamInfo<DeliveryPolicy>& i) {
                           switch (i.param) {
                             case DeliveryPolicy::kEmulatedRss:
                               return std::string("EmulatedRss");
                             case DeliveryPolicy::kAllToQueue0:
                               return std::string("AllOnQueue0");
                             default:
                               return std::string("RandomQueue");
                           }
                         });

}  // namespace
}  // namespace shardtcp
