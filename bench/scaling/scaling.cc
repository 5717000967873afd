// Scaling run: CRR (connect, 64-byte request, echo, close) and RR (64-byte ping-pong
// over persistent connections) between two in-process stacks over a ring cable, with
// 1 and then 2 engines per side, each engine on its own worker lcore. Prints
// connections/s and transactions/s and the 2-engine / 1-engine ratio, once with the
// plain cable (frames arrive on the sender's queue: engines steer in software) and
// once with an emulated RSS NIC (DeliveryPolicyPort: frames arrive on their owner).
//
//   scaling [--seconds S] [--concurrency C] [--repeats N] [--busy-poll]
//
// Engines yield their CPU after an idle iteration unless --busy-poll: with more
// engines than CPUs, busy-polling engines hold a CPU for a whole time slice while the
// engine they wait for cannot run, and the figures then measure the scheduler.
//
// Figures, not a test: nothing here passes or fails on time. On a machine with fewer
// cores than engines (this one has 2, the 2-engine pair runs 4 busy-polling engines)
// the engines share cores, which the output says.
#include <rte_launch.h>
#include <rte_lcore.h>
#include <sched.h>

#include <algorithm>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "echo_workload.h"
#include "port/delivery_policy_port.h"
#include "port/eal.h"
#include "port/ring_pair.h"
#include "shardtcp/stack.h"

using namespace shardtcp;
using namespace std::chrono_literals;

namespace {

const IpAddr kClient = IpAddr::v4(0xC6120301);  // 198.18.3.1
const IpAddr kServer = IpAddr::v4(0xC6120302);  // 198.18.3.2

// One pool for both stacks: net_ring carries the sender's mbufs, so each stack holds
// the other's frames; neither may free its pool before both are gone.
rte_mempool* shared_pool() {
  static rte_mempool* p = [] {
    MbufPoolOptions o;
    o.n_mbufs = 65535;
    auto r = create_mbuf_pool("scaling_pool", o);
    if (!r) {
      std::fprintf(stderr, "pool: %s\n", r.error().c_str());
      std::exit(1);
    }
    return *r;
  }();
  return p;
}

std::unique_ptr<Stack> make_stack(const std::string& dev, const IpAddr& addr, std::uint8_t mac,
                                  std::uint16_t engines, bool rss) {
  StackConfig c;
  c.device = dev;
  c.engines = engines;
  c.mac = rte_ether_addr{{0x02, 0x73, 0x63, 0x6c, 0x00, mac}};
  c.pool = shared_pool();
  c.options.addresses.push_back(InterfaceAddress{addr, 24});
  c.tcp.max_connections = 8192;
  c.tcp.time_wait_capacity = 65536;
  c.tcp.defaults.msl = std::chrono::milliseconds(20);  // ports and records recycle quickly
  if (rss) {
    // The peer's "NIC" hashes with our key and RETA: frames arrive on their owner.
    c.wrap_port = [engines](PacketPort& inner) -> std::unique_ptr<PacketPort> {
      return std::make_unique<DeliveryPolicyPort>(inner, DeliveryPolicy::kEmulatedRss,
                                                  FlowOwnership(engines));
    };
  }
  auto s = Stack::create(c);
  if (!s) {
    std::fprintf(stderr, "stack: %s\n", s.error().c_str());
    return nullptr;
  }
  return std::move(s.value());
}

// Runs engines on worker lcores like Stack::start, optionally yielding after idle
// iterations (see the top of this file).
class Launcher {
 public:
  bool launch(const std::vector<Engine*>& engines, bool yield) {
    jobs_.reserve(engines.size());
    unsigned lcore = 0;
    std::size_t i = 0;
    RTE_LCORE_FOREACH_WORKER(lcore) {
      if (i == engines.size()) break;
      if (rte_eal_get_lcore_state(lcore) != WAIT) continue;
      jobs_.push_back(Job{engines[i++], &stop_, yield});
      if (rte_eal_remote_launch(&Launcher::loop, &jobs_.back(), lcore) != 0) return false;
      lcores_.push_back(lcore);
    }
    return i == engines.size();
  }
  void stop() {
    stop_.store(true);
    for (unsigned l : lcores_) rte_eal_wait_lcore(l);
    lcores_.clear();
  }

