// Per-engine (per-core) demultiplexing tables; no locks, no allocation after
// construction, testable without EAL.
//
//  - ConnectionTable<T>: 4-tuple (local, remote; IPv4 or IPv6) -> T* (a Tcb* in the
//    engine). Open addressing with linear probing over a power-of-two slot array of
//    at least twice the capacity (load <= 1/2, so probes stay short), sized once and
//    never rehashed, its memory committed only as entries touch it (ZeroedArray: a
//    table sized for a million connections costs what its live entries use), backward-shift
//    deletion (no tombstones to decay lookups), and a 32-bit hash tag per slot so a
//    probe compares full tuples only on a tag match. The tags (and the occupancy they
//    mark) sit in an array of their own, 4 bytes a slot beside the 56-byte records: a
//    table sized for the machine is tens of MiB whose records a probe would otherwise
//    miss in cache and TLB, and most probes -- connect()'s search for a free tuple, a
//    SYN -- find an empty slot or another tuple's tag and read no record at all (the
//    record miss was 86% of TcpLayer::connect's own time in a TCP_CRR profile). The hash is
//    SipHash-1-3 with a per-table secret key: remote peers choose their address and port, and must
//    not be able to aim collisions at a bucket.
//  - ListenerTable<T>: (local address or wildcard, port) -> T*, exact match first,
//    then the wildcard of the same family.
//
// Both are generic over the value type so they compile before Tcb exists and unit
// tests can store anything. Values are non-owning pointers.
#pragma once

#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "common/reserved_array.h"
#include "tcp/isn_generator.h"
#include "wire/ip_addr.h"

namespace shardtcp {

template <typename T>
class ConnectionTable {
 public:
  // `capacity`: most connections at once. `key`: hash secret (SipKey::random()).
  // `paging`: 2 MiB pages by default, as every insert lands on a random page
  // (reserved_memory::Paging).
  ConnectionTable(std::size_t capacity, const SipKey& key,
                  reserved_memory::Paging paging = reserved_memory::Paging::kHuge)
      : slots_(std::bit_ceil(std::max<std::size_t>(2 * capacity, 8)), paging),
        tags_(slots_.size(), paging),
        capacity_(std::max<std::size_t>(capacity, 1)),
        key_(key) {}

  // 0, EADDRINUSE if the tuple is present, ENOBUFS if the table is full, EINVAL
  // for a null value or mixed families.
  int insert(const TcpTuple& t, T* value) { return insert(t, hash_tuple(key_, t), value); }
  // The same with the tuple's hash_tuple() under this table's key already computed
  // (a caller that looks the tuple up in several tables hashes it once).
  int insert(const TcpTuple& t, std::uint64_t h, T* value) {
    if (value == nullptr || t.local.addr.family() != t.remote.addr.family()) return EINVAL;
    const std::uint32_t tag = tag_of(h);
    const std::size_t mask = slots_.size() - 1;
    std::size_t s = h & mask;
    for (; tags_[s] != 0; s = (s + 1) & mask) {
      if (tags_[s] == tag && slots_[s].tuple == t) return EADDRINUSE;
    }
    if (size_ >= capacity_) return ENOBUFS;
    slots_[s] = Slot{t, value, static_cast<std::uint32_t>(h & mask)};
    tags_[s] = tag;
    ++size_;
    return 0;
  }

  // The value for `t`, nullptr when absent. The packet-path call.
  T* find(const TcpTuple& t) const { return find(t, hash_tuple(key_, t)); }
  T* find(const TcpTuple& t, std::uint64_t h) const {
    const std::size_t s = slot_of(t, h);
    return s == kNpos ? nullptr : slots_[s].value;
  }

  // The receive path's pair: recent() is the value of the tuple the last
  // find_and_remember() found, if `t` is that tuple, else nullptr, without hashing;
  // a stream's segments come in runs of one tuple, so a run hashes once. Nothing needs
  // forgetting: recent() compares the whole tuple with what its slot holds now, and a
  // tuple is in at most one slot, so an entry erased or moved by a deletion's backward
  // shift is a miss, never a wrong value.
  T* recent(const TcpTuple& t) const {
    const Slot& s = slots_[recent_];
    return s.tuple == t ? s.value : nullptr;
  }
  T* find_and_remember(const TcpTuple& t, std::uint64_t h) {
    const std::size_t s = slot_of(t, h);
    if (s == kNpos) return nullptr;
    recent_ = s;
    return slots_[s].value;
  }

