// Scripted-peer harness for the TCB, in the spirit of packetdrill: a scenario is a list
// of timed steps -- "at t the peer sends this", "at t (within a tolerance) the TCB
// sends this", "nothing until t", "at t the application does that" -- run on the
// virtual clock, so each conformance rule reads as a short script.
//
// Sequence numbers are relative, as in packetdrill: an inbound segment's seq and an
// outbound segment's ack count from the peer's ISN, an inbound ack and an outbound seq
// from ours (so the SYN is 0 and the first data byte is 1). Times are from the start
// of the script. Scripts run for IPv4 and IPv6 (the fixture's parameter): the family
// changes the addresses and the MSS the TCB derives from the MTU.
#pragma once

#include <deque>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tcb_test_util.h"

namespace shardtcp::testing {

// A segment the peer sends: In(flags).seq(..).ack(..)...
struct In {
  explicit In(std::uint8_t flags = kAck) : flags_(flags) {}
  In& seq(std::uint32_t v) { return set(seq_, v); }  // relative to the peer's ISN
  In& ack(std::uint32_t v) { return set(ack_, v); }  // relative to our ISN
  In& len(std::uint32_t v) { return set(len_, v); }  // payload bytes ('p')
  In& win(std::uint16_t v) { return set(win_, v); }
  // Timestamp value; the echo is the latest TSval the TCB sent (as a real peer's is).
  In& ts(std::uint32_t v) { return set(ts_, v); }
  // SYN options.
  In& mss(std::uint16_t v) { return set(mss_, v); }
  In& wscale(std::uint8_t v) { return set(wscale_, v); }
  In& sack_ok() { return set(sack_ok_, true); }
  // Arrives with CE in the IP header's ECN field (a router met congestion).
  In& ce() { return set(ce_, true); }
  // SACK blocks in order, relative to our ISN.
  In& sack(std::vector<std::pair<std::uint32_t, std::uint32_t>> v) { return set(sack_, v); }

  std::uint8_t flags_;
  std::uint32_t seq_ = 1;
  std::uint32_t ack_ = 1;
  std::uint32_t len_ = 0;
  std::uint16_t win_ = 65535;
  std::optional<std::uint32_t> ts_;
  std::optional<std::uint16_t> mss_;
  std::optional<std::uint8_t> wscale_;
  bool sack_ok_ = false;
  bool ce_ = false;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> sack_;

 private:
  template <typename F, typename V>
  In& set(F& f, V v) {
    f = v;
    return *this;
  }
};

// A segment the TCB must send: the flags always, every other field that was set.
struct Out {
  using Blocks = std::vector<std::pair<std::uint32_t, std::uint32_t>>;
  explicit Out(std::uint8_t flags = kAck) : flags_(flags) {}
  Out& seq(std::uint32_t v) { return set(seq_, v); }  // relative to our ISN
  Out& ack(std::uint32_t v) { return set(ack_, v); }  // relative to the peer's ISN
  Out& len(std::uint32_t v) { return set(len_, v); }
  Out& win(std::uint16_t v) { return set(win_, v); }
  Out& ts_echo(std::uint32_t v) { return set(ts_echo_, v); }  // TSecr
  // SACK blocks in order, relative to the peer's ISN (empty: no SACK option).
  Out& sack(Blocks v) { return set(sack_, std::move(v)); }
  Out& ip_ecn(std::uint8_t v) { return set(ip_ecn_, v); }  // the IP header's ECN field

  std::uint8_t flags_;
  std::optional<std::uint32_t> seq_;
  std::optional<std::uint32_t> ack_;
  std::optional<std::uint32_t> len_;
  std::optional<std::uint16_t> win_;
  std::optional<std::uint32_t> ts_echo_;
  std::optional<Blocks> sack_;
  std::optional<std::uint8_t> ip_ecn_;

 private:
  template <typename F, typename V>
  Out& set(F& f, V v) {
    f = std::move(v);
    return *this;
  }
};

struct Step {
  enum class Kind { kInject, kExpect, kNothing, kCall };
  Kind kind;
  Duration at;
  In in;
  Out out;
  std::function<void(Instant, TcpOutput&)> call{};
  std::string what{};
};

inline Step inject(Duration at, In in) {
  return Step{Step::Kind::kInject, at, std::move(in), Out(), {}, {}};
}
inline Step expect(Duration at, Out out) {
  return Step{Step::Kind::kExpect, at, In(), std::move(out), {}, {}};
}
// Nothing is sent from the previous step up to `until`.
inline Step nothing(Duration until) {
  return Step{Step::Kind::kNothing, until, In(), Out(), {}, {}};
}

class TcbScript : public TcbTest, public ::testing::WithParamInterface<bool /*ipv6*/> {
 protected:
  static constexpr Duration kTolerance = 5ms;

