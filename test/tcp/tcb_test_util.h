// Harness for TCB unit tests: a TCB on a virtual clock, `send(segment)` returns what it
// emitted, `expect_one` / `expect_nothing` check it. The test plays the peer by hand.
#pragma once

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tcp/tcb.h"

namespace shardtcp::testing {

using namespace std::chrono_literals;
using namespace tcp_flags;

struct Emitted {
  std::vector<OutSegment> segs;
  std::vector<TcpEvent> events;
  bool has_time_wait = false;
  TimeWaitInfo tw;

  bool has(TcpEventKind k) const {
    for (const auto& e : events)
      if (e.kind == k) return true;
    return false;
  }
  std::uint32_t value(TcpEventKind k) const {
    for (const auto& e : events)
      if (e.kind == k) return e.value;
    return 0;
  }
  std::size_t count_flag(std::uint8_t f) const {
    std::size_t n = 0;
    for (const auto& s : segs) n += s.seg.has(f) ? 1 : 0;
    return n;
  }
};

class TcbTest : public ::testing::Test {
 protected:
  static constexpr std::uint32_t kIss = 1000;
  static constexpr std::uint32_t kPeerIss = 50000;
  static constexpr std::uint16_t kLocalPort = 40000;
  static constexpr std::uint16_t kPeerPort = 80;

  TcbTest() {
    cfg.recv_buffer = 64 * 1024;
    cfg.send_buffer = 64 * 1024;
  }

  void TearDown() override {
    tcb.reset();
    for (void* h : held_) ops.release(h);
    held_.clear();
    EXPECT_EQ(ops.live_blocks(), 0) << "received payload leaked";
    EXPECT_EQ(ops.live_chunks(), 0) << "send chunk leaked";
  }

  Tcb& make() {
    tcb = std::make_unique<Tcb>(cfg, ops, &stats);
    return *tcb;
  }

  Endpoint local() const { return Endpoint{IpAddr::v4(0xC6120001), kLocalPort}; }
  Endpoint peer() const { return Endpoint{IpAddr::v4(0xC6120002), kPeerPort}; }

  static Emitted collect(const TcpOutput& o) {
    Emitted e;
    for (std::size_t i = 0; i < o.segment_count(); ++i) e.segs.push_back(o.segment(i));
    for (std::size_t i = 0; i < o.event_count(); ++i) e.events.push_back(o.event(i));
    if (o.has_event(TcpEventKind::kTimeWait)) {
      e.has_time_wait = true;
      e.tw = o.time_wait();
    }
    return e;
  }

  // A segment from the peer.
  TcpSegment seg(std::uint8_t flags, std::uint32_t seq, std::uint32_t ack = 0,
                 std::uint16_t window = 65535) {
    TcpSegment s;
    s.src_port = kPeerPort;
    s.dst_port = kLocalPort;
    s.seq = SeqNum(seq);
    s.ack = SeqNum(ack);
    s.flags = flags;
    s.window = window;
    return s;
  }
  TcpSegment data(std::uint32_t seq, std::uint32_t ack, const std::string& bytes,
                  std::uint16_t window = 65535, std::uint8_t extra = 0) {
    TcpSegment s = seg(kAck | kPsh | extra, seq, ack, window);
    s.payload = ops.make_payload(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                 static_cast<std::uint32_t>(bytes.size()));
    held_.push_back(s.payload.handle);
    return s;
  }

