// IPv6 for the sockets pair environment (sockets_pair_env.h), added at run time on the
// driver thread: A and B get the given /64 addresses, A routes 2001:db8:7::/64 via B
// (which drops it), and B echoes TCP and UDP on [::]:7.
#pragma once

#include <cstdint>

#include "sockets_pair_env.h"

namespace shardtcp::testing {

// Idempotent; false if an address, the route or the listener could not be added.
bool add_ipv6_to_pair(SocketsPairEnv& env, const std::uint8_t (&a)[16],
                      const std::uint8_t (&b)[16]);

}  // namespace shardtcp::testing
