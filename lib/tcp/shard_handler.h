// The PacketHandler an engine runs for one shard: the IP layer for frames and its own
// timers, then the transports' timers. IpStack has no timer hook for transports (it
// only hands them datagrams), so this composite is where TCP's retransmission,
// delayed-ACK, keepalive and TIME_WAIT timers get their turn once per loop iteration.
#pragma once

#include "engine/packet_handler.h"
#include "ip/ip_stack.h"
#include "tcp/tcp_layer.h"

namespace shardtcp {

class ShardHandler final : public PacketHandler {
 public:
  // `tcp` may be set later (the TcpLayer is usually built after the Engine that runs
  // this handler).
  explicit ShardHandler(IpStack& ip, TcpLayer* tcp = nullptr) : ip_(ip), tcp_(tcp) {}
  void set_tcp(TcpLayer* tcp) { tcp_ = tcp; }

  void on_frames(rte_mbuf** frames, std::uint16_t n, PacketContext& ctx) override {
    if (tcp_ == nullptr) {
      ip_.on_frames(frames, n, ctx);
      return;
    }
    // One ACK and one wake-up per connection per burst (TcpLayer::end_burst).
    tcp_->begin_burst();
    ip_.on_frames(frames, n, ctx);
    tcp_->end_burst(ctx);
  }
  unsigned on_iteration_start(PacketContext& ctx) override {
    return tcp_ != nullptr ? tcp_->flush_held_acks(ctx) : 0;
  }
  void on_timers(PacketContext& ctx) override {
    ip_.on_timers(ctx);
    if (tcp_ != nullptr) tcp_->on_timers(ctx);
  }

 private:
  IpStack& ip_;
  TcpLayer* tcp_;
};

}  // namespace shardtcp