  Emitted send(const TcpSegment& s) {
    out.clear();
    tcb->on_segment(s, now, out);
    return collect(out);
  }
  // Moves the clock by `d` and runs the timers that fell due (all of them, in order).
  Emitted advance(Duration d) {
    Instant target = now + d;
    Emitted all;
    while (tcb->next_deadline() <= target) {
      now = std::max(now, tcb->next_deadline());
      out.clear();
      tcb->on_timer(now, out);
      Emitted e = collect(out);
      all.segs.insert(all.segs.end(), e.segs.begin(), e.segs.end());
      all.events.insert(all.events.end(), e.events.begin(), e.events.end());
      if (e.has_time_wait) {
        all.has_time_wait = true;
        all.tw = e.tw;
      }
      if (tcb->state() == TcpState::kClosed) break;
    }
    now = target;
    return all;
  }
  // Runs the timer that is due next and returns what it did.
  Emitted fire_next() {
    now = tcb->next_deadline();
    out.clear();
    tcb->on_timer(now, out);
    return collect(out);
  }
  Emitted app_send(const std::string& bytes) {
    std::uint32_t n = tcb->send(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                static_cast<std::uint32_t>(bytes.size()));
    EXPECT_EQ(n, bytes.size());
    out.clear();
    tcb->flush(now, out);
    return collect(out);
  }
  Emitted flush() {
    out.clear();
    tcb->flush(now, out);
    return collect(out);
  }
  Emitted close() {
    out.clear();
    tcb->close(now, out);
    return collect(out);
  }
  Emitted shutdown() {
    out.clear();
    tcb->shutdown_write(now, out);
    return collect(out);
  }
  std::string read_all() {
    std::string s(tcb->readable_bytes(), '\0');
    std::uint32_t n =
        tcb->recv(reinterpret_cast<std::uint8_t*>(s.data()), static_cast<std::uint32_t>(s.size()));
    s.resize(n);
    return s;
  }
  std::string payload_of(const OutSegment& o) const {
    std::string s(o.payload_len, '\0');
    tcb->send_buffer().copy(o.stream_offset, o.payload_len,
                            reinterpret_cast<std::uint8_t*>(s.data()));
    return s;
  }

  static OutSegment expect_one(const Emitted& e) {
    EXPECT_EQ(e.segs.size(), 1u);
    return e.segs.empty() ? OutSegment{} : e.segs.front();
  }
  static void expect_nothing(const Emitted& e) { EXPECT_TRUE(e.segs.empty()); }

  std::uint64_t counter(TcpCounter c) const { return stats.get(c); }

  // Drives an active open to ESTABLISHED with the given peer options.
  void establish_active(bool sack = true, bool ts = true, std::uint8_t peer_ws = 7,
                        std::uint16_t peer_mss = 1460, std::uint16_t peer_window = 65535) {
    make();
    out.clear();
    tcb->open_active(local(), peer(), SeqNum(kIss), now, out);
    ASSERT_EQ(out.segment_count(), 1u);
    syn_ = out.segment(0).seg;
    now = now + 10ms;
    TcpSegment sa = seg(kSyn | kAck, kPeerIss, kIss + 1, peer_window);
    sa.options.mss = peer_mss;
    sa.options.window_scale = peer_ws;
    sa.options.sack_permitted = sack;
    if (ts) sa.options.timestamps = TcpTimestamps{peer_ts_, syn_.options.timestamps->value};
    Emitted e = send(sa);
    ASSERT_EQ(tcb->state(), TcpState::kEstablished);
    ASSERT_EQ(e.segs.size(), 1u);
    peer_seq_ = kPeerIss + 1;
    our_seq_ = kIss + 1;
  }
  // The peer's timestamp option for the next segment (echoing the TCB's latest).
  void stamp(TcpSegment& s, const OutSegment* last = nullptr) {
    ++peer_ts_;
    s.options.timestamps = TcpTimestamps{peer_ts_, last ? last->seg.options.timestamps->value : 0};
  }

  TcpConfig cfg;
  HeapBufferOps ops{2048};
  CounterGroup stats = make_tcp_counters();
  std::unique_ptr<Tcb> tcb;
  Instant now{1'000'000'000};
  TcpOutput out;
  TcpSegment syn_;
  std::uint32_t peer_ts_ = 7000;
  std::uint32_t peer_seq_ = 0;
  std::uint32_t our_seq_ = 0;

 private:
  std::vector<void*> held_;
};

}  // namespace shardtcp::testing
