#include "common/counter_registry.h"

#include <rte_telemetry.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <set>

namespace shardtcp {

namespace {

constexpr std::string_view kIndexCommand = "/shardtcp/counters";
constexpr std::string_view kCommandPrefix = "/shardtcp/";
constexpr const char* kGroupHelp =
    "Returns the stack's counters of this group summed over engines. No parameters.";

std::mutex g_export_mu;
CounterRegistry* g_exported = nullptr;  // guarded by g_export_mu
std::set<std::string> g_registered;     // commands registered so far; guarded by g_export_mu

// Telemetry allows only [A-Za-z0-9_/] in keys (and [A-Za-z0-9_/,] in commands).
std::string telemetry_key(std::string_view name) {
  std::string key(name);
  for (char& c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '/';
    if (!ok) c = '_';
  }
  return key;
}

std::string command_of(std::string_view group) {
  return std::string(kCommandPrefix) + telemetry_key(group);
}

// Registers `cmd` once per process. Caller holds g_export_mu.
Status register_command(const std::string& cmd, const char* help) {
  if (g_registered.contains(cmd)) return Status::ok();
  const int rc = rte_telemetry_register_cmd(cmd.c_str(), &CounterRegistry::telemetry_handler, help);
  if (rc != 0 && rc != -EEXIST)
    return Status::error("rte_telemetry_register_cmd(" + cmd + ") failed: " + std::to_string(rc));
  g_registered.insert(cmd);
  return Status::ok();
}

}  // namespace

CounterRegistry::~CounterRegistry() {
  std::lock_guard lock(g_export_mu);
  if (g_exported == this) g_exported = nullptr;
}

void CounterRegistry::add(const CounterGroup& group) {
  {
    std::lock_guard lock(mu_);
    if (std::find(groups_.begin(), groups_.end(), &group) != groups_.end()) return;
    groups_.push_back(&group);
  }
  // A group added after export gets its command too (lock order: g_export_mu, then mu_).
  std::lock_guard lock(g_export_mu);
  if (g_exported == this) (void)register_command(command_of(group.group()), kGroupHelp);
}

void CounterRegistry::remove(const CounterGroup& group) {
  std::lock_guard lock(mu_);
  std::erase(groups_, &group);
}

std::map<std::string, std::uint64_t> CounterRegistry::snapshot() const {
  std::map<std::string, std::uint64_t> out;
  std::lock_guard lock(mu_);
  for (const CounterGroup* g : groups_) {
    for (std::size_t i = 0; i < g->size(); ++i) {
      std::string key(g->group());
      key.push_back('.');
      key.append(g->name(i));
      out[key] += g->value(i);
    }
  }
  return out;
}

std::string CounterRegistry::dump() const {
  std::string text;
  for (const auto& [name, value] : snapshot()) {
    text.append(name);
    text.push_back(' ');
    text.append(std::to_string(value));
    text.push_back('\n');
  }
  return text;
}

std::vector<std::string> CounterRegistry::group_names() const {
  std::vector<std::string> names;
  std::lock_guard lock(mu_);
  for (const CounterGroup* g : groups_)
    if (std::find(names.begin(), names.end(), g->group()) == names.end())
      names.emplace_back(g->group());
  std::sort(names.begin(), names.end());
  return names;
}

int CounterRegistry::fill_telemetry(rte_tel_data* d, std::string_view group) const {
  int rc = rte_tel_data_start_dict(d);
  if (rc != 0) return rc;
  if (group.empty()) {
    for (const std::string& name : group_names()) {
      rc = rte_tel_data_add_dict_string(d, telemetry_key(name).c_str(), command_of(name).c_str());
      if (rc != 0) return rc;
    }
    return 0;
  }
  std::map<std::string, std::uint64_t> sums;
  {
    std::lock_guard lock(mu_);
    for (const CounterGroup* g : groups_) {
      if (g->group() != group) continue;
      for (std::size_t i = 0; i < g->size(); ++i) sums[telemetry_key(g->name(i))] += g->value(i);
    }
  }
  if (sums.empty()) return -ENOENT;
  for (const auto& [key, value] : sums) {
    rc = rte_tel_data_add_dict_u64(d, key.c_str(), value);
    if (rc != 0) return rc;  // a group over the dict limit: counters.h groups stay below it
  }
  return 0;
}

int CounterRegistry::telemetry_handler(const char* cmd, const char* params, rte_tel_data* d) {
  std::lock_guard lock(g_export_mu);
  if (g_exported == nullptr) return rte_tel_data_start_dict(d);
  std::string_view group;
  if (params != nullptr && *params != '\0') {
    group = params;
  } else if (std::string_view c(cmd != nullptr ? cmd : ""); c != kIndexCommand) {
    group = c.substr(std::min(c.size(), kCommandPrefix.size()));
  }
  return g_exported->fill_telemetry(d, group);
}

Status CounterRegistry::export_telemetry() {
  std::lock_guard lock(g_export_mu);
  if (Status s = register_command(std::string(kIndexCommand),
                                  "Lists the stack's counter groups and the command that reports "
                                  "each. Parameter: a group name, to report that group instead.");
      !s) {
    return s;
  }
  for (const std::string& name : group_names()) {
    if (Status s = register_command(command_of(name), kGroupHelp); !s) {
      return s;
    }
  }
  g_exported = this;
  return Status::ok();
}

}  // namespace shardtcp
