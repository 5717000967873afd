// The IP layer of one engine: Ethernet demultiplexing, ARP (NeighborCache), routes
// (RouteTable), IPv4 input/output with reassembly and fragmentation, and ICMP (echo,
// ping, errors in both directions). It is the engine's PacketHandler and hands L4
// datagrams to the TransportHandler registered for their protocol.
//
// One instance per engine, used only from that engine's thread: no locks. Nothing on
// the per-packet path allocates from the heap (mbufs come from the context's pool).
// Construction creates the reassembly table with rte_zmalloc, so EAL must be up when
// reassembly is enabled.
#pragma once

#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/counters.h"
#include "common/time.h"
#include "engine/packet_handler.h"
#include "ip/ip_counters.h"
#include "ip/ipv4_reassembly.h"
#include "ip/neighbor_cache.h"
#include "ip/route_table.h"
#include "ip/token_bucket.h"
#include "ip/transport_handler.h"
#include "port/packet_port.h"
#include "wire/ip_addr.h"

namespace shardtcp {

struct IpStackConfig {
  PortInfo port;  // our MAC, MTU and offload flags
  std::vector<InterfaceAddress> addresses;
  IpAddr gateway;             // none: no default route
  std::vector<Route> routes;  // static routes
  std::uint16_t mtu = 0;      // 0: port.mtu
  std::uint8_t ttl = 64;
  NeighborConfig arp;
  bool reassembly = true;
  ReassemblyConfig reassembly_cfg;
  double icmp_errors_per_second = 100;  // token bucket for generated ICMP errors
  double icmp_error_burst = 10;
  bool announce_at_start = true;  // gratuitous ARP on the first on_timers/start()
};

enum class OutputResult : std::uint8_t {
  kSent,                 // handed to the FrameSink
  kQueuedForResolution,  // waits for ARP; sent or dropped later
  kNoRoute,              // ENETUNREACH
  kNoBuffer,             // no headroom/mbufs
  kDropped,              // bad arguments, too big with DF, or the ARP queue is full
};

struct PingReply {
  IpAddr from;
  std::uint16_t ident = 0;
  std::uint16_t seq = 0;
  std::size_t payload_len = 0;
  std::uint8_t ttl = 0;
  bool has_rtt = false;  // payloads of 8+ bytes carry the send time
  Duration rtt{};
};

class IpStack final : public PacketHandler {
 public:
  explicit IpStack(const IpStackConfig& cfg);
  ~IpStack() override;
  IpStack(const IpStack&) = delete;
  IpStack& operator=(const IpStack&) = delete;

  // PacketHandler
  void on_frames(rte_mbuf** frames, std::uint16_t n, PacketContext& ctx) override;
  void on_timers(PacketContext& ctx) override;

  // Sends the start-up gratuitous ARPs now (on_timers does it once if not called).
  void start(PacketContext& ctx);

  // Registers the handler for an IP protocol number (6 TCP, 17 UDP); null removes it.
  void set_transport(std::uint8_t proto, TransportHandler* h) { transports_[proto] = h; }

  // Sends an L4 datagram: `l4` has its data at the L4 header and enough headroom for
  // 34 bytes (IPv4 + Ethernet). `src` may be none (the route's source is used).
  // Always takes ownership of `l4` (frees it on failure). TCP is sent with DF and
  // never fragmented (kDropped if it exceeds the MTU); other protocols larger than
  // the MTU are fragmented. If `l4` asks for RTE_MBUF_F_TX_{TCP,UDP}_CKSUM the
  // transport has put the pseudo-header sum in place; we set l2_len/l3_len and
  // RTE_MBUF_F_TX_IPV4.
  OutputResult output(rte_mbuf* l4, const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                      PacketContext& ctx);

  // Source address, next hop and MTU for reaching `dst`; nullopt = ENETUNREACH.
  std::optional<RouteResult> route(const IpAddr& dst) const { return routes_.lookup(dst); }

