#include "ip/route_table.h"

#include <algorithm>

namespace shardtcp {

void RouteTable::insert_sorted(const Entry& e) {
  // Longest prefix first; among equal lengths, insertion order (stable).
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& x) { return x.route.prefix_len < e.route.prefix_len; });
  entries_.insert(it, e);
  rebuild_view();
}

void RouteTable::rebuild_view() {
  ++version_;  // every change of the entries ends here
  routes_.clear();
  for (const auto& e : entries_) routes_.push_back(e.route);
}

bool RouteTable::add_address(const IpAddr& addr, std::uint8_t prefix_len) {
  if (addr.is_none() || prefix_len > max_prefix(addr.family()) || addr.is_unspecified() ||
      addr.is_multicast() || addr.is_broadcast())
    return false;
  for (const auto& a : addresses_)
    if (a.addr == addr) return false;
  addresses_.push_back({addr, prefix_len});
  ++version_;
  const IpAddr net = addr.masked(prefix_len);
  for (const auto& e : entries_)
    if (e.connected && e.route.prefix == net && e.route.prefix_len == prefix_len) return true;
  Entry e;
  e.route.prefix = net;
  e.route.prefix_len = prefix_len;
  e.connected = true;
  insert_sorted(e);
  return true;
}

bool RouteTable::remove_address(const IpAddr& addr) {
  auto it = std::find_if(addresses_.begin(), addresses_.end(),
                         [&](const InterfaceAddress& a) { return a.addr == addr; });
  if (it == addresses_.end()) return false;
  const InterfaceAddress gone = *it;
  addresses_.erase(it);
  ++version_;
  const IpAddr net = gone.addr.masked(gone.prefix_len);
  const bool shared = std::any_of(addresses_.begin(), addresses_.end(), [&](const auto& a) {
    return a.prefix_len == gone.prefix_len && a.addr.masked(a.prefix_len) == net;
  });
  if (!shared) {
    std::erase_if(entries_, [&](const Entry& e) {
      return e.connected && e.route.prefix == net && e.route.prefix_len == gone.prefix_len;
    });
    rebuild_view();
  }
  return true;
}

bool RouteTable::add_route(const Route& r) {
  if (r.prefix.is_none() || r.prefix_len > max_prefix(r.prefix.family())) return false;
  if (!r.gateway.is_none() && r.gateway.family() != r.prefix.family()) return false;
  if (!r.source.is_none() && r.source.family() != r.prefix.family()) return false;
  Entry e;
  e.route = r;
  e.route.prefix = r.prefix.masked(r.prefix_len);
  for (const auto& x : entries_)
    if (!x.connected && x.route.prefix == e.route.prefix && x.route.prefix_len == r.prefix_len)
      return false;
  insert_sorted(e);
  return true;
}

bool RouteTable::delete_route(const IpAddr& prefix, std::uint8_t prefix_len) {
  if (prefix.is_none()) return false;
  const IpAddr net = prefix.masked(prefix_len);
  const auto n = std::erase_if(entries_, [&](const Entry& e) {
    return !e.connected && e.route.prefix == net && e.route.prefix_len == prefix_len;
  });
  rebuild_view();
  return n > 0;
}

bool RouteTable::set_default_gateway(const IpAddr& gateway) {
  if (gateway.is_none() || gateway.is_unspecified() || gateway.is_multicast()) return false;
  const IpAddr any = gateway.masked(0);
  delete_route(any, 0);
  Route r;
  r.prefix = any;
  r.prefix_len = 0;
  r.gateway = gateway;
  return add_route(r);
}

bool RouteTable::clear_default_gateway(IpFamily family) {
  IpAddr any = family == IpFamily::kV4   ? IpAddr::v4(0)
               : family == IpFamily::kV6 ? IpAddr::v6(std::array<std::uint8_t, 16>{}.data())
                                         : IpAddr{};
  return delete_route(any, 0);
}

const RouteTable::Entry* RouteTable::match(const IpAddr& dst, bool connected_only) const {
  for (const auto& e : entries_) {
    if (e.route.prefix.family() != dst.family()) continue;
    if (connected_only && !e.connected) continue;
    if (dst.in_prefix(e.route.prefix, e.route.prefix_len)) return &e;
  }
  return nullptr;
}

IpAddr RouteTable::pick_source(const IpAddr& next_hop) const {
  for (const auto& a : addresses_)
    if (next_hop.in_prefix(a.addr, a.prefix_len)) return a.addr;
  for (const auto& a : addresses_)
    if (a.addr.family() == next_hop.family()) return a.addr;
  return IpAddr{};
}

std::optional<RouteResult> RouteTable::lookup(const IpAddr& dst) const {
  if (dst.is_none()) return std::nullopt;
  const Entry* e = match(dst, false);
  if (e == nullptr) return std::nullopt;
  RouteResult r;
  if (e->route.gateway.is_none()) {
    r.next_hop = dst;
    r.on_link = true;
  } else {
    // The gateway itself must be reachable on-link; a route through an unreachable
    // gateway is as good as no route.
    if (match(e->route.gateway, true) == nullptr) return std::nullopt;
    r.next_hop = e->route.gateway;
  }
  r.source = e->route.source.is_none() ? pick_source(r.next_hop) : e->route.source;
  if (r.source.is_none()) return std::nullopt;
  // IPv6 through a router known by its link-local address: a global destination
  // still wants a global source (RFC 6724 rule 2, prefer matching scope).
  auto link_local = [](const IpAddr& a) {
    return a.is_v6() && a.bytes()[0] == 0xfe && (a.bytes()[1] & 0xc0) == 0x80;
  };
  if (e->route.source.is_none() && link_local(r.source) && !link_local(dst)) {
    for (const auto& a : addresses_) {
      if (a.addr.is_v6() && !link_local(a.addr)) {
        r.source = a.addr;
        break;
      }
    }
  }
  r.mtu = e->route.mtu != 0 ? std::min(e->route.mtu, mtu_) : mtu_;
  return r;
}

bool RouteTable::is_local(const IpAddr& a) const {
  return std::any_of(addresses_.begin(), addresses_.end(),
                     [&](const InterfaceAddress& x) { return x.addr == a; });
}

bool RouteTable::is_subnet_broadcast(const IpAddr& a) const {
  if (!a.is_v4()) return false;
  for (const auto& x : addresses_) {
    if (!x.addr.is_v4() || x.prefix_len >= 31) continue;  // /31 and /32 have no broadcast
    const std::uint32_t host_mask =
        x.prefix_len == 0 ? 0xffffffffu : (1u << (32 - x.prefix_len)) - 1;
    if ((a.v4_host() & ~host_mask) == (x.addr.v4_host() & ~host_mask) &&
        (a.v4_host() & host_mask) == host_mask)
      return true;
  }
  return false;
}

}  // namespace shardtcp
