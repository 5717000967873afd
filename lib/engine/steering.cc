#include "engine/steering.h"

#include <rte_ether.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "common/log.h"

namespace shardtcp {

namespace {

constexpr const char* kSteeringCounterNames[] = {
    "steered_out",      "steered_in",    "steer_drops",
    "broadcast_copies", "copy_failures", "flow_steered_out",
};
static_assert(std::size(kSteeringCounterNames) ==
              static_cast<std::size_t>(SteeringCounter::kCount));

constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kProtoIcmpv6 = 58;
constexpr std::size_t kEthLen = sizeof(rte_ether_hdr);
constexpr std::size_t kIpv6Len = 40;

// A bounds-checked reader over the first segment.
struct Bytes {
  const std::uint8_t* p;
  std::size_t len;
  bool has(std::size_t off, std::size_t n) const { return off <= len && n <= len - off; }
  std::uint8_t u8(std::size_t off) const { return p[off]; }
  std::uint16_t be16(std::size_t off) const {
    return static_cast<std::uint16_t>(p[off] << 8 | p[off + 1]);
  }
};

// An IPv4 header at `off` (len checked by the caller for 20 bytes): its header length,
// or 0 when it is not a plausible IPv4 header.
std::size_t ipv4_ihl(const Bytes& b, std::size_t off) {
  if ((b.u8(off) >> 4) != 4) return 0;
  const std::size_t ihl = std::size_t{b.u8(off) & 0x0fu} * 4;
  return ihl < 20 || !b.has(off, ihl) ? 0 : ihl;
}

IpAddr v4_at(const Bytes& b, std::size_t off) {
  return IpAddr::v4(std::uint32_t{b.u8(off)} << 24 | std::uint32_t{b.u8(off + 1)} << 16 |
                    std::uint32_t{b.u8(off + 2)} << 8 | b.u8(off + 3));
}

IpAddr v6_at(const Bytes& b, std::size_t off) {
  return IpAddr::v6(b.p + off);
}

SteerTarget to(std::uint16_t engine) {
  return SteerTarget{SteerTarget::kEngine, engine, false};
}

SteerTarget to_flow_owner(std::uint16_t engine) {
  return SteerTarget{SteerTarget::kEngine, engine, true};
}

// A transport tuple received as-is (src = peer).
SteerTarget by_proto(std::uint8_t proto, const IpAddr& src, const IpAddr& dst, const Bytes& b,
                     std::size_t l4, const FlowOwnership& fo, const SteeringConfig& c) {
  if (proto == kProtoTcp || (proto == kProtoUdp && c.udp_by_tuple)) {
    if (!b.has(l4, 4)) return {};
    return to_flow_owner(fo.owner_of_received(src, b.be16(l4), dst, b.be16(l4 + 2)));
  }
  if (proto == kProtoUdp) return to(c.home_engine);
  return {};
}

// The packet an ICMP error quotes is one we sent (src = us): its owner is the owner of
// the reply direction, i.e. the quoted tuple reversed.
SteerTarget by_quoted(std::uint8_t proto, const IpAddr& qsrc, const IpAddr& qdst, const Bytes& b,
                      std::size_t l4, const FlowOwnership& fo, const SteeringConfig& c) {
  if (proto == kProtoTcp || (proto == kProtoUdp && c.udp_by_tuple)) {
    if (!b.has(l4, 4)) return {};
    return to_flow_owner(fo.owner_of_received(qdst, b.be16(l4 + 2), qsrc, b.be16(l4)));
  }
  if (proto == kProtoUdp) return to(c.home_engine);
  return {};
}

SteerTarget ipv4_target(const Bytes& b, const FlowOwnership& fo, const SteeringConfig& c) {
  const std::size_t ip = kEthLen;
  if (!b.has(ip, 20)) return {};
  const std::size_t ihl = ipv4_ihl(b, ip);
  if (ihl == 0) return {};
  // More fragments or an offset: reassembly happens on the home engine.
  if ((b.be16(ip + 6) & 0x3fff) != 0) return to(c.home_engine);
  const std::uint8_t proto = b.u8(ip + 9);
  const IpAddr src = v4_at(b, ip + 12), dst = v4_at(b, ip + 16);
  const std::size_t l4 = ip + ihl;
  if (proto != kProtoIcmp) return by_proto(proto, src, dst, b, l4, fo, c);
  if (!b.has(l4, 8)) return {};
  const std::uint8_t type = b.u8(l4);
  if (type == 0) return to(c.home_engine);  // echo reply: pings are sent from home
  if (type != 3 && type != 4 && type != 11 && type != 12) return {};
  const std::size_t q = l4 + 8;  // the quoted IPv4 header
  if (!b.has(q, 20)) return {};
  const std::size_t qihl = ipv4_ihl(b, q);
  if (qihl == 0) return {};
  return by_quoted(b.u8(q + 9), v4_at(b, q + 12), v4_at(b, q + 16), b, q + qihl, fo, c);
}

SteerTarget ipv6_target(const Bytes& b, const FlowOwnership& fo, const SteeringConfig& c) {
  const std::size_t ip = kEthLen;
  if (!b.has(ip, kIpv6Len) || (b.u8(ip) >> 4) != 6) return {};
  const std::uint8_t next = b.u8(ip + 6);
  const IpAddr src = v6_at(b, ip + 8), dst = v6_at(b, ip + 24);
  const std::size_t l4 = ip + kIpv6Len;
  // Extension headers (fragments included) are rare on the paths we serve: the home
  // engine takes them, so reassembly has one place.
  if (next != kProtoIcmpv6) {
    if (next == kProtoTcp || next == kProtoUdp) return by_proto(next, src, dst, b, l4, fo, c);
    return next == 0 || next == 43 || next == 44 || next == 60 ? to(c.home_engine) : SteerTarget{};
  }
  if (!b.has(l4, 8)) return {};
  const std::uint8_t type = b.u8(l4);
  if (type == 136) return SteerTarget{SteerTarget::kAllEngines, 0};  // neighbour advert
  if (type == 129) return to(c.home_engine);                         // echo reply
  if (type < 1 || type > 4) return {};
  const std::size_t q = l4 + 8;  // the quoted IPv6 header
  if (!b.has(q, kIpv6Len)) return {};
  return by_quoted(b.u8(q + 6), v6_at(b, q + 8), v6_at(b, q + 24), b, q + kIpv6Len, fo, c);
}

SteerTarget arp_target(const Bytes& b) {
  const std::size_t arp = kEthLen;
  if (!b.has(arp, 28)) return {};
  const std::uint16_t op = b.be16(arp + 6);
  // Gratuitous: sender IP == target IP (announces a new or moved address).
  const bool gratuitous = std::memcmp(b.p + arp + 14, b.p + arp + 24, 4) == 0;
  if (op == 2 || gratuitous) return SteerTarget{SteerTarget::kAllEngines, 0};
  return {};
}

}  // namespace

SteerTarget steer_target(const rte_mbuf* m, const FlowOwnership& fo, const SteeringConfig& c) {
  const Bytes b{rte_pktmbuf_mtod(m, const std::uint8_t*), rte_pktmbuf_data_len(m)};
  if (!b.has(0, kEthLen)) return {};
  switch (b.be16(12)) {
    case RTE_ETHER_TYPE_IPV4:
      return ipv4_target(b, fo, c);
    case RTE_ETHER_TYPE_IPV6:
      return ipv6_target(b, fo, c);
    case RTE_ETHER_TYPE_ARP:
      return arp_target(b);
    default:
      return {};
  }
}

SteeringFabric::SteeringFabric(const FlowOwnership& ownership, const SteeringConfig& config)
    : ownership_(ownership), config_(config), engines_(ownership.engines()) {
  if (config_.home_engine >= engines_) config_.home_engine = 0;
  rings_.resize(std::size_t{engines_} * engines_);
  for (std::uint16_t f = 0; f < engines_; ++f)
    for (std::uint16_t t = 0; t < engines_; ++t)
      if (f != t)
        rings_[f * engines_ + t] = std::make_unique<Ring>(std::max(config_.ring_size, 2u));
}

SteeringFabric::~SteeringFabric() {
  for (auto& r : rings_) {
    if (!r) continue;
    rte_mbuf* m = nullptr;
    while (r->pop(m)) rte_pktmbuf_free(m);
  }
}

SteeringHandler::SteeringHandler(SteeringFabric& fabric, std::uint16_t engine_id,
                                 PacketHandler& inner)
    : fabric_(fabric),
      self_(engine_id),
      inner_(inner),
      counters_("steering", kSteeringCounterNames) {}

SteeringHandler::~SteeringHandler() {
  if (engine_ != nullptr) engine_->remove_poll_hooks(this);
}

bool SteeringHandler::attach(Engine& engine) {
  engine_ = &engine;
  return engine.add_poll_hook(
      [](void* self) { return static_cast<SteeringHandler*>(self)->drain(); }, this);
}

void SteeringHandler::hand_over(std::uint16_t to, rte_mbuf** frames, std::uint16_t n) {
  if (n == 0) return;
  const std::size_t pushed = fabric_.ring(self_, to).push(frames, n);
  counters_.inc(SteeringCounter::kSteeredOut, pushed);
  if (pushed < n) {
    rte_pktmbuf_free_bulk(frames + pushed, static_cast<unsigned>(n - pushed));
    counters_.inc(SteeringCounter::kSteerDrops, n - pushed);
  }
}

void SteeringHandler::broadcast_copies(const rte_mbuf* m, rte_mempool* pool) {
  for (std::uint16_t e = 0; e < fabric_.engines(); ++e) {
    if (e == self_) continue;
    rte_mbuf* copy = rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);
    if (copy == nullptr) {
      counters_.inc(SteeringCounter::kCopyFailures);
      continue;
    }
    counters_.inc(SteeringCounter::kBroadcastCopies);
    hand_over(e, &copy, 1);
  }
}

