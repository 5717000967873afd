// The whole stack of one process: EAL, one port (possibly wrapped by the fault
// injector and the pcapng capture), an mbuf pool, and one shard per engine (its IP
// layer, transports and Engine), configured from the options every app shares.
//
//   int main(int argc, char** argv) {
//     std::vector<std::string> rest;                 // the app's own options
//     auto stack = shardtcp::Stack::create(argc, argv, &rest);
//     if (!stack) { fprintf(stderr, "%s\n", stack.error().c_str()); return 1; }
//     (*stack)->ip().ping(...);                     // engine-thread calls
//     while (!stop) (*stack)->poll_once();           // or start() on worker lcores
//   }
//
// Command line: `app [EAL options] -- [stack options] [app options]`; the stack
// options are those of stack_options.h (--ip, --gw, --route, --mtu, --pcap, --impair).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/counter_registry.h"
#include "common/status.h"
#include "common/time.h"
#include "engine/engine.h"
#include "engine/engine_launcher.h"
#include "engine/flow_ownership.h"
#include "engine/steering.h"
#include "ip/ip_stack.h"
#include "port/packet_port.h"
#include "port/port_offload_gauges.h"
#include "shardtcp/stack_options.h"
#include "tcp/shard_handler.h"
#include "tcp/tcp_layer.h"
#include "udp/udp_layer.h"

namespace shardtcp {

class EthdevPort;
class FaultInjectingPort;
class PcapngCapturePort;

struct StackConfig {
  StackOptions options;
  // The ethdev to use by EAL name ("net_tap0"); empty: the first available port.
  std::string device;
  // Engines, each on its own worker lcore (start()) with its own queue pair; the
  // options' --engines overrides. More engines than the device has queue pairs is
  // refused by create() with a message naming both numbers.
  std::uint16_t engines = 1;
  // Software steering between engines (used whenever engines > 1).
  SteeringConfig steering;
  // Wraps the port (outermost, after fault injection and capture): tests put a
  // DeliveryPolicyPort here to play a NIC's queue choice. Null: no wrapper.
  std::function<std::unique_ptr<PacketPort>(PacketPort& inner)> wrap_port;
  unsigned n_mbufs = 16383;
  // An mbuf pool to use instead of making one (n_mbufs is then unused); it must
  // outlive the stack. In-process pairs over net_ring share one: the rings carry the
  // sender's mbufs, so each stack ends up holding the other's.
  rte_mempool* pool = nullptr;
  // Send storage for large writes (MbufBufferOps): this many mbufs of
  // kSendChunkDataRoom, one pool the engines share, made when the stack makes its own
  // mbuf pool (`pool` null) and zero-copy transmit is on; 0: none. 1023 of them take
  // 16 MiB of hugepage memory and hold about 15 MiB of unacknowledged data at once;
  // writes beyond that use the main pool's 2 KiB chunks.
  unsigned send_chunk_mbufs = 1023;
  // 15 KiB of data a chunk: below the 16 383 bytes some NICs (i40e) take per TX
  // descriptor, as a chunk becomes one buffer of a TSO frame.
  static constexpr std::uint16_t kSendChunkDataRoom = 15 * 1024 + RTE_PKTMBUF_HEADROOM;
  // Clock for the engines; null: the TSC. Tests pass a VirtualClock; an embedding
  // application may pass its own.
  Clock* clock = nullptr;
  bool promiscuous = false;
  // The port's MAC; unset: the device's own (net_ring ports start all-zero, so
  // in-process tests that pair two stacks give each one).
  std::optional<rte_ether_addr> mac;
  // Per-engine transports. tx_cksum_offload / zero_copy_tx are filled from the port.
  TcpLayerConfig tcp;
  UdpConfig udp;
};

class Stack {
 public:
  // Brings up the EAL from argv (all of it up to "--"), parses the stack options that
  // follow, and builds the stack. Options not for the stack are returned in `rest`.
  static Result<std::unique_ptr<Stack>> create(int argc, char** argv,
                                               std::vector<std::string>* rest);
  // The EAL must already be up (eal_init / eal_init_for_tests).
  static Result<std::unique_ptr<Stack>> create(const StackConfig& config);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  std::uint16_t engine_count() const { return static_cast<std::uint16_t>(shards_.size()); }
  Engine& engine(std::uint16_t i = 0) { return *shards_[i].engine; }
  IpStack& ip(std::uint16_t i = 0) { return *shards_[i].ip; }
  // One engine's transports; call them from that engine's thread only. A listener
  // opened on engine_tcp(i) hears only the SYNs engine i owns (about 1/N of them with
  // N engines): to serve a port, listen on the stack (listen_all below), which
  // listens on every engine. UDP sockets live on the steering's home engine (0).
  TcpLayer& engine_tcp(std::uint16_t engine) { return *shards_[engine].tcp; }
  UdpLayer& engine_udp(std::uint16_t engine) { return *shards_[engine].udp; }
  // A context for calls made from engine i's own thread outside its poll loop.
  PacketContext context(std::uint16_t i = 0);
  const PortInfo& port_info() const { return port_->info(); }
  rte_mempool* pool() const { return pool_; }
  Clock& clock() { return *clock_; }
  const StackConfig& config() const { return config_; }

