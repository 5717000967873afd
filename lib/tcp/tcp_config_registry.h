// One copy of each distinct TcpConfig per engine, shared by the connections that use
// it: a TCB holds an 8-byte SharedTcpConfig instead of its own 168-byte copy. A
// listener's thousands of children, or every socket of an application that sets the
// same options, share one entry; a socket option that changes a connection's config
// copies it on write and interns the result (so equal edits share again).
//
// Entries are reference counted and come from the heap: one allocation per distinct
// config, made on an open or a setsockopt, never per segment. Single-threaded, as
// the engine that owns the registry.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "tcp/tcp_config.h"

namespace shardtcp {

class TcpConfigRegistry;

// A counted reference to an interned config; never null once constructed.
class SharedTcpConfig {
 public:
  SharedTcpConfig(TcpConfigRegistry& registry, const TcpConfig& cfg);
  ~SharedTcpConfig();
  SharedTcpConfig(const SharedTcpConfig& o);
  SharedTcpConfig& operator=(const SharedTcpConfig& o);

  const TcpConfig& operator*() const { return entry_->cfg; }
  const TcpConfig* operator->() const { return &entry_->cfg; }
  // Copy-on-write: applies `edit` to a copy and refers to the interned result.
  template <typename Edit>
  void modify(Edit&& edit) {
    TcpConfig c = entry_->cfg;
    edit(c);
    if (!(c == entry_->cfg)) rebind(c);
  }
  // Connections sharing this entry (this one included).
  std::uint32_t use_count() const { return entry_->refs; }

 private:
  friend class TcpConfigRegistry;
  struct Entry {
    TcpConfig cfg;
    TcpConfigRegistry* registry;
    Entry* next;  // bucket chain
    std::size_t hash;
    std::uint32_t refs;
  };
  void rebind(const TcpConfig& cfg);

  Entry* entry_;
};

class TcpConfigRegistry {
 public:
  TcpConfigRegistry() = default;
  ~TcpConfigRegistry();
  TcpConfigRegistry(const TcpConfigRegistry&) = delete;
  TcpConfigRegistry& operator=(const TcpConfigRegistry&) = delete;

  // Distinct configs held now (each by at least one SharedTcpConfig).
  std::size_t size() const { return size_; }

 private:
  friend class SharedTcpConfig;
  using Entry = SharedTcpConfig::Entry;
  static constexpr std::size_t kBuckets = 64;

  // The entry equal to `cfg` with one more reference (a new one if none).
  Entry* acquire(const TcpConfig& cfg);
  void release(Entry* e);

  std::array<Entry*, kBuckets> buckets_{};
  Entry* last_ = nullptr;  // most recently acquired: the common case is a repeat
  std::size_t size_ = 0;
};

}  // namespace shardtcp
