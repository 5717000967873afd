#include "udp/udp_layer.h"

#include <rte_udp.h>

#include <algorithm>
#include <cerrno>

#include "common/prng.h"
#include "engine/engine.h"
#include "udp/udp_mbuf.h"
#include "wire/tcp.h"
#include "wire/udp.h"

namespace shardtcp {
namespace {

constexpr std::uint8_t kIcmpDestUnreachable = 3;
constexpr std::uint8_t kIcmpParameterProblem = 12;
constexpr std::uint8_t kCodePortUnreachable = 3;

bool is_any(const IpAddr& a) {
  return a.is_none() || a.is_unspecified();
}

// The wildcard address of a family (0.0.0.0 or ::; IpAddr{} for a dual-family socket).
IpAddr any_of(IpFamily f) {
  if (f == IpFamily::kV6) {
    const std::uint8_t zero[16] = {};
    return IpAddr::v6(&zero[0]);
  }
  if (f == IpFamily::kNone) return IpAddr{};
  return IpAddr::v4(0);
}

// A socket of family `mine` may talk to (or bind) an address of family `theirs`:
// the same family, or any family for a dual-family socket.
bool family_fits(IpFamily mine, IpFamily theirs) {
  return mine == IpFamily::kNone || mine == theirs;
}

// Two local addresses of sockets on one port would receive the same datagrams.
// IPv4 and IPv6 sockets share port numbers but never addresses (no v4-mapped); the
// dual-family wildcard overlaps both.
bool addresses_overlap(const IpAddr& a, const IpAddr& b) {
  if (a.is_none() || b.is_none()) return true;
  return a.family() == b.family() && (is_any(a) || is_any(b) || a == b);
}

// Linux's icmp_err_convert for the codes a connected UDP socket reports; 0 for the
// ones that say nothing definite about the peer (fragmentation needed: we do not
// set DF; time exceeded: a transient routing loop).
int icmp_errno(std::uint8_t type, std::uint8_t code) {
  if (type == kIcmpParameterProblem) return EPROTO;
  if (type != kIcmpDestUnreachable) return 0;
  switch (code) {
    case 0:   // net unreachable
    case 6:   // net unknown
    case 9:   // net administratively prohibited
    case 11:  // net unreachable for TOS
      return ENETUNREACH;
    case 1:   // host unreachable
    case 10:  // host administratively prohibited
    case 12:  // host unreachable for TOS
    case 13:  // communication administratively prohibited
      return EHOSTUNREACH;
    case 2:
      return ENOPROTOOPT;
    case kCodePortUnreachable:
      return ECONNREFUSED;
    case 5:  // source route failed
      return EOPNOTSUPP;
    case 7:  // host unknown
      return EHOSTDOWN;
    case 8:  // source host isolated
      return ENONET;
    default:
      return 0;
  }
}

}  // namespace

UdpLayer::UdpLayer(IpStack& ip, const UdpEnv& env, const UdpConfig& config)
    : ip_(ip),
      env_(env),
      config_(config),
      slots_(std::clamp<std::size_t>(config.max_sockets, 1, 0xffff)),
      port_heads_(65536, kNoSlot),
      nodes_(config.max_queued_datagrams) {
  if (config_.ephemeral_first == 0) config_.ephemeral_first = 1;
  if (config_.ephemeral_last < config_.ephemeral_first)
    config_.ephemeral_last = config_.ephemeral_first;
  free_slots_.reserve(slots_.size());
  for (std::size_t i = slots_.size(); i > 0; --i)
    free_slots_.push_back(static_cast<std::uint32_t>(i - 1));
  Prng prng(config_.seed);
  ephemeral_cursor_ = static_cast<std::uint32_t>(
      prng.below(std::uint32_t{config_.ephemeral_last} - config_.ephemeral_first + 1));
}

UdpLayer::UdpLayer(IpStack& ip, Engine& engine, const UdpConfig& config)
    : UdpLayer(ip, engine.services(), config) {}

UdpLayer::~UdpLayer() {
  for (auto& s : slots_) s.queue.clear(nodes_);
}

// ---------------------------------------------------------------- the table

UdpLayer::Socket* UdpLayer::find(UdpSocketId id) {
  if (!id.valid() || id.slot() >= slots_.size()) return nullptr;
  Socket& s = slots_[id.slot()];
  return s.open && s.generation == id.generation() ? &s : nullptr;
}

const UdpLayer::Socket* UdpLayer::find(UdpSocketId id) const {
  return const_cast<UdpLayer*>(this)->find(id);
}

UdpSocketId UdpLayer::id_of(std::uint32_t slot) const {
  return UdpSocketId{(std::uint32_t{slots_[slot].generation} << 16) | slot};
}

PacketContext UdpLayer::make_context() const {
  PacketContext ctx;
  ctx.now = env_.clock != nullptr ? env_.clock->now() : Instant{};
  ctx.tx = env_.tx;
  ctx.pool = env_.pool;
  ctx.engine_id = env_.engine_id;
  return ctx;
}

UdpSocketId UdpLayer::open(UdpEventFn on_event, IpFamily family, int* error) {
  if (family != IpFamily::kV4 && family != IpFamily::kV6 && family != IpFamily::kNone) {
    if (error) *error = -EAFNOSUPPORT;
    return {};
  }
  if (free_slots_.empty()) {
    if (error) *error = -ENFILE;
    return {};
  }
  const std::uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  Socket& s = slots_[slot];
  const std::uint16_t gen = s.generation;
  s = Socket{};
  s.generation = gen;
  s.open = true;
  s.family = family;
  s.local.addr = any_of(family);
  s.rcvbuf = config_.default_rcvbuf;
  s.on_event = std::move(on_event);
  ++open_count_;
  if (error) *error = 0;
  return id_of(slot);
}

int UdpLayer::close(UdpSocketId id) {
  Socket* s = find(id);
  if (s == nullptr) return -ENOTSOCK;
  const std::uint32_t slot = id.slot();
  if (s->bound) unhash(slot);
  s->queue.clear(nodes_);
  s->open = false;
  s->connected = false;
  s->generation = static_cast<std::uint16_t>(s->generation + 1);
  if (s->generation == 0) s->generation = 1;
  --open_count_;
  if (s->firing) {
    // Its callback is running right now: destroying it (or letting open() reuse
    // the slot and overwrite it) would pull the function out from under itself.
    s->release_pending = true;
    return 0;
  }
  s->on_event = nullptr;
  free_slots_.push_back(slot);
  return 0;
}

void UdpLayer::fire(std::uint32_t slot, UdpEvent ev) {
  Socket& s = slots_[slot];
  if (!s.on_event || s.firing) return;
  s.firing = true;
  s.on_event(id_of_open(slot), ev);
  s.firing = false;
  if (s.release_pending) {
    s.release_pending = false;
    s.on_event = nullptr;
    free_slots_.push_back(slot);
  }
}

UdpSocketId UdpLayer::id_of_open(std::uint32_t slot) const {
  // While a callback runs its socket may have been closed (generation bumped); hand
  // the callback the id it was opened with.
  const Socket& s = slots_[slot];
  const std::uint16_t gen =
      s.open ? s.generation
             : static_cast<std::uint16_t>(s.generation == 1 ? 0xffff : s.generation - 1);
  return UdpSocketId{(std::uint32_t{gen} << 16) | slot};
}

// ---------------------------------------------------------------- ports

bool UdpLayer::clashes(std::uint32_t slot, const IpAddr& addr, std::uint16_t port) const {
  const bool reuse = slots_[slot].reuse_addr;
  for (std::uint32_t i = port_heads_[port]; i != kNoSlot; i = slots_[i].next_on_port) {
    if (i == slot) continue;
    const Socket& o = slots_[i];
    const bool overlap = addresses_overlap(o.local.addr, addr);
    if (overlap && !(reuse && o.reuse_addr)) return true;
  }
  return false;
}

int UdpLayer::hash_port(std::uint32_t slot, const IpAddr& addr, std::uint16_t port) {
  if (clashes(slot, addr, port)) return -EADDRINUSE;
  Socket& s = slots_[slot];
  s.local = Endpoint{addr, port};
  // Newest first: with SO_REUSEADDR on both, the last bound socket gets unicast, as
  // on Linux.
  s.next_on_port = port_heads_[port];
  port_heads_[port] = slot;
  s.bound = true;
  return 0;
}

void UdpLayer::unhash(std::uint32_t slot) {
  Socket& s = slots_[slot];
  std::uint32_t* link = &port_heads_[s.local.port];
  while (*link != kNoSlot && *link != slot) link = &slots_[*link].next_on_port;
  if (*link == slot) *link = s.next_on_port;
  s.next_on_port = kNoSlot;
  s.bound = false;
}

int UdpLayer::pick_ephemeral(std::uint32_t slot, const IpAddr& addr) {
  const std::uint32_t n = std::uint32_t{config_.ephemeral_last} - config_.ephemeral_first + 1;
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t k = (ephemeral_cursor_ + i) % n;
    const auto port = static_cast<std::uint16_t>(config_.ephemeral_first + k);
    // Only wholly unused ports: an ephemeral port is never shared.
    if (port_heads_[port] != kNoSlot) continue;
    ephemeral_cursor_ = (k + 1) % n;
    return hash_port(slot, addr, port);
  }
  counters_.inc(UdpCounter::kEphemeralExhausted);
  return -EAGAIN;
}

