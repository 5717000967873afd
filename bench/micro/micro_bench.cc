// Google Benchmark micro-benchmarks of the per-packet pieces: wire parse and emit,
// checksums, the connection table, the TCB's in-order receive path, the timer wheel and
// a lock-free ring hop between two threads. No EAL: these run anywhere.
#include <benchmark/benchmark.h>
#include <boost/lockfree/spsc_queue.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "bench/micro/tcb_rx_driver.h"
#include "engine/timer_wheel.h"
#include "tcp/connection_table.h"
#include "wire/checksum.h"
#include "wire/tcp.h"

namespace shardtcp::bench {
namespace {

const IpAddr kSrc = IpAddr::v4(0xC6120002);
const IpAddr kDst = IpAddr::v4(0xC6120001);

// A data segment as Linux sends it: header, NOP NOP TS, `payload` bytes, checksum set.
std::vector<std::uint8_t> wire_segment(std::uint32_t payload) {
  TcpSegment s;
  s.src_port = 5201;
  s.dst_port = 40000;
  s.seq = SeqNum(123456);
  s.ack = SeqNum(654321);
  s.flags = tcp_flags::kAck | tcp_flags::kPsh;
  s.window = 512;
  s.options.timestamps = TcpTimestamps{1000, 2000};
  std::vector<std::uint8_t> buf(60 + payload);
  const std::size_t h = emit_tcp_header(buf.data(), buf.size(), s);
  buf.resize(h + payload);
  for (std::uint32_t i = 0; i < payload; ++i) buf[h + i] = static_cast<std::uint8_t>(i * 7);
  set_tcp_checksum(buf.data(), l4_checksum(kSrc, kDst, 6, buf.data(), buf.size()));
  return buf;
}

void BM_TcpDecode(benchmark::State& state) {
  const bool verify = state.range(1) != 0;
  const auto buf = wire_segment(static_cast<std::uint32_t>(state.range(0)));
  TcpSegment seg;
  for (auto _ : state) {
    const TcpWireDrop why = decode_tcp(kSrc, kDst, buf.data(), buf.size(), verify, seg);
    benchmark::DoNotOptimize(why);
    benchmark::DoNotOptimize(seg);
  }
  if (decode_tcp(kSrc, kDst, buf.data(), buf.size(), true, seg) != TcpWireDrop::kNone)
    state.SkipWithError("the segment did not decode");
}
BENCHMARK(BM_TcpDecode)
    ->ArgNames({"payload", "verify_cksum"})
    ->Args({0, 0})
    ->Args({1448, 0})
    ->Args({1448, 1});

void BM_TcpEmitHeader(benchmark::State& state) {
  TcpSegment s;
  s.src_port = 40000;
  s.dst_port = 5201;
  s.flags = tcp_flags::kAck;
  s.window = 1024;
  s.options.timestamps = TcpTimestamps{1, 2};
  std::uint8_t buf[60];
  std::uint32_t seq = 0;
  for (auto _ : state) {
    s.ack = SeqNum(seq += 1448);
    benchmark::DoNotOptimize(emit_tcp_header(buf, sizeof buf, s));
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_TcpEmitHeader);

void BM_InternetChecksum(benchmark::State& state) {
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(state.range(0)));
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<std::uint8_t>(i * 13);
  for (auto _ : state) benchmark::DoNotOptimize(internet_checksum(buf.data(), buf.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_InternetChecksum)->Arg(20)->Arg(64)->Arg(1448)->Arg(9000);

void BM_L4ChecksumIpv4(benchmark::State& state) {
  const auto buf = wire_segment(static_cast<std::uint32_t>(state.range(0)));
  for (auto _ : state)
    benchmark::DoNotOptimize(l4_checksum_ok(kSrc, kDst, 6, buf.data(), buf.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(buf.size()));
}
BENCHMARK(BM_L4ChecksumIpv4)->Arg(0)->Arg(1448);

TcpTuple tuple_of(std::uint32_t i) {
  return TcpTuple{Endpoint{kDst, static_cast<std::uint16_t>(5201)},
                  Endpoint{IpAddr::v4(0xC6120000u + (i >> 16)), static_cast<std::uint16_t>(i)}};
}

// Lookup in a table holding range(0) connections (capacity 2x), hit or miss.
void BM_ConnTableLookup(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  const bool hit = state.range(1) != 0;
  ConnectionTable<int> table(2 * n, SipKey{0x0123456789abcdefull, 0xfedcba9876543210ull});
  std::vector<int> values(n);
  for (std::uint32_t i = 0; i < n; ++i)
    if (table.insert(tuple_of(i), &values[i]) != 0) state.SkipWithError("insert failed");
  std::vector<TcpTuple> keys;
  for (std::uint32_t i = 0; i < 4096; ++i)
    keys.push_back(tuple_of(hit ? (i * 2654435761u) % n : n + i));
  std::size_t k = 0, found = 0;
  for (auto _ : state) {
    found += table.find(keys[k]) != nullptr;
    k = (k + 1) & 4095;
  }
  if (hit ? found != static_cast<std::size_t>(state.iterations()) : found != 0)
    state.SkipWithError("wrong lookup result");
}
BENCHMARK(BM_ConnTableLookup)
    ->ArgNames({"conns", "hit"})
    ->Args({1000, 1})
    ->Args({1000, 0})
    ->Args({1000000, 1})
    ->Args({1000000, 0});

// The TCP core's receive path: one in-order 1448-byte segment in (ACKs out, every 16th
// a read by the application).
void BM_TcbInOrderReceive(benchmark::State& state) {
  TcbRxDriver d;
  if (!d.established()) state.SkipWithError("handshake failed");
  for (auto _ : state) benchmark::DoNotOptimize(d.receive_one());
  state.SetBytesProcessed(static_cast<std::int64_t>(d.received()));
  state.counters["acks_per_segment"] =
      static_cast<double>(d.acks()) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_TcbInOrderReceive);

// Arm and cancel (the RTO/delayed-ACK pattern: most timers never fire).
void BM_TimerWheelScheduleCancel(benchmark::State& state) {
  Instant now{1'000'000'000};
  TimerWheel wheel(now);
  std::vector<Timer> timers(1024);
  std::size_t i = 0;
  for (auto _ : state) {
    Timer& t = timers[i];
    wheel.schedule(t, now + std::chrono::milliseconds(200 + (i & 63)));
    wheel.cancel(t);
    i = (i + 1) & 1023;
  }
}
BENCHMARK(BM_TimerWheelScheduleCancel);

// 10 000 armed timers, the wheel advanced 1 ms at a time: firing and re-arming.
void BM_TimerWheelAdvance(benchmark::State& state) {
  Instant now{1'000'000'000};
  TimerWheel wheel(now);
  std::vector<Timer> timers(10000);
  for (std::size_t i = 0; i < timers.size(); ++i)
    wheel.schedule(timers[i], now + std::chrono::milliseconds(1 + i % 500));
  std::uint64_t fired = 0;
  for (auto _ : state) {
    now = now + std::chrono::milliseconds(1);
    wheel.advance(now, [&](Timer& t) {
      ++fired;
      wheel.schedule(t, now + std::chrono::milliseconds(500));
    });
  }
  state.counters["fired_per_tick"] =
      static_cast<double>(fired) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_TimerWheelAdvance);

// A round trip through two Boost.Lockfree SPSC rings between two threads (the shape
// of a request ring hop): reported per round trip, i.e. two hops.
void BM_LockfreeRingRoundTrip(benchmark::State& state) {
  boost::lockfree::spsc_queue<std::uint64_t, boost::lockfree::capacity<1024>> to, from;
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    std::uint64_t v;
    while (!stop.load(std::memory_order_relaxed))
      if (to.pop(v)) {
        while (!from.push(v)) {
        }
      }
  });
  std::uint64_t seq = 0, bad = 0;
  for (auto _ : state) {
    while (!to.push(++seq)) {
    }
    std::uint64_t v;
    while (!from.pop(v)) {
    }
    bad += v != seq;
  }
  stop.store(true);
  echo.join();
  if (bad != 0) state.SkipWithError("values came back out of order");
}
// Needs the two threads on two cores to mean anything; real time, not CPU time.
BENCHMARK(BM_LockfreeRingRoundTrip)->UseRealTime();

}  // namespace
}  // namespace shardtcp::bench

BENCHMARK_MAIN();
