// The native C++ TCP API: one TcpLayer per engine, called from that engine's thread.
// A server listens on the Stack, which listens on every engine (each engine accepts
// the connections whose packets it receives); a client connects on one engine, which
// picks a local port whose tuple it owns. See tcp/tcp_layer.h for the calls:
//
//   auto ls = stack->listen_all({IpAddr{}, 7}, 128, {&on_event, &app});  // port 7, any
//                                           // address of both families; ls[i]: engine i's
//   TcpLayer& tcp = stack->engine_tcp(0);   // engine 0's connections (its thread only)
//   TcpConnId a = tcp.accept((*ls)[0], &err);                  // -EAGAIN when none
//   TcpConnId c = tcp.connect({server, 7}, {&on_event, &app}, &err);  // SYN sent
//   tcp.send(c, data, len);      // bytes queued, or -EAGAIN / -errno
//   tcp.recv(c, buf, sizeof buf);  // bytes, 0 at end of stream, or -EAGAIN / -errno
//   tcp.close(c);
//
// IpAddr{} (no family) as a local address is the wildcard of both families, as a Linux
// `::` socket without IPV6_V6ONLY; 0.0.0.0 and :: are each their family's alone.
// Events (TcpSocketEvent) arrive through the per-connection callback on the engine's
// thread: kConnected, kAcceptable (listener), kReadable, kWritable, kAcked, kPeerFin,
// kClosed, kError(errno). Errors are negative errno values.
#pragma once

#include "tcp/shard_handler.h"
#include "tcp/tcp_layer.h"