  // Sends ICMP destination unreachable (code: 3 port, 2 protocol, ...) quoting a
  // datagram the transport received: `l4` and `meta` as given to on_l4 (the IP header
  // is still in the headroom). Rate-limited; never for broadcasts, non-first
  // fragments or ICMP. Does not take ownership. True if sent.
  bool send_dest_unreachable(const rte_mbuf* l4, const L3Meta& meta, std::uint8_t code,
                             PacketContext& ctx);

  // Sends an echo request of `payload_len` bytes (the first 8 carry the send time);
  // the reply reaches the ping handler with its RTT.
  OutputResult ping(const IpAddr& dst, std::uint16_t ident, std::uint16_t seq,
                    std::size_t payload_len, PacketContext& ctx);
  void set_ping_handler(std::function<void(const PingReply&)> h) { ping_handler_ = std::move(h); }

  // Runtime address changes keep routes and ARP in step.
  bool add_address(const IpAddr& a, std::uint8_t prefix_len);
  bool remove_address(const IpAddr& a);

  RouteTable& routes() { return routes_; }
  const RouteTable& routes() const { return routes_; }
  NeighborCache& neighbors() { return neighbors_; }
  const NeighborCache& neighbors() const { return neighbors_; }
  const rte_ether_addr& mac() const { return cfg_.port.mac; }
  std::uint16_t mtu() const { return mtu_; }
  bool reassembly_ok() const { return reassembly_ != nullptr && reassembly_->ok(); }

  // eth, arp, ipv4, icmp.
  std::array<const CounterGroup*, 4> counters() const {
    return {&eth_, &neighbors_.counters(), &ipv4_, &icmp_};
  }
  const CounterGroup& eth_counters() const { return eth_; }
  const CounterGroup& arp_counters() const { return neighbors_.counters(); }
  const CounterGroup& ipv4_counters() const { return ipv4_; }
  const CounterGroup& icmp_counters() const { return icmp_; }

 private:
  class Sink;
  struct RxIp;

  void handle_frame(rte_mbuf* m, PacketContext& ctx);
  void arp_input(rte_mbuf* m, const std::uint8_t* arp, std::size_t len, PacketContext& ctx);
  void ipv4_input(rte_mbuf* m, PacketContext& ctx);
  void deliver(rte_mbuf* m, const RxIp& rx, PacketContext& ctx);
  void icmp_input(rte_mbuf* m, const RxIp& rx, PacketContext& ctx);
  void icmp_error_input(rte_mbuf* m, const RxIp& rx, std::uint32_t off, std::uint32_t len,
                        std::uint8_t type, std::uint8_t code, std::uint16_t mtu,
                        PacketContext& ctx);
  bool send_icmp_error(const std::uint8_t* ip_hdr, std::size_t ihl, const rte_mbuf* m,
                       std::uint32_t l4_off, std::uint32_t l4_len, std::uint8_t type,
                       std::uint8_t code, PacketContext& ctx);
  OutputResult send_ip(rte_mbuf* ip, const IpAddr& dst, const RouteResult& rt, PacketContext& ctx);
  OutputResult fragment_and_send(rte_mbuf* ip, const IpAddr& dst, const RouteResult& rt,
                                 PacketContext& ctx);
  void transmit(rte_mbuf* frame, PacketContext& ctx);
  void finish_ipv4_header(rte_mbuf* m, rte_ipv4_hdr* h);

  IpStackConfig cfg_;
  std::uint16_t mtu_;
  RouteTable routes_;
  NeighborCache neighbors_;
  std::unique_ptr<Ipv4Reassembly> reassembly_;
  TokenBucket icmp_bucket_;
  std::array<TransportHandler*, 256> transports_{};
  std::function<void(const PingReply&)> ping_handler_;
  std::uint16_t next_id_ = 1;
  bool started_ = false;
  CounterGroup eth_{"eth", kEthCounterNames};
  CounterGroup ipv4_{"ipv4", kIpv4CounterNames};
  CounterGroup icmp_{"icmp", kIcmpCounterNames};
};

}  // namespace shardtcp
