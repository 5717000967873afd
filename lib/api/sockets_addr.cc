#include "api/sockets_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "api/sockets_internal.h"

namespace shardtcp::sockets {
namespace {

bool is_v4_mapped(const std::uint8_t* a) {
  static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a, kPrefix, sizeof kPrefix) == 0;
}

bool is_unspecified6(const std::uint8_t* a) {
  static constexpr std::uint8_t kZero[16] = {};
  return std::memcmp(a, kZero, sizeof kZero) == 0;
}

}  // namespace

long parse_addr(const void* addr, socklen_t len, Endpoint* out, const SocketEntry& e, AddrUse use,
                bool allow_unspec) {
  if (addr == nullptr) return -EFAULT;
  if (len < static_cast<socklen_t>(sizeof(sa_family_t))) return -EINVAL;
  sa_family_t family;
  std::memcpy(&family, addr, sizeof family);
  if (family == AF_INET6) {
    if (len < static_cast<socklen_t>(sizeof(sockaddr_in6))) return -EINVAL;
    if (e.family != AF_INET6) return -EAFNOSUPPORT;
    sockaddr_in6 sin6;
    std::memcpy(&sin6, addr, sizeof sin6);
    const std::uint8_t* a = &sin6.sin6_addr.s6_addr[0];
    out->port = ntohs(sin6.sin6_port);
    const bool v6only = e.v6only.load(std::memory_order_acquire);
    if (is_v4_mapped(a)) {
      if (v6only) return use == AddrUse::kLocal ? -EINVAL : -ENETUNREACH;
      std::uint32_t v4 = 0;
      std::memcpy(&v4, a + 12, sizeof v4);
      out->addr = IpAddr::v4_be(v4);
    } else if (!v6only && use == AddrUse::kLocal && is_unspecified6(a)) {
      out->addr = IpAddr{};  // the native layers' wildcard of both families
    } else {
      out->addr = IpAddr::v6(a);
    }
    return 0;
  }
  if (family == AF_UNSPEC && allow_unspec) {
    *out = Endpoint{};
    return 1;
  }
  if (family != AF_INET || e.family != AF_INET) return -EAFNOSUPPORT;
  if (len < static_cast<socklen_t>(sizeof(sockaddr_in))) return -EINVAL;
  sockaddr_in sin;
  std::memcpy(&sin, addr, sizeof sin);
  out->addr = IpAddr::v4_be(sin.sin_addr.s_addr);
  out->port = ntohs(sin.sin_port);
  return 0;
}

long write_addr(const Endpoint& ep, void* addr, socklen_t* len, int family) {
  if (addr == nullptr || len == nullptr) return -EFAULT;
  if (family == AF_INET6 || ep.addr.is_v6()) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(ep.port);
    if (ep.addr.is_v6()) {
      std::memcpy(sin6.sin6_addr.s6_addr, ep.addr.bytes(), 16);
    } else if (ep.addr.is_v4()) {  // a dual-stack socket's IPv4: ::ffff:a.b.c.d
      sin6.sin6_addr.s6_addr[10] = 0xff;
      sin6.sin6_addr.s6_addr[11] = 0xff;
      const std::uint32_t v4 = ep.addr.v4_be();
      std::memcpy(&sin6.sin6_addr.s6_addr[12], &v4, sizeof v4);
    }
    const socklen_t n = *len < static_cast<socklen_t>(sizeof sin6) ? *len : sizeof sin6;
    std::memcpy(addr, &sin6, n);
    *len = sizeof sin6;
    return 0;
  }
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(ep.port);
  sin.sin_addr.s_addr = ep.addr.is_v4() ? ep.addr.v4_be() : 0;
  const socklen_t n = *len < static_cast<socklen_t>(sizeof sin) ? *len : sizeof sin;
  std::memcpy(addr, &sin, n);
  *len = sizeof sin;
  return 0;
}

long set_v6only(Stack& stack, int h, SocketEntry& e, bool on) {
  if (e.family != AF_INET6) return -ENOPROTOOPT;
  if (e.v6only.load(std::memory_order_relaxed) == on) return 0;
  Endpoint local;
  if (e.type == SOCK_STREAM) {
    if (e.listening || e.connecting || e.connected) return -EINVAL;
    if (stack.engine_tcp(e.engine).local_endpoint(e.tcp, &local) == 0 && local.port != 0)
      return -EINVAL;
    e.v6only.store(on, std::memory_order_release);  // the native TCP socket has no family
    return 0;
  }
  UdpLayer& udp = stack.engine_udp(e.engine);
  if (e.connected || (udp.local_endpoint(e.udp, &local) == 0 && local.port != 0)) return -EINVAL;
  // The native UDP socket's family decides what it receives: reopen it (nothing is
  // queued on a socket without a port) with IPv6 only, or both (kNone).
  int err = 0;
  const UdpSocketId id = udp.open([h](UdpSocketId u, UdpEvent ev) { on_udp_event(h, u, ev); },
                                  on ? IpFamily::kV6 : IpFamily::kNone, &err);
  if (!id.valid()) return err != 0 ? err : -ENOBUFS;
  udp.close(e.udp);
  e.udp = id;
  if (e.reuseaddr) udp.set_reuse_addr(id, true);
  if (e.rcvbuf > 0) udp.set_rcvbuf(id, static_cast<std::size_t>(e.rcvbuf));
  e.v6only.store(on, std::memory_order_release);
  return 0;
}

}  // namespace shardtcp::sockets
