#include "tcp/port_allocator.h"

#include <algorithm>

namespace shardtcp {

PortAllocator::PortAllocator(const Config& cfg, const SipKey& key) : cfg_(cfg), key_(key) {
  if (cfg_.first == 0) cfg_.first = 1;
  if (cfg_.last < cfg_.first) std::swap(cfg_.first, cfg_.last);
}

PortAllocator::Entry& PortAllocator::entry(const IpAddr& local, std::uint16_t port) {
  PortEntries& v = ports_[port];
  for (Entry& e : v) {
    if (e.addr == local) return e;
  }
  ++entries_;
  return v.emplace_back(Entry{local});
}

const PortAllocator::Entry* PortAllocator::find(const IpAddr& local, std::uint16_t port) const {
  auto it = ports_.find(port);
  if (it == ports_.end()) return nullptr;
  for (const Entry& e : it->second) {
    if (e.addr == local) return &e;
  }
  return nullptr;
}

void PortAllocator::drop_if_unused(const IpAddr& local, std::uint16_t port) {
  auto it = ports_.find(port);
  if (it == ports_.end()) return;
  PortEntries& v = it->second;
  for (auto e = v.begin(); e != v.end(); ++e) {
    if (e->addr == local && e->bind_refs == 0 && e->ephemeral_refs == 0) {
      v.erase(e);
      --entries_;
      break;
    }
  }
  if (v.empty()) ports_.erase(it);
}

bool PortAllocator::held_by_bind(const IpAddr& local, std::uint16_t port) const {
  auto it = ports_.find(port);
  if (it == ports_.end()) return false;
  for (const Entry& e : it->second) {
    if (e.bind_refs > 0 && overlaps(e.addr, local)) return true;
  }
  return false;
}

bool PortAllocator::used_at_all(const IpAddr& local, std::uint16_t port) const {
  auto it = ports_.find(port);
  if (it == ports_.end()) return false;
  for (const Entry& e : it->second) {
    if (overlaps(e.addr, local)) return true;
  }
  return false;
}

std::uint32_t PortAllocator::search_offset(const IpAddr& local, const Endpoint& remote) const {
  TcpTuple t{Endpoint{local, 0}, remote};
  return static_cast<std::uint32_t>(hash_tuple(key_, t));
}

PortAllocator::Result PortAllocator::bind(const IpAddr& local, std::uint16_t port,
                                          bool reuse_addr) {
  if (port == 0) {
    const std::uint32_t n = std::uint32_t{cfg_.last} - cfg_.first + 1;
    const std::uint32_t offset = search_offset(local, Endpoint{}) + next_ephemeral_++;
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto p = static_cast<std::uint16_t>(cfg_.first + (offset + i) % n);
      if (used_at_all(local, p)) continue;
      Entry& e = entry(local, p);
      e.bind_refs = 1;
      e.reuse_addr = reuse_addr;
      return {0, p};
    }
    return {EADDRINUSE, 0};
  }
  if (auto it = ports_.find(port); it != ports_.end()) {
    for (const Entry& e : it->second) {
      if (!overlaps(e.addr, local)) continue;
      if (e.bind_refs > 0 && !(reuse_addr && e.reuse_addr)) return {EADDRINUSE, 0};
      if (e.ephemeral_refs > 0 && !reuse_addr) return {EADDRINUSE, 0};
    }
  }
  Entry& e = entry(local, port);
  e.reuse_addr = (e.bind_refs == 0) ? reuse_addr : (e.reuse_addr && reuse_addr);
  ++e.bind_refs;
  return {0, port};
}

void PortAllocator::release_bind(const IpAddr& local, std::uint16_t port) {
  auto it = ports_.find(port);
  if (it == ports_.end()) return;
  for (Entry& e : it->second) {
    if (e.addr == local && e.bind_refs > 0) {
      --e.bind_refs;
      break;
    }
  }
  drop_if_unused(local, port);
}

void PortAllocator::release_connect(const IpAddr& local, std::uint16_t port) {
  auto it = ports_.find(port);
  if (it == ports_.end()) return;
  for (Entry& e : it->second) {
    if (e.addr == local && e.ephemeral_refs > 0) {
      --e.ephemeral_refs;
      break;
    }
  }
  drop_if_unused(local, port);
}

std::uint32_t PortAllocator::refs(const IpAddr& local, std::uint16_t port) const {
  const Entry* e = find(local, port);
  return e == nullptr ? 0 : e->bind_refs + e->ephemeral_refs;
}

}  // namespace shardtcp
