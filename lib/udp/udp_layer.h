// The UDP layer of one engine (RFC 768, RFC 1122 §4.1): a fixed table of UDP
// sockets, demultiplexing of received datagrams to them, sending through the IP
// layer, ICMP errors reported as socket errors, and per-socket events.
//
// One instance per engine, used only from that engine's thread: no locks. It is the
// IpStack's TransportHandler for protocol 17 and keeps what it needs to send from
// API calls made outside on_l4 (the IpStack, the engine's FrameSink, pool, clock).
//
//   IpStack ip(ip_cfg);
//   Engine engine(port, pool, ip, clock);
//   UdpLayer udp(ip, engine);                       // or UdpLayer(ip, UdpEnv{...})
//   ip.set_transport(17, &udp);
//   UdpSocketId s = udp.open([](UdpSocketId id, UdpEvent ev) { ... });
//   udp.bind(s, {IpAddr{}, 7});                     // any address, port 7
//   ... engine.poll_once(); udp.recv_from(s, buf, sizeof buf, &info); udp.send_to(...)
//
// Errors are negative errno values (the sockets layer returns -1 and sets errno).
// Nothing on the per-packet path allocates from the heap: sockets, queue nodes and
// the port index are sized at construction; queued datagrams are the received mbufs.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/counters.h"
#include "common/time.h"
#include "engine/packet_handler.h"
#include "ip/ip_stack.h"
#include "ip/transport_handler.h"
#include "udp/udp_counters.h"
#include "udp/udp_receive_queue.h"
#include "wire/ip_addr.h"

namespace shardtcp {

class Engine;

// A socket of one UdpLayer: slot in the low 16 bits, generation in the high 16, so a
// closed-and-reused slot does not answer to an old id. 0 is never a valid id.
struct UdpSocketId {
  std::uint32_t value = 0;
  std::uint16_t slot() const { return static_cast<std::uint16_t>(value & 0xffff); }
  std::uint16_t generation() const { return static_cast<std::uint16_t>(value >> 16); }
  bool valid() const { return value != 0; }
  friend bool operator==(UdpSocketId, UdpSocketId) = default;
};

enum class UdpEvent : std::uint8_t {
  kReadable,  // a datagram was queued on an empty receive queue (edge: drain to EAGAIN)
  kWritable,  // connect() gave the socket a peer: send() may be used (UDP never blocks)
  kError,     // an ICMP error set the pending error (read it with pending_error)
};

// Called from the engine's thread (inside on_l4/on_icmp_error or inside connect).
// The callback may call any UdpLayer method, close() of this socket included.
using UdpEventFn = std::function<void(UdpSocketId, UdpEvent)>;

// recv_from flags.
inline constexpr unsigned kUdpPeek = 1;   // MSG_PEEK: leave the datagram queued
inline constexpr unsigned kUdpTrunc = 2;  // MSG_TRUNC: return the datagram's real length

// What recv_from learned about the datagram it returned.
struct UdpRecvInfo {
  Endpoint from;
  std::size_t datagram_len = 0;  // the whole payload, even if the buffer was smaller
  bool truncated = false;        // MSG_TRUNC in msg_flags
};

// Where an API call outside on_l4 sends and allocates. Engine provides all four.
using UdpEnv = EngineServices;

struct UdpConfig {
  std::uint16_t max_sockets = 1024;         // slots (<= 65535)
  std::size_t max_queued_datagrams = 8192;  // queue nodes shared by all sockets
  std::size_t default_rcvbuf = 212992;      // per socket, bytes (Linux's default)
  std::uint16_t ephemeral_first = 1024;     // ip_local_port_range (stack option --local-ports)
  std::uint16_t ephemeral_last = 65535;
  std::uint64_t seed = 1;         // where the ephemeral search starts
  bool tx_cksum_offload = false;  // PortInfo::tx_l4_cksum: let the device sum
};

class UdpLayer final : public TransportHandler {
 public:
  static constexpr std::size_t kMaxPayload = 65507;  // 65535 - 20 (IPv4) - 8
  static constexpr std::uint8_t kProtocol = 17;

