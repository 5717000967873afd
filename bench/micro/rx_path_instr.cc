// The fixed workload behind the `RX instructions/segment end to end` row of
// `scripts/bench.sh --instr`: the whole receive path of a stack, per in-order
// 1448-byte segment, counted by callgrind (valgrind --tool=callgrind
// --collect-atstart=no), so the figure does not drift with machine noise.
//
// Two whole stacks (Stack: EAL port, IP, TCP layer, engine) in this process, joined by
// a net_ring cable (RingCable), on one virtual clock. A sends one connection's stream;
// B receives it as an application would. Collection is on only while B works:
//   B's poll_once   rx burst from the ring, Ethernet/IPv4 decode and checks, the TCP
//                   checksum (see the two phases below), the connection-table lookup,
//                   the TCB, the ACK (one per burst) built and sent with tx burst,
//                   timers, mbufs freed;
//   B's read        the application reading everything queued, in place
//                   (TcpLayer::recv_in_place, the zero-copy read, as shardtcp-perf's
//                   STREAM server reads), and the window update it may send.
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
// Three phases, each on its own pair of stacks and dumped separately: "rx", the TCP
// checksum verified in software (net_ring, like memif, offers no offload);
// "rx+cksum-offload", the receiver's port reporting the checksums verified as virtio
// and NICs do (RxChecksumFlaggingPort), so the difference is what the software
// checksum costs; "rx-copy", the first phase with the application copying what it
// reads into its buffer (TcpLayer::recv). Prints one JSON line: the first phase's
// counters, the others' under "with_rx_checksum_offload" and "with_copying_reads";
// the instructions are callgrind's (each dump's Ir total, read by bench/instr.sh).
#include <valgrind/callgrind.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/micro/ring_stack.h"
#include "port/eal.h"
#include "port/ring_pair.h"
#include "shardtcp/stack.h"

using namespace shardtcp;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kPort = 5201;
constexpr std::uint32_t kMss = 1448;  // MTU 1500 with timestamps, as Linux sends

struct Receiver {
  TcpLayer* tcp = nullptr;
  TcpConnId listener, conn;
  bool copy_reads = false;
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
      const long n = copy_reads ? tcp->recv(conn, buf.data(), buf.size())
                                : tcp->recv_in_place(conn, buf.size(), false, nullptr, nullptr);
      if (n <= 0) {
        errors += n != -EAGAIN;
        return;
      }
      received += static_cast<std::uint64_t>(n);
    }
  }
};

// The receiver's device in the second phase: it reports every frame's IPv4 and TCP
// checksums as verified (RTE_MBUF_F_RX_*_CKSUM_GOOD, what virtio's RX checksum offload
// and NICs deliver), so the stack trusts ol_flags instead of summing 1448 bytes. It
// sets the flags without looking: the sender's frames are correct, and a device's
// verification is not the stack's work (the loop setting them is counted, a few
// instructions a frame). Its TX stays without offloads, so the ACKs carry checksums
// the sender (net_ring, software) verifies.
class RxChecksumFlaggingPort final : public PacketPort {
 public:
  explicit RxChecksumFlaggingPort(PacketPort& inner) : inner_(inner), info_(inner.info()) {
    info_.rx_ipv4_cksum = info_.rx_l4_cksum = true;
  }
  std::uint16_t rx_burst(std::uint16_t q, rte_mbuf** pkts, std::uint16_t n) override {
    const std::uint16_t got = inner_.rx_burst(q, pkts, n);
    for (std::uint16_t i = 0; i < got; ++i)
      pkts[i]->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
    return got;
  }
  std::uint16_t tx_burst(std::uint16_t q, rte_mbuf** pkts, std::uint16_t n) override {
    return inner_.tx_burst(q, pkts, n);
  }
  const PortInfo& info() const override { return info_; }

 private:
  PacketPort& inner_;
  PortInfo info_;
};

std::unique_ptr<Stack> make_stack(const std::string& device, rte_mempool* pool, Clock* clock,
                                  IpAddr addr, std::uint8_t n, bool rx_cksum_offload) {
  std::function<std::unique_ptr<PacketPort>(PacketPort&)> wrap;
  if (rx_cksum_offload)
    wrap = [](PacketPort& inner) -> std::unique_ptr<PacketPort> {
      return std::make_unique<RxChecksumFlaggingPort>(inner);
    };
  // net_ring hands the sender's mbufs to the receiver as they are: with zero-copy TX
  // the receiver would take chains of indirect mbufs, which no real device delivers
  // (memif and virtio copy into buffers of their own).
  TcpLayerConfig tcp;
  tcp.zero_copy_tx = false;
  return bench::make_ring_stack("rx_path_instr", device, pool, clock, addr, n, tcp, wrap);
}

