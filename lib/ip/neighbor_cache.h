// The neighbour cache of one engine: ARP for IPv4 (RFC 826, with RFC 1122 §2.3.2
// queueing and RFC 5227 announcements) or, built with family kV6, the cache of IPv6
// Neighbor Discovery (RFC 4861 §7.3: incomplete, reachable, stale, delay, probe; the
// IpStack parses NS/NA and feeds them in through on_solicit_source / on_advert). Pure logic: time
// comes in as `now`, frames go out through NeighborOutput, and queued packets are opaque handles
// the cache never dereferences, so tests drive it with fake packets and a virtual clock.
//
// Storage is fixed at construction (entries and one pool of queue slots shared by all
// entries), so nothing is allocated on the packet path. Lookups scan the live entries
// behind a one-entry cache: a host talks to its gateway and a few on-link peers.
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "common/counters.h"
#include "common/time.h"
#include "ip/ip_counters.h"
#include "wire/arp.h"
#include "wire/ip_addr.h"

struct rte_mbuf;

namespace shardtcp {

struct NeighborConfig {
  std::uint32_t max_entries = 256;
  // Packets waiting on one resolution. A program that opens its first connections to
  // a peer all at once (a TCP_CRR client: 16 SYNs in one iteration) must not lose any
  // of them to the ARP request in flight: a lost SYN costs the connection a one-second
  // retransmission. Linux queues about as many (unres_qlen_bytes, 212 992 bytes of
  // small packets); 8 here stalled half of a 16-connection client for its first second.
  std::uint32_t max_queued_per_entry = 256;
  std::uint32_t max_queued_total = 1024;  // packets waiting on all resolutions
  std::uint32_t max_requests = 3;         // broadcast requests per resolution (1 + retries)
  // Resolutions pending at once; 0: half of max_entries. Traffic to many unresolvable
  // addresses (RSTs and SYN-ACKs answering a flood from spoofed on-link sources) then
  // cannot fill the table with incomplete entries and push out the neighbours in use,
  // which would stall every connection through them.
  std::uint32_t max_incomplete = 0;
  Duration retry_interval = std::chrono::seconds(1);
  Duration reachable_time = std::chrono::seconds(30);  // then stale: re-confirm on use
  Duration stale_lifetime = std::chrono::minutes(5);   // unused stale entries are removed
  std::uint32_t gratuitous_count = 1;                  // announcements per address at start
  IpFamily family = IpFamily::kV4;                     // kV6: NDP (solicitations, no ARP)
  // Time a stale entry in use waits before its first unicast probe (RFC 4861
  // DELAY_FIRST_PROBE_TIME, 5 s for NDP); 0 probes at once (ARP).
  Duration delay_first_probe{};
};

// kDelay and kProbe are a stale entry in use whose reachability is being re-checked
// (reported by find(); the cache keeps them as kStale with probing set).
enum class NeighborState : std::uint8_t { kIncomplete, kReachable, kStale, kDelay, kProbe };

struct NeighborInfo {
  IpAddr ip;
  NeighborState state = NeighborState::kIncomplete;
  rte_ether_addr mac{};
  std::uint32_t queued = 0;
  std::uint32_t requests_sent = 0;
};

// Where the cache's decisions go. Called only from inside the cache's own methods.
class NeighborOutput {
 public:
  virtual ~NeighborOutput() = default;
  // Send `p` in an Ethernet frame addressed to `eth_dst` (broadcast for requests).
  virtual void send_arp(const ArpPacket& p, const rte_ether_addr& eth_dst) = 0;
  // A packet that waited for resolution may go now, to `mac`. Takes ownership.
  virtual void send_resolved(rte_mbuf* pkt, const rte_ether_addr& mac) = 0;
  // A waiting packet is abandoned (resolution failed or its entry evicted). Takes ownership.
  virtual void drop_unresolved(rte_mbuf* pkt) = 0;
  // Resolution of `ip` failed after max_requests requests.
  virtual void on_unresolved(const IpAddr& ip) { (void)ip; }
  // NDP caches only: send a neighbour solicitation for `target` from `source`, to
  // its solicited-node group (multicast) or, for a probe, to `unicast` .
  virtual void send_solicit(const IpAddr& target, const IpAddr& source,
                            const rte_ether_addr* unicast) {
    (void)target;
    (void)source;
    (void)unicast;
  }
};

class NeighborCache {
 public:
  enum class Resolve : std::uint8_t {
    kResolved,  // *mac filled; the packet was not taken
    kQueued,    // the packet waits (ownership taken); a request is out
    kDropped,   // queue or table full; the packet was not taken (caller frees)
  };

  NeighborCache(const NeighborConfig& cfg, const rte_ether_addr& our_mac);

  // Our addresses; the prefix picks the sender address of requests to a neighbour.
  void add_local_address(const IpAddr& a, std::uint8_t prefix_len = 32);
  void remove_local_address(const IpAddr& a);
  bool is_local(const IpAddr& a) const;

