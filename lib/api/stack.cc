#include "shardtcp/stack.h"

#include <rte_ethdev.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "common/tsc_clock.h"
#include "port/eal.h"
#include "port/ethdev_port.h"
#include "port/fault_injecting_port.h"
#include "port/pcapng_capture_port.h"

namespace shardtcp {

namespace {

// Pools and ports are named per stack so several stacks live in one process (tests).
std::string unique_name(const char* what) {
  static std::atomic<unsigned> serial{0};
  return std::string("st_") + what + std::to_string(serial.fetch_add(1));
}

Result<std::uint16_t> pick_port(const std::string& device) {
  if (!device.empty()) return EthdevPort::find(device);
  std::uint16_t id;
  RTE_ETH_FOREACH_DEV(id) {
    return id;
  }
  return Result<std::uint16_t>::failure(
      "no DPDK port available: name one with --vdev (e.g. --vdev=net_tap0,iface=stap0)");
}

}  // namespace

Result<std::unique_ptr<Stack>> Stack::create(int argc, char** argv,
                                             std::vector<std::string>* rest) {
  auto consumed = eal_init_argv(argc, argv);
  if (!consumed) return consumed.status();
  std::vector<std::string> app_args;
  for (int i = *consumed + 1; i < argc; ++i) app_args.emplace_back(argv[i]);
  auto parsed = parse_stack_options(app_args);
  if (!parsed) return parsed.status();
  if (rest != nullptr) *rest = parsed->rest;
  StackConfig config;
  config.options = parsed->options;
  if (parsed->options.engines) config.engines = *parsed->options.engines;
  config.tcp.max_connections = parsed->options.max_connections
                                   ? *parsed->options.max_connections
                                   : default_max_connections(config.engines);
  if (parsed->options.ecn) config.tcp.defaults.ecn = *parsed->options.ecn;
  if (parsed->options.zero_copy_tx) config.tcp.zero_copy_tx = *parsed->options.zero_copy_tx;
  return create(config);
}

Result<std::unique_ptr<Stack>> Stack::create(const StackConfig& config) {
  if (!eal_initialized()) return Result<std::unique_ptr<Stack>>::failure("EAL is not initialised");
  if (config.engines == 0)
    return Result<std::unique_ptr<Stack>>::failure("need at least one engine");
  std::unique_ptr<Stack> s(new Stack(config));
  if (config.options.engines) s->config_.engines = *config.options.engines;
  Status st = s->build();
  if (!st) return st;
  return s;
}

Status Stack::build() {
  const StackOptions& opt = config_.options;
  if (opt.addresses.empty()) return Status::error("no address configured: pass --ip ADDR/PREFIX");

  if (config_.pool != nullptr) {
    pool_ = config_.pool;
  } else {
    MbufPoolOptions po;
    po.n_mbufs = opt.mbufs.value_or(config_.n_mbufs);
    auto pool = create_mbuf_pool(unique_name("pool"), po);
    if (!pool) return pool.status();
    pool_ = *pool;
    own_pool_ = true;
  }

  if (config_.clock != nullptr) {
    clock_ = config_.clock;
  } else {
    own_clock_ = std::make_unique<TscClock>();
    clock_ = own_clock_.get();
  }

  auto port_id = pick_port(config_.device);
  if (!port_id) return port_id.status();
  EthdevConfig ec;
  ec.port_id = *port_id;
  ec.nb_queues = config_.engines;
  ec.rss_key.assign(FlowOwnership::default_key().begin(), FlowOwnership::default_key().end());
  ec.rx_pools = {pool_};
  ec.mtu = opt.mtu.value_or(0);
  ec.promiscuous = config_.promiscuous;
  ec.mac = config_.mac;
  // A capture records frames before the device sees them: with TX checksum offload
  // the recorded checksums would be blanks (and with TSO the frames longer than the
  // wire's), so capturing stacks checksum and segment in software.
  if (!opt.pcap_path.empty()) ec.want_tx_cksum = ec.want_tso = false;
  auto ethdev = EthdevPort::open(ec);
  if (!ethdev) {
    if (config_.engines > 1)
      return Status::error(std::to_string(config_.engines) +
                           " engines need as many queue pairs: " + ethdev.error());
    return ethdev.status();
  }
  ethdev_ = std::move(*ethdev);
  port_ = ethdev_.get();

  if (opt.impair && opt.impair->active()) {
    faults_ = std::make_unique<FaultInjectingPort>(*port_, *clock_, *opt.impair);
    port_ = faults_.get();
    for (const CounterGroup* g : faults_->counter_groups()) registry_.add(*g);
  }
  if (!opt.pcap_path.empty()) {
    auto cap = PcapngCapturePort::open(*port_, opt.pcap_path);
    if (!cap) return cap.status();
    capture_ = std::move(*cap);
    port_ = capture_.get();
  }

  if (config_.wrap_port) {
    wrapper_ = config_.wrap_port(*port_);
    if (wrapper_) port_ = wrapper_.get();
  }

  // The ownership function: the device's RETA when our key and RETA are programmed
  // (the same i % engines mapping, at the device's size), otherwise our own.
  if (ethdev_->info().rss_active) {
    ownership_ = std::make_unique<FlowOwnership>(config_.engines, ethdev_->rss_reta(),
                                                 FlowOwnership::default_key());
  } else {
    ownership_ = std::make_unique<FlowOwnership>(config_.engines);
  }
  if (config_.engines > 1) {
    SteeringConfig steering = config_.steering;
    steering.device_rss = ethdev_->info().rss_active;
    fabric_ = std::make_unique<SteeringFabric>(*ownership_, steering);
    SHARDTCP_LOG(kStack, INFO, "%u engines; RSS %s; software steering verifies every frame\n",
                 config_.engines,
                 ethdev_->info().rss_active ? "programmed (our key and RETA)" : "not available");
  }

  IpStackConfig ipc;
  ipc.port = port_->info();
  // IPv4 and IPv6 addresses alike; an IPv6 one also brings a link-local address.
  for (const auto& a : opt.addresses) ipc.addresses.push_back({a.addr, a.prefix_len});
  if (opt.gateway_v4) ipc.gateway = *opt.gateway_v4;
  if (opt.gateway_v6) ipc.gateway6 = *opt.gateway_v6;
  for (const auto& r : opt.routes) {
    Route route;
    route.prefix = r.network;
    route.prefix_len = r.prefix_len;
    route.gateway = r.gateway;
    ipc.routes.push_back(route);
  }
  ipc.mtu = port_->info().mtu;
  set_port_offload_gauges(port_offloads_, port_->info());
  registry_.add(port_offloads_);

  shards_.resize(config_.engines);
  // One pool of large send chunks the engines share (StackConfig::send_chunk_mbufs);
  // without it (hugepage memory short) large writes use the main pool's chunks.
  if (own_pool_ && config_.tcp.zero_copy_tx && port_->info().tx_zero_copy &&
      config_.send_chunk_mbufs > 0) {
    MbufPoolOptions po;
    po.n_mbufs = config_.send_chunk_mbufs;
    po.cache_size = std::min(64u, config_.send_chunk_mbufs / 8);
    po.data_room = StackConfig::kSendChunkDataRoom;
    if (auto sp = create_mbuf_pool(unique_name("sendpool"), po)) send_pool_ = *sp;
  }
  for (std::uint16_t i = 0; i < config_.engines; ++i) {
    Shard& sh = shards_[i];
    sh.ip = std::make_unique<IpStack>(ipc);
    sh.handler = std::make_unique<ShardHandler>(*sh.ip);
    EngineConfig engc;
    engc.engine_id = i;
    engc.queue = i;
    PacketHandler* handler = sh.handler.get();
    if (fabric_) {
      sh.steer = std::make_unique<SteeringHandler>(*fabric_, i, *sh.handler);
      handler = sh.steer.get();
    }
    sh.engine = std::make_unique<Engine>(*port_, pool_, *handler, *clock_, engc);
    if (sh.steer && !sh.steer->attach(*sh.engine))
      return Status::error("engine " + std::to_string(i) + ": no poll hook slot for steering");
    TcpLayerConfig tc = config_.tcp;
    tc.tx_cksum_offload = port_->info().tx_l4_cksum;
    tc.zero_copy_tx = tc.zero_copy_tx && port_->info().tx_zero_copy;
    if (tc.zero_copy_tx) tc.send_chunk_pool = send_pool_;
    // A 64 KiB frame is a chain of mbufs, and the device sums each segment it cuts.
    tc.tso = port_->info().tx_tso && port_->info().tx_multi_seg && port_->info().tx_l4_cksum;
    if (opt.time_wait_max) tc.time_wait_capacity = *opt.time_wait_max;
    if (opt.local_ports) tc.ports = {opt.local_ports->first, opt.local_ports->last};
    sh.tcp = std::make_unique<TcpLayer>(*sh.ip, *sh.engine, tc);
    UdpConfig uc = config_.udp;
    uc.tx_cksum_offload = port_->info().tx_l4_cksum;
    uc.seed = config_.udp.seed + i;
    if (opt.local_ports) {
      uc.ephemeral_first = opt.local_ports->first;
      uc.ephemeral_last = opt.local_ports->last;
    }
    sh.udp = std::make_unique<UdpLayer>(*sh.ip, *sh.engine, uc);
    sh.ip->set_transport(TcpLayer::kProtocol, sh.tcp.get());
    sh.ip->set_transport(UdpLayer::kProtocol, sh.udp.get());
    sh.handler->set_tcp(sh.tcp.get());
    if (config_.engines > 1) sh.tcp->set_flow_ownership(ownership_.get());
    if (sh.steer) registry_.add(sh.steer->counters());
    registry_.add(sh.engine->counters());
    for (const CounterGroup* g : sh.ip->counters()) registry_.add(*g);
    registry_.add(sh.tcp->tcb_counters());
    registry_.add(sh.tcp->counters());
    registry_.add(sh.tcp->slot_gauges());
    registry_.add(sh.udp->counters());
  }
  // Counters are readable from outside the process through DPDK telemetry
  // (dpdk-telemetry.py: /shardtcp/counters); a failure here costs only that view.
  if (Status t = registry_.export_telemetry(); !t)
    SHARDTCP_LOG(kStack, WARNING, "%s\n", t.message().c_str());
  return Status::ok();
}

Stack::Stack(const StackConfig& config) : config_(config) {}

Stack::~Stack() {
  stop();
  for (Shard& sh : shards_) {
    registry_.remove(sh.engine->counters());
    for (const CounterGroup* g : sh.ip->counters()) registry_.remove(*g);
    registry_.remove(sh.tcp->tcb_counters());
    registry_.remove(sh.tcp->counters());
    registry_.remove(sh.tcp->slot_gauges());
    registry_.remove(sh.udp->counters());
    if (sh.steer) registry_.remove(sh.steer->counters());
  }
  if (faults_)
    for (const CounterGroup* g : faults_->counter_groups()) registry_.remove(*g);
  shards_.clear();  // engines free their buffered frames before the port goes
  fabric_.reset();  // frames still in steering rings go back before the pool
  wrapper_.reset();
  capture_.reset();
  faults_.reset();
  ethdev_.reset();
  if (pool_ != nullptr && own_pool_) rte_mempool_free(pool_);
  if (send_pool_ != nullptr) rte_mempool_free(send_pool_);
}

PacketContext Stack::context(std::uint16_t i) {
  PacketContext ctx;
  ctx.now = clock_->now();
  ctx.tx = shards_[i].engine.get();
  ctx.pool = pool_;
  ctx.engine_id = i;
  return ctx;
}

Result<std::vector<TcpConnId>> Stack::listen_all(const Endpoint& local, std::uint32_t backlog,
                                                 const TcpCallback& cb, int* error) {
  return listen_all(local, backlog, std::vector<TcpCallback>(engine_count(), cb), error);
}

Result<std::vector<TcpConnId>> Stack::listen_all(const Endpoint& local, std::uint32_t backlog,
                                                 const std::vector<TcpCallback>& per_engine,
                                                 int* error) {
  using R = Result<std::vector<TcpConnId>>;
  if (error) *error = -EINVAL;
  if (launched_) return R::failure("listen_all: engines are running (call it before start())");
  if (per_engine.size() != engine_count()) return R::failure("listen_all: one callback per engine");
  std::vector<TcpConnId> ids;
  for (std::uint16_t i = 0; i < engine_count(); ++i) {
    int e = 0;
    const TcpConnId id = engine_tcp(i).listen(local, backlog, per_engine[i], &e);
    if (!id.valid()) {
      for (std::uint16_t k = 0; k < ids.size(); ++k) engine_tcp(k).close(ids[k]);
      if (error) *error = e;
      return R::failure("listen_all: engine " + std::to_string(i) + ": " + std::strerror(-e));
    }
    ids.push_back(id);
  }
  if (error) *error = 0;
  return ids;
}

void Stack::close_all(const std::vector<TcpConnId>& listeners) {
  for (std::uint16_t i = 0; i < listeners.size() && i < engine_count(); ++i)
    engine_tcp(i).close(listeners[i]);
}

void Stack::poll_once() {
  for (Shard& sh : shards_) sh.engine->poll_once();
}

Status Stack::start() {
  if (launched_) return Status::ok();
  std::vector<Engine*> engines;
  for (Shard& sh : shards_) engines.push_back(sh.engine.get());
  Status s = launcher_.launch(engines);
  if (s) launched_ = true;
  return s;
}

void Stack::stop() {
  if (!launched_) return;
  launcher_.stop_and_wait();
  launched_ = false;
}

}  // namespace shardtcp
