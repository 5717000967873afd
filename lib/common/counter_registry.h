// Sums the CounterGroups of all engines by name and exports them: to C++ callers
// (snapshot), to DPDK telemetry (readable with dpdk-telemetry.py while the app runs)
// and as text (dump) for apps to print.
//
// Telemetry, one command per group, because a DPDK telemetry reply holds at most
// RTE_TEL_MAX_DICT_ENTRIES (256) values and the stack has more counters than that:
//   /shardtcp/counters        the index: {"tcp": "/shardtcp/tcp", "ipv4": ...}
//   /shardtcp/<group>         that group's counters summed over engines {"rx_segments": 12, ...}
//   /shardtcp/counters,<group> the same as a parameter
//
// Groups are added at set-up time (not on the packet path). Reads race benignly with
// the engines' plain increments: a reader may see a value one burst old, never a torn
// one on x86-64 (aligned 64-bit stores).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
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

  // Fills a telemetry dict with one group's counters (key: the counter's name, with
  // characters telemetry does not allow in keys as '_'; value: the sum), or with the
  // index of groups when `group` is empty. Returns 0, -ENOENT for an unknown group,
  // or another negative errno.
  int fill_telemetry(rte_tel_data* d, std::string_view group = {}) const;

  // Makes this registry the one the /shardtcp/ commands report, and registers a command
  // for each of its groups (and for groups added later). Telemetry commands cannot be
  // unregistered, so each is registered once per process and reads whichever registry
  // was exported last (none: an empty dict).
  Status export_telemetry();

  // The telemetry callback itself (public so tests can call it directly).
  static int telemetry_handler(const char* cmd, const char* params, rte_tel_data* d);

 private:
  std::vector<std::string> group_names() const;
  mutable std::mutex mu_;  // guards groups_ against add/remove during a read; not per packet
  std::vector<const CounterGroup*> groups_;
};

}  // namespace shardtcp
