// Routes of one engine: connected subnets (from the interface addresses), static
// routes and a default gateway, looked up by longest prefix. Family-tagged, so IPv6
// routes live in the same table later.
//
// Lookups scan a small vector kept sorted by prefix length (longest first): hosts
// have a handful of routes, and transports cache the result per connection.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "wire/ip_addr.h"

namespace shardtcp {

struct InterfaceAddress {
  IpAddr addr;
  std::uint8_t prefix_len = 0;
  friend bool operator==(const InterfaceAddress&, const InterfaceAddress&) = default;
};

struct Route {
  IpAddr prefix;  // host bits are masked off on insert
  std::uint8_t prefix_len = 0;
  IpAddr gateway;         // none: the destination is on-link
  IpAddr source;          // none: pick an interface address (see lookup)
  std::uint16_t mtu = 0;  // 0: the interface MTU
  friend bool operator==(const Route&, const Route&) = default;
};

struct RouteResult {
  IpAddr next_hop;  // the destination itself when on-link, else the gateway
  IpAddr source;    // the interface address to send from
  std::uint16_t mtu = 0;
  bool on_link = false;
};

class RouteTable {
 public:
  explicit RouteTable(std::uint16_t interface_mtu = 1500) : mtu_(interface_mtu) {}

  // Adds an interface address and its connected route. False if it is already
  // configured, not a unicast address, or the prefix is too long for its family.
  bool add_address(const IpAddr& addr, std::uint8_t prefix_len);
  // Removes the address and its connected route (if no other address shares it).
  bool remove_address(const IpAddr& addr);

  // Adds a static route; false if one with the same prefix exists or it is invalid.
  bool add_route(const Route& r);
  // Deletes the (non-connected) route with exactly this prefix.
  bool delete_route(const IpAddr& prefix, std::uint8_t prefix_len);
  // Sets (replaces) the default route of the gateway's family.
  bool set_default_gateway(const IpAddr& gateway);
  bool clear_default_gateway(IpFamily family);

  // Longest-prefix match. A gateway route is usable only if its gateway is on-link
  // through a connected route. Source: the route's own, else the interface address
  // whose subnet holds the next hop, else the first address of the family.
  // nullopt means "no route" (ENETUNREACH to the transport).
  std::optional<RouteResult> lookup(const IpAddr& dst) const;

  bool is_local(const IpAddr& a) const;
  // The directed broadcast address of one of our IPv4 subnets (all host bits set).
  bool is_subnet_broadcast(const IpAddr& a) const;

  const std::vector<InterfaceAddress>& addresses() const { return addresses_; }
  // Changes with every change of the table (addresses, routes, the MTU), so a caller
  // may keep what it concluded from lookup/is_local/is_subnet_broadcast until then
  // (IPv4 input's pair memo, output's route memo).
  std::uint32_t version() const { return version_; }
  const std::vector<Route>& routes() const { return routes_; }
  std::uint16_t interface_mtu() const { return mtu_; }
  void set_interface_mtu(std::uint16_t mtu) {
    mtu_ = mtu;
    ++version_;
  }

 private:
  struct Entry {
    Route route;
    bool connected = false;
  };
  static unsigned max_prefix(IpFamily f) {
    return f == IpFamily::kV4 ? 32 : f == IpFamily::kV6 ? 128 : 0;
  }
  const Entry* match(const IpAddr& dst, bool connected_only) const;
  void insert_sorted(const Entry& e);
  IpAddr pick_source(const IpAddr& next_hop) const;
  void rebuild_view();

  std::uint16_t mtu_;
  std::vector<InterfaceAddress> addresses_;
  std::uint32_t version_ = 0;
  std::vector<Entry> entries_;  // longest prefix first
  std::vector<Route> routes_;   // view of entries_ for inspection
};

}  // namespace shardtcp
