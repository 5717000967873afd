// Wraps any PacketPort and misbehaves on purpose: drop, duplicate, reorder within a
// window, corrupt, mark CE, delay, each with a probability, from a seeded PRNG so a failing
// test replays exactly. The Linux kernel here has no netem; this is our netem.
//
// State is per queue and direction ("lane"), so engines on different queues share
// nothing. Held frames (delayed, reordered, refused by the inner port) are released
// on the next rx_burst/tx_burst of that queue; an engine calls rx_burst every loop
// iteration, so they leave on time.
//
// tx_burst always accepts every frame (returns n): frames the inner port refuses stay
// queued inside and are retried, so the wrapper never hands frames back out of order.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "common/counters.h"
#include "common/prng.h"
#include "common/time.h"
#include "port/impairment.h"
#include "port/packet_port.h"

namespace shardtcp {

enum class FaultCounter : std::uint8_t {
  kFrames,  // frames that entered the injector
  kDropped,
  kDuplicated,
  kCorrupted,
  kCeMarked,  // ECT frames marked CE
  kReordered,
  kDelayed,
  kOverflow,     // freed because an internal queue was full
  kAllocFailed,  // duplicate/copy-on-corrupt could not get an mbuf
  kCount
};

class FaultInjectingPort final : public PacketPort {
 public:
  static constexpr std::uint32_t kMaxReorderWindow = 64;

  // `inner` and `clock` must outlive the wrapper. The reorder window is clamped to
  // kMaxReorderWindow.
  FaultInjectingPort(PacketPort& inner, Clock& clock, const ImpairmentConfig& config);
  ~FaultInjectingPort() override;  // frees every frame still held
  FaultInjectingPort(const FaultInjectingPort&) = delete;
  FaultInjectingPort& operator=(const FaultInjectingPort&) = delete;

  std::uint16_t rx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) override;
  std::uint16_t tx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) override;
  const PortInfo& info() const override { return inner_.info(); }

  // Releases due frames of `queue` (both directions) without receiving; for callers
  // that stop calling rx_burst/tx_burst but want held frames delivered.
  void service(std::uint16_t queue);
  // Frames currently held inside (delayed, reordered, or waiting for the inner port).
  std::size_t held() const;

  const ImpairmentConfig& config() const { return config_; }
  // Changes the drop probability from now on (a loss storm that starts and ends while
  // traffic runs). Frames already held keep their fate.
  void set_drop(double probability);
  // Sum over all queues and directions.
  std::uint64_t total(FaultCounter which) const;
  // One group per queue and direction, named "fault", for a CounterRegistry.
  std::vector<const CounterGroup*> counter_groups() const;

 private:
  struct Lane;

  Lane& lane(std::uint16_t queue, bool tx) { return *lanes_[2 * queue + (tx ? 1 : 0)]; }
  void process(Lane& l, rte_mbuf* m, Instant now);
  void pass_on(Lane& l, rte_mbuf* m, Instant now);
  void reorder_or_ready(Lane& l, rte_mbuf* m, Instant now);
  void to_ready(Lane& l, rte_mbuf* m);
  void push_ready(Lane& l, rte_mbuf* m);
  void release_due(Lane& l, Instant now);
  void flush_tx(std::uint16_t queue, Lane& l);
  rte_mbuf* private_copy(Lane& l, rte_mbuf* m);
  // Replaces `m` by a private copy when someone else still references its bytes; false
  // if it stays shared (no mbuf for the copy): then it must not be written.
  bool make_private(Lane& l, rte_mbuf*& m);

  PacketPort& inner_;
  Clock& clock_;
  ImpairmentConfig config_;
  bool active_;
  std::vector<std::unique_ptr<Lane>> lanes_;
};

}  // namespace shardtcp
