// The last IPv4 route output asked for: a connection's packets (its ACKs) go to one
// destination from one source, so output walks the table (longest prefix, then the
// source's is_local check) once per run instead of once per packet. Kept until the
// route table changes (its version); the answer depends on nothing else.
#pragma once

#include <cstdint>

#include "ip/route_table.h"
#include "wire/ip_addr.h"

namespace shardtcp {

class RouteMemo {
 public:
  // The remembered route for (dst, src) as output was given them (src may be none),
  // or nullptr.
  const RouteResult* find(const IpAddr& dst, const IpAddr& src, std::uint32_t version) const {
    return valid_ && version == version_ && dst == dst_ && src == src_ ? &route_ : nullptr;
  }
  // `route` must be the table's answer for dst, its source (or src) a local address.
  void remember(const IpAddr& dst, const IpAddr& src, const RouteResult& route,
                std::uint32_t version) {
    valid_ = true;
    version_ = version;
    dst_ = dst;
    src_ = src;
    route_ = route;
  }

 private:
  bool valid_ = false;
  std::uint32_t version_ = 0;
  IpAddr dst_, src_;
  RouteResult route_;
};

}  // namespace shardtcp