  bool erase(const TcpTuple& t) { return erase(t, hash_tuple(key_, t)); }
  bool erase(const TcpTuple& t, std::uint64_t h) {
    const std::size_t s = slot_of(t, h);
    if (s == kNpos) return false;
    remove_at(s);
    return true;
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }

  // Visits every entry as f(const TcpTuple&, T*), for diagnostics. Do not insert or
  // erase from inside `f`.
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (tags_[i] != 0) f(slots_[i].tuple, slots_[i].value);
    }
  }

 private:
  static constexpr std::size_t kNpos = static_cast<std::size_t>(-1);
  struct Slot {
    TcpTuple tuple;
    T* value = nullptr;
    std::uint32_t home = 0;  // the slot the hash chose: lets deletion skip rehashing
  };

  // The hash's high half with its lowest bit set: never 0, which marks an empty slot.
  static std::uint32_t tag_of(std::uint64_t h) { return static_cast<std::uint32_t>(h >> 32) | 1u; }

  std::size_t slot_of(const TcpTuple& t, std::uint64_t h) const {
    const std::uint32_t tag = tag_of(h);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t s = h & mask; tags_[s] != 0; s = (s + 1) & mask) {
      if (tags_[s] == tag && slots_[s].tuple == t) return s;
    }
    return kNpos;
  }

  void remove_at(std::size_t slot) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t hole = slot;
    for (std::size_t s = (slot + 1) & mask; tags_[s] != 0; s = (s + 1) & mask) {
      const std::size_t home = slots_[s].home;
      const bool stays = hole <= s ? (home > hole && home <= s) : (home > hole || home <= s);
      if (!stays) {
        slots_[hole] = slots_[s];
        tags_[hole] = tags_[s];
        hole = s;
      }
    }
    slots_[hole] = Slot{};
    tags_[hole] = 0;
    --size_;
  }

  ZeroedArray<Slot> slots_;          // sized once; all-zero bytes are an empty slot
  ZeroedArray<std::uint32_t> tags_;  // per slot: tag_of(hash), 0 when empty
  std::size_t capacity_;
  std::size_t size_ = 0;
  std::size_t recent_ = 0;  // find_and_remember's last hit (any slot at first)
  SipKey key_;
};

// Listening sockets by (local address, port). A listener bound to the unspecified
// address (0.0.0.0 or ::) is the wildcard of its family. Listeners are few and
// change rarely, so this is a small linear-probing table like ConnectionTable.
template <typename T>
class ListenerTable {
 public:
  ListenerTable(std::size_t capacity, const SipKey& key) : table_(capacity, key) {}

  // 0, EADDRINUSE when the exact (address, port) is taken, ENOBUFS, EINVAL.
  int insert(const Endpoint& local, T* value) { return table_.insert(key_of(local), value); }
  bool erase(const Endpoint& local) { return table_.erase(key_of(local)); }
  // The listener for a SYN to `local`: exact address first, then the wildcard of its
  // family, then the dual-family wildcard (a listener bound to IpAddr{}: both families,
  // as a Linux `::` socket without IPV6_V6ONLY).
  T* find(const Endpoint& local) const {
    if (T* exact = table_.find(key_of(local))) return exact;
    if (T* any = table_.find(key_of(Endpoint{wildcard(local.addr.family()), local.port})))
      return any;
    return table_.find(key_of(Endpoint{IpAddr{}, local.port}));
  }
  T* find_exact(const Endpoint& local) const { return table_.find(key_of(local)); }
  std::size_t size() const { return table_.size(); }
  template <typename F>
  void for_each(F&& f) const {
    table_.for_each([&](const TcpTuple& t, T* v) { f(t.local, v); });
  }

  static IpAddr wildcard(IpFamily fam) {
    if (fam == IpFamily::kV6) {
      const std::uint8_t zero[16] = {};
      return IpAddr::v6(&zero[0]);
    }
    return IpAddr::v4(0);
  }

 private:
  // The remote half is unused: a zero endpoint of the same family (none for the
  // dual-family wildcard, whose key's family byte keeps it apart from 0.0.0.0).
  static TcpTuple key_of(const Endpoint& local) {
    TcpTuple t;
    t.local = local;
    t.remote.addr = local.addr.is_none() ? IpAddr{} : wildcard(local.addr.family());
    return t;
  }
  ConnectionTable<T> table_;
};

}  // namespace shardtcp