int UdpLayer::take_error(Socket& s) {
  const int e = s.error;
  s.error = 0;
  return e;
}

// ---------------------------------------------------------------- API

int UdpLayer::bind(UdpSocketId id, const Endpoint& local) {
  Socket* s = find(id);
  if (s == nullptr) return -ENOTSOCK;
  if (s->bound) return -EINVAL;
  IpAddr addr = local.addr.is_none() ? any_of(s->family) : local.addr;
  if (!family_fits(s->family, addr.family())) return -EAFNOSUPPORT;
  if (!is_any(addr) && !ip_.routes().is_local(addr)) return -EADDRNOTAVAIL;
  const std::uint32_t slot = id.slot();
  const int r = local.port == 0 ? pick_ephemeral(slot, addr) : hash_port(slot, addr, local.port);
  if (r != 0) return r;
  s->addr_locked = !is_any(addr);
  s->port_locked = local.port != 0;
  return 0;
}

int UdpLayer::connect(UdpSocketId id, const Endpoint& peer) {
  Socket* s = find(id);
  if (s == nullptr) return -ENOTSOCK;
  const std::uint32_t slot = id.slot();
  if (is_any(peer.addr)) {
    // Dissolve the association (Linux's AF_UNSPEC connect): what connect chose for
    // us goes back; what bind() chose stays.
    s->connected = false;
    s->peer = Endpoint{};
    if (!s->addr_locked) s->local.addr = any_of(s->family);
    if (!s->port_locked && s->bound) {
      unhash(slot);
      s->local.port = 0;
    }
    return 0;
  }
  if (!family_fits(s->family, peer.addr.family())) return -EAFNOSUPPORT;
  if (peer.port == 0) return -EDESTADDRREQ;
  IpAddr source;
  if (peer.addr.is_broadcast()) {
    if (ip_.routes().addresses().empty()) return -ENETUNREACH;
    source = ip_.routes().addresses().front().addr;
  } else {
    const auto rt = ip_.route(peer.addr);
    if (!rt) return -ENETUNREACH;
    source = rt->source;
  }
  if (!s->bound) {
    const int r = pick_ephemeral(slot, s->local.addr);
    if (r != 0) return r;
  }
  if (is_any(s->local.addr)) s->local.addr = source;
  s->peer = peer;
  s->connected = true;
  fire(slot, UdpEvent::kWritable);
  return 0;
}

