#include "tcp/tcp_config_registry.h"

#include <cassert>
#include <functional>

namespace shardtcp {

namespace {

// Hashes the fields sockets set most; equality (all fields) decides.
std::size_t hash_of(const TcpConfig& c) {
  std::size_t h = 0;
  auto mix = [&h](std::uint64_t v) { h = (h ^ std::hash<std::uint64_t>{}(v)) * 0x100000001b3ull; };
  mix(c.send_buffer);
  mix(c.recv_buffer);
  mix(c.mtu);
  mix((std::uint64_t{c.ipv6} << 0) | (std::uint64_t{c.nodelay} << 1) |
      (std::uint64_t{c.cork} << 2) | (std::uint64_t{c.linger_zero} << 3) |
      (std::uint64_t{c.keepalive} << 4));
  mix(c.notsent_lowat);
  mix(c.user_mss);
  mix(static_cast<std::uint64_t>(c.congestion));
  mix(static_cast<std::uint64_t>(c.keepalive_idle.count()));
  mix(static_cast<std::uint64_t>(c.min_rto.count()));
  mix(static_cast<std::uint64_t>(c.user_timeout.count()));
  mix(static_cast<std::uint64_t>(c.connect_timeout.count()));
  return h;
}

}  // namespace

SharedTcpConfig::SharedTcpConfig(TcpConfigRegistry& registry, const TcpConfig& cfg)
    : entry_(registry.acquire(cfg)) {}

SharedTcpConfig::~SharedTcpConfig() {
  entry_->registry->release(entry_);
}

SharedTcpConfig::SharedTcpConfig(const SharedTcpConfig& o) : entry_(o.entry_) {
  ++entry_->refs;
}

SharedTcpConfig& SharedTcpConfig::operator=(const SharedTcpConfig& o) {
  if (o.entry_ == entry_) return *this;
  ++o.entry_->refs;
  entry_->registry->release(entry_);
  entry_ = o.entry_;
  return *this;
}

void SharedTcpConfig::rebind(const TcpConfig& cfg) {
  TcpConfigRegistry* reg = entry_->registry;
  Entry* e = reg->acquire(cfg);
  reg->release(entry_);
  entry_ = e;
}

TcpConfigRegistry::~TcpConfigRegistry() {
  // Every SharedTcpConfig must be gone by now (TCBs die before their engine's storage).
  assert(size_ == 0);
  for (Entry*& head : buckets_) {
    while (head != nullptr) {
      Entry* next = head->next;
      delete head;
      head = next;
    }
  }
}

TcpConfigRegistry::Entry* TcpConfigRegistry::acquire(const TcpConfig& cfg) {
  if (last_ != nullptr && last_->cfg == cfg) {
    ++last_->refs;
    return last_;
  }
  const std::size_t h = hash_of(cfg);
  Entry*& head = buckets_[h % kBuckets];
  for (Entry* e = head; e != nullptr; e = e->next) {
    if (e->hash == h && e->cfg == cfg) {
      ++e->refs;
      last_ = e;
      return e;
    }
  }
  head = new Entry{cfg, this, head, h, 1};
  ++size_;
  last_ = head;
  return head;
}

void TcpConfigRegistry::release(Entry* e) {
  if (--e->refs > 0) return;
  Entry** link = &buckets_[e->hash % kBuckets];
  while (*link != e) link = &(*link)->next;
  *link = e->next;
  if (last_ == e) last_ = nullptr;
  delete e;
  --size_;
}

}  // namespace shardtcp
