// Named per-engine counters. Each layer declares an enum of its counters and a
// table of names; an engine owns one CounterGroup per layer and bumps it without
// locks or atomics (only its own thread writes). Readers sum groups over engines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shardtcp {

class CounterGroup {
 public:
  CounterGroup(std::string_view group, std::span<const char* const> names)
      : group_(group), names_(names), values_(names.size(), 0) {}

  template <typename E>
  void inc(E which, std::uint64_t by = 1) {
    values_[static_cast<std::size_t>(which)] += by;
  }
  // For gauges (a level, not a count), which a group may hold too.
  template <typename E>
  void set(E which, std::uint64_t value) {
    values_[static_cast<std::size_t>(which)] = value;
  }
  template <typename E>
  std::uint64_t get(E which) const {
    return values_[static_cast<std::size_t>(which)];
  }

  std::string_view group() const { return group_; }
  std::size_t size() const { return values_.size(); }
  std::string_view name(std::size_t i) const { return names_[i]; }
  std::uint64_t value(std::size_t i) const { return values_[i]; }
  void reset() { std::fill(values_.begin(), values_.end(), 0); }

 private:
  std::string group_;
  std::span<const char* const> names_;
  std::vector<std::uint64_t> values_;  // sized once at construction, never on the packet path
};

}  // namespace shardtcp