// One phase on a cable of its own: warm up, then `segments` segments received with
// collection on, dumped as `dump`. Prints the phase's JSON fields (no braces); false
// on failure.
bool measure(rte_mempool* pool, long segments, bool rx_cksum_offload, bool copy_reads,
             const char* dump) {
  const auto cable = bench::open_cable("rx_path_instr", copy_reads         ? "rxp_copy"
                                                        : rx_cksum_offload ? "rxp_off"
                                                                           : "rxp_sw");
  if (!cable) return false;
  VirtualClock clock;
  const IpAddr addr_a = IpAddr::v4(0xC6120101), addr_b = IpAddr::v4(0xC6120102);
  auto a = make_stack(cable->a_name(), pool, &clock, addr_a, 1, false);
  auto b = make_stack(cable->b_name(), pool, &clock, addr_b, 2, rx_cksum_offload);
  if (!a || !b) return false;

  Receiver rx;
  rx.tcp = &b->engine_tcp(0);
  rx.copy_reads = copy_reads;
  int err = 0;
  rx.listener = rx.tcp->listen(Endpoint{addr_b, kPort}, 16, {}, &err);
  TcpLayer& tx = a->engine_tcp(0);
  const TcpConnId out = tx.connect(Endpoint{addr_b, kPort}, {}, &err);
  if (!rx.listener.valid() || !out.valid()) {
    std::fprintf(stderr, "rx_path_instr: listen/connect: %d\n", err);
    return false;
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
    return false;
  }

  const std::uint64_t bytes0 = rx.received;
  const std::uint64_t frames0 = bench::stack_counter(*b, "engine.rx_frames");
  const std::uint64_t tx0 = bench::stack_counter(*b, "engine.tx_frames");
  const std::uint64_t empty0 = bench::stack_counter(*b, "engine.empty_polls");
  const std::uint64_t iter0 = bench::stack_counter(*b, "engine.iterations");
  CALLGRIND_ZERO_STATS;
  while (rx.received - bytes0 < static_cast<std::uint64_t>(segments) * kMss) round(true);
  CALLGRIND_DUMP_STATS_AT(dump);

  const std::uint64_t bytes = rx.received - bytes0;
  const std::uint64_t frames = bench::stack_counter(*b, "engine.rx_frames") - frames0;
  const std::uint64_t polls = bench::stack_counter(*b, "engine.iterations") - iter0;
  const std::uint64_t empty = bench::stack_counter(*b, "engine.empty_polls") - empty0;
  std::printf(
      "\"segments\": %.1f, \"bytes\": %llu, \"rx_frames\": %llu, \"acks_sent\": %llu, "
      "\"polls\": %llu, \"empty_polls\": %llu, \"segments_per_burst\": %.2f, "
      "\"checksum\": \"%s\", \"errors\": %ld",
      static_cast<double>(bytes) / kMss, static_cast<unsigned long long>(bytes),
      static_cast<unsigned long long>(frames),
      static_cast<unsigned long long>(bench::stack_counter(*b, "engine.tx_frames") - tx0),
      static_cast<unsigned long long>(polls), static_cast<unsigned long long>(empty),
      static_cast<double>(frames) / static_cast<double>(std::max<std::uint64_t>(1, polls - empty)),
      rx_cksum_offload ? "device (RX checksum offload flags)"
                       : "software (net_ring offers no offload)",
      rx.errors);
  tx.close(out);
  b.reset();
  a.reset();
  cable->discard_in_flight();
  return rx.errors == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const long segments = argc > 1 ? std::atol(argv[1]) : 20000;
  rte_mempool* pool = bench::start_eal_with_pool("rx_path_instr", 16383);
  if (pool == nullptr) return 1;
  // Dump 1 ("rx"): the software checksum, as on memif and net_ring; dump 2
  // ("rx+cksum-offload"): the same path behind a device that verified the checksums;
  // dump 3 ("rx-copy"): dump 1 with copying reads.
  std::printf("{");
  bool ok = measure(pool, segments, false, false, "rx");
  std::printf(", \"with_rx_checksum_offload\": {");
  ok = measure(pool, segments, true, false, "rx+cksum-offload") && ok;
  std::printf("}, \"with_copying_reads\": {");
  ok = measure(pool, segments, false, true, "rx-copy") && ok;
  std::printf("}}\n");
  return ok ? 0 : 1;
}
