#include "port/eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/log.h"

namespace shardtcp {

namespace {

std::mutex g_mu;
bool g_initialized = false;  // guarded by g_mu
bool g_no_huge = false;      // guarded by g_mu

std::string join(std::span<const std::string> args) {
  std::string s;
  for (const auto& a : args) {
    if (!s.empty()) s.push_back(' ');
    s.append(a);
  }
  return s;
}

// Calls rte_eal_init on a private, writable copy (EAL permutes and rewrites argv).
int call_eal_init(std::span<const std::string> args) {
  std::vector<std::string> storage(args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(storage.size() + 1);
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  return rte_eal_init(static_cast<int>(storage.size()), argv.data());
}

bool has_arg(std::span<const std::string> args, std::string_view a) {
  return std::find(args.begin(), args.end(), a) != args.end();
}

}  // namespace

std::vector<std::string> make_test_eal_args(const TestEalOptions& options, bool hugepages) {
  // A mapping such as "0@0,1@1,2@(0-1)" (more lcores than CPUs) needs --lcores.
  const bool mapped = options.lcores.find('@') != std::string::npos;
  std::vector<std::string> args = {"shardtcp", "--no-pci", mapped ? "--lcores" : "-l",
                                   options.lcores, "--file-prefix=" + options.file_prefix};
  if (hugepages) {
    args.push_back("--in-memory");
  } else {
    // --in-memory needs hugepages; without them shared config files must be off too.
    args.insert(args.end(), {"--no-huge", "--no-shconf", "-m", "512"});
  }
  for (const auto& v : options.vdevs) args.push_back("--vdev=" + v);
  args.insert(args.end(), options.extra.begin(), options.extra.end());
  return args;
}

bool hugepages_available() {
  std::ifstream mounts("/proc/mounts");
  std::string line;
  bool mounted = false;
  while (std::getline(mounts, line)) {
    if (line.find(" hugetlbfs ") != std::string::npos) mounted = true;
  }
  if (!mounted) return false;
  std::ifstream free_pages("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
  long n = 0;
  return static_cast<bool>(free_pages >> n) && n > 0;
}

Status eal_init(std::span<const std::string> args) {
  std::lock_guard lock(g_mu);
  if (g_initialized) return Status::ok();
  const int rc = call_eal_init(args);
  if (rc < 0) {
    const int err = rte_errno;
    return Status::error(
        "rte_eal_init(" + join(args) + ") failed: " + rte_strerror(err) +
        (err == EALREADY ? " (EAL cannot be initialised twice in a process)" : ""));
  }
  g_initialized = true;
  g_no_huge = has_arg(args, "--no-huge");
  SHARDTCP_LOG(kPort, INFO, "EAL up: %s\n", join(args).c_str());
  return Status::ok();
}

Result<int> eal_init_argv(int argc, char** argv) {
  std::lock_guard lock(g_mu);
  if (g_initialized) return Result<int>::failure("EAL already initialised in this process");
  std::vector<std::string> copy(argv, argv + argc);
  const int rc = rte_eal_init(argc, argv);
  if (rc < 0) {
    return Result<int>::failure("rte_eal_init(" + join(copy) +
                                ") failed: " + rte_strerror(rte_errno));
  }
  g_initialized = true;
  g_no_huge = has_arg(copy, "--no-huge");
  return rc;
}

Status eal_init_for_tests(const TestEalOptions& options) {
  if (eal_initialized()) return Status::ok();
  std::string first_error;
  if (hugepages_available()) {
    Status s = eal_init(make_test_eal_args(options, /*hugepages=*/true));
    if (s) return s;
    first_error = s.message();
    SHARDTCP_LOG(kPort, WARNING, "%s; retrying without hugepages\n", first_error.c_str());
  }
  Status s = eal_init(make_test_eal_args(options, /*hugepages=*/false));
  if (s || first_error.empty()) return s;
  return Status::error(first_error + "; then without hugepages: " + s.message());
}

bool eal_initialized() {
  std::lock_guard lock(g_mu);
  return g_initialized;
}

bool eal_without_hugepages() {
  std::lock_guard lock(g_mu);
  return g_no_huge;
}

Result<rte_mempool*> create_mbuf_pool(const std::string& name, const MbufPoolOptions& options) {
  const unsigned cache = std::min<unsigned>(options.cache_size, RTE_MEMPOOL_CACHE_MAX_SIZE);
  rte_mempool* mp = rte_pktmbuf_pool_create(name.c_str(), options.n_mbufs, cache, 0,
                                            options.data_room, options.socket_id);
  if (mp == nullptr) {
    std::ostringstream msg;
    msg << "rte_pktmbuf_pool_create(" << name << ", n=" << options.n_mbufs << ", cache=" << cache
        << ", data_room=" << options.data_room << ") failed: " << rte_strerror(rte_errno);
    return Result<rte_mempool*>::failure(msg.str());
  }
  return mp;
}

}  // namespace shardtcp