 private:
  struct Job {
    Engine* engine;
    std::atomic<bool>* stop;
    bool yield;
  };
  static int loop(void* arg) {
    auto* j = static_cast<Job*>(arg);
    while (!j->stop->load(std::memory_order_relaxed)) {
      if (j->engine->poll_once() == 0 && j->yield) sched_yield();
    }
    return 0;
  }
  std::atomic<bool> stop_{false};
  std::vector<Job> jobs_;
  std::vector<unsigned> lcores_;
};

struct Figures {
  double rate = 0;  // per second
  std::uint64_t failures = 0, mismatches = 0;
  std::uint64_t steered = 0;
  std::uint64_t rtos = 0, tx_dropped = 0, steer_drops = 0;  // why a run may be slow
};

Figures run(workload::Mode mode, std::uint16_t engines, double seconds, std::uint32_t concurrency,
            bool yield, bool rss) {
  static int serial = 0;
  RingCableOptions co;
  co.name = "scale" + std::to_string(serial++);
  co.nb_queues = engines;
  co.ring_size = 4096;
  co.multi_producer = rss;  // the emulated NIC picks the queue: engines share TX rings
  auto cable = RingCable::create(co);
  if (!cable) {
    std::fprintf(stderr, "cable: %s\n", cable.error().c_str());
    std::exit(1);
  }
  Figures f;
  {
    auto client = make_stack((*cable)->a_name(), kClient, 1, engines, rss);
    auto server = make_stack((*cable)->b_name(), kServer, 2, engines, rss);
    if (!client || !server) std::exit(1);
    workload::EchoPair pair;
    const std::string err =
        pair.setup(*server, *client, Endpoint{kServer, 5001}, mode, concurrency, 0, 64, 8192);
    if (!err.empty()) {
      std::fprintf(stderr, "setup: %s\n", err.c_str());
      std::exit(1);
    }
    std::vector<Engine*> all;
    for (Stack* st : {server.get(), client.get()})
      for (std::uint16_t e = 0; e < engines; ++e) all.push_back(&st->engine(e));
    Launcher launcher;
    if (!launcher.launch(all, yield)) {
      std::fprintf(stderr, "not enough worker lcores for %zu engines\n", all.size());
      std::exit(1);
    }
    pair.go();
    using workload::Tally;
    auto field = mode == workload::Mode::kCrr ? &Tally::connections : &Tally::transactions;
    std::this_thread::sleep_for(500ms);  // warm-up: ARP, first connections
    const std::uint64_t n0 = pair.sum(field);
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const std::uint64_t n1 = pair.sum(field);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (auto& c : pair.clients) c->halt.store(true);
    launcher.stop();
    f.rate = static_cast<double>(n1 - n0) / dt;
    f.failures = pair.sum(&Tally::failures) + pair.sum(&Tally::failures, false);
    f.mismatches = pair.sum(&Tally::owner_mismatches) + pair.sum(&Tally::owner_mismatches, false);
    for (Stack* s : {client.get(), server.get()})
      for (std::uint16_t e = 0; e < engines && engines > 1; ++e)
        f.steered += s->steering(e)->counter(SteeringCounter::kSteeredOut);
    for (Stack* s : {client.get(), server.get()}) {
      for (std::uint16_t e = 0; e < engines; ++e) {
        f.rtos += s->engine_tcp(e).counter(TcpCounter::kRtoTimeouts);
        f.tx_dropped += s->engine(e).counter(EngineCounter::kTxDropped);
        if (engines > 1) f.steer_drops += s->steering(e)->counter(SteeringCounter::kSteerDrops);
      }
    }
    pair.teardown();
    (*cable)->discard_in_flight();  // before the stacks go
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  double seconds = 3;
  std::uint32_t concurrency = 32;
  int repeats = 3;
  bool yield = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = std::atof(argv[++i]);
    if (std::strcmp(argv[i], "--concurrency") == 0 && i + 1 < argc)
      concurrency = static_cast<std::uint32_t>(std::atoi(argv[++i]));
    if (std::strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
      repeats = std::max(1, std::atoi(argv[++i]));
    if (std::strcmp(argv[i], "--busy-poll") == 0) yield = false;
  }
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  // Five lcores (main + up to four engines) mapped onto the machine's CPUs.
  bool up = false;
  for (bool huge : {true, false}) {
    if (huge && !hugepages_available()) continue;
    TestEalOptions o;
    o.file_prefix = "scaling_bench";
    std::vector<std::string> args = make_test_eal_args(o, huge);
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "-l") {
        args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
        break;
      }
    }
    args.push_back("--lcores=(0-4)@(0-" + std::to_string(cpus - 1) + ")");
    args.push_back("--log-level=shardtcp.*:warning");
    if (eal_init(args)) {
      up = true;
      break;
    }
  }
  if (!up) {
    std::fprintf(stderr, "EAL did not come up\n");
    return 1;
  }
  std::printf(
      "scaling: two in-process stacks over a ring cable, %u CPU(s), "
      "%s, %.1f s per run, median of %d, %u connections per client engine, engines %s\n",
      cpus, eal_without_hugepages() ? "no hugepages" : "hugepages", seconds, repeats, concurrency,
      yield ? "yield the CPU when idle" : "busy-poll");
  struct Row {
    const char* name;
    workload::Mode mode;
    const char* unit;
    bool rss;
  };
  // "steer": a plain cable delivers on the sender's queue, engines steer what is not
  // theirs; "rss": an emulated RSS NIC delivers every frame to its owner.
  const Row rows[] = {{"CRR/steer", workload::Mode::kCrr, "conn/s", false},
                      {"CRR/rss", workload::Mode::kCrr, "conn/s", true},
                      {"RR/steer", workload::Mode::kRr, "trans/s", false},
                      {"RR/rss", workload::Mode::kRr, "trans/s", true}};
  for (const Row& r : rows) {
    auto median = [&](std::uint16_t engines) {
      std::vector<Figures> runs;
      Figures total;
      for (int k = 0; k < repeats; ++k) {
        runs.push_back(run(r.mode, engines, seconds, concurrency, yield, r.rss));
        total.failures += runs.back().failures;
        total.mismatches += runs.back().mismatches;
      }
      std::printf("  %-9s %u engine(s)/side, each run:", r.name, engines);
      for (const Figures& f : runs)
        std::printf(" %.0f (RTOs %llu, TX drops %llu, steering drops %llu)", f.rate,
                    static_cast<unsigned long long>(f.rtos),
                    static_cast<unsigned long long>(f.tx_dropped),
                    static_cast<unsigned long long>(f.steer_drops));
      std::printf("\n");
      std::sort(runs.begin(), runs.end(),
                [](const Figures& x, const Figures& y) { return x.rate < y.rate; });
      Figures m = runs[runs.size() / 2];
      m.failures = total.failures;
      m.mismatches = total.mismatches;
      return m;
    };
    const Figures one = median(1);
    const Figures two = median(2);
    std::printf(
        "%-9s 1 engine/side: %8.0f %s   2 engines/side: %8.0f %s   ratio 2/1: %.2f   "
        "(failures %llu, owner mismatches %llu, frames steered in a 2-engine run %llu)\n",
        r.name, one.rate, r.unit, two.rate, r.unit, one.rate > 0 ? two.rate / one.rate : 0.0,
        static_cast<unsigned long long>(one.failures + two.failures),
        static_cast<unsigned long long>(one.mismatches + two.mismatches),
        static_cast<unsigned long long>(two.steered));
  }
  if (cpus < 4) {
    std::printf(
        "note: this machine has %u CPU(s): the 1-engine pair runs 2 engines, the 2-engine "
        "pair runs 4, so the 2-engine pair's engines share cores and the ratio shows the "
        "cost of sharding on shared cores, not scaling.\n",
        cpus);
  }
  return 0;
}