long UdpLayer::send(UdpSocketId id, const void* data, std::size_t len) {
  Socket* s = find(id);
  if (s == nullptr) return -ENOTSOCK;
  if (!s->connected) return -EDESTADDRREQ;
  return send_to(id, data, len, s->peer);
}

long UdpLayer::send_to(UdpSocketId id, const void* data, std::size_t len, const Endpoint& to) {
  Socket* s = find(id);
  if (s == nullptr) return -ENOTSOCK;
  if (const int e = take_error(*s); e != 0) return -e;
  if (is_any(to.addr)) return -EDESTADDRREQ;
  if (!family_fits(s->family, to.addr.family())) return -EAFNOSUPPORT;
  if (to.port == 0) return -EINVAL;
  if (data == nullptr && len > 0) return -EFAULT;
  if (len > kMaxPayload) {
    counters_.inc(UdpCounter::kSendErrors);
    counters_.inc(UdpCounter::kSendTooBig);
    return -EMSGSIZE;
  }
  IpAddr src;
  if (const int r = prepare_send(*s, id, to, &src); r != 0) return r;
  rte_mbuf* m = chain_from_bytes(env_.pool, data, len);
  if (m == nullptr) {
    counters_.inc(UdpCounter::kSendErrors);
    counters_.inc(UdpCounter::kSendNoBuffer);
    return -ENOBUFS;
  }
  return send_datagram(*s, m, src, to);
}

