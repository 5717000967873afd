#include "engine/engine_launcher.h"

#include <rte_launch.h>
#include <rte_lcore.h>

#include "common/log.h"

namespace shardtcp {

EngineLauncher::~EngineLauncher() {
  stop_and_wait();
}

Status EngineLauncher::launch(std::span<Engine* const> engines) {
  if (!lcores_.empty()) return Status::error("engines already launched");
  std::vector<unsigned> free_lcores;
  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (rte_eal_get_lcore_state(lcore) == WAIT) free_lcores.push_back(lcore);
  }
  if (free_lcores.size() < engines.size()) {
    return Status::error("need " + std::to_string(engines.size()) +
                         " free worker lcores for engines, EAL has " +
                         std::to_string(free_lcores.size()) + " (raise -l / --lcores)");
  }
  stop_.store(false);
  jobs_.clear();
  jobs_.reserve(engines.size());
  for (Engine* e : engines) jobs_.push_back(Job{e, &stop_});
  for (std::size_t i = 0; i < engines.size(); ++i) {
    const int rc = rte_eal_remote_launch(
        [](void* arg) {
          auto* job = static_cast<Job*>(arg);
          job->engine->run(*job->stop);
          return 0;
        },
        &jobs_[i], free_lcores[i]);
    if (rc != 0) {
      stop_and_wait();
      return Status::error("rte_eal_remote_launch on lcore " + std::to_string(free_lcores[i]) +
                           " failed: " + std::to_string(rc));
    }
    lcores_.push_back(free_lcores[i]);
    SHARDTCP_LOG(kEngine, INFO, "engine %u running on lcore %u\n", engines[i]->id(),
                 free_lcores[i]);
  }
  return Status::ok();
}

void EngineLauncher::stop_and_wait() {
  stop_.store(true);
  for (unsigned lcore : lcores_) rte_eal_wait_lcore(lcore);
  lcores_.clear();
}

}  // namespace shardtcp
