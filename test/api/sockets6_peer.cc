// Native-API side of the IPv6 sockets tests (no <sockets.h> macros here).
#include "sockets6_peer.h"

#include <algorithm>

#include "peer_services.h"
#include "shardtcp/stack.h"
#include "tcp/tcp_layer.h"
#include "udp/udp_layer.h"

namespace shardtcp::testing {
namespace {

TcpEchoService g_echo6;  // B's TCP echo on [::]:7 (driver thread)
UdpSocketId g_udp6;
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
    const IpAddr any6 = *IpAddr::parse("::");
    int err = 0;
    ok = ok && g_echo6.listen(env.b->engine_tcp(0), {any6, kEchoPort}, &err);
    UdpLayer& udp = env.b->engine_udp(0);
    g_udp6 = udp.open(
        [&udp](UdpSocketId id, UdpEvent ev) {
          if (ev != UdpEvent::kReadable) return;
          char d[2048];
          Endpoint from;
          long n;
          while ((n = udp.recv_from(id, d, sizeof d, &from)) >= 0)
            udp.send_to(id, d, static_cast<std::size_t>(n), from);
        },
        IpFamily::kV6, &err);
    ok = ok && g_udp6.valid() && udp.bind(g_udp6, {any6, kEchoPort}) == 0;
  });
  g_ok = ok;
  return ok;
}

}  // namespace shardtcp::testing
