// Application options of a shardtcp program: what comes after the EAL options and
// "--" on the command line.
//
//   app -l 0-1 --vdev=net_tap0,iface=tap0 -- --ip 198.18.0.2/24 --gw 198.18.0.1
//       --route 198.19.0.0/16,198.18.0.254 --mtu 1500 --pcap /tmp/x.pcapng
//       --impair drop=0.01,dup=0.001,reorder=8,corrupt=0.0001,delay=200,seed=7 --engines 2
//       --local-ports 1024-65535 --time-wait-max 600000 --mbufs 65535 --port 8080
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

struct PortRange {
  std::uint16_t first = 0;  // inclusive
  std::uint16_t last = 0;
};

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
  // --local-ports FIRST-LAST: the ephemeral port range of TCP and UDP (Linux's
  // ip_local_port_range). Unset: 1024-65535, as a tuned Linux host.
  std::optional<PortRange> local_ports;
  // --time-wait-max N: TIME_WAIT records per engine (1..16777216; Linux's
  // tcp_max_tw_buckets). Beyond it the oldest is recycled early (counter
  // tcp_layer.time_wait_evicted). Size it 2*MSL x connection rate: 60 s x 10k/s = 600k.
  // Unset: 262144. Memory is used only as records are made (64 bytes each, 128 reserved).
  std::optional<std::uint32_t> time_wait_max;
  // --mbufs N: the mbuf pool's size (1023..16777215); unset: StackConfig::n_mbufs.
  std::optional<std::uint32_t> mbufs;
  // --zero-copy-tx on|off: frames reference the send buffer instead of copying it where
  // the port suits it (PortInfo::tx_zero_copy); unset: on (StackConfig's default).
  std::optional<bool> zero_copy_tx;
};

// Defaults of the options above.
inline constexpr PortRange kDefaultLocalPorts{1024, 65535};
inline constexpr std::uint32_t kDefaultTimeWaitMax = 262144;

// Connection slots per engine when --max-connections is not given: an eighth of the
// machine's memory at 8 KiB per connection, between 4 096 and 4 Mi in all, divided
// among the engines (1 024 to 1 048 575 each). Slots cost memory only once used.
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
Result<PortRange> parse_port_range(std::string_view text);  // "FIRST-LAST", 1..65535

}  // namespace shardtcp