  UdpLayer(IpStack& ip, const UdpEnv& env, const UdpConfig& config = {});
  // Takes the engine's FrameSink, pool and clock.
  UdpLayer(IpStack& ip, Engine& engine, const UdpConfig& config = {});
  ~UdpLayer() override;  // frees every queued datagram
  UdpLayer(const UdpLayer&) = delete;
  UdpLayer& operator=(const UdpLayer&) = delete;

  // ---- sockets (all return 0 / a count on success, -errno on failure)
  // A new unbound socket; an invalid id when the table is full (ENFILE) or the
  // family is neither IPv4, IPv6 nor kNone (EAFNOSUPPORT); `error` (optional) says
  // which. kNone makes a dual-family socket: bound to the wildcard it receives
  // datagrams of both families and may send to either (a Linux `::` socket without
  // IPV6_V6ONLY); connect() or a bind to one address fixes its family.
  UdpSocketId open(UdpEventFn on_event = {}, IpFamily family = IpFamily::kV4, int* error = nullptr);
  // Address may be unspecified (any of ours); port 0 picks a free ephemeral port.
  // EINVAL already bound, EADDRNOTAVAIL not our address, EADDRINUSE clash (unless
  // both sockets set reuse_addr), EAFNOSUPPORT wrong family, EAGAIN no free port.
  int bind(UdpSocketId id, const Endpoint& local);
  // Sets the default peer (again to change it); an unspecified address disconnects.
  // Binds an ephemeral port if unbound and fills an unspecified local address from
  // the route. ENETUNREACH no route, EDESTADDRREQ port 0.
  int connect(UdpSocketId id, const Endpoint& peer);
  // One datagram to the connected peer. Returns len. EDESTADDRREQ not connected,
  // EMSGSIZE > kMaxPayload, ENETUNREACH, ENOBUFS (no mbufs); a pending error is
  // returned (and cleared) first, as Linux does. A datagram the IP layer drops after
  // taking it (ARP queue full) counts as send_dropped but still returns len, as
  // Linux does without IP_RECVERR.
  long send(UdpSocketId id, const void* data, std::size_t len);
  // One datagram to `to` (binds an ephemeral port first if unbound).
  long send_to(UdpSocketId id, const void* data, std::size_t len, const Endpoint& to);
  // Zero-copy send: `payload` (a chain with >= 42 bytes of headroom in its first
  // segment) becomes the datagram; ownership always passes. Unspecified `to` = the
  // connected peer.
  long send_mbuf(UdpSocketId id, rte_mbuf* payload, const Endpoint& to);
  // Copies the oldest datagram into buf (truncating); returns the bytes copied, or
  // with kUdpTrunc the datagram's real length. EAGAIN when empty; a pending error
  // is returned (and cleared) first.
  long recv_from(UdpSocketId id, void* buf, std::size_t len, UdpRecvInfo* info = nullptr,
                 unsigned flags = 0);
  long recv_from(UdpSocketId id, void* buf, std::size_t len, Endpoint* from, unsigned flags = 0);
  // Zero-copy receive: the oldest datagram's mbuf (payload at offset 0), which the
  // caller now owns; nullptr with *error = -EAGAIN/-ENOTSOCK/-error.
  rte_mbuf* recv_mbuf(UdpSocketId id, Endpoint* from, int* error = nullptr);
  // Frees the queue and the slot; the id becomes stale. ENOTSOCK if already stale.
  int close(UdpSocketId id);

  // SO_ERROR: returns the pending error (positive errno, 0 none) and clears it;
  // -ENOTSOCK for a stale id.
  int pending_error(UdpSocketId id);
  // FIONREAD-ish: payload bytes of all queued datagrams, and how many; the next
  // datagram's size (Linux's FIONREAD for UDP); -ENOTSOCK for a stale id.
  long readable_bytes(UdpSocketId id) const;
  long pending_datagrams(UdpSocketId id) const;
  long next_datagram_size(UdpSocketId id) const;  // 0 when empty

