// The native C++ TCP API: one TcpLayer per engine, called from that engine's thread.
// A Stack exposes engine i's layer as stack.engine_tcp(i); see tcp/tcp_layer.h for the calls:
//
//   TcpLayer& tcp = stack->engine_tcp(0);
//   TcpConnId l = tcp.listen({IpAddr{}, 7}, 128, {&on_event, &app});   // any address, port 7
//   TcpConnId c = tcp.connect({server, 7}, {&on_event, &app}, &err);   // SYN sent; kConnected
//   later tcp.send(c, data, len);          // bytes queued, or -EAGAIN / -errno tcp.recv(c, buf,
//   sizeof buf);    // bytes, 0 at end of stream, or -EAGAIN / -errno TcpConnId a = tcp.accept(l,
//   &err);                                  // -EAGAIN when none tcp.close(c);
//
// Events (TcpSocketEvent) arrive through the per-connection callback on the engine's
// thread: kConnected, kAcceptable (listener), kReadable, kWritable, kAcked, kPeerFin,
// kClosed, kError(errno). Errors are negative errno values.
#pragma once

#include "tcp/shard_handler.h"
#include "tcp/tcp_layer.h"
