// The fixed workload behind `scripts/bench.sh --instr`: instructions per in-order
// 1448-byte data segment received, counted by callgrind (valgrind --tool=callgrind
// --collect-atstart=no), so the figure does not drift with machine noise.
//
// Two phases, each dumped separately (CALLGRIND_DUMP_STATS_AT):
//   "tcb"       the TCP core: Tcb::on_segment for the segment, the ACKs it emits, the
//               delayed-ACK timer, the application's read (every 16 segments);
//   "wire+tcb"  the same plus what the stack does before the TCB sees a segment:
//               decode_tcp with a software checksum over the 1448 bytes, and the
//               connection-table lookup;
//   "tcb-copy"  the first phase as this row counted it before zero copy and ACK
//               batching: the application copying what it reads into its buffer
//               (Tcb::recv, not Tcb::recv_in_place) and an ACK every second segment
//               (no burst), as for segments that arrive one per poll.
// The first two phases take segments in bursts of 16 that draw one ACK, as the engine
// runs a busy receiver (bench/micro/tcb_rx_driver.h).
// Not counted: the Ethernet/IPv4 layers, mbuf handling and the device.
#include <valgrind/callgrind.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench/micro/tcb_rx_driver.h"
#include "tcp/connection_table.h"
#include "wire/tcp.h"

using namespace shardtcp;

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  const IpAddr src = IpAddr::v4(0xC6120002), dst = IpAddr::v4(0xC6120001);

  // A real wire segment for the decode phase, and a table with 1000 connections.
  TcpSegment s;
  s.src_port = 5201;
  s.dst_port = 40000;
  s.flags = tcp_flags::kAck | tcp_flags::kPsh;
  s.window = 512;
  s.options.timestamps = TcpTimestamps{1000, 2000};
  std::vector<std::uint8_t> wire(60 + bench::TcbRxDriver::kMss);
  const std::size_t h = emit_tcp_header(wire.data(), wire.size(), s);
  wire.resize(h + bench::TcbRxDriver::kMss);
  set_tcp_checksum(wire.data(), l4_checksum(src, dst, 6, wire.data(), wire.size()));
  ConnectionTable<int> table(2048, SipKey{1, 2});
  std::vector<int> values(1000);
  for (std::uint32_t i = 0; i < 1000; ++i)
    table.insert(
        TcpTuple{Endpoint{dst, 40000}, Endpoint{src, static_cast<std::uint16_t>(5201 + i)}},
        &values[i]);
  const TcpTuple key{Endpoint{dst, 40000}, Endpoint{src, 5201}};

  bench::TcbRxDriver a, b, c(/*copy_reads=*/true, /*per_segment_acks=*/true);
  if (!a.established() || !b.established() || !c.established()) {
    std::fprintf(stderr, "rx_segment_instr: handshake failed\n");
    return 1;
  }
  for (int i = 0; i < 1000; ++i) a.receive_one(), b.receive_one(), c.receive_one();  // warm

  CALLGRIND_ZERO_STATS;
  CALLGRIND_TOGGLE_COLLECT;
  for (int i = 0; i < n; ++i) a.receive_one();
  CALLGRIND_TOGGLE_COLLECT;
  CALLGRIND_DUMP_STATS_AT("tcb");

  long bad = 0;
  CALLGRIND_TOGGLE_COLLECT;
  for (int i = 0; i < n; ++i) {
    TcpSegment seg;
    bad += decode_tcp(src, dst, wire.data(), wire.size(), true, seg) != TcpWireDrop::kNone;
    bad += table.find(key) == nullptr;
    b.receive_one();
  }
  CALLGRIND_TOGGLE_COLLECT;
  CALLGRIND_DUMP_STATS_AT("wire+tcb");

  CALLGRIND_TOGGLE_COLLECT;
  for (int i = 0; i < n; ++i) c.receive_one();
  CALLGRIND_TOGGLE_COLLECT;
  CALLGRIND_DUMP_STATS_AT("tcb-copy");

  std::printf("{\"segments\": %d, \"acks_per_segment\": %.3f, \"errors\": %ld}\n", n,
              static_cast<double>(a.acks()) / (static_cast<double>(a.received()) / 1448.0), bad);
  return bad == 0 ? 0 : 1;
}
