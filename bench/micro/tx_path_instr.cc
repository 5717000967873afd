// The sender's side of a stream, counted by callgrind (valgrind --tool=callgrind
// --collect-atstart=no): instructions per 64 KiB the application sends, with the
// payload copied into every frame and with it referenced from the send buffer's
// chunks (zero copy: indirect mbufs), on a TSO device and on one without TSO.
//
// Two whole stacks (Stack: EAL port, IP, TCP layer, engine) in this process, joined by
// a net_ring cable, on one virtual clock. A sends one connection's stream; B receives
// and reads it. Collection is on only while A works:
//   A's send      the application's writes (the copy into the send buffer);
//   A's poll_once rx burst of B's ACKs, their TCB processing (send storage freed), the
//                 frames built (headers, payload copied or attached, checksum or the
//                 device's pseudo-header sum), IP output, tx burst, timers.
// Not counted: the device. On the TSO phases A's port is the offload emulator
// (OffloadEmulatingPort, as in the offload pair tests): its cutting of 64 KiB frames
// into segments (a NIC's work) runs with collection off, as does its receive side.
// B's work is not counted either.
//
// Four phases, each on its own cable and stacks and dumped separately, in this order:
// "tso copy", "tso zero-copy", "mss copy", "mss zero-copy". Prints one JSON object:
// per phase, the application bytes sent while collecting and the frames A built.
#include <valgrind/callgrind.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/micro/ring_stack.h"
#include "port/eal.h"
#include "port/offload_emulating_port.h"
#include "port/ring_pair.h"
#include "shardtcp/stack.h"

using namespace shardtcp;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kPort = 5201;
bool g_collecting = false;

// Collection on while A works, off in the device.
void collect(bool on) {
  if (on != g_collecting) {
    CALLGRIND_TOGGLE_COLLECT;
    g_collecting = on;
  }
}

// A TSO/LRO device (the emulator) whose own work is not counted.
class UncountedOffloadDevice final : public PacketPort {
 public:
  explicit UncountedOffloadDevice(PacketPort& inner) : dev_(inner) {}
  std::uint16_t rx_burst(std::uint16_t q, rte_mbuf** pkts, std::uint16_t n) override {
    return uncounted([&] { return dev_.rx_burst(q, pkts, n); });
  }
  std::uint16_t tx_burst(std::uint16_t q, rte_mbuf** pkts, std::uint16_t n) override {
    return uncounted([&] { return dev_.tx_burst(q, pkts, n); });
  }
  const PortInfo& info() const override { return dev_.info(); }

 private:
  template <typename Fn>
  static std::uint16_t uncounted(Fn&& fn) {
    const bool was = g_collecting;
    collect(false);
    const std::uint16_t got = fn();
    collect(was);
    return got;
  }

  OffloadEmulatingPort dev_;
};

std::unique_ptr<Stack> make_stack(const std::string& device, rte_mempool* pool, Clock* clock,
                                  IpAddr addr, std::uint8_t n, bool tso, bool zero_copy) {
  TcpLayerConfig tcp;
  tcp.zero_copy_tx = zero_copy;
  std::function<std::unique_ptr<PacketPort>(PacketPort&)> wrap;
  if (tso)
    wrap = [](PacketPort& inner) -> std::unique_ptr<PacketPort> {
      return std::make_unique<UncountedOffloadDevice>(inner);
    };
  return bench::make_ring_stack("tx_path_instr", device, pool, clock, addr, n, tcp, wrap);
}

// One phase: warm up, then at least `bytes` sent with collection on, dumped as `dump`.
bool measure(rte_mempool* pool, std::uint64_t bytes, bool tso, bool zero_copy, const char* name) {
  const auto cable = bench::open_cable(
      "tx_path_instr", std::string("txp") + (tso ? "t" : "m") + (zero_copy ? "z" : "c"));
  if (!cable) return false;
  VirtualClock clock;
  const IpAddr addr_a = IpAddr::v4(0xC6120101), addr_b = IpAddr::v4(0xC6120102);
  auto a = make_stack(cable->a_name(), pool, &clock, addr_a, 1, tso, zero_copy);
  auto b = make_stack(cable->b_name(), pool, &clock, addr_b, 2, false, false);
  if (!a || !b) return false;

  TcpLayer& rx = b->engine_tcp(0);
  TcpLayer& tx = a->engine_tcp(0);
  int err = 0;
  const TcpConnId listener = rx.listen(Endpoint{addr_b, kPort}, 16, {}, &err);
  const TcpConnId out = tx.connect(Endpoint{addr_b, kPort}, {}, &err);
  if (!listener.valid() || !out.valid()) {
    std::fprintf(stderr, "tx_path_instr: listen/connect: %d\n", err);
    return false;
  }
  TcpConnId in;
  std::vector<std::uint8_t> data(64 * 1024, 0x5a), sink(64 * 1024);
  std::uint64_t sent = 0, received = 0;
  // One round: A's application writes what fits and A runs once; B runs once and its
  // application reads everything.
  auto round = [&](bool counted) {
    collect(counted);
    for (;;) {
      const long n = tx.send(out, data.data(), data.size());
      if (n <= 0) break;
      sent += static_cast<std::uint64_t>(n);
    }
    a->poll_once();
    collect(false);
    b->poll_once();
    if (!in.valid()) in = rx.accept(listener);
    while (in.valid()) {
      const long n = rx.recv(in, sink.data(), sink.size());
      if (n <= 0) break;
      received += static_cast<std::uint64_t>(n);
    }
    clock.advance(5us);
  };
  for (int i = 0; i < 50000 && received < 64ull * 1024 * 1024; ++i) round(false);
  if (!in.valid() || received == 0) {
    std::fprintf(stderr, "tx_path_instr: no stream after warm-up\n");
    return false;
  }
  const std::uint64_t sent0 = sent;
  const std::uint64_t frames0 = bench::stack_counter(*a, "engine.tx_frames");
  const std::uint64_t tso0 = bench::stack_counter(*a, "tcp_layer.tx_tso_frames");
  const std::uint64_t zc0 = tx.emitter().zero_copy_segments();
  CALLGRIND_ZERO_STATS;
  while (sent - sent0 < bytes) round(true);
  collect(false);
  CALLGRIND_DUMP_STATS_AT(name);
  std::printf(
      "\"%s\": {\"bytes\": %llu, \"frames\": %llu, \"tso_frames\": %llu, "
      "\"zero_copy_segments\": %llu}",
      name, static_cast<unsigned long long>(sent - sent0),
      static_cast<unsigned long long>(bench::stack_counter(*a, "engine.tx_frames") - frames0),
      static_cast<unsigned long long>(bench::stack_counter(*a, "tcp_layer.tx_tso_frames") - tso0),
      static_cast<unsigned long long>(tx.emitter().zero_copy_segments() - zc0));
  tx.close(out);
  b.reset();
  a.reset();
  cable->discard_in_flight();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 64;
  rte_mempool* pool = bench::start_eal_with_pool("tx_path_instr", 32767);
  if (pool == nullptr) return 1;
  const std::uint64_t bytes = mib * 1024 * 1024;
  std::printf("{");
  bool ok = measure(pool, bytes, true, false, "tso copy");
  std::printf(", ");
  ok = measure(pool, bytes, true, true, "tso zero-copy") && ok;
  std::printf(", ");
  ok = measure(pool, bytes, false, false, "mss copy") && ok;
  std::printf(", ");
  ok = measure(pool, bytes, false, true, "mss zero-copy") && ok;
  std::printf("}\n");
  return ok ? 0 : 1;
}
