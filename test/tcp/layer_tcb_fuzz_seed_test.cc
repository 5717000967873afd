// Runs the TCB fuzz harness (test/fuzz/tcb_fuzz_harness.h) without libFuzzer: hand-made
// seeds that reach data transfer, loss, closes and hostile segments, then seeded random
// mutations of them. Every input must keep the TCBs' invariants and leak nothing.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "../fuzz/tcb_fuzz_harness.h"

namespace shardtcp {
namespace {

using Bytes = std::vector<std::uint8_t>;

// Record builders matching the harness's input format.
void app_send(Bytes& b, bool server, std::uint16_t n) {
  b.insert(b.end(), {static_cast<std::uint8_t>(server ? 5 : 6), 0, static_cast<std::uint8_t>(n),
                     static_cast<std::uint8_t>(n >> 8)});
}
void app_recv(Bytes& b, bool server) {
  b.insert(b.end(), {static_cast<std::uint8_t>(server ? 5 : 6), 2, 0xff, 0x7f});
}
void app_op(Bytes& b, bool server, std::uint8_t what) {
  b.insert(b.end(), {static_cast<std::uint8_t>(server ? 5 : 6), what});
}
void deliver(Bytes& b, std::uint8_t n) {
  b.insert(b.end(), {3, n});
}
void deliver_all(Bytes& b) {
  b.push_back(7);
}
void wait_ms(Bytes& b, std::uint16_t ms) {
  b.insert(b.end(), {4, static_cast<std::uint8_t>(ms), static_cast<std::uint8_t>(ms >> 8)});
}
// A segment to the server: flags, mode (0: numbers relative to its windows), seq/ack
// offsets, window, payload.
void segment(Bytes& b, std::uint8_t flags, std::int16_t dseq, std::int16_t dack,
             std::uint8_t payload_len, std::uint8_t mode = 0) {
  b.insert(b.end(), {0, flags, mode, static_cast<std::uint8_t>(dseq),
                     static_cast<std::uint8_t>(static_cast<std::uint16_t>(dseq) >> 8),
                     static_cast<std::uint8_t>(dack),
                     static_cast<std::uint8_t>(static_cast<std::uint16_t>(dack) >> 8), 0xff, 0xff,
                     payload_len});
  for (std::uint8_t i = 0; i < payload_len; ++i) b.push_back(i);
}

std::vector<Bytes> seeds() {
  std::vector<Bytes> s;
  {  // Data both ways, then a clean close from the client.
    Bytes b;
    app_send(b, false, 5000);
    app_send(b, true, 3000);
    deliver_all(b);
    app_recv(b, true);
    app_recv(b, false);
    app_op(b, false, 5);  // close
    deliver_all(b);
    app_op(b, true, 5);
    deliver_all(b);
    wait_ms(b, 3000);
    s.push_back(b);
  }
  {  // Loss: deliver a few, wait for the RTO, deliver the rest.
    Bytes b;
    app_send(b, true, 15000);
    deliver(b, 1);
    wait_ms(b, 1500);
    deliver_all(b);
    wait_ms(b, 300);
    deliver_all(b);
    s.push_back(b);
  }
  {  // Hostile segments: in-window RST, SYN, out-of-window data, old and new ACKs.
    Bytes b;
    segment(b, 0x04, 10, 0, 0);      // RST not at RCV.NXT: challenge ACK
    segment(b, 0x02, 0, 0, 0);       // SYN in ESTABLISHED
    segment(b, 0x18, 30000, 0, 40);  // data far right
    segment(b, 0x18, -100, 0, 40);   // old data
    segment(b, 0x10, 0, 2000, 0);    // ACK of unsent data
    segment(b, 0x18, 0, 0, 60);      // good data
    segment(b, 0x11, 60, 0, 0);      // FIN
    app_recv(b, true);
    app_op(b, true, 5);
    deliver_all(b);
    wait_ms(b, 4000);
    s.push_back(b);
  }
  {  // Out-of-order pieces with holes, then the fill.
    Bytes b;
    segment(b, 0x10, 100, 0, 50);
    segment(b, 0x10, 200, 0, 50);
    segment(b, 0x10, 0, 0, 100);
    segment(b, 0x10, 150, 0, 50);
    app_recv(b, true);
    deliver_all(b);
    s.push_back(b);
  }
  {  // Zero window from the peer, persist probes, keepalive.
    Bytes b;
    segment(b, 0x10, 0, 0, 0);
    app_op(b, true, 8 | 16);
    app_send(b, true, 2000);
    wait_ms(b, 4000);
    wait_ms(b, 4000);
    deliver_all(b);
    s.push_back(b);
  }
  return s;
}

TEST(LayerTcbFuzzSeeds, SeedsKeepInvariantsAndLeakNothing) {
  for (const Bytes& b : seeds()) {
    const fuzz::TcbFuzzResult r = fuzz::tcb_fuzz_run_one(b.data(), b.size());
    EXPECT_TRUE(r.ok) << r.failure;
  }
  // The hostile seed injected its seven segments.
  const Bytes hostile = seeds()[2];
  EXPECT_EQ(fuzz::tcb_fuzz_run_one(hostile.data(), hostile.size()).segments, 7u);
  // The first seed ends with both sides closed after TIME_WAIT.
  const Bytes clean = seeds()[0];
  const fuzz::TcbFuzzResult r = fuzz::tcb_fuzz_run_one(clean.data(), clean.size());
  EXPECT_GT(r.delivered, 5u);
}

TEST(LayerTcbFuzzSeeds, SeededMutationsKeepInvariantsAndLeakNothing) {
  std::mt19937 rng(20261127);
  const std::vector<Bytes> base = seeds();
  std::uint64_t injected = 0;
  for (int i = 0; i < 3000; ++i) {
    Bytes b = base[rng() % base.size()];
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 4) {
        case 0:
          if (!b.empty()) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
          break;
        case 1:
          b.insert(b.begin() + static_cast<long>(rng() % (b.size() + 1)),
                   static_cast<std::uint8_t>(rng()));
          break;
        case 2:
          if (!b.empty()) b.erase(b.begin() + static_cast<long>(rng() % b.size()));
          break;
        case 3: {  // splice a piece of another seed
          const Bytes& o = base[rng() % base.size()];
          const std::size_t from = rng() % o.size();
          const std::size_t n = std::min<std::size_t>(o.size() - from, 1 + rng() % 16);
          b.insert(b.begin() + static_cast<long>(rng() % (b.size() + 1)),
                   o.begin() + static_cast<long>(from), o.begin() + static_cast<long>(from + n));
          break;
        }
      }
    }
    const fuzz::TcbFuzzResult r = fuzz::tcb_fuzz_run_one(b.data(), b.size());
    ASSERT_TRUE(r.ok) << "mutation " << i << ": " << r.failure;
    injected += r.segments;
  }
  EXPECT_GT(injected, 3000u);
}

}  // namespace
}  // namespace shardtcp
