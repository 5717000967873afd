// The native C++ UDP API: one UdpLayer per engine, called from that engine's thread,
// with per-socket events (readable, writable, error) instead of blocking calls.
//
//   shardtcp::IpStack ip(ip_config);
//   shardtcp::Engine engine(port, pool, ip, clock);
//   shardtcp::UdpLayer udp(ip, engine);
//   ip.set_transport(shardtcp::UdpLayer::kProtocol, &udp);
//
//   shardtcp::UdpSocketId echo = udp.open([&](shardtcp::UdpSocketId s, shardtcp::UdpEvent ev) {
//     if (ev != shardtcp::UdpEvent::kReadable) return;
//     // Zero copy: the received mbuf goes straight back out (ownership passes).
//     shardtcp::Endpoint from;
//     while (rte_mbuf* m = udp.recv_mbuf(s, &from)) udp.send_mbuf(s, m, from);
//   });
//   udp.bind(echo, {shardtcp::IpAddr{}, 7});    // any local address, port 7
//   for (;;) engine.poll_once();                // events fire from inside poll_once
//
// Copying calls (send_to / recv_from with MSG_PEEK / MSG_TRUNC semantics), connect
// (default peer, re-connect, disconnect with an unspecified address), SO_ERROR,
// SO_REUSEADDR and SO_RCVBUF are on UdpLayer; errors are negative errno values.
#pragma once

#include "udp/udp_layer.h"