long UdpLayer::send_mbuf(UdpSocketId id, rte_mbuf* payload, const Endpoint& to) {
  if (payload == nullptr) return -EFAULT;
  Socket* s = find(id);
  long r = 0;
  if (s == nullptr) {
    r = -ENOTSOCK;
  } else if (const int e = take_error(*s); e != 0) {
    r = -e;
  } else if (is_any(to.addr) && !s->connected) {
    r = -EDESTADDRREQ;
  } else if (!is_any(to.addr) && !family_fits(s->family, to.addr.family())) {
    r = -EAFNOSUPPORT;
  } else if (!is_any(to.addr) && to.port == 0) {
    r = -EINVAL;
  } else if (payload->pkt_len > kMaxPayload) {
    counters_.inc(UdpCounter::kSendErrors);
    counters_.inc(UdpCounter::kSendTooBig);
    r = -EMSGSIZE;
  }
  const Endpoint dst = s != nullptr && is_any(to.addr) ? s->peer : to;
  IpAddr src;
  if (r == 0) r = prepare_send(*s, id, dst, &src);
  if (r != 0) {
    rte_pktmbuf_free(payload);
    return r;
  }
  payload->ol_flags = 0;  // received mbufs carry RX flags that mean nothing on TX
  return send_datagram(*s, payload, src, dst);
}

int UdpLayer::prepare_send(Socket& s, UdpSocketId id, const Endpoint& to, IpAddr* src) {
  auto fail = [&](UdpCounter why, int err) -> int {
    counters_.inc(UdpCounter::kSendErrors);
    counters_.inc(why);
    return -err;
  };
  *src = s.local.addr;
  // A dual-family socket that bound or connected one address speaks its family only.
  if (!is_any(*src) && src->family() != to.addr.family()) return -EAFNOSUPPORT;
  if (is_any(*src)) {
    if (to.addr.is_broadcast()) {
      if (ip_.routes().addresses().empty()) return fail(UdpCounter::kSendNoRoute, ENETUNREACH);
      *src = ip_.routes().addresses().front().addr;
    } else {
      const auto rt = ip_.route(to.addr);
      if (!rt) return fail(UdpCounter::kSendNoRoute, ENETUNREACH);
      *src = rt->source;
    }
  }
  if (!s.bound) {
    // An unbound socket sending gets an ephemeral port and stays bound to it.
    const int r = pick_ephemeral(id.slot(), s.local.addr);
    if (r != 0) return fail(UdpCounter::kSendDropped, -r);
  }
  return 0;
}

