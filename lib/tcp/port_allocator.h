// Local TCP ports of one stack: explicit binds (reference-counted, SO_REUSEADDR)
// and ephemeral ports for active opens.
//
// Ephemeral selection follows RFC 6056 algorithm 3 (as Linux): the search starts at
// an offset keyed on (local address, remote endpoint) so different peers see
// unrelated sequences, and walks the range (default 1024-65535, a tuned Linux host's;
// the stack option --local-ports sets it). A port
// qualifies when
//   - no explicit bind on an overlapping address holds it (listeners keep theirs),
//   - the caller's `tuple_in_use(tuple)` says the 4-tuple is free (connection table,
//     TIME_WAIT table), and
//   - the caller's `accept_port(port)` agrees: the hook by which an engine insists
//     that the reply to this tuple hashes (RSS) to its own core.
// An ephemeral port may be shared by connections to different remotes; it is
// reference-counted like a bind and returned with release_connect().
//
// Not on the packet path: binds use a hash map sized by the number of bound ports.
#pragma once

#include <cerrno>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "tcp/isn_generator.h"
#include "wire/ip_addr.h"

namespace shardtcp {

class PortAllocator {
 public:
  struct Config {
    std::uint16_t first = 1024;  // ephemeral range, inclusive (Linux ip_local_port_range)
    std::uint16_t last = 65535;
  };
  struct Result {
    int error = 0;           // 0, EADDRINUSE, EADDRNOTAVAIL (no ephemeral port), EINVAL
    std::uint16_t port = 0;  // the bound port on success
  };

  PortAllocator(const Config& cfg, const SipKey& key);

  // Explicit bind(). port 0 picks a free ephemeral port (as Linux's bind(0)).
  // `local` may be IpAddr{}: the wildcard of both families (a Linux `::` socket
  // without IPV6_V6ONLY). Conflicts with another bind of the same port on an
  // overlapping address (equal, either one the wildcard of the family, or either one
  // the dual-family wildcard) unless both set SO_REUSEADDR, and with
  // connections that took the port as ephemeral unless this bind sets SO_REUSEADDR.
  Result bind(const IpAddr& local, std::uint16_t port, bool reuse_addr);

  // Ephemeral port for connect() from `local` to `remote`.
  template <typename InUse, typename Accept>
  Result connect(const IpAddr& local, const Endpoint& remote, InUse&& tuple_in_use,
                 Accept&& accept_port) {
    if (local.is_none() || local.family() != remote.addr.family()) return {EINVAL, 0};
    const std::uint32_t n = std::uint32_t{cfg_.last} - cfg_.first + 1;
    const std::uint32_t offset = search_offset(local, remote) + next_ephemeral_++;
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto port = static_cast<std::uint16_t>(cfg_.first + (offset + i) % n);
      if (!accept_port(port)) continue;
      if (held_by_bind(local, port)) continue;
      if (tuple_in_use(TcpTuple{Endpoint{local, port}, remote})) continue;
      ++entry(local, port).ephemeral_refs;
      return {0, port};
    }
    return {EADDRNOTAVAIL, 0};
  }

  // Drop the reference taken by bind() / by connect().
  void release_bind(const IpAddr& local, std::uint16_t port);
  void release_connect(const IpAddr& local, std::uint16_t port);

  // References held on (local, port) by binds plus connects.
  std::uint32_t refs(const IpAddr& local, std::uint16_t port) const;
  // (address, port) pairs holding any reference.
  std::size_t bound_ports() const { return entries_; }
  const Config& config() const { return cfg_; }

 private:
  struct Entry {
    IpAddr addr;
    std::uint32_t bind_refs = 0;       // explicit binds
    std::uint32_t ephemeral_refs = 0;  // connects sharing this port
    bool reuse_addr = true;            // all explicit binders set SO_REUSEADDR
  };
  using PortEntries = std::vector<Entry>;  // usually one address per port

  // The dual-family wildcard (IpAddr{}, no family) overlaps every address of both.
  static bool overlaps(const IpAddr& a, const IpAddr& b) {
    if (a.is_none() || b.is_none()) return true;
    return a.family() == b.family() && (a == b || a.is_unspecified() || b.is_unspecified());
  }
  // An explicit bind on an overlapping address holds `port`.
  bool held_by_bind(const IpAddr& local, std::uint16_t port) const;
  // Any reference (bind or connect) on an overlapping address.
  bool used_at_all(const IpAddr& local, std::uint16_t port) const;
  std::uint32_t search_offset(const IpAddr& local, const Endpoint& remote) const;
  // The entry for (local, port), created with no references if absent.
  Entry& entry(const IpAddr& local, std::uint16_t port);
  const Entry* find(const IpAddr& local, std::uint16_t port) const;
  void drop_if_unused(const IpAddr& local, std::uint16_t port);

  Config cfg_;
  SipKey key_;
  std::uint32_t next_ephemeral_ = 0;  // RFC 6056 alg. 3's per-call increment
  // Keyed by port so conflict checks look only at that port's few addresses.
  std::unordered_map<std::uint16_t, PortEntries> ports_;
  std::size_t entries_ = 0;
};

}  // namespace shardtcp
