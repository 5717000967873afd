// Application options of a shardtcp program: what comes after the EAL options and
// "--" on the command line.
//
//   app -l 0-1 --vdev=net_tap0,iface=tap0 -- --ip 198.18.0.2/24 --gw 198.18.0.1
//       --route 198.19.0.0/16,198.18.0.254 --mtu 1500 --pcap /tmp/x.pcapng
//       --impair drop=0.01,dup=0.001,reorder=8,corrupt=0.0001,delay=200,seed=7 --engines 2
//       --port 8080
//
// parse_stack_options() takes what it knows and returns the rest in order (here
// "--port 8080") for the application's own parser. Both "--opt value" and
// "--opt=value" work. A lone "--" ends the stack's options: everything after it is
// the application's.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "ip/route_table.h"  // InterfaceAddress
#include "port/impairment.h"
#include "tcp/ecn.h"  // EcnMode
#include "wire/ip_addr.h"

namespace shardtcp {

struct RouteOption {
  IpAddr network;  // masked to prefix_len
  std::uint8_t prefix_len = 0;
  IpAddr gateway;
};

struct StackOptions {
  std::vector<InterfaceAddress> addresses;  // --ip, repeatable; v4 and v6
  std::optional<IpAddr> gateway_v4;         // --gw (at most one per family)
  std::optional<IpAddr> gateway_v6;
  std::vector<RouteOption> routes;   // --route NET/PREFIX,GW, repeatable
  std::optional<std::uint16_t> mtu;  // --mtu N (68..9600)
  std::string pcap_path;             // --pcap FILE (empty: no capture)
  // --impair drop=P,dup=P,reorder=N,corrupt=P,ce=P,delay=US,seed=S
  //          [,reorder_p=P][,delay_p=P][,dir=rx|tx|both]
  // reorder=N sets the window; its probability is reorder_p (default 0.1).
  std::optional<ImpairmentConfig> impair;
  // --engines N (1..64): engines on N worker lcores with N queue pairs (unset: the
  // StackConfig's, 1 by default).
  std::optional<std::uint16_t> engines;
  // --max-connections N: connection slots per engine (sockets, listeners and
  // connections; 1..1048575). Unset: sized for the machine (default_max_connections).
  std::optional<std::uint32_t> max_connections;
  // --ecn off|passive|on: ECN for TCP (Linux's net.ipv4.tcp_ecn 0/2/1); unset: passive.
  std::optional<EcnMode> ecn;
};

// Connection slots per engine when --max-connections is not given: about 1/16 of the
// machine's memory at 32 KiB per connection (its buffers at rest), between 4 096 and
// 65 536 in all, divided among the engines (at least 1 024 each).
std::uint32_t default_max_connections(std::uint16_t engines);

struct ParsedStackOptions {
  StackOptions options;
  std::vector<std::string> rest;  // arguments not for the stack, in their original order
};

// `args` excludes the program name; a leading "--" (left by rte_eal_init) is skipped.
Result<ParsedStackOptions> parse_stack_options(std::span<const std::string> args);
Result<ParsedStackOptions> parse_stack_options(int argc, char* const* argv);

// The pieces, for apps and tests with their own syntax.
Result<InterfaceAddress> parse_interface_address(std::string_view text);  // "ADDR/PREFIX"
Result<RouteOption> parse_route(std::string_view text);                   // "NET/PREFIX,GW"
Result<ImpairmentConfig> parse_impairment(std::string_view text);

}  // namespace shardtcp
