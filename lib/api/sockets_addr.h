// Socket addresses of <sockets.h> (sockets_addr.cc): the caller's sockaddr_in /
// sockaddr_in6 to the native layers' Endpoint and back, and IPV6_V6ONLY, which decides
// how an AF_INET6 socket treats IPv4: with it (the native default) the socket is IPv6
// only; without it (Linux's default, what the preload library sets) it is dual-stack:
// bound to `::` it takes IPv4 as well, IPv4 peers and local addresses appear v4-mapped
// (::ffff:a.b.c.d) and a v4-mapped destination is reached over IPv4.
#pragma once

#include <sys/socket.h>

#include "api/handle_table.h"
#include "shardtcp/stack.h"

namespace shardtcp::sockets {

// What the address is for: a local one (bind: `::` of a dual-stack socket is the
// wildcard of both families) or a peer (connect, sendto).
enum class AddrUse { kLocal, kPeer };

// sockaddr -> Endpoint for socket `e`. 0, 1 for AF_UNSPEC when `allow_unspec` (a
// datagram socket's disconnect), or a negative errno: EFAULT null, EINVAL shorter than
// its structure, EAFNOSUPPORT another family than the socket's; a v4-mapped address on
// an IPv6-only socket: EINVAL to bind, ENETUNREACH as a peer (as Linux).
long parse_addr(const void* addr, socklen_t len, Endpoint* out, const SocketEntry& e, AddrUse use,
                bool allow_unspec = false);

// Endpoint -> the caller's sockaddr of the socket's family (truncated to *len; *len
// gets the full size). An IPv4 endpoint of an AF_INET6 socket comes out v4-mapped, the
// dual-family wildcard (IpAddr{}) as `::`. EFAULT when either pointer is null.
long write_addr(const Endpoint& ep, void* addr, socklen_t* len, int family);

// Engine thread: IPV6_V6ONLY on (`on`) or off for socket `h`. EINVAL once the socket
// has a port (bound, listening or connected), as Linux; a datagram socket's native
// socket is reopened for the other family set (its options come along).
long set_v6only(Stack& stack, int h, SocketEntry& e, bool on);

}  // namespace shardtcp::sockets
