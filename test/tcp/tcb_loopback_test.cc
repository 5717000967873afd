// Two TCBs wired to each other through a lossy in-memory link on a virtual clock
// (seeded drop / duplicate / reorder), moving megabytes each way byte-exact and
// finishing with a clean close: recovery works end to end before any DPDK is involved.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <queue>
#include <random>
#include <vector>

#include "tcp/tcb.h"

namespace shardtcp {
namespace {

using namespace std::chrono_literals;

struct LinkParams {
  double drop = 0.0;
  double dup = 0.0;
  double reorder = 0.0;
  Duration delay = 1ms;
};

struct LoopbackParams {
  std::uint32_t seed;
  std::size_t bytes;  // each way
  bool sack;
  bool timestamps;
  CongestionAlgorithm cc;
  LinkParams link;
};

class Loopback : public ::testing::TestWithParam<LoopbackParams> {
 protected:
  struct Side {
    std::unique_ptr<Tcb> tcb;
    std::vector<std::uint8_t> source;
    std::size_t written = 0;
    std::vector<std::uint8_t> sink;
    bool shut = false;
    bool closed = false;
    bool connected = false;
    int error = 0;
  };
  struct Packet {
    Instant at;
    std::uint64_t order;
    int to;
    TcpSegment seg;
    bool operator>(const Packet& o) const { return at != o.at ? at > o.at : order > o.order; }
  };

  void emit(int from, const TcpOutput& out) {
    Side& s = sides_[from];
    for (std::size_t i = 0; i < out.event_count(); ++i) {
      const TcpEvent& ev = out.event(i);
      if (ev.kind == TcpEventKind::kError) s.error = static_cast<int>(ev.value);
      if (ev.kind == TcpEventKind::kClosed) s.closed = true;
      if (ev.kind == TcpEventKind::kConnected || ev.kind == TcpEventKind::kAccepted)
        s.connected = true;
    }
    const LinkParams& lp = GetParam().link;
    for (std::size_t i = 0; i < out.segment_count(); ++i) {
      const OutSegment& o = out.segment(i);
      ++sent_;
      if (uni_(rng_) < lp.drop) {
        ++dropped_;
        continue;
      }
      TcpSegment seg = o.seg;
      if (o.payload_len > 0) {
        buf_.resize(o.payload_len);
        std::uint32_t n = s.tcb->send_buffer().copy(o.stream_offset, o.payload_len, buf_.data());
        EXPECT_EQ(n, o.payload_len);
        seg.payload = ops_.make_payload(buf_.data(), o.payload_len);
      }
      int copies = uni_(rng_) < lp.dup ? 2 : 1;
      for (int c = 0; c < copies; ++c) {
        Duration d = lp.delay;
        if (uni_(rng_) < lp.reorder) {
          d += std::chrono::microseconds(500 + static_cast<int>(uni_(rng_) * 2500));
          ++reordered_;
        }
        if (c > 0) {
          ops_.retain(seg.payload.handle);
          ++duplicated_;
        }
        link_.push(Packet{now_ + d, order_++, 1 - from, seg});
      }
    }
  }

  void pump_app(int i) {
    Side& s = sides_[i];
    if (s.closed) return;
    while (s.written < s.source.size()) {
      std::uint32_t chunk =
          static_cast<std::uint32_t>(std::min<std::size_t>(s.source.size() - s.written, 65536));
      std::uint32_t n = s.tcb->send(s.source.data() + s.written, chunk);
      s.written += n;
      if (n < chunk) break;
    }
    std::uint8_t tmp[16384];
    while (s.tcb->readable_bytes() > 0) {
      std::uint32_t n = s.tcb->recv(tmp, sizeof tmp);
      s.sink.insert(s.sink.end(), tmp, tmp + n);
    }
    out_.clear();
    if (s.written == s.source.size() && !s.shut && s.connected) {
      s.shut = true;
      s.tcb->shutdown_write(now_, out_);
    }
    s.tcb->flush(now_, out_);
    emit(i, out_);
    // Once the peer finished and everything is read, close our side fully.
    if (s.shut && s.tcb->peer_closed() && s.tcb->readable_bytes() == 0 && !s.closed) {
      out_.clear();
      s.tcb->close(now_, out_);
      emit(i, out_);
    }
  }

