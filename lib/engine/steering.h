// Software steering: when the device cannot deliver a flow's packets to the queue of
// the engine that owns the flow (TAP, net_ring, virtio without RSS, unhelpful
// hashing), the engine that received a frame computes the owner (FlowOwnership) and
// hands the frame to it over a bounded lock-free single-producer/single-consumer ring,
// one per ordered pair of engines. The owner drains its incoming rings at the start
// of every loop iteration (an Engine poll hook) and injects the frames into its own
// handler. A full ring drops the frame and counts it: steering never blocks.
//
// Every received frame is checked, also on devices with hardware RSS programmed with
// our key: the check costs one Toeplitz hash, and it makes correctness independent of
// what the device really does (a PMD that accepts a RETA but hashes differently only
// shows up as steered_out counts instead of connections on the wrong core).
//
// What goes where (steer_target):
//   TCP over IPv4/IPv6          the owner of its tuple (received direction)
//   ICMP/ICMPv6 errors          the owner of the quoted TCP tuple, reversed (the quoted
//                               packet is one we sent)
//   UDP, IP fragments,          the "home" engine (SteeringConfig::home_engine, 0):
//   ICMP echo replies           UDP sockets, reassembly and ping live there, so a
//                               datagram finds its socket whatever queue it came in on
//                               (udp_by_tuple: UDP by its tuple instead)
//   ARP replies, gratuitous     every engine: each engine keeps its own neighbour
//   ARP, IPv6 neighbour adverts cache (no sharing, no locks); the receiving engine
//                               takes the frame, the others get copies. ARP requests
//                               stay where they arrived: one engine answers, and each
//                               engine that needs a neighbour asks itself and then
//                               hears the (broadcast) reply.
//   anything else               the engine that received it (echo requests: any
//                               engine can answer; malformed frames: dropped and
//                               counted by the IP layer as before)
#pragma once

#include <rte_mbuf.h>

#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/counters.h"
#include "engine/engine.h"
#include "engine/flow_ownership.h"
#include "engine/packet_handler.h"

namespace shardtcp {

struct SteeringConfig {
  unsigned ring_size = 1024;      // frames per ordered engine pair
  std::uint16_t home_engine = 0;  // UDP, fragments, ping replies
  bool udp_by_tuple = false;      // UDP by its tuple (sockets on every engine) instead
  // The device's RSS was programmed with our key and RETA: a flow frame at the wrong
  // engine then means the device hashes differently (logged once per engine).
  bool device_rss = false;
};

// Where a received frame should be processed.
struct SteerTarget {
  enum Kind : std::uint8_t { kLocal, kEngine, kAllEngines } kind = kLocal;
  std::uint16_t engine = 0;  // kEngine
  // kEngine chosen by the frame's flow tuple (TCP; UDP with udp_by_tuple; ICMP errors
  // quoting them): the queue a device with our RSS would deliver it to. Frames sent
  // home (UDP, fragments, extension headers, ping replies) are not flow frames: no
  // device's RSS puts them on the home queue.
  bool by_flow = false;
};
// Reads only the frame's first segment; never fails (unparseable: kLocal, the IP layer
// drops and counts it).
SteerTarget steer_target(const rte_mbuf* m, const FlowOwnership& ownership,
                         const SteeringConfig& config);

enum class SteeringCounter : std::uint8_t {
  kSteeredOut,       // frames this engine handed to another engine
  kSteeredIn,        // frames other engines handed to this one
  kSteerDrops,       // frames dropped because the owner's ring was full
  kBroadcastCopies,  // copies of ARP replies / neighbour adverts sent to other engines
  kCopyFailures,     // copies the pool could not provide
  // Of kSteeredOut: flow frames (SteerTarget::by_flow) that arrived at the wrong engine.
  // With the device's RSS programmed (our key and RETA) this stays 0; when it grows the
  // device hashes differently from us, and software steering is what delivers them.
  kFlowSteeredOut,
  kCount
};

// The rings between all engines of one stack. Shared, built before the engines run.
class SteeringFabric {
 public:
  SteeringFabric(const FlowOwnership& ownership, const SteeringConfig& config);
  ~SteeringFabric();  // frees frames still in the rings
  SteeringFabric(const SteeringFabric&) = delete;
  SteeringFabric& operator=(const SteeringFabric&) = delete;

  using Ring = boost::lockfree::spsc_queue<rte_mbuf*>;
  Ring& ring(std::uint16_t from, std::uint16_t to) { return *rings_[from * engines_ + to]; }
  std::uint16_t engines() const { return engines_; }
  const FlowOwnership& ownership() const { return ownership_; }
  const SteeringConfig& config() const { return config_; }

 private:
  const FlowOwnership& ownership_;
  SteeringConfig config_;
  std::uint16_t engines_;
  std::vector<std::unique_ptr<Ring>> rings_;  // [from * engines + to]; from == to unused
};

// One engine's side: wraps the shard's handler, steers what is not ours, and drains
// what others steered to us (attach() registers the poll hook).
class SteeringHandler final : public PacketHandler {
 public:
  SteeringHandler(SteeringFabric& fabric, std::uint16_t engine_id, PacketHandler& inner);
  ~SteeringHandler() override;
  SteeringHandler(const SteeringHandler&) = delete;
  SteeringHandler& operator=(const SteeringHandler&) = delete;

  // Registers the drain hook on the engine this handler runs in.
  bool attach(Engine& engine);

  void on_frames(rte_mbuf** frames, std::uint16_t n, PacketContext& ctx) override;
  void on_timers(PacketContext& ctx) override { inner_.on_timers(ctx); }
  unsigned on_iteration_start(PacketContext& ctx) override {
    return inner_.on_iteration_start(ctx);
  }

  // Injects what other engines steered here; returns the frames handled.
  unsigned drain();

  const CounterGroup& counters() const { return counters_; }
  std::uint64_t counter(SteeringCounter c) const { return counters_.get(c); }

 private:
  void hand_over(std::uint16_t to, rte_mbuf** frames, std::uint16_t n);
  void broadcast_copies(const rte_mbuf* m, rte_mempool* pool);
  void count_flow_misdelivery(std::uint16_t owner);

  SteeringFabric& fabric_;
  std::uint16_t self_;
  PacketHandler& inner_;
  Engine* engine_ = nullptr;
  bool draining_ = false;  // frames being injected were steered already
  bool rss_mismatch_logged_ = false;
  CounterGroup counters_;
};

}  // namespace shardtcp
