// The fixed workload behind the `RX instructions/segment end to end` row of
// `scripts/bench.sh --instr`: the whole receive path of a stack, per in-order
// 1448-byte segment, counted by callgrind (valgrind --tool=callgrind
// --collect-atstart=no), so the figure does not drift with machine noise.
//
// Two whole stacks (Stack: EAL port, IP, TCP layer, engine) in this process, joined by
// a net_ring cable (RingCable), on one virtual clock. A sends one connection's stream;
// B receives it as an application would. Collection is on only while B works:
//   B's poll_once   rx burst from the ring, Ethernet/IPv4 decode and checks, the TCP
//                   checksum (in software: net_ring, like memif, offers no checksum
//                   offload), the connection-table lookup, the TCB, the ACK (one per
//                   burst) built and sent with tx burst, timers, mbufs freed;
//   B's recv        the application reading everything queued (TcpLayer::recv: the
//                   copy into its buffer, the window update it may send).
// A's sending and its ACK processing run with collection off. Each round polls A once
// (it sends what its window allows) and B once (one burst, up to 32 frames), then the
// application reads: the receiver is the busy side, as in a STREAM run, so bursts are
// full, as they are in the bench's pair at line rate. The figure is B's instructions
// divided by the data segments B received while collecting.
//
// Not counted here, unlike a real pair: the device (net_ring's rx/tx is a ring
// dequeue/enqueue, memif's and virtio's are copies) and the <sockets.h> shim around
// recv (handle decode). Counted here, unlike the TCB-path figure (rx_segment_instr.cc):
// everything between the device and the application's buffer.
//
// Prints one JSON line: segments, instructions are callgrind's (the Ir total of the
// dump named "rx"), the rest of the fields from the stacks' counters.
#include <valgrind/callgrind.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "port/eal.h"
#include "port/ring_pair.h"
#include "shardtcp/stack.h"

using namespace shardtcp;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kPort = 5201;
constexpr std::uint32_t kMss = 1448;  // MTU 1500 with timestamps, as Linux sends

rte_ether_addr mac_for(std::uint8_t n) {
  return rte_ether_addr{{0x02, 0x73, 0x68, 0x64, 0x00, n}};
}

struct Receiver {
  TcpLayer* tcp = nullptr;
  TcpConnId listener, conn;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(64 * 1024);
  std::uint64_t received = 0;
  long errors = 0;

  // What the perf server does on readiness: read until nothing is left.
  void read_all() {
    if (!conn.valid()) {
      conn = tcp->accept(listener);
      if (!conn.valid()) return;
    }
    for (;;) {
      const long n = tcp->recv(conn, buf.data(), buf.size());
      if (n <= 0) {
        errors += n != -EAGAIN;
        return;
      }
      received += static_cast<std::uint64_t>(n);
    }
  }
};

std::unique_ptr<Stack> make_stack(const std::string& device, rte_mempool* pool, Clock* clock,
                                  IpAddr addr, std::uint8_t n) {
  StackConfig c;
  c.device = device;
  c.mac = mac_for(n);
  c.pool = pool;  // shared: net_ring carries the sender's mbufs to the receiver
  c.clock = clock;
  c.options.addresses.push_back(InterfaceAddress{addr, 24});
  c.tcp.max_connections = 64;
  c.tcp.time_wait_capacity = 64;
  auto s = Stack::create(c);
  if (!s) {
    std::fprintf(stderr, "rx_path_instr: stack on %s: %s\n", device.c_str(), s.error().c_str());
    return nullptr;
  }
  return std::move(s.value());
}

std::uint64_t counter(Stack& s, const std::string& name) {
  const auto all = s.counters().snapshot();
  const auto it = all.find(name);
  return it == all.end() ? 0 : it->second;
}

}  // namespace