  void run() {
    const LoopbackParams& p = GetParam();
    rng_.seed(p.seed);
    TcpConfig cfg;
    cfg.sack = p.sack;
    cfg.timestamps = p.timestamps;
    cfg.congestion = p.cc;
    cfg.msl = 1s;
    for (int i = 0; i < 2; ++i) {
      sides_[i].tcb = std::make_unique<Tcb>(cfg, ops_, &stats_);
      sides_[i].source.resize(p.bytes);
      std::mt19937 gen(p.seed * 7 + i);
      for (auto& b : sides_[i].source) b = static_cast<std::uint8_t>(gen());
    }
    Endpoint a{IpAddr::v4(0xC6120001), 40000};
    Endpoint b{IpAddr::v4(0xC6120002), 5001};
    // B is created from A's SYN the way a listener would.
    out_.clear();
    sides_[0].tcb->open_active(a, b, SeqNum(0xFFFF0000u), now_, out_);  // wraps during the run
    ASSERT_EQ(out_.segment_count(), 1u);
    TcpSegment syn = out_.segment(0).seg;
    out_.clear();
    sides_[1].tcb->accept_syn(syn, b, a, SeqNum(12345), now_, out_);
    emit(1, out_);

    const Instant limit = now_ + 600s;
    std::uint64_t steps = 0;
    while (!(sides_[0].closed && sides_[1].closed)) {
      ASSERT_LT(++steps, 50'000'000u);
      pump_app(0);
      pump_app(1);
      Instant next = std::min(sides_[0].tcb->next_deadline(), sides_[1].tcb->next_deadline());
      if (!link_.empty()) next = std::min(next, link_.top().at);
      ASSERT_NE(next, Instant::never()) << "stalled: nothing in flight and no timer";
      ASSERT_LT(next, limit) << "did not finish in 600 s of virtual time";
      now_ = std::max(now_, next);
      while (!link_.empty() && link_.top().at <= now_) {
        Packet pk = link_.top();
        link_.pop();
        out_.clear();
        sides_[pk.to].tcb->on_segment(pk.seg, now_, out_);
        ops_.release(pk.seg.payload.handle);
        emit(pk.to, out_);
      }
      for (int i = 0; i < 2; ++i) {
        if (sides_[i].tcb->next_deadline() <= now_) {
          out_.clear();
          sides_[i].tcb->on_timer(now_, out_);
          emit(i, out_);
        }
      }
    }
    while (!link_.empty()) {
      ops_.release(link_.top().seg.payload.handle);
      link_.pop();
    }
  }

  HeapBufferOps ops_{2048};
  CounterGroup stats_ = make_tcp_counters();
  Side sides_[2];
  std::priority_queue<Packet, std::vector<Packet>, std::greater<Packet>> link_;
  std::mt19937 rng_;
  std::uniform_real_distribution<double> uni_{0.0, 1.0};
  Instant now_{1'000'000'000};
  TcpOutput out_;
  std::vector<std::uint8_t> buf_;
  std::uint64_t order_ = 0, sent_ = 0, dropped_ = 0, duplicated_ = 0, reordered_ = 0;
};

TEST_P(Loopback, TransfersBothWaysByteExactAndClosesCleanly) {
  run();
  if (HasFatalFailure()) return;
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(sides_[i].error, 0) << "side " << i;
    EXPECT_TRUE(sides_[i].closed);
    ASSERT_EQ(sides_[i].sink.size(), sides_[1 - i].source.size()) << "side " << i;
    EXPECT_TRUE(sides_[i].sink == sides_[1 - i].source) << "side " << i << " bytes differ";
  }
  // Everything delivered and acknowledged: the bookkeeping blocks (receive and
  // out-of-order lists, chunk rings, RACK records, SACK scoreboards) all went back.
  EXPECT_EQ(ops_.blocks().blocks_in_use(), 0u);
  EXPECT_EQ(ops_.live_chunks(), 0);
  EXPECT_EQ(ops_.configs().size(), 1u);  // both ends share one config
  const LoopbackParams& p = GetParam();
  if (p.link.drop > 0) {
    EXPECT_GT(dropped_, 0u);
    EXPECT_GT(stats_.get(TcpCounter::kRetransSegs), 0u);
    // Most losses are repaired by fast retransmit, not by timeouts.
    EXPECT_GT(stats_.get(TcpCounter::kFastRetrans), stats_.get(TcpCounter::kRtoTimeouts));
  }
  if (p.link.dup > 0 && p.sack) {
    EXPECT_GT(stats_.get(TcpCounter::kDsackSent), 0u);
  }
  std::printf(
      "seed %u: %.3f s virtual, %llu segs, %llu dropped, %llu dup, %llu reordered, "
      "%llu rexmit, %llu fast, %llu rto, %llu sack-rec, %llu reno-rec, %llu dsack\n",
      p.seed, static_cast<double>((now_ - Instant{1'000'000'000}).count()) / 1e9,
      static_cast<unsigned long long>(sent_), static_cast<unsigned long long>(dropped_),
      static_cast<unsigned long long>(duplicated_), static_cast<unsigned long long>(reordered_),
      static_cast<unsigned long long>(stats_.get(TcpCounter::kRetransSegs)),
      static_cast<unsigned long long>(stats_.get(TcpCounter::kFastRetrans)),
      static_cast<unsigned long long>(stats_.get(TcpCounter::kRtoTimeouts)),
      static_cast<unsigned long long>(stats_.get(TcpCounter::kSackRecoveries)),
      static_cast<unsigned long long>(stats_.get(TcpCounter::kRenoRecoveries)),
      static_cast<unsigned long long>(stats_.get(TcpCounter::kDsackSent)));
}

constexpr std::size_t kMB = 1024 * 1024;
const LinkParams kClean{};
const LinkParams kLossy{0.01, 0.005, 0.02, 1ms};
const LinkParams kVeryLossy{0.05, 0.02, 0.05, 2ms};

INSTANTIATE_TEST_SUITE_P(
    Tcb, Loopback,
    ::testing::Values(
        LoopbackParams{1, 1 * kMB, true, true, CongestionAlgorithm::kCubic, kClean},
        LoopbackParams{2, 10 * kMB, true, true, CongestionAlgorithm::kCubic, kLossy},
        LoopbackParams{3, 10 * kMB, false, false, CongestionAlgorithm::kNewReno, kLossy},
        LoopbackParams{4, 2 * kMB, true, false, CongestionAlgorithm::kNewReno, kVeryLossy},
        LoopbackParams{5, 2 * kMB, false, true, CongestionAlgorithm::kCubic, kVeryLossy}));

}  // namespace
}  // namespace shardtcp