  bool ipv6() const { return GetParam(); }
  Endpoint script_local() const { return ipv6() ? Endpoint{v6(1), kLocalPort} : local(); }
  Endpoint script_peer() const { return ipv6() ? Endpoint{v6(2), kPeerPort} : peer(); }
  static IpAddr v6(std::uint8_t host) {
    std::uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};
    b[15] = host;
    return IpAddr::v6(b);
  }

  // Application and engine calls, at script time `at` (each followed by the flush
  // the engine does after an application call).
  Step call(Duration at, std::string what, std::function<void(Instant, TcpOutput&)> fn) {
    Step s{Step::Kind::kCall, at, In(), Out(), {}, {}};
    s.call = std::move(fn);
    s.what = std::move(what);
    return s;
  }
  Step connect(Duration at) {
    return call(at, "connect", [this](Instant t, TcpOutput& o) {
      tcb->open_active(script_local(), script_peer(), SeqNum(kIss), t, o);
    });
  }
  // A listener hands the TCB the peer's SYN.
  Step accept(Duration at, In syn) {
    return call(at, "accept", [this, syn](Instant t, TcpOutput& o) {
      tcb->accept_syn(build(syn), script_local(), script_peer(), SeqNum(kIss), t, o);
    });
  }
  Step read(Duration at, std::uint32_t n) {
    return call(at, "read", [this, n](Instant t, TcpOutput& o) {
      std::string buf(n, '\0');
      EXPECT_EQ(tcb->recv(reinterpret_cast<std::uint8_t*>(buf.data()), n), n) << "short read";
      tcb->flush(t, o);
    });
  }
  Step write(Duration at, std::uint32_t n) {
    return call(at, "write", [this, n](Instant t, TcpOutput& o) {
      std::string buf(n, 'w');
      EXPECT_EQ(tcb->send(reinterpret_cast<const std::uint8_t*>(buf.data()), n), n);
      tcb->flush(t, o);
    });
  }
  Step shutdown_wr(Duration at) {
    return call(at, "shutdown", [this](Instant t, TcpOutput& o) { tcb->shutdown_write(t, o); });
  }

  // An active open's handshake as steps -- SYN out, at 10 ms the SYN-ACK in with the
  // options of `synack`, ACK out -- followed by `then`.
  std::vector<Step> after_handshake(In synack, std::vector<Step> then) {
    synack.flags_ = kSyn | kAck;
    synack.seq(0).ack(1);
    std::vector<Step> s{connect(0ms), expect(0ms, Out(kSyn).seq(0)), inject(10ms, synack),
                        expect(10ms, Out().seq(1).ack(1))};
    s.insert(s.end(), std::make_move_iterator(then.begin()), std::make_move_iterator(then.end()));
    return s;
  }

