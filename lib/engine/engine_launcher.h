// Runs engines on EAL worker lcores with rte_eal_remote_launch: engine i on the i-th
// worker lcore. The main lcore stays with the caller (it can run one more engine
// itself, or the application).
#pragma once

#include <atomic>
#include <span>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"

namespace shardtcp {

class EngineLauncher {
 public:
  EngineLauncher() = default;
  ~EngineLauncher();  // sets the stop flag and waits, if still running
  EngineLauncher(const EngineLauncher&) = delete;
  EngineLauncher& operator=(const EngineLauncher&) = delete;

  // Starts each engine's run() on its own worker lcore. Fails (launching nothing) if
  // there are fewer free worker lcores than engines.
  Status launch(std::span<Engine* const> engines);
  // Asks every launched engine to stop and waits for their lcores.
  void stop_and_wait();
  // The lcores in use, in engine order.
  const std::vector<unsigned>& lcores() const { return lcores_; }

 private:
  std::atomic<bool> stop_{false};
  std::vector<unsigned> lcores_;
  struct Job {
    Engine* engine;
    std::atomic<bool>* stop;
  };
  std::vector<Job> jobs_;  // stable addresses: sized before launching
};

}  // namespace shardtcp
