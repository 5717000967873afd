#include "port/delivery_policy_port.h"

#include <rte_ether.h>

#include <algorithm>

namespace shardtcp {

namespace {

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

IpAddr v4_at(const std::uint8_t* p) {
  return IpAddr::v4(std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 |
                    std::uint32_t{p[2]} << 8 | p[3]);
}

}  // namespace

DeliveryPolicyPort::DeliveryPolicyPort(PacketPort& inner, DeliveryPolicy policy,
                                       std::optional<FlowOwnership> rss, std::uint64_t seed)
    : inner_(inner), policy_(policy), rss_(std::move(rss)), seed_(seed | 1) {
  if (policy_ == DeliveryPolicy::kEmulatedRss && !rss_) policy_ = DeliveryPolicy::kSameQueue;
}

std::uint16_t DeliveryPolicyPort::rss_queue(const rte_mbuf* m, const FlowOwnership& rss) {
  const auto* p = rte_pktmbuf_mtod(m, const std::uint8_t*);
  const std::size_t len = rte_pktmbuf_data_len(m);
  constexpr std::size_t eth = sizeof(rte_ether_hdr);
  if (len < eth) return 0;
  const std::uint16_t type = be16(p + 12);
  if (type == RTE_ETHER_TYPE_IPV4 && len >= eth + 20) {
    const std::uint8_t* ip = p + eth;
    const std::size_t ihl = std::size_t{ip[0] & 0x0fu} * 4;
    const IpAddr src = v4_at(ip + 12), dst = v4_at(ip + 16);
    const bool fragment = (be16(ip + 6) & 0x3fff) != 0;
    if (!fragment && (ip[9] == 6 || ip[9] == 17) && ihl >= 20 && len >= eth + ihl + 4)
      return rss.engine_for_hash(rss.hash(src, be16(ip + ihl), dst, be16(ip + ihl + 2)));
    return rss.engine_for_hash(rss.hash_l3(src, dst));
  }
  if (type == RTE_ETHER_TYPE_IPV6 && len >= eth + 40) {
    const std::uint8_t* ip = p + eth;
    const IpAddr src = IpAddr::v6(ip + 8), dst = IpAddr::v6(ip + 24);
    if ((ip[6] == 6 || ip[6] == 17) && len >= eth + 44)
      return rss.engine_for_hash(rss.hash(src, be16(ip + 40), dst, be16(ip + 42)));
    return rss.engine_for_hash(rss.hash_l3(src, dst));
  }
  return 0;
}

std::uint16_t DeliveryPolicyPort::pick(std::uint16_t queue, const rte_mbuf* m) {
  const std::uint16_t nq = std::max<std::uint16_t>(inner_.info().nb_queues, 1);
  switch (policy_) {
    case DeliveryPolicy::kSameQueue:
      return queue;
    case DeliveryPolicy::kEmulatedRss:
      return static_cast<std::uint16_t>(rss_queue(m, *rss_) % nq);
    case DeliveryPolicy::kAllToQueue0:
      return 0;
    case DeliveryPolicy::kRandomQueue: {
      // splitmix64 step on a shared atomic: cheap, seeded, fine from several threads.
      std::uint64_t z = seed_.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      return static_cast<std::uint16_t>((z ^ (z >> 31)) % nq);
    }
  }
  return queue;
}

std::uint16_t DeliveryPolicyPort::tx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) {
  if (policy_ == DeliveryPolicy::kSameQueue) return inner_.tx_burst(queue, pkts, n);
  // Consecutive frames for one queue go in one burst; order per queue is kept.
  constexpr std::uint16_t kChunk = 64;
  std::uint16_t qs[kChunk];
  for (std::uint16_t base = 0; base < n; base = static_cast<std::uint16_t>(base + kChunk)) {
    const std::uint16_t m = std::min<std::uint16_t>(kChunk, static_cast<std::uint16_t>(n - base));
    for (std::uint16_t k = 0; k < m; ++k) qs[k] = pick(queue, pkts[base + k]);
    std::uint16_t i = 0;
    while (i < m) {
      std::uint16_t j = i + 1;
      while (j < m && qs[j] == qs[i]) ++j;
      const std::uint16_t run = static_cast<std::uint16_t>(j - i);
      const std::uint16_t sent = inner_.tx_burst(qs[i], pkts + base + i, run);
      if (sent < run) {
        rte_pktmbuf_free_bulk(pkts + base + i + sent, run - sent);
        wire_drops_.fetch_add(run - sent, std::memory_order_relaxed);
      }
      i = j;
    }
  }
  return n;
}

}  // namespace shardtcp
