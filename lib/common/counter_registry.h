// Sums the CounterGroups of all engines by name and exports them: to C++ callers
// (snapshot), to DPDK telemetry ("/shardtcp/counters", readable with
// dpdk-telemetry.py while the app runs) and as text (dump) for apps to print.
//
// Groups are added at set-up time (not on the packet path). Reads race benignly with
// the engines' plain increments: a reader may see a value one burst old, never a torn
// one on x86-64 (aligned 64-bit stores).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/counters.h"
#include "common/status.h"

struct rte_tel_data;

namespace shardtcp {

class CounterRegistry {
 public:
  CounterRegistry() = default;
  ~CounterRegistry();
  CounterRegistry(const CounterRegistry&) = delete;
  CounterRegistry& operator=(const CounterRegistry&) = delete;

  // The group must outlive its registration (remove it before destroying it).
  void add(const CounterGroup& group);
  void remove(const CounterGroup& group);

  // "group.name" -> sum over every registered group of that group name.
  std::map<std::string, std::uint64_t> snapshot() const;
  // One "group.name value" line per counter, sorted by name; zeros included so a
  // reader sees what exists.
  std::string dump() const;

  // Fills a telemetry dict: key "group/name" (telemetry allows only [A-Za-z0-9_/] in
  // keys), value the sum. Returns 0 or a negative errno.
  int fill_telemetry(rte_tel_data* d) const;

  // Makes this registry the one "/shardtcp/counters" reports. Telemetry commands
  // cannot be unregistered, so the command is registered once per process and reads
  // whichever registry was exported last (none: an empty dict).
  Status export_telemetry();

  // The telemetry callback itself (public so tests can call it directly).
  static int telemetry_handler(const char* cmd, const char* params, rte_tel_data* d);

 private:
  mutable std::mutex mu_;  // guards groups_ against add/remove during a read; not per packet
  std::vector<const CounterGroup*> groups_;
};

}  // namespace shardtcp