long UdpLayer::send_datagram(Socket& s, rte_mbuf* m, const IpAddr& src, const Endpoint& to) {
  auto fail = [&](UdpCounter why, int err) -> long {
    counters_.inc(UdpCounter::kSendErrors);
    counters_.inc(why);
    return -err;
  };
  const std::size_t payload_len = m->pkt_len;
  auto* hdr = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_prepend(m, UdpView::kHeaderLen));
  if (hdr == nullptr) {
    rte_pktmbuf_free(m);
    return fail(UdpCounter::kSendNoBuffer, ENOBUFS);
  }
  emit_udp_header(hdr, UdpView::kHeaderLen, s.local.port, to.port, payload_len);
  if (config_.tx_cksum_offload) {
    // The device finishes the sum; IpStack::output computes it itself if it has to
    // fragment.
    set_udp_checksum(hdr, l4_pseudo_header_checksum(src, to.addr, kProtocol, m->pkt_len));
    m->ol_flags |=
        RTE_MBUF_F_TX_UDP_CKSUM | (to.addr.is_v6() ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4);
    m->l4_len = UdpView::kHeaderLen;
  } else {
    set_udp_checksum(hdr, udp_checksum_mbuf(m, src, to.addr));
  }
  PacketContext ctx = make_context();
  switch (ip_.output(m, src, to.addr, kProtocol, ctx)) {
    case OutputResult::kSent:
    case OutputResult::kQueuedForResolution:
      counters_.inc(UdpCounter::kOutDatagrams);
      return static_cast<long>(payload_len);
    case OutputResult::kNoRoute:
      return fail(UdpCounter::kSendNoRoute, ENETUNREACH);
    case OutputResult::kNoBuffer:
      return fail(UdpCounter::kSendNoBuffer, ENOBUFS);
    case OutputResult::kDropped:
      break;
  }
  // Our arguments were checked, so the IP layer dropped it for want of room (the
  // ARP queue was full). Linux counts such drops and reports success unless
  // IP_RECVERR is set: a datagram may be lost anywhere on the way anyway.
  counters_.inc(UdpCounter::kSendDropped);
  return static_cast<long>(payload_len);
}

long UdpLayer::recv_from(UdpSocketId id, void* buf, std::size_t len, UdpRecvInfo* info,
                         unsigned flags) {
  Socket* s = find(id);
  if (s == nullptr) return -ENOTSOCK;
  if (const int e = take_error(*s); e != 0) return -e;
  if (buf == nullptr && len > 0) return -EFAULT;
  Endpoint from;
  rte_mbuf* m = s->queue.front(nodes_, &from);
  if (m == nullptr) return -EAGAIN;
  const std::size_t dlen = m->pkt_len;
  const std::size_t copied = copy_from_chain(m, 0, buf, len);
  if (info != nullptr) {
    info->from = from;
    info->datagram_len = dlen;
    info->truncated = copied < dlen;
  }
  if ((flags & kUdpPeek) == 0) rte_pktmbuf_free(s->queue.pop(nodes_, nullptr));
  return static_cast<long>((flags & kUdpTrunc) != 0 ? dlen : copied);
}

long UdpLayer::recv_from(UdpSocketId id, void* buf, std::size_t len, Endpoint* from,
                         unsigned flags) {
  UdpRecvInfo info;
  const long r = recv_from(id, buf, len, &info, flags);
  if (r >= 0 && from != nullptr) *from = info.from;
  return r;
}

