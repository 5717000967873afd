// IPPROTO_TCP options of <sockets.h> (sockets_tcp_options.cc). All run on the socket's
// engine thread.
#pragma once

#include <netinet/tcp.h>

#include "api/handle_table.h"
#include "tcp/tcp_layer.h"

namespace shardtcp::sockets {

// setsockopt(IPPROTO_TCP, name) with an int value: 0 or a negative errno (ENOPROTOOPT
// for an option it does not know, EINVAL out of Linux's bounds).
long set_tcp_option(TcpLayer& tcp, SocketEntry& e, int name, int v);
// getsockopt of the int-valued ones.
long get_tcp_option(TcpLayer& tcp, const SocketEntry& e, int name, int* v);
// TCP_INFO, in Linux's struct tcp_info (units: microseconds, segments).
long get_tcp_info(TcpLayer& tcp, const SocketEntry& e, tcp_info* out);
// Gives a new native socket of the entry (moved to another engine, or a listener's
// copy there) every option set so far.
void apply_tcp_options(TcpLayer& tcp, TcpConnId id, const SocketEntry& e);
// SO_KEEPALIVE with the entry's TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT.
int set_keepalive_options(TcpLayer& tcp, TcpConnId id, const SocketEntry& e);

}  // namespace shardtcp::sockets
