// A large transfer each way at the same time between two stacks whose ports drop,
// duplicate, reorder and corrupt frames (seeded), checked byte for byte against a
// deterministic pattern; and 10 000 short connections in a row without leaking an
// mbuf, a connection slot or a TIME_WAIT record.
//
// The transfer size is SHARDTCP_PAIR_BYTES (bytes each way; default 128 MiB), so a
// longer run (e.g. 1 GiB) is one environment variable away.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pair_harness.h"
#include "pair_stream.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint16_t kPort = 5001;

std::uint64_t transfer_bytes() {
  if (const char* e = std::getenv("SHARDTCP_PAIR_BYTES")) {
    const std::uint64_t v = std::strtoull(e, nullptr, 0);
    if (v > 0) return v;
  }
  return 128ull << 20;
}

class TcpPairBulk : public TcpPairTest {};

TEST_F(TcpPairBulk, LargeTransferEachWayAtOnceUnderLossDupReorderCorruption) {
  const std::uint64_t bytes = transfer_bytes();
  ImpairmentConfig faults;
  faults.drop = 0.02;
  faults.duplicate = 0.01;
  faults.reorder = 0.02;
  faults.reorder_window = 8;
  faults.corrupt = 0.001;
  // SHARDTCP_PAIR_FAULTS="drop,dup,reorder,corrupt" overrides the rates (diagnosis).
  if (const char* e = std::getenv("SHARDTCP_PAIR_FAULTS")) {
    std::sscanf(e, "%lf,%lf,%lf,%lf", &faults.drop, &faults.duplicate, &faults.reorder,
                &faults.corrupt);
  }
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  a.impair = b.impair = faults;
  a.impair->seed = 11;
  b.impair->seed = 22;
  build(a, b);

  TcpConnId c, s, l;
  open_a_to_b(kPort, &c, &s, &l);
  if (HasFatalFailure()) return;
  StreamFlow ea, eb;
  flows_each_way(ea, a_.tcp.get(), c, eb, b_.tcp.get(), s, bytes);

  const auto wall_start = std::chrono::steady_clock::now();
  const Instant virt_start = clock_.now();
  std::uint32_t quiet = 0;
  const bool debug = std::getenv("SHARDTCP_PAIR_DEBUG") != nullptr;
  Instant next_debug = clock_.now();
  while (!(ea.done() && eb.done())) {
    ea.step();
    eb.step();
    if (::testing::Test::HasFatalFailure()) return;
    const std::uint32_t n = poll(quiet > 2 ? Duration(1ms) : Duration(20us));
    quiet = n == 0 ? quiet + 1 : 0;
    ASSERT_LT(clock_.now() - virt_start, Duration(std::chrono::hours(1))) << "stalled";
    if (debug && clock_.now() >= next_debug) {
      next_debug = clock_.now() + 1s;
      for (auto* e : {&ea, &eb}) {
        const Tcb* t = e->tcp->tcb(e->id);
        if (t == nullptr) continue;
        std::printf(
            "t=%.3f %c sent=%llu recv=%llu state=%d cwnd=%u ssthresh=%u rec=%d "
            "flight=%u una=%u nxt=%u max=%u rto=%lld wnd=%u fr=%llu rtos=%llu\n",
            std::chrono::duration<double>(clock_.now() - virt_start).count(), e == &ea ? 'A' : 'B',
            (unsigned long long)e->sent, (unsigned long long)e->received, (int)t->state(),
            t->cwnd(), t->ssthresh(), t->in_recovery(), t->bytes_in_flight(), t->snd_una().raw(),
            t->snd_nxt().raw(), t->snd_max().raw(),
            (long long)std::chrono::duration_cast<std::chrono::milliseconds>(t->rtt().rto())
                .count(),
            t->snd_wnd(), (unsigned long long)e->tcp->counter(TcpCounter::kFastRetrans),
            (unsigned long long)e->tcp->counter(TcpCounter::kRtoTimeouts));
      }
    }
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();

  EXPECT_EQ(ea.received, bytes);
  EXPECT_EQ(eb.received, bytes);
  EXPECT_EQ(ea.mismatches, 0u);
  EXPECT_EQ(eb.mismatches, 0u);

  const std::uint64_t corrupted =
      a_.faults->total(FaultCounter::kCorrupted) + b_.faults->total(FaultCounter::kCorrupted);
  const std::uint64_t bad_cksum = a_.tcp->counter(TcpLayerCounter::kRxBadChecksum) +
                                  b_.tcp->counter(TcpLayerCounter::kRxBadChecksum);
  const std::uint64_t ip_bad = a_.ip->ipv4_counters().get(Ipv4Counter::kRxBadChecksum) +
                               b_.ip->ipv4_counters().get(Ipv4Counter::kRxBadChecksum);
  auto both = [&](TcpCounter k) { return a_.tcp->counter(k) + b_.tcp->counter(k); };
  std::printf(
      "bulk: %llu bytes each way in %.2f s wall, %.2f s virtual; frames dropped %llu dup %llu "
      "reordered %llu corrupted %llu; tcp bad checksum %llu, ipv4 bad checksum %llu; "
      "fast retransmits %llu, SACK recoveries %llu, retransmitted segs %llu, RTOs %llu, "
      "DSACKs received %llu, out-of-order queued %llu; loss probes %llu (repaired %llu), "
      "RACK losses %llu, rescue retransmissions %llu\n",
      static_cast<unsigned long long>(bytes), wall,
      std::chrono::duration<double>(clock_.now() - virt_start).count(),
      static_cast<unsigned long long>(a_.faults->total(FaultCounter::kDropped) +
                                      b_.faults->total(FaultCounter::kDropped)),
      static_cast<unsigned long long>(a_.faults->total(FaultCounter::kDuplicated) +
                                      b_.faults->total(FaultCounter::kDuplicated)),
      static_cast<unsigned long long>(a_.faults->total(FaultCounter::kReordered) +
                                      b_.faults->total(FaultCounter::kReordered)),
      static_cast<unsigned long long>(corrupted), static_cast<unsigned long long>(bad_cksum),
      static_cast<unsigned long long>(ip_bad),
      static_cast<unsigned long long>(both(TcpCounter::kFastRetrans)),
      static_cast<unsigned long long>(both(TcpCounter::kSackRecoveries)),
      static_cast<unsigned long long>(both(TcpCounter::kRetransSegs)),
      static_cast<unsigned long long>(both(TcpCounter::kRtoTimeouts)),
      static_cast<unsigned long long>(both(TcpCounter::kDsackRecv)),
      static_cast<unsigned long long>(both(TcpCounter::kOfoQueued)),
      static_cast<unsigned long long>(both(TcpCounter::kTlpProbes)),
      static_cast<unsigned long long>(both(TcpCounter::kTlpRecoveries)),
      static_cast<unsigned long long>(both(TcpCounter::kRackLosses)),
      static_cast<unsigned long long>(both(TcpCounter::kRescueRetrans)));
  EXPECT_GT(both(TcpCounter::kFastRetrans), 0u);
  EXPECT_GT(both(TcpCounter::kSackRecoveries), 0u);
  EXPECT_GT(corrupted, 0u);
  // Every corrupted frame that reached a TCP layer failed its checksum (or the IP
  // header's); none was delivered, or the pattern check above would have failed.
  EXPECT_GT(bad_cksum, 0u);
  EXPECT_LE(bad_cksum, corrupted);

  ASSERT_EQ(a_.tcp->close(c), 0);
  ASSERT_EQ(b_.tcp->close(s), 0);
  ASSERT_EQ(b_.tcp->close(l), 0);
  ASSERT_TRUE(
      run_until([&] { return a_.tcp->slots_in_use() == 0 && b_.tcp->slots_in_use() == 0; }, 60s));
  run_for(3s);  // TIME_WAIT expires
  EXPECT_EQ(a_.tcp->time_wait_records() + b_.tcp->time_wait_records(), 0u);
  // The lossy transfer's lists, rings, RACK records and scoreboards all went back.
  EXPECT_EQ(a_.tcp->buffer_ops().blocks().blocks_in_use(), 0u);
  EXPECT_EQ(b_.tcp->buffer_ops().blocks().blocks_in_use(), 0u);
}

class TcpPairShort : public TcpPairTest {
 protected:
  // `n` connections in a row: connect, request, response, the server closes first
  // (TIME_WAIT on B), the client reads to EOF and closes. Then checks that nothing is
  // held: slots, table entries, send chunks, mbufs, TIME_WAIT records after 2*MSL.
  void short_connections(int n) {
    int err = 0;
    TcpConnId l = b_.tcp->listen({IpAddr{}, kPort}, 16, {}, &err);
    ASSERT_TRUE(l.valid());
    // Warm up ARP so the pool baseline below does not count the neighbour cache's frames.
    {
      TcpConnId c = a_.tcp->connect({kAddrB, kPort}, {}, &err);
      ASSERT_TRUE(run_until([&] { return a_.tcp->state(c) == TcpState::kEstablished; }));
      TcpConnId s;
      ASSERT_TRUE(run_until([&] { return (s = b_.tcp->accept(l, &err)).valid(); }));
      a_.tcp->abort(c);
      b_.tcp->abort(s);
      run_for(10ms);
    }
    const unsigned pool_start = rte_mempool_avail_count(shared_);
    const std::uint64_t tw_before = b_.tcp->counter(TcpLayerCounter::kTimeWaitCreated);
    const std::uint64_t opens_before = a_.tcp->counter(TcpCounter::kActiveOpens);
    const char request[] = "GET /index.html HTTP/1.0\r\n\r\n";
    std::string response(700, 'r');
    char buf[2048];
    std::size_t max_tw = 0;
    for (int i = 0; i < n; ++i) {
      TcpConnId c = a_.tcp->connect({kAddrB, kPort}, {}, &err);
      ASSERT_TRUE(c.valid()) << "connection " << i << ": " << err;
      ASSERT_TRUE(run_until([&] { return a_.tcp->state(c) == TcpState::kEstablished; }, 30s)) << i;
      ASSERT_EQ(a_.tcp->send(c, request, sizeof request), static_cast<long>(sizeof request));
      TcpConnId s;
      ASSERT_TRUE(run_until(
          [&] {
            if (!s.valid()) s = b_.tcp->accept(l, &err);
            return s.valid() && b_.tcp->readable_bytes(s) == static_cast<long>(sizeof request);
          },
          30s))
          << i;
      ASSERT_EQ(b_.tcp->recv(s, buf, sizeof buf), static_cast<long>(sizeof request));
      ASSERT_EQ(b_.tcp->send(s, response.data(), response.size()),
                static_cast<long>(response.size()));
      ASSERT_EQ(b_.tcp->close(s), 0);
      std::size_t got = 0;
      bool eof = false;
      ASSERT_TRUE(run_until(
          [&] {
            for (;;) {
              const long r = a_.tcp->recv(c, buf, sizeof buf);
              if (r > 0) {
                got += static_cast<std::size_t>(r);
                continue;
              }
              if (r == 0) eof = true;
              break;
            }
            return eof;
          },
          30s))
          << i;
      ASSERT_EQ(got, response.size());
      ASSERT_EQ(a_.tcp->close(c), 0);
      max_tw = std::max(max_tw, b_.tcp->time_wait_records());
    }
    ASSERT_TRUE(run_until(
        [&] { return a_.tcp->slots_in_use() == 0 && b_.tcp->slots_in_use() == 1; }, 120s));
    EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kTimeWaitCreated) - tw_before,
              static_cast<std::uint64_t>(n));
    EXPECT_GT(max_tw, 10u);
    run_for(3s);  // 2*MSL of virtual time
    EXPECT_EQ(b_.tcp->time_wait_records(), 0u);
    EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kTimeWaitEvicted), 0u);
    // Every record ended by expiry, or earlier by an acceptable RST (RFC 9293) or a SYN
    // reopening the tuple (RFC 6191).
    EXPECT_EQ(b_.tcp->counter(TcpLayerCounter::kTimeWaitExpired) +
                  b_.tcp->counter(TcpLayerCounter::kTimeWaitKilled) +
                  b_.tcp->counter(TcpLayerCounter::kTimeWaitReuse),
              b_.tcp->counter(TcpLayerCounter::kTimeWaitCreated))
        << "killed " << b_.tcp->counter(TcpLayerCounter::kTimeWaitKilled) << " reused "
        << b_.tcp->counter(TcpLayerCounter::kTimeWaitReuse);
    EXPECT_EQ(a_.tcp->connections(), 0u);
    EXPECT_EQ(b_.tcp->connections(), 0u);
    EXPECT_EQ(a_.tcp->buffer_ops().live_chunks(), 0);
    EXPECT_EQ(b_.tcp->buffer_ops().live_chunks(), 0);
    // No connection left: no bookkeeping block and no config copy either.
    EXPECT_EQ(a_.tcp->buffer_ops().blocks().blocks_in_use(), 0u);
    EXPECT_EQ(b_.tcp->buffer_ops().blocks().blocks_in_use(), 0u);
    EXPECT_EQ(a_.tcp->buffer_ops().configs().size(), 0u);
    EXPECT_EQ(b_.tcp->buffer_ops().configs().size(), 0u);
    EXPECT_EQ(a_.tcp->counter(TcpCounter::kActiveOpens) - opens_before,
              static_cast<std::uint64_t>(n));
    EXPECT_EQ(b_.tcp->close(l), 0);
    syn_retrans_ =
        a_.tcp->counter(TcpCounter::kSynRetrans) + b_.tcp->counter(TcpCounter::kSynRetrans);
    time_wait_acks_ = b_.tcp->counter(TcpLayerCounter::kTimeWaitAcks);
    teardown();  // frames held by a fault injector go back too
    EXPECT_EQ(rte_mempool_avail_count(shared_), pool_start) << "mbufs held after all closed";
  }

  std::uint64_t syn_retrans_ = 0;
  std::uint64_t time_wait_acks_ = 0;
};

TEST_F(TcpPairShort, TenThousandShortConnectionsLeakNothing) {
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  build(a, b);
  short_connections(10000);
}

// The same under loss and reordering both ways: retransmitted SYNs, SYN-ACKs and FINs,
// and FINs that reach a TIME_WAIT record and are re-ACKed from it.
TEST_F(TcpPairShort, ShortConnectionsUnderLossLeakNothing) {
  ImpairmentConfig f;
  f.drop = 0.05;
  f.reorder = 0.05;
  f.reorder_window = 4;
  f.duplicate = 0.02;
  PairSideOptions a, b;
  a.tcp = b.tcp = default_tcp();
  a.impair = b.impair = f;
  a.impair->seed = 3;
  b.impair->seed = 4;
  build(a, b);
  short_connections(1000);
  EXPECT_GT(syn_retrans_, 0u);
  EXPECT_GT(time_wait_acks_, 0u);
}

}  // namespace
}  // namespace shardtcp::testing
