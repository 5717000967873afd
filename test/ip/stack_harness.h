// Two IpStacks over an in-memory wire: what one stack's FrameSink receives is handed
// to the other's on_frames, with optional seeded loss, under a virtual clock.
#pragma once

#include <deque>
#include <memory>
#include <random>
#include <vector>

#include "common/time.h"
#include "eal_env.h"
#include "engine/packet_handler.h"
#include "ip/ip_stack.h"

namespace shardtcp::l3test {

struct QueueSink final : FrameSink {
  std::deque<rte_mbuf*> frames;
  void send(rte_mbuf* m) override { frames.push_back(m); }
  void free_all() {
    for (auto* m : frames) rte_pktmbuf_free(m);
    frames.clear();
  }
  ~QueueSink() override { free_all(); }
};

// A transport that records what reaches it.
struct RecordingTransport final : TransportHandler {
  struct Got {
    L3Meta meta;
    std::vector<std::uint8_t> bytes;
  };
  std::vector<Got> l4;
  std::vector<IcmpErrorInfo> errors;
  IpStack* reply_unreachable_from = nullptr;  // answer every datagram with port unreachable
  void on_l4(rte_mbuf* m, const L3Meta& meta, PacketContext& ctx) override {
    l4.push_back({meta, mbuf_bytes(m)});
    if (reply_unreachable_from) reply_unreachable_from->send_dest_unreachable(m, meta, 3, ctx);
    rte_pktmbuf_free(m);
  }
  void on_icmp_error(const IcmpErrorInfo& e, PacketContext&) override { errors.push_back(e); }
};

struct Node {
  explicit Node(const IpStackConfig& cfg) : stack(cfg) {}
  IpStack stack;
  QueueSink out;
  std::vector<PingReply> replies;
  PacketContext ctx(Instant now) { return PacketContext{now, &out, pool(), 0}; }
};

inline IpStackConfig node_config(std::uint8_t last_mac, std::uint32_t ip_host,
                                 std::uint8_t prefix) {
  IpStackConfig c;
  c.port.mac = rte_ether_addr{{0x02, 0, 0, 0, 0, last_mac}};
  c.port.mtu = 1500;
  c.addresses.push_back({IpAddr::v4(ip_host), prefix});
  c.arp.retry_interval = std::chrono::milliseconds(100);
  c.arp.max_requests = 3;
  return c;
}

class Pair {
 public:
  Pair(const IpStackConfig& a, const IpStackConfig& b)
      : a(std::make_unique<Node>(a)), b(std::make_unique<Node>(b)) {
    this->a->stack.set_ping_handler([this](const PingReply& r) { this->a->replies.push_back(r); });
    this->b->stack.set_ping_handler([this](const PingReply& r) { this->b->replies.push_back(r); });
  }

  // Probability that a frame on the wire is lost (either direction).
  void set_loss(double p, std::uint32_t seed) {
    loss_ = p;
    rng_.seed(seed);
  }
  void blackhole_b(bool on) { blackhole_b_ = on; }

  PacketContext ctx_a() { return a->ctx(clock.now()); }
  PacketContext ctx_b() { return b->ctx(clock.now()); }

  // Moves frames both ways until the wire is quiet; each hop takes `hop` of time.
  void pump(Duration hop = std::chrono::microseconds(50)) {
    for (int rounds = 0; rounds < 1000; ++rounds) {
      if (a->out.frames.empty() && b->out.frames.empty()) return;
      clock.advance(hop);
      move(*a, *b, blackhole_b_);
      move(*b, *a, blackhole_b_);
    }
  }
  // Advances time in steps, running both stacks' timers and the wire.
  void run_for(Duration total, Duration step = std::chrono::milliseconds(10)) {
    const Instant end = clock.now() + total;
    while (clock.now() < end) {
      clock.advance(step);
      auto ca = ctx_a();
      a->stack.on_timers(ca);
      auto cb = ctx_b();
      b->stack.on_timers(cb);
      pump();
    }
  }

  VirtualClock clock;
  std::unique_ptr<Node> a, b;
  std::uint64_t frames_lost = 0;

 private:
  void move(Node& from, Node& to, bool blackhole) {
    std::deque<rte_mbuf*> batch;
    batch.swap(from.out.frames);
    const bool to_is_b = &to == b.get();
    for (rte_mbuf* m : batch) {
      const bool lost = (blackhole && (to_is_b || &from == b.get())) ||
                        (loss_ > 0 && std::bernoulli_distribution(loss_)(rng_));
      if (lost) {
        ++frames_lost;
        rte_pktmbuf_free(m);
        continue;
      }
      auto ctx = to.ctx(clock.now());
      to.stack.on_frames(&m, 1, ctx);
    }
  }

  double loss_ = 0;
  bool blackhole_b_ = false;
  std::mt19937 rng_;
};

}  // namespace shardtcp::l3test