rte_mbuf* UdpLayer::recv_mbuf(UdpSocketId id, Endpoint* from, int* error) {
  Socket* s = find(id);
  int err = 0;
  rte_mbuf* m = nullptr;
  if (s == nullptr) {
    err = -ENOTSOCK;
  } else if (const int e = take_error(*s); e != 0) {
    err = -e;
  } else {
    m = s->queue.pop(nodes_, from);
    if (m == nullptr) err = -EAGAIN;
  }
  if (error != nullptr) *error = err;
  return m;
}

int UdpLayer::pending_error(UdpSocketId id) {
  Socket* s = find(id);
  return s == nullptr ? -ENOTSOCK : take_error(*s);
}

long UdpLayer::readable_bytes(UdpSocketId id) const {
  const Socket* s = find(id);
  return s == nullptr ? -ENOTSOCK : static_cast<long>(s->queue.payload_bytes());
}

long UdpLayer::pending_datagrams(UdpSocketId id) const {
  const Socket* s = find(id);
  return s == nullptr ? -ENOTSOCK : static_cast<long>(s->queue.datagrams());
}

long UdpLayer::next_datagram_size(UdpSocketId id) const {
  const Socket* s = find(id);
  if (s == nullptr) return -ENOTSOCK;
  const rte_mbuf* m = s->queue.front(nodes_, nullptr);
  return m == nullptr ? 0 : static_cast<long>(m->pkt_len);
}

int UdpLayer::set_reuse_addr(UdpSocketId id, bool on) {
  Socket* s = find(id);
  if (s == nullptr) return -ENOTSOCK;
  s->reuse_addr = on;
  return 0;
}

int UdpLayer::set_rcvbuf(UdpSocketId id, std::size_t bytes) {
  Socket* s = find(id);
  if (s == nullptr) return -ENOTSOCK;
  s->rcvbuf = std::max<std::size_t>(bytes, 1);
  return 0;
}

int UdpLayer::local_endpoint(UdpSocketId id, Endpoint* out) const {
  const Socket* s = find(id);
  if (s == nullptr) return -ENOTSOCK;
  if (out == nullptr) return -EFAULT;
  *out = s->local;
  return 0;
}

int UdpLayer::peer_endpoint(UdpSocketId id, Endpoint* out) const {
  const Socket* s = find(id);
  if (s == nullptr) return -ENOTSOCK;
  if (!s->connected) return -ENOTCONN;
  if (out == nullptr) return -EFAULT;
  *out = s->peer;
  return 0;
}

// ---------------------------------------------------------------- input

