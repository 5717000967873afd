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

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/counter_registry.h"
#include "common/status.h"
#include "common/time.h"
#include "engine/engine.h"
#include "engine/engine_launcher.h"
#include "ip/ip_stack.h"
#include "port/packet_port.h"
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
  std::uint16_t engines = 1;
  unsigned n_mbufs = 16383;
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
  // Engine i's transports; call them from that engine's thread only.
  TcpLayer& tcp(std::uint16_t i = 0) { return *shards_[i].tcp; }
  UdpLayer& udp(std::uint16_t i = 0) { return *shards_[i].udp; }
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
    std::unique_ptr<TcpLayer> tcp;
    std::unique_ptr<UdpLayer> udp;
  };
  explicit Stack(const StackConfig& config);
  Status build();

  StackConfig config_;
  rte_mempool* pool_ = nullptr;
  std::unique_ptr<Clock> own_clock_;
  Clock* clock_ = nullptr;
  std::unique_ptr<EthdevPort> ethdev_;
  std::unique_ptr<FaultInjectingPort> faults_;
  std::unique_ptr<PcapngCapturePort> capture_;
  PacketPort* port_ = nullptr;  // the outermost wrapper
  std::vector<Shard> shards_;
  CounterRegistry registry_;
  EngineLauncher launcher_;
  bool launched_ = false;
};

}  // namespace shardtcp