  // Resolves `next_hop` (IPv4). `pkt` may be null to only start resolution.
  // `confirmed` (kResolved): whether the binding is kReachable, what a prebuilt header
  // may rely on until epoch() changes (a stale one is being re-confirmed).
  Resolve resolve(const IpAddr& next_hop, rte_mbuf* pkt, Instant now, NeighborOutput& out,
                  rte_ether_addr* mac, bool* confirmed = nullptr);

  // A received, well-formed ARP message: answers requests for our addresses, learns
  // senders that talk to us, updates bindings we hold, releases waiting packets.
  void on_arp(const ArpPacket& p, Instant now, NeighborOutput& out);

  // NDP: a neighbour solicitation from `src` carrying its link-layer address (RFC 4861
  // §7.2.3): creates or updates the entry as stale, releasing what waited on it.
  void on_solicit_source(const IpAddr& src, const rte_ether_addr& mac, Instant now,
                         NeighborOutput& out);
  // NDP: a neighbour advertisement for `target` (§7.2.5); `mac` may be null (no
  // target link-layer option).
  void on_advert(const IpAddr& target, const rte_ether_addr* mac, bool solicited,
                 bool override_flag, Instant now, NeighborOutput& out);

  // Retries, failures, reachable→stale, ageing. Cheap when nothing is due.
  void on_timer(Instant now, NeighborOutput& out);
  Instant next_deadline() const { return next_deadline_; }

  // Gratuitous ARP for every local address (at start, after an address change).
  void announce(NeighborOutput& out);

  // Adds or replaces a permanent-as-long-as-confirmed binding (tests, static ARP).
  bool insert_reachable(const IpAddr& ip, const rte_ether_addr& mac, Instant now,
                        NeighborOutput& out);
  // Removes an entry, dropping what waits on it.
  bool erase(const IpAddr& ip, NeighborOutput& out);
  // Drops every entry and every waiting packet.
  void clear(NeighborOutput& out);

  std::optional<NeighborInfo> find(const IpAddr& ip) const;
  // Moves whenever a binding may have stopped holding: an entry's MAC changed, it left
  // kReachable, or it was removed. Outputs that kept a neighbour's MAC (IpStack's
  // Ipv4OutputPath) use it while the epoch is the one they saw.
  std::uint32_t epoch() const { return epoch_; }
  std::size_t size() const { return used_; }
  std::uint32_t queued_total() const { return queued_total_; }
  std::uint32_t incomplete() const;  // entries whose resolution is pending
  const rte_ether_addr& mac() const { return mac_; }

  CounterGroup& counters() { return counters_; }
  const CounterGroup& counters() const { return counters_; }

 private:
  struct Entry {
    IpAddr ip;
    NeighborState state = NeighborState::kIncomplete;
    rte_ether_addr mac{};
    Instant confirmed{};  // last proof of reachability
    Instant last_used{};
    Instant next_action{};       // next request (incomplete) or probe (stale, when in use)
    std::uint32_t requests = 0;  // sent in the current resolution / probe round
    bool probing = false;        // stale entry with unicast probes outstanding
    std::int32_t q_head = -1, q_tail = -1;
    std::uint32_t q_len = 0;
  };
  struct Slot {
    rte_mbuf* pkt = nullptr;
    std::int32_t next = -1;
  };

  void changed() { ++epoch_; }
  Entry* lookup(const IpAddr& ip);
  const Entry* lookup(const IpAddr& ip) const;
  Entry* create(const IpAddr& ip, Instant now, NeighborOutput& out);
  void remove(Entry* e, NeighborOutput& out);
  bool enqueue(Entry& e, rte_mbuf* pkt);
  void release(Entry& e, NeighborOutput& out);
  void drop_queue(Entry& e, NeighborOutput& out);
  void send_request(Entry& e, Instant now, NeighborOutput& out, bool unicast);
  void confirm(Entry& e, const rte_ether_addr& mac, Instant now, NeighborOutput& out);
  void lower_deadline(Instant t) {
    if (t < next_deadline_) next_deadline_ = t;
  }
  Instant entry_deadline(const Entry& e) const;

  NeighborConfig cfg_;
  rte_ether_addr mac_;
  IpAddr source_for(const IpAddr& target) const;

  std::vector<IpAddr> local_;
  std::vector<std::uint8_t> local_prefix_;  // parallel to local_
  std::vector<Entry> entries_;              // [0, used_) live
  std::size_t used_ = 0;
  std::uint32_t epoch_ = 0;
  mutable std::size_t last_hit_ = 0;
  std::vector<Slot> slots_;
  std::int32_t free_slot_ = -1;
  std::uint32_t queued_total_ = 0;
  Instant next_deadline_ = Instant::never();
  CounterGroup counters_;
};

}  // namespace shardtcp
