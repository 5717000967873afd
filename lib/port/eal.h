// EAL bring-up: once per process, from an argv or from a test-friendly description.
// rte_eal_init can run only once per process; these helpers remember the outcome so
// every test fixture and the Stack can call them without coordinating.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardtcp {

// What a test (or a small app) needs from the EAL, turned into arguments by
// make_test_eal_args.
struct TestEalOptions {
  std::string file_prefix = "shardtcp";  // must be unique per concurrently running process
  std::vector<std::string> vdevs;        // e.g. "net_tap0,iface=eng0"; each becomes --vdev=...
  std::string lcores = "0";              // -l argument ("0-1": one worker lcore), or an "L@CPU,..."
                                         // mapping for --lcores (more lcores than CPUs)
  std::vector<std::string> extra;        // appended verbatim (e.g. "--log-level=shardtcp.*:debug")
};

// Arguments for rte_eal_init, argv[0] included: --no-pci, -l, --file-prefix, the
// vdevs, and either "--in-memory" (hugepages) or "--no-huge --no-shconf -m 512".
std::vector<std::string> make_test_eal_args(const TestEalOptions& options, bool hugepages);

// True when 2 MiB hugepages are mounted and some are free: worth trying --in-memory.
bool hugepages_available();

// rte_eal_init with these arguments (argv[0] first). Returns ok if the EAL is up
// (also when an earlier call in this process brought it up).
Status eal_init(std::span<const std::string> args);

// For apps: rte_eal_init on the process's own argv. On success returns how many
// arguments EAL consumed (so the app options start at argv[returned + 1]... see
// rte_eal_init); on failure an error.
Result<int> eal_init_argv(int argc, char** argv);

// For tests: tries hugepages (--in-memory) first when available, then retries with
// --no-huge --no-shconf. Idempotent per process.
Status eal_init_for_tests(const TestEalOptions& options);

bool eal_initialized();
// True if the EAL was brought up without hugepages (slower; fine for tests).
bool eal_without_hugepages();

// A packet mbuf pool with a per-lcore cache so each engine's alloc/free stays off the
// shared ring. `data_room` includes RTE_PKTMBUF_HEADROOM.
struct MbufPoolOptions {
  unsigned n_mbufs = 8191;  // 2^k - 1 is the most memory-efficient size for a mempool
  unsigned cache_size = 256;
  std::uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
  int socket_id = SOCKET_ID_ANY;
};
Result<rte_mempool*> create_mbuf_pool(const std::string& name, const MbufPoolOptions& options = {});

}  // namespace shardtcp