  // Runs one iteration of every engine from the calling thread.
  void poll_once();
  // Runs every engine on its own worker lcore until stop().
  Status start();
  void stop();

  // ---- sharding
  // Who owns a flow: owner(TcpTuple{local, remote}) is the engine whose queue (by RSS
  // or steering) receives the connection's packets; only that engine may hold it.
  const FlowOwnership& flow_ownership() const { return *ownership_; }
  std::uint16_t owner(const TcpTuple& t) const { return ownership_->owner(t); }
  // Engine i's steering counters (null with one engine).
  const SteeringHandler* steering(std::uint16_t i) const { return shards_[i].steer.get(); }
  // A listener on every engine (each engine accepts the connections whose SYN it
  // owns): how a server listens. `local.addr` IpAddr{} listens on every address of
  // both families. Engine threads must not be running (before start(), or in poll_once
  // mode); ids are per engine, index = engine. On failure nothing stays listening
  // and *error (optional) holds the negative errno (EADDRINUSE, ENOBUFS ...).
  Result<std::vector<TcpConnId>> listen_all(const Endpoint& local, std::uint32_t backlog,
                                            const TcpCallback& cb = {}, int* error = nullptr);
  // The same with one callback per engine (size engine_count()), so a callback knows
  // which engine's TcpLayer it is called from.
  Result<std::vector<TcpConnId>> listen_all(const Endpoint& local, std::uint32_t backlog,
                                            const std::vector<TcpCallback>& per_engine,
                                            int* error = nullptr);
  // Closes listen_all's listeners (same threading rule).
  void close_all(const std::vector<TcpConnId>& listeners);

  // Counters of every layer, summed over engines.
  CounterRegistry& counters() { return registry_; }
  // Fault injector / capture, when the options asked for them (else null).
  FaultInjectingPort* fault_injector() { return faults_.get(); }
  PcapngCapturePort* capture() { return capture_.get(); }

 private:
  struct Shard {
    // Declaration order is construction order; destruction runs backwards, so the
    // transports return their mbufs before the engine and the IP layer go.
    std::unique_ptr<IpStack> ip;
    std::unique_ptr<ShardHandler> handler;  // IP input + IP and TCP timers
    std::unique_ptr<Engine> engine;
    // Wraps handler when engines > 1; built before the engine but declared after it,
    // so it goes first and takes its poll hook off the still-living engine.
    std::unique_ptr<SteeringHandler> steer;
    std::unique_ptr<TcpLayer> tcp;
    std::unique_ptr<UdpLayer> udp;
  };
  explicit Stack(const StackConfig& config);
  Status build();

  StackConfig config_;
  rte_mempool* pool_ = nullptr;
  bool own_pool_ = false;
  rte_mempool* send_pool_ = nullptr;  // StackConfig::send_chunk_mbufs; ours when set
  std::unique_ptr<Clock> own_clock_;
  Clock* clock_ = nullptr;
  std::unique_ptr<EthdevPort> ethdev_;
  std::unique_ptr<FaultInjectingPort> faults_;
  std::unique_ptr<PcapngCapturePort> capture_;
  std::unique_ptr<PacketPort> wrapper_;  // config_.wrap_port's
  std::unique_ptr<FlowOwnership> ownership_;
  std::unique_ptr<SteeringFabric> fabric_;  // before shards_: destroyed after them
  PacketPort* port_ = nullptr;              // the outermost wrapper
  std::vector<Shard> shards_;
  CounterRegistry registry_;
  // The port's negotiated offloads (1 on, 0 off): "port_offloads".
  CounterGroup port_offloads_{"port_offloads", kPortOffloadGaugeNames};
  EngineLauncher launcher_;
  bool launched_ = false;
};

}  // namespace shardtcp