  // SO_REUSEADDR (before bind), SO_RCVBUF.
  int set_reuse_addr(UdpSocketId id, bool on);
  int set_rcvbuf(UdpSocketId id, std::size_t bytes);
  // getsockname / getpeername; ENOTCONN for peer when not connected.
  int local_endpoint(UdpSocketId id, Endpoint* out) const;
  int peer_endpoint(UdpSocketId id, Endpoint* out) const;
  bool is_open(UdpSocketId id) const { return find(id) != nullptr; }
  std::size_t open_sockets() const { return open_count_; }
  std::size_t capacity() const { return slots_.size(); }

  // ---- TransportHandler
  void on_l4(rte_mbuf* m, const L3Meta& meta, PacketContext& ctx) override;
  void on_icmp_error(const IcmpErrorInfo& err, PacketContext& ctx) override;

  const CounterGroup& counters() const { return counters_; }
  std::uint64_t counter(UdpCounter c) const { return counters_.get(c); }
  const UdpNodePool& node_pool() const { return nodes_; }

 private:
  static constexpr std::uint32_t kNoSlot = UINT32_MAX;

  struct Socket {
    bool open = false;
    std::uint16_t generation = 1;
    IpFamily family = IpFamily::kV4;
    bool bound = false;        // holds a port (in port_heads_)
    bool addr_locked = false;  // bind() set the address (connect(unspec) keeps it)
    bool port_locked = false;  // bind() set the port
    bool connected = false;
    bool reuse_addr = false;
    Endpoint local;  // addr unspecified (IpAddr{}) = any
    Endpoint peer;
    int error = 0;  // pending error, positive errno
    std::size_t rcvbuf = 0;
    UdpReceiveQueue queue;
    UdpEventFn on_event;
    std::uint32_t next_on_port = kNoSlot;  // list of sockets bound to local.port
    bool firing = false;                   // its callback is running
    bool release_pending = false;          // closed by its own callback: free the slot after
  };

  Socket* find(UdpSocketId id);
  const Socket* find(UdpSocketId id) const;
  UdpSocketId id_of(std::uint32_t slot) const;
  PacketContext make_context() const;

  UdpSocketId id_of_open(std::uint32_t slot) const;
  bool clashes(std::uint32_t slot, const IpAddr& addr, std::uint16_t port) const;
  int hash_port(std::uint32_t slot, const IpAddr& addr, std::uint16_t port);
  void unhash(std::uint32_t slot);
  int pick_ephemeral(std::uint32_t slot, const IpAddr& addr);
  int take_error(Socket& s);

  // Demux for a received datagram: connected exact match, then bound address, then
  // wildcard. kNoSlot when none; *peer_filtered when the port had connected
  // sockets that did not match the sender.
  std::uint32_t lookup(const IpAddr& local, std::uint16_t local_port, const IpAddr& remote,
                       std::uint16_t remote_port, bool* peer_filtered) const;
  // Source address (bound, or the route's) and an ephemeral port if unbound;
  // -errno (counted) on failure. Runs before any mbuf is allocated.
  int prepare_send(Socket& s, UdpSocketId id, const Endpoint& to, IpAddr* src);
  // Prepends the header, checksums, hands to IpStack::output; owns `payload`.
  long send_datagram(Socket& s, rte_mbuf* payload, const IpAddr& src, const Endpoint& to);
  void fire(std::uint32_t slot, UdpEvent ev);

  IpStack& ip_;
  UdpEnv env_;
  UdpConfig config_;
  std::vector<Socket> slots_;
  std::vector<std::uint32_t> free_slots_;  // stack of closed slots
  std::vector<std::uint32_t> port_heads_;  // 65536 list heads, by local port
  UdpNodePool nodes_;
  std::size_t open_count_ = 0;
  std::uint32_t ephemeral_cursor_ = 0;
  CounterGroup counters_{"udp", kUdpCounterNames};
};

}  // namespace shardtcp