void SteeringHandler::count_flow_misdelivery(std::uint16_t owner) {
  counters_.inc(SteeringCounter::kFlowSteeredOut);
  if (!fabric_.config().device_rss || rss_mismatch_logged_) return;
  rss_mismatch_logged_ = true;
  SHARDTCP_LOG(kEngine, WARNING,
               "engine %u: a frame of a flow owned by engine %u arrived here although the "
               "device's RSS has our key and RETA: the device hashes differently; software "
               "steering delivers such frames (counted in steering.flow_steered_out)\n",
               self_, owner);
}

void SteeringHandler::on_frames(rte_mbuf** frames, std::uint16_t n, PacketContext& ctx) {
  if (draining_ || fabric_.engines() == 1) {
    inner_.on_frames(frames, n, ctx);
    return;
  }
  // Frames keep their order per destination; the local ones go to the inner handler
  // in one burst after the others were handed over.
  rte_mbuf* local[Engine::kMaxBurst];
  std::uint16_t n_local = 0;
  std::uint16_t done = 0;
  while (done < n) {
    const std::uint16_t chunk = std::min<std::uint16_t>(n - done, Engine::kMaxBurst);
    rte_mbuf* away[Engine::kMaxBurst];
    std::uint16_t away_to[Engine::kMaxBurst];
    std::uint16_t n_away = 0;
    for (std::uint16_t i = done; i < done + chunk; ++i) {
      rte_mbuf* m = frames[i];
      const SteerTarget t = steer_target(m, fabric_.ownership(), fabric_.config());
      if (t.kind == SteerTarget::kEngine && t.engine != self_) {
        if (t.by_flow) count_flow_misdelivery(t.engine);
        away[n_away] = m;
        away_to[n_away++] = t.engine;
        continue;
      }
      if (t.kind == SteerTarget::kAllEngines) broadcast_copies(m, ctx.pool);
      local[n_local++] = m;
      if (n_local == Engine::kMaxBurst) {
        inner_.on_frames(local, n_local, ctx);
        n_local = 0;
      }
    }
    // Runs of frames for one engine go over in one push.
    for (std::uint16_t i = 0; i < n_away;) {
      std::uint16_t j = i + 1;
      while (j < n_away && away_to[j] == away_to[i]) ++j;
      hand_over(away_to[i], away + i, static_cast<std::uint16_t>(j - i));
      i = j;
    }
    done = static_cast<std::uint16_t>(done + chunk);
  }
  if (n_local > 0) inner_.on_frames(local, n_local, ctx);
}

unsigned SteeringHandler::drain() {
  if (engine_ == nullptr) return 0;
  unsigned total = 0;
  rte_mbuf* burst[Engine::kMaxBurst];
  for (std::uint16_t from = 0; from < fabric_.engines(); ++from) {
    if (from == self_) continue;
    SteeringFabric::Ring& r = fabric_.ring(from, self_);
    const std::size_t got = r.pop(burst, Engine::kMaxBurst);
    if (got == 0) continue;
    counters_.inc(SteeringCounter::kSteeredIn, got);
    draining_ = true;
    engine_->inject(burst, static_cast<std::uint16_t>(got));
    draining_ = false;
    total += static_cast<unsigned>(got);
  }
  return total;
}

}  // namespace shardtcp