  // Runs the script on a fresh TCB made from `cfg`; every mismatch is reported with
  // the step it came from.
  void run(const std::vector<Step>& steps) {
    cfg.ipv6 = ipv6();
    make();
    tcb->set_route_mtu(1500, ipv6());
    start_ = now;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      SCOPED_TRACE(::testing::Message() << "script step " << i);
      run_step(steps[i]);
      if (::testing::Test::HasFatalFailure()) return;
    }
    for (const Sent& s : queue_)
      ADD_FAILURE() << "unexpected segment at the end, flags " << int{s.seg.seg.flags} << " seq "
                    << rel_seq(s.seg.seg.seq);
  }

  // The TCB's errors reported so far (kError values).
  std::vector<std::uint32_t> errors_;

 private:
  struct Sent {
    OutSegment seg;
    Duration at;
  };

  std::uint32_t rel_seq(SeqNum s) const { return static_cast<std::uint32_t>(s - SeqNum(kIss)); }
  std::uint32_t rel_ack(SeqNum s) const { return static_cast<std::uint32_t>(s - SeqNum(kPeerIss)); }

  TcpSegment build(const In& in) {
    TcpSegment s = in.len_ > 0 ? data(kPeerIss + in.seq_, kIss + in.ack_, std::string(in.len_, 'p'))
                               : seg(in.flags_, kPeerIss + in.seq_, kIss + in.ack_);
    s.flags = in.flags_;
    s.window = in.win_;
    if (!(in.flags_ & kAck)) s.ack = SeqNum(0);
    if (in.ts_) s.options.timestamps = TcpTimestamps{*in.ts_, last_tsval_};
    s.options.mss = in.mss_;
    s.options.window_scale = in.wscale_;
    s.options.sack_permitted = in.sack_ok_;
    if (in.ce_) s.ip_ecn = ip_ecn::kCe;
    for (const auto& [left, right] : in.sack_)
      s.options.sack[s.options.sack_count++] = SackBlock{SeqNum(kIss + left), SeqNum(kIss + right)};
    return s;
  }

  void collect_output(Duration at) {
    for (std::size_t i = 0; i < out.segment_count(); ++i) {
      const OutSegment& o = out.segment(i);
      if (o.seg.options.timestamps) last_tsval_ = o.seg.options.timestamps->value;
      queue_.push_back(Sent{o, at});
    }
    for (std::size_t i = 0; i < out.event_count(); ++i)
      if (out.event(i).kind == TcpEventKind::kError) errors_.push_back(out.event(i).value);
    out.clear();
  }

  // Moves the clock to script time `t`, running the timers that fall due.
  void advance_to(Duration t) {
    const Instant target = start_ + t;
    ASSERT_GE(target, now) << "script steps must not go back in time";
    while (tcb->state() != TcpState::kClosed && tcb->next_deadline() <= target) {
      now = std::max(now, tcb->next_deadline());
      out.clear();
      tcb->on_timer(now, out);
      collect_output(now - start_);
    }
    now = target;
  }

  void run_step(const Step& s) {
    switch (s.kind) {
      case Step::Kind::kInject: {
        advance_to(s.at);
        out.clear();
        tcb->on_segment(build(s.in), now, out);
        collect_output(s.at);
        return;
      }
      case Step::Kind::kCall: {
        advance_to(s.at);
        SCOPED_TRACE(s.what);
        out.clear();
        s.call(now, out);
        collect_output(s.at);
        return;
      }
      case Step::Kind::kNothing: {
        advance_to(s.at);
        for (const Sent& q : queue_)
          ADD_FAILURE() << "expected nothing until " << s.at.count() << " ns, got flags "
                        << int{q.seg.seg.flags} << " seq " << rel_seq(q.seg.seg.seq) << " ack "
                        << rel_ack(q.seg.seg.ack) << " win " << q.seg.seg.window << " at "
                        << q.at.count() << " ns";
        queue_.clear();
        return;
      }
      case Step::Kind::kExpect: {
        if (queue_.empty()) advance_to(std::max(s.at + kTolerance, now - start_));
        ASSERT_FALSE(queue_.empty()) << "expected a segment with flags " << int{s.out.flags_}
                                     << " by " << (s.at + kTolerance).count() << " ns";
        check(queue_.front(), s);
        queue_.pop_front();
        return;
      }
    }
  }

  void check(const Sent& got, const Step& s) {
    const TcpSegment& g = got.seg.seg;
    const Out& e = s.out;
    EXPECT_GE(got.at + kTolerance, s.at) << "sent too early";
    EXPECT_LE(got.at, s.at + kTolerance) << "sent too late";
    EXPECT_EQ(int{g.flags}, int{e.flags_}) << "flags";
    if (e.seq_) {
      EXPECT_EQ(rel_seq(g.seq), *e.seq_) << "seq";
    }
    if (e.ack_) {
      EXPECT_EQ(rel_ack(g.ack), *e.ack_) << "ack";
    }
    if (e.len_) {
      EXPECT_EQ(got.seg.payload_len, *e.len_) << "payload length";
    }
    if (e.win_) {
      EXPECT_EQ(g.window, *e.win_) << "window";
    }
    if (e.ip_ecn_) {
      EXPECT_EQ(int{g.ip_ecn}, int{*e.ip_ecn_}) << "IP ECN field";
    }
    if (e.ts_echo_) {
      EXPECT_TRUE(g.options.timestamps.has_value()) << "no timestamps";
      if (g.options.timestamps) {
        EXPECT_EQ(g.options.timestamps->echo, *e.ts_echo_) << "TSecr";
      }
    }
    if (e.sack_) {
      Out::Blocks blocks;
      for (std::uint8_t k = 0; k < g.options.sack_count; ++k)
        blocks.emplace_back(rel_ack(g.options.sack[k].left), rel_ack(g.options.sack[k].right));
      EXPECT_EQ(blocks, *e.sack_) << "SACK blocks";
    }
  }

  Instant start_;
  std::uint32_t last_tsval_ = 0;
  std::deque<Sent> queue_;
};

// Both address families for every script of a fixture derived from TcbScript.
#define TCB_SCRIPT_FAMILIES(Fixture)        \
  INSTANTIATE_TEST_SUITE_P(                 \
      Families, Fixture, ::testing::Bool(), \
      [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "IPv6" : "IPv4"; })

}  // namespace shardtcp::testing
