// Native-API side of the IPv6 sockets tests (no <sockets.h> macros here).
#include "sockets6_peer.h"

#include "shardtcp/stack.h"
#include "tcp/tcp_layer.h"

namespace shardtcp::testing {
namespace {

// B's [::]:7: accepts and closes (driver thread).
struct AcceptAndClose {
  TcpLayer* tcp = nullptr;
  TcpConnId listener;
  static void on_event(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t) {
    auto* self = static_cast<AcceptAndClose*>(user);
    if (!(id == self->listener) || ev != TcpSocketEvent::kAcceptable) return;
    int err = 0;
    for (TcpConnId c = self->tcp->accept(self->listener, &err); c.valid();
         c = self->tcp->accept(self->listener, &err))
      self->tcp->close(c);
  }
};
AcceptAndClose g_listener;
bool g_done = false, g_ok = false;

}  // namespace

bool add_ipv6_to_pair(SocketsPairEnv& env, const std::uint8_t (&a)[16],
                      const std::uint8_t (&b)[16]) {
  if (g_done) return g_ok;
  g_done = true;
  bool ok = true;
  env.run_on_peer([&] {
    ok = ok && env.a->ip().add_address(IpAddr::v6(&a[0]), 64);
    ok = ok && env.b->ip().add_address(IpAddr::v6(&b[0]), 64);
    Route blackhole;
    blackhole.prefix = *IpAddr::parse("2001:db8:7::");
    blackhole.prefix_len = 64;
    blackhole.gateway = IpAddr::v6(&b[0]);
    ok = ok && env.a->ip().routes().add_route(blackhole);
    g_listener.tcp = &env.b->tcp(0);
    int err = 0;
    g_listener.listener =
        g_listener.tcp->listen({*IpAddr::parse("::"), kEchoPort}, 1024,
                               TcpCallback{&AcceptAndClose::on_event, &g_listener}, &err);
    ok = ok && g_listener.listener.valid();
  });
  g_ok = ok;
  return ok;
}

}  // namespace shardtcp::testing
