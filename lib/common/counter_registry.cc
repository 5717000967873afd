#include "common/counter_registry.h"

#include <rte_telemetry.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "common/log.h"

namespace shardtcp {

namespace {

std::mutex g_export_mu;
CounterRegistry* g_exported = nullptr;  // guarded by g_export_mu
bool g_command_registered = false;      // guarded by g_export_mu

std::string telemetry_key(std::string_view group, std::string_view name) {
  std::string key;
  key.reserve(group.size() + name.size() + 1);
  key.append(group);
  key.push_back('/');
  key.append(name);
  for (char& c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '/';
    if (!ok) c = '_';
  }
  return key;
}

}  // namespace

CounterRegistry::~CounterRegistry() {
  std::lock_guard lock(g_export_mu);
  if (g_exported == this) g_exported = nullptr;
}

void CounterRegistry::add(const CounterGroup& group) {
  std::lock_guard lock(mu_);
  if (std::find(groups_.begin(), groups_.end(), &group) == groups_.end()) {
    groups_.push_back(&group);
  }
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

int CounterRegistry::fill_telemetry(rte_tel_data* d) const {
  int rc = rte_tel_data_start_dict(d);
  if (rc != 0) return rc;
  std::map<std::string, std::uint64_t> sums;
  {
    std::lock_guard lock(mu_);
    for (const CounterGroup* g : groups_) {
      for (std::size_t i = 0; i < g->size(); ++i)
        sums[telemetry_key(g->group(), g->name(i))] += g->value(i);
    }
  }
  for (const auto& [key, value] : sums) {
    rc = rte_tel_data_add_dict_u64(d, key.c_str(), value);
    if (rc != 0) {
      // A telemetry dict holds at most RTE_TEL_MAX_DICT_ENTRIES; report what fits.
      SHARDTCP_LOG(kStack, WARNING, "telemetry: counter %s not reported (%d)\n", key.c_str(), rc);
      break;
    }
  }
  return 0;
}

int CounterRegistry::telemetry_handler(const char* /*cmd*/, const char* /*params*/,
                                       rte_tel_data* d) {
  std::lock_guard lock(g_export_mu);
  if (g_exported == nullptr) return rte_tel_data_start_dict(d);
  return g_exported->fill_telemetry(d);
}

Status CounterRegistry::export_telemetry() {
  std::lock_guard lock(g_export_mu);
  if (!g_command_registered) {
    const int rc = rte_telemetry_register_cmd(
        "/shardtcp/counters", &CounterRegistry::telemetry_handler,
        "Returns the stack's counters summed over engines. No parameters.");
    if (rc != 0 && rc != -EEXIST) {
      return Status::error("rte_telemetry_register_cmd(/shardtcp/counters) failed: " +
                           std::to_string(rc));
    }
    g_command_registered = true;
  }
  g_exported = this;
  return Status::ok();
}

}  // namespace shardtcp