int main(int argc, char** argv) {
  const long segments = argc > 1 ? std::atol(argv[1]) : 20000;
  // No hugepages: valgrind runs the EAL on plain memory.
  TestEalOptions eo;
  eo.file_prefix = "rx_path_instr" + std::to_string(getpid());
  if (const Status st = eal_init(make_test_eal_args(eo, false)); !st) {
    std::fprintf(stderr, "rx_path_instr: EAL: %s\n", st.message().c_str());
    return 1;
  }
  MbufPoolOptions po;
  po.n_mbufs = 16383;
  auto pool = create_mbuf_pool("rx_path_pool", po);
  if (!pool) {
    std::fprintf(stderr, "rx_path_instr: %s\n", pool.error().c_str());
    return 1;
  }
  RingCableOptions co;
  co.name = "rxp";
  co.ring_size = 4096;
  auto cable = RingCable::create(co);
  if (!cable) {
    std::fprintf(stderr, "rx_path_instr: %s\n", cable.error().c_str());
    return 1;
  }
  VirtualClock clock;
  const IpAddr addr_a = IpAddr::v4(0xC6120101), addr_b = IpAddr::v4(0xC6120102);
  auto a = make_stack((*cable)->a_name(), *pool, &clock, addr_a, 1);
  auto b = make_stack((*cable)->b_name(), *pool, &clock, addr_b, 2);
  if (!a || !b) return 1;

  Receiver rx;
  rx.tcp = &b->engine_tcp(0);
  int err = 0;
  rx.listener = rx.tcp->listen(Endpoint{addr_b, kPort}, 16, {}, &err);
  TcpLayer& tx = a->engine_tcp(0);
  const TcpConnId out = tx.connect(Endpoint{addr_b, kPort}, {}, &err);
  if (!rx.listener.valid() || !out.valid()) {
    std::fprintf(stderr, "rx_path_instr: listen/connect: %d\n", err);
    return 1;
  }
  std::vector<std::uint8_t> data(64 * 1024, 0x5a);
  // One round: A sends what fits and runs once; B runs once and its application reads.
  auto round = [&](bool collect) {
    while (tx.send(out, data.data(), data.size()) > 0) {
    }
    a->poll_once();
    if (collect) CALLGRIND_TOGGLE_COLLECT;
    b->poll_once();
    rx.read_all();
    if (collect) CALLGRIND_TOGGLE_COLLECT;
    clock.advance(1us);
  };
  // Warm up past the handshake, ARP and slow start into the steady state.
  for (int i = 0; i < 20000 && rx.received < 64ull * 1024 * 1024; ++i) round(false);
  if (!rx.conn.valid() || rx.received == 0) {
    std::fprintf(stderr, "rx_path_instr: no stream after warm-up\n");
    return 1;
  }

  const std::uint64_t bytes0 = rx.received;
  const std::uint64_t frames0 = counter(*b, "engine.rx_frames");
  const std::uint64_t tx0 = counter(*b, "engine.tx_frames");
  const std::uint64_t empty0 = counter(*b, "engine.empty_polls");
  const std::uint64_t iter0 = counter(*b, "engine.iterations");
  CALLGRIND_ZERO_STATS;
  while (rx.received - bytes0 < static_cast<std::uint64_t>(segments) * kMss) round(true);
  CALLGRIND_DUMP_STATS_AT("rx");

  const std::uint64_t bytes = rx.received - bytes0;
  const std::uint64_t frames = counter(*b, "engine.rx_frames") - frames0;
  std::printf(
      "{\"segments\": %.1f, \"bytes\": %llu, \"rx_frames\": %llu, \"acks_sent\": %llu, "
      "\"polls\": %llu, \"empty_polls\": %llu, \"segments_per_burst\": %.2f, \"checksum\": "
      "\"software (net_ring offers no offload)\", \"errors\": %ld}\n",
      static_cast<double>(bytes) / kMss, static_cast<unsigned long long>(bytes),
      static_cast<unsigned long long>(frames),
      static_cast<unsigned long long>(counter(*b, "engine.tx_frames") - tx0),
      static_cast<unsigned long long>(counter(*b, "engine.iterations") - iter0),
      static_cast<unsigned long long>(counter(*b, "engine.empty_polls") - empty0),
      static_cast<double>(frames) /
          static_cast<double>(std::max<std::uint64_t>(
              1, counter(*b, "engine.iterations") - iter0 -
                     (counter(*b, "engine.empty_polls") - empty0))),
      rx.errors);
  tx.close(out);
  b.reset();
  a.reset();
  (*cable)->discard_in_flight();
  return rx.errors == 0 ? 0 : 1;
}
