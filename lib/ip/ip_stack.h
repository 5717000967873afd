// The IP layer of one engine: Ethernet demultiplexing, ARP (NeighborCache), routes
// (RouteTable), IPv4 input/output with reassembly and fragmentation, and ICMP (echo,
// ping, errors in both directions); IPv6 the same way (ipv6_input.cc, ipv6_output.cc):
// extension headers, reassembly, Neighbor Discovery with a second NeighborCache,
// DAD, router solicitation/advertisement, ICMPv6 and a small path-MTU cache. It is the engine's
// PacketHandler and hands L4 datagrams to the TransportHandler registered for their protocol.
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
#include "ip/ipv4_output_path.h"
#include "ip/ipv4_pair_memo.h"
#include "ip/ipv4_reassembly.h"
#include "ip/neighbor_cache.h"
#include "ip/route_memo.h"
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
  IpAddr gateway6;            // IPv6 default router (none: learned from advertisements)
  std::vector<Route> routes;  // static routes
  std::uint16_t mtu = 0;      // 0: port.mtu
  std::uint8_t ttl = 64;
  NeighborConfig arp;
  bool reassembly = true;
  ReassemblyConfig reassembly_cfg;
  double icmp_errors_per_second = 100;  // token bucket for generated ICMP errors
  double icmp_error_burst = 10;
  bool announce_at_start = true;  // gratuitous ARP on the first on_timers/start()
  // IPv6 runs when an IPv6 address is configured or `ipv6` is set: a link-local
  // address from the MAC (EUI-64) is added, DAD and router solicitation run at start.
  bool ipv6 = false;
  NeighborConfig ndp = default_ndp_config();
  std::uint32_t dad_transmits = 1;                  // RFC 4862 DupAddrDetectTransmits
  Duration dad_interval = std::chrono::seconds(1);  // RetransTimer
  std::uint32_t router_solicitations = 3;           // MAX_RTR_SOLICITATIONS
  Duration router_solicitation_interval = std::chrono::seconds(4);
  bool accept_router_advert = true;                   // learn a default router from RAs
  Duration pmtu_lifetime = std::chrono::minutes(10);  // RFC 8201 §4

  static NeighborConfig default_ndp_config() {
    NeighborConfig c;
    c.family = IpFamily::kV6;
    c.delay_first_probe = std::chrono::seconds(5);  // RFC 4861 DELAY_FIRST_PROBE_TIME
    return c;
  }
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
  // RTE_MBUF_F_TX_IPV4. `tos` is the IPv4 TOS / IPv6 traffic class byte (TCP puts
  // its ECN codepoint there).
  OutputResult output(rte_mbuf* l4, const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                      PacketContext& ctx, std::uint8_t tos = 0);
  // output() for a sender that keeps an Ipv4OutputPath for (src, dst) (a TCP
  // connection): while it holds (same pair and protocol, routes and neighbours unchanged
  // since it was made) the frame's Ethernet and IPv4 headers are copied from it and
  // finished per frame, with no route or neighbour lookup; otherwise output() sends
  // it and refills `path` when the next hop's MAC is confirmed. IPv6 goes to output().
  OutputResult output_via(rte_mbuf* l4, const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                          PacketContext& ctx, std::uint8_t tos, Ipv4OutputPath& path);

  // Source address, next hop and MTU for reaching `dst`; nullopt = ENETUNREACH.
  // For IPv6 the MTU is lowered to a path MTU learned from a packet too big.
  std::optional<RouteResult> route(const IpAddr& dst) const;

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

  // IPv6: our link-local address (none when IPv6 is off), whether DAD is still
  // running for an address, and the default router learned from an RA (or configured).
  bool ipv6_enabled() const { return ipv6_; }
  const IpAddr& link_local() const { return link_local_; }
  bool dad_pending(const IpAddr& a) const;
  bool dad_failed(const IpAddr& a) const;
  const IpAddr& ipv6_router() const { return router6_; }
  // The path MTU recorded for `dst` from a packet-too-big (0: none).
  std::uint16_t path_mtu(const IpAddr& dst, Instant now) const;

  // Runtime address changes keep routes and ARP in step.
  bool add_address(const IpAddr& a, std::uint8_t prefix_len);
  bool remove_address(const IpAddr& a);

  RouteTable& routes() { return routes_; }
  const RouteTable& routes() const { return routes_; }
  NeighborCache& neighbors() { return neighbors_; }
  const NeighborCache& neighbors() const { return neighbors_; }
  NeighborCache& neighbors6() { return neighbors6_; }
  const NeighborCache& neighbors6() const { return neighbors6_; }
  const rte_ether_addr& mac() const { return cfg_.port.mac; }
  std::uint16_t mtu() const { return mtu_; }
  bool reassembly_ok() const { return reassembly_ != nullptr && reassembly_->ok(); }

  // eth, arp, ipv4, icmp, ndp, ipv6, icmp6.
  std::array<const CounterGroup*, 7> counters() const {
    return {&eth_,  &neighbors_.counters(), &ipv4_, &icmp_, &neighbors6_.counters(), &ipv6_c_,
            &icmp6_};
  }
  const CounterGroup& ipv6_counters() const { return ipv6_c_; }
  const CounterGroup& icmp6_counters() const { return icmp6_; }
  const CounterGroup& ndp_counters() const { return neighbors6_.counters(); }
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
  // A stream's frame, judged and delivered in a few comparisons; false leaves it to
  // handle_frame.
  bool ipv4_fast_input(rte_mbuf* m, PacketContext& ctx);
  void deliver_fast(rte_mbuf* m, PacketContext& ctx);
  void deliver(rte_mbuf* m, const RxIp& rx, PacketContext& ctx);
  void deliver_to(TransportHandler& t, rte_mbuf* m, const RxIp& rx, PacketContext& ctx);
  void icmp_input(rte_mbuf* m, const RxIp& rx, PacketContext& ctx);
  void icmp_error_input(rte_mbuf* m, const RxIp& rx, std::uint32_t off, std::uint32_t len,
                        std::uint8_t type, std::uint8_t code, std::uint16_t mtu,
                        PacketContext& ctx);
  bool send_icmp_error(const std::uint8_t* ip_hdr, std::size_t ihl, const rte_mbuf* m,
                       std::uint32_t l4_off, std::uint32_t l4_len, std::uint8_t type,
                       std::uint8_t code, PacketContext& ctx);
  // `fill`: a path to prebuild from this frame when it goes to a confirmed neighbour.
  OutputResult send_ip(rte_mbuf* ip, const IpAddr& dst, const RouteResult& rt, PacketContext& ctx,
                       Ipv4OutputPath* fill = nullptr);
  void remember_path(const rte_mbuf* m, const RouteResult& rt, Ipv4OutputPath& path);
  OutputResult output4(rte_mbuf* l4, const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                       PacketContext& ctx, std::uint8_t tos, Ipv4OutputPath* fill);
  OutputResult fragment_and_send(rte_mbuf* ip, const IpAddr& dst, const RouteResult& rt,
                                 PacketContext& ctx);
  void transmit(rte_mbuf* frame, PacketContext& ctx);
  void finish_ipv4_header(rte_mbuf* m, rte_ipv4_hdr* h);

  // IPv6 (ipv6_input.cc / ipv6_output.cc).
  struct RxIp6;
  struct Dad {
    IpAddr addr;
    std::uint32_t sent = 0;
    Instant next{};
    bool done = false, duplicate = false;
  };
  struct Pmtu {
    IpAddr dst;
    std::uint16_t mtu = 0;
    Instant expires{};
  };
  void setup_ipv6();
  void start_ipv6(PacketContext& ctx);
  void ipv6_timers(PacketContext& ctx);
  bool joined_multicast_mac(const rte_ether_addr& mac) const;
  bool joined_group(const IpAddr& group) const;
  void ipv6_input(rte_mbuf* m, PacketContext& ctx, bool reassembled = false);
  void deliver6(rte_mbuf* m, const RxIp6& rx, PacketContext& ctx);
  void icmpv6_input(rte_mbuf* m, const RxIp6& rx, PacketContext& ctx);
  void icmpv6_error_input(const std::uint8_t* msg, std::size_t len, const RxIp6& rx,
                          PacketContext& ctx);
  void ns_input(const std::uint8_t* msg, std::size_t len, const RxIp6& rx,
                const rte_ether_addr& eth_src, PacketContext& ctx);
  void na_input(const std::uint8_t* msg, std::size_t len, const RxIp6& rx, PacketContext& ctx);
  void ra_input(const std::uint8_t* msg, std::size_t len, const RxIp6& rx, PacketContext& ctx);
  void dad_conflict(const IpAddr& a);
  OutputResult output6(rte_mbuf* l4, const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                       PacketContext& ctx, std::uint8_t hop_limit = 0, std::uint8_t tclass = 0);
  OutputResult send_ip6(rte_mbuf* ip, const IpAddr& dst, const IpAddr& next_hop,
                        PacketContext& ctx);
  OutputResult fragment6_and_send(rte_mbuf* ip, const IpAddr& dst, const IpAddr& next_hop,
                                  std::uint16_t mtu, PacketContext& ctx);
  // Sends an ND message (hop limit 255) straight to `eth_dst`, no resolution.
  void send_nd(const std::uint8_t* msg, std::size_t len, const IpAddr& src, const IpAddr& dst,
               const rte_ether_addr& eth_dst, PacketContext& ctx);
  void send_ns(const IpAddr& target, const IpAddr& src, const rte_ether_addr* unicast,
               PacketContext& ctx);
  void send_na(const IpAddr& target, const IpAddr& dst, const rte_ether_addr& eth_dst,
               bool solicited, PacketContext& ctx);
  // Quotes the header chain `hdr` (hdr_len bytes, fixed header first) and up to the
  // minimum MTU of the L4 bytes of `m` from l4_off. Rate-limited; RFC 4443 §2.4(e).
  bool send_icmpv6_error(const std::uint8_t* hdr, std::size_t hdr_len, const rte_mbuf* m,
                         std::uint32_t l4_off, std::uint32_t l4_len, std::uint8_t type,
                         std::uint8_t code, std::uint32_t word1, bool allow_multicast,
                         PacketContext& ctx);
  OutputResult ping6(const IpAddr& dst, std::uint16_t ident, std::uint16_t seq,
                     std::size_t payload_len, PacketContext& ctx);
  void update_pmtu(const IpAddr& dst, std::uint32_t mtu, Instant now);

  IpStackConfig cfg_;
  // cfg_.port.mac as the low 6 bytes of a word loaded from a frame's first 8 (the
  // other 2 zero), for ipv4_fast_input's one-compare destination check.
  std::uint64_t own_mac_ = 0;
  std::uint16_t mtu_;
  RouteTable routes_;
  Ipv4PairMemo checked_pair_;  // ipv4_input's last (source, destination) that passed
  RouteMemo route_memo_;       // output's last IPv4 route
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

  bool ipv6_ = false;
  IpAddr link_local_;
  NeighborCache neighbors6_;
  std::vector<Dad> dad_;  // one per IPv6 address, kept after it finishes
  IpAddr router6_;        // default router (RA or configured)
  bool router6_from_ra_ = false;
  Instant router6_expires_ = Instant::never();
  std::uint32_t rs_sent_ = 0;
  Instant next_rs_{};
  bool ra_seen_ = false;
  std::array<Pmtu, 32> pmtu_{};
  std::uint32_t next_id6_ = 1;
  Instant now_{};  // time of the last poll, for route()'s path-MTU expiry
  // The neighbour, IPv6 (DAD, solicitations, lifetimes) and reassembly timers count in
  // seconds: on_timers runs them once per kTimerPeriod, not on every engine iteration
  // (about 300 instructions a poll on a busy engine otherwise).
  static constexpr Duration kTimerPeriod = std::chrono::milliseconds(1);
  Instant next_timers_{};
  CounterGroup ipv6_c_{"ipv6", kIpv6CounterNames};
  CounterGroup icmp6_{"icmp6", kIcmpCounterNames};
};

}  // namespace shardtcp
