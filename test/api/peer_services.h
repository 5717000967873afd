// Native-API services the sockets tests' peer stacks run (on the peer's engine
// thread), and the sockaddr helper the tests share.
#pragma once

#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "tcp/tcp_layer.h"
#include "udp/udp_layer.h"

namespace shardtcp::testing {

inline sockaddr_in sin4(std::uint32_t host_addr, std::uint16_t port) {
  sockaddr_in a;
  std::memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(host_addr);
  return a;
}

// Echoes what fits in the send buffer; data that does not fit stays unread until the
// connection reports kWritable. kWritable follows only a send() that came up short, so
// when the buffer is full and data waits, a one-byte offer (refused) arms it: without
// that the echo would stall for good once the buffer filled. `buf` is scratch space.
inline void echo_what_fits(TcpLayer& tcp, TcpConnId id, char* buf, std::size_t size) {
  for (;;) {
    const long room = tcp.writable_bytes(id);
    if (room <= 0) {
      if (room == 0 && tcp.readable_bytes(id) > 0) tcp.send(id, buf, 1);
      break;
    }
    const long n = tcp.recv(id, buf, std::min(size, static_cast<std::size_t>(room)));
    if (n <= 0) break;
    tcp.send(id, buf, static_cast<std::size_t>(n));
  }
}

// A TCP echo service on one engine: give its on_event as the callback of a listener;
// it accepts what the listener reports and echoes each connection, closing after the
// peer's FIN once everything is echoed.
struct TcpEchoService {
  TcpLayer* tcp = nullptr;
  TcpConnId listener;
  char buf[16384];

  static void on_event(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t) {
    auto* self = static_cast<TcpEchoService*>(user);
    TcpLayer& tcp = *self->tcp;
    if (ev == TcpSocketEvent::kAcceptable) {
      for (;;) {
        const TcpConnId c = tcp.accept(id);
        if (!c.valid()) break;
        tcp.set_callback(c, TcpCallback{&on_event, self});
        on_event(self, c, TcpSocketEvent::kReadable, 0);
      }
      return;
    }
    if (ev == TcpSocketEvent::kReadable || ev == TcpSocketEvent::kWritable)
      echo_what_fits(tcp, id, self->buf, sizeof self->buf);
    if (ev == TcpSocketEvent::kPeerFin && tcp.readable_bytes(id) == 0) tcp.close(id);
    if (ev == TcpSocketEvent::kError) tcp.close(id);
  }
  // Listens on `local` with this service (false on failure, *err the reason).
  bool listen(TcpLayer& layer, const Endpoint& local, int* err) {
    tcp = &layer;
    listener = layer.listen(local, 1024, TcpCallback{&on_event, this}, err);
    return listener.valid();
  }
};

// A UDP echo socket bound to `port` on `udp` (every datagram goes back to its sender).
inline UdpSocketId open_udp_echo(UdpLayer& udp, std::uint16_t port) {
  const UdpSocketId id = udp.open([&udp](UdpSocketId s, UdpEvent ev) {
    if (ev != UdpEvent::kReadable) return;
    char buf[2048];
    Endpoint from;
    for (;;) {
      const long n = udp.recv_from(s, buf, sizeof buf, &from);
      if (n < 0) break;
      udp.send_to(s, buf, static_cast<std::size_t>(n), from);
    }
  });
  if (id.valid() && udp.bind(id, {IpAddr{}, port}) != 0) {
    udp.close(id);
    return UdpSocketId{};
  }
  return id;
}

}  // namespace shardtcp::testing