std::uint32_t UdpLayer::lookup(const IpAddr& local, std::uint16_t local_port, const IpAddr& remote,
                               std::uint16_t remote_port, bool* peer_filtered) const {
  std::uint32_t best = kNoSlot;
  int best_score = 0;
  for (std::uint32_t i = port_heads_[local_port]; i != kNoSlot; i = slots_[i].next_on_port) {
    const Socket& o = slots_[i];
    // A dual-family wildcard socket takes datagrams of both families, after the
    // exact address and the family's own wildcard.
    const bool addr_ok =
        o.local.addr.is_none() || (o.local.addr.family() == local.family() &&
                                   (is_any(o.local.addr) || o.local.addr == local));
    if (!addr_ok) continue;
    if (o.connected) {
      if (o.peer.port == remote_port && o.peer.addr == remote) return i;  // exact 4-tuple
      *peer_filtered = true;
      continue;
    }
    const int score = o.local.addr.is_none() ? 1 : is_any(o.local.addr) ? 2 : 3;
    if (score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

void UdpLayer::on_l4(rte_mbuf* m, const L3Meta& meta, PacketContext& ctx) {
  auto drop = [&](UdpCounter why) {
    counters_.inc(why);
    rte_pktmbuf_free(m);
  };
  std::uint8_t hdr_copy[UdpView::kHeaderLen];
  const auto* hdr =
      m->pkt_len >= UdpView::kHeaderLen
          ? static_cast<const std::uint8_t*>(rte_pktmbuf_read(m, 0, sizeof(hdr_copy), hdr_copy))
          : nullptr;
  if (hdr == nullptr) return drop(UdpCounter::kRxTruncated);
  // The view reads only the 8 header bytes; pkt_len bounds the length field.
  UdpWireDrop why = UdpWireDrop::kNone;
  const auto v = UdpView::parse(hdr, m->pkt_len, &why);
  if (!v)
    return drop(why == UdpWireDrop::kBadLength ? UdpCounter::kRxBadLength
                                               : UdpCounter::kRxTruncated);
  const std::uint16_t src_port = v->src_port();
  const std::uint16_t dst_port = v->dst_port();
  const std::uint16_t length = v->length();
  const std::uint16_t cksum = v->checksum();
  // Bytes past the UDP length (Ethernet padding is already gone) are not ours.
  if (length < m->pkt_len && !trim_chain(m, length)) return drop(UdpCounter::kRxMalformedChain);

  if (meta.l4_cksum_bad) return drop(UdpCounter::kRxBadChecksum);
  if (cksum == 0) {
    // RFC 768: zero means the sender computed none; RFC 8200 forbids that on IPv6.
    if (meta.src.is_v6()) return drop(UdpCounter::kRxZeroChecksumV6);
    counters_.inc(UdpCounter::kRxZeroChecksum);
  } else if (!meta.l4_cksum_good && !udp_checksum_ok_mbuf(m, meta.src, meta.dst, length)) {
    return drop(UdpCounter::kRxBadChecksum);
  }

  bool filtered = false;
  const std::uint32_t slot = lookup(meta.dst, dst_port, meta.src, src_port, &filtered);
  if (slot == kNoSlot) {
    if (filtered) counters_.inc(UdpCounter::kRxPeerFiltered);
    if (meta.dst_is_broadcast || meta.dst.is_multicast()) {
      return drop(UdpCounter::kNoPortBroadcast);
    }
    counters_.inc(UdpCounter::kNoPort);
    ip_.send_dest_unreachable(m, meta, kCodePortUnreachable, ctx);  // rate-limited there
    rte_pktmbuf_free(m);
    return;
  }
  Socket& s = slots_[slot];
  const std::size_t payload = length - UdpView::kHeaderLen;
  if (!s.queue.fits(payload, s.rcvbuf)) return drop(UdpCounter::kRcvbufErrors);
  if (m->data_len < UdpView::kHeaderLen) return drop(UdpCounter::kRxMalformedChain);
  rte_pktmbuf_adj(m, UdpView::kHeaderLen);
  const bool was_empty = s.queue.empty();
  if (!s.queue.push(nodes_, m, Endpoint{meta.src, src_port}))
    return drop(UdpCounter::kRcvbufErrors);
  counters_.inc(UdpCounter::kInDatagrams);
  if (was_empty) fire(slot, UdpEvent::kReadable);
}

void UdpLayer::on_icmp_error(const IcmpErrorInfo& err, PacketContext&) {
  const int e = err.protocol == kProtocol ? icmp_errno(err.type, err.code) : 0;
  if (e == 0) {
    counters_.inc(UdpCounter::kIcmpErrorsIgnored);
    return;
  }
  // Only a connected socket can tell which of its datagrams the error is about;
  // Linux reports to unconnected sockets only with IP_RECVERR, which we lack.
  for (std::uint32_t i = port_heads_[err.src_port]; i != kNoSlot; i = slots_[i].next_on_port) {
    Socket& s = slots_[i];
    if (!s.connected || s.peer.port != err.dst_port || s.peer.addr != err.dst) continue;
    if (!is_any(s.local.addr) && s.local.addr != err.src) continue;
    s.error = e;
    counters_.inc(UdpCounter::kIcmpErrors);
    fire(i, UdpEvent::kError);
    return;
  }
  counters_.inc(UdpCounter::kIcmpErrorsIgnored);
}

}  // namespace shardtcp
