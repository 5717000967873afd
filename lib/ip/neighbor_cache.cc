#include "ip/neighbor_cache.h"

#include <algorithm>
#include <array>

#include "wire/ethernet.h"

namespace shardtcp {
namespace {

bool unicast_mac(const rte_ether_addr& m) {
  return rte_is_unicast_ether_addr(&m) != 0 && rte_is_zero_ether_addr(&m) == 0;
}

}  // namespace

NeighborCache::NeighborCache(const NeighborConfig& cfg, const rte_ether_addr& our_mac)
    : cfg_(cfg),
      mac_(our_mac),
      counters_(cfg.family == IpFamily::kV6 ? "ndp" : "arp", kArpCounterNames) {
  if (cfg_.max_entries == 0) cfg_.max_entries = 1;
  if (cfg_.max_requests == 0) cfg_.max_requests = 1;
  entries_.resize(cfg_.max_entries);
  slots_.resize(cfg_.max_queued_total);
  // Free list threads through all slots.
  for (std::size_t i = 0; i < slots_.size(); ++i)
    slots_[i].next = i + 1 < slots_.size() ? static_cast<std::int32_t>(i + 1) : -1;
  free_slot_ = slots_.empty() ? -1 : 0;
}

void NeighborCache::add_local_address(const IpAddr& a, std::uint8_t prefix_len) {
  if (a.family() != cfg_.family || is_local(a)) return;
  local_.push_back(a);
  local_prefix_.push_back(
      std::min<std::uint8_t>(prefix_len, cfg_.family == IpFamily::kV6 ? 128 : 32));
}

IpAddr NeighborCache::source_for(const IpAddr& target) const {
  // The address on the neighbour's subnet, so it can answer (and learn us) on-link.
  for (std::size_t i = 0; i < local_.size(); ++i)
    if (target.in_prefix(local_[i], local_prefix_[i])) return local_[i];
  if (!local_.empty()) return local_.front();
  return cfg_.family == IpFamily::kV6 ? IpAddr::v6(std::array<std::uint8_t, 16>{}.data())
                                      : IpAddr::v4(0);
}

void NeighborCache::remove_local_address(const IpAddr& a) {
  for (std::size_t i = 0; i < local_.size(); ++i) {
    if (local_[i] == a) {
      local_.erase(local_.begin() + static_cast<std::ptrdiff_t>(i));
      local_prefix_.erase(local_prefix_.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
  }
}

bool NeighborCache::is_local(const IpAddr& a) const {
  return std::find(local_.begin(), local_.end(), a) != local_.end();
}

NeighborCache::Entry* NeighborCache::lookup(const IpAddr& ip) {
  return const_cast<Entry*>(static_cast<const NeighborCache*>(this)->lookup(ip));
}

const NeighborCache::Entry* NeighborCache::lookup(const IpAddr& ip) const {
  if (last_hit_ < used_ && entries_[last_hit_].ip == ip) return &entries_[last_hit_];
  for (std::size_t i = 0; i < used_; ++i) {
    if (entries_[i].ip == ip) {
      last_hit_ = i;
      return &entries_[i];
    }
  }
  return nullptr;
}

std::uint32_t NeighborCache::incomplete() const {
  std::uint32_t n = 0;
  for (std::size_t i = 0; i < used_; ++i)
    n += entries_[i].state == NeighborState::kIncomplete ? 1 : 0;
  return n;
}

NeighborCache::Entry* NeighborCache::create(const IpAddr& ip, Instant now, NeighborOutput& out) {
  if (used_ == entries_.size()) {
    // Full: reclaim the least recently used stale entry with nothing waiting on it.
    // Incomplete and reachable entries are in active use and are kept.
    Entry* victim = nullptr;
    for (std::size_t i = 0; i < used_; ++i) {
      Entry& e = entries_[i];
      if (e.state == NeighborState::kStale && e.q_len == 0 &&
          (victim == nullptr || e.last_used < victim->last_used))
        victim = &e;
    }
    if (victim == nullptr) {
      counters_.inc(ArpCounter::kTableFull);
      return nullptr;
    }
    counters_.inc(ArpCounter::kEvicted);
    remove(victim, out);
  }
  Entry& e = entries_[used_++];
  e = Entry{};
  e.ip = ip;
  e.last_used = now;
  e.confirmed = now;
  return &e;
}

void NeighborCache::remove(Entry* e, NeighborOutput& out) {
  changed();
  drop_queue(*e, out);
  const std::size_t idx = static_cast<std::size_t>(e - entries_.data());
  if (idx + 1 != used_) entries_[idx] = entries_[used_ - 1];
  --used_;
  last_hit_ = 0;
}

bool NeighborCache::enqueue(Entry& e, rte_mbuf* pkt) {
  if (e.q_len >= cfg_.max_queued_per_entry) {
    counters_.inc(ArpCounter::kQueueFullEntry);
    return false;
  }
  if (free_slot_ < 0) {
    counters_.inc(ArpCounter::kQueueFullTotal);
    return false;
  }
  const std::int32_t s = free_slot_;
  free_slot_ = slots_[s].next;
  slots_[s] = Slot{pkt, -1};
  if (e.q_tail >= 0)
    slots_[e.q_tail].next = s;
  else
    e.q_head = s;
  e.q_tail = s;
  ++e.q_len;
  ++queued_total_;
  counters_.inc(ArpCounter::kQueued);
  return true;
}

void NeighborCache::release(Entry& e, NeighborOutput& out) {
  // Detach first: send_resolved may call back into resolve() for the same neighbour.
  std::int32_t s = e.q_head;
  e.q_head = e.q_tail = -1;
  e.q_len = 0;
  const rte_ether_addr mac = e.mac;
  while (s >= 0) {
    const std::int32_t next = slots_[s].next;
    rte_mbuf* pkt = slots_[s].pkt;
    slots_[s] = Slot{nullptr, free_slot_};
    free_slot_ = s;
    --queued_total_;
    out.send_resolved(pkt, mac);
    s = next;
  }
}

void NeighborCache::drop_queue(Entry& e, NeighborOutput& out) {
  std::int32_t s = e.q_head;
  e.q_head = e.q_tail = -1;
  e.q_len = 0;
  while (s >= 0) {
    const std::int32_t next = slots_[s].next;
    rte_mbuf* pkt = slots_[s].pkt;
    slots_[s] = Slot{nullptr, free_slot_};
    free_slot_ = s;
    --queued_total_;
    counters_.inc(ArpCounter::kQueuedDropped);
    out.drop_unresolved(pkt);
    s = next;
  }
}

void NeighborCache::send_request(Entry& e, Instant now, NeighborOutput& out, bool unicast) {
  if (cfg_.family == IpFamily::kV6) {
    out.send_solicit(e.ip, source_for(e.ip), unicast ? &e.mac : nullptr);
    counters_.inc(unicast ? ArpCounter::kTxProbes : ArpCounter::kTxRequests);
    ++e.requests;
    e.next_action = now + cfg_.retry_interval;
    lower_deadline(e.next_action);
    return;
  }
  ArpPacket p;
  p.op = ArpOp::kRequest;
  p.sha = mac_;
  p.spa = source_for(e.ip);
  p.tha = rte_ether_addr{};
  p.tpa = e.ip;
  out.send_arp(p, unicast ? e.mac : kBroadcastMac);
  counters_.inc(unicast ? ArpCounter::kTxProbes : ArpCounter::kTxRequests);
  ++e.requests;
  e.next_action = now + cfg_.retry_interval;
  lower_deadline(e.next_action);
}

void NeighborCache::confirm(Entry& e, const rte_ether_addr& mac, Instant now, NeighborOutput& out) {
  const bool was_incomplete = e.state == NeighborState::kIncomplete;
  if (!was_incomplete && !mac_equal(e.mac, mac)) counters_.inc(ArpCounter::kUpdated);
  if (!mac_equal(e.mac, mac) || e.state != NeighborState::kReachable) changed();
  e.mac = mac;
  e.state = NeighborState::kReachable;
  e.confirmed = now;
  e.requests = 0;
  e.probing = false;
  lower_deadline(now + cfg_.reachable_time);
  if (was_incomplete) {
    counters_.inc(ArpCounter::kResolved);
    release(e, out);
  }
}

NeighborCache::Resolve NeighborCache::resolve(const IpAddr& next_hop, rte_mbuf* pkt, Instant now,
                                              NeighborOutput& out, rte_ether_addr* mac,
                                              bool* confirmed) {
  Entry* e = lookup(next_hop);
  if (e != nullptr && e->state != NeighborState::kIncomplete) {
    e->last_used = now;
    if (e->state == NeighborState::kStale && !e->probing) {
      // Keep using the old binding while re-confirming it by unicast (RFC 1122
      // §2.3.2.1); if the probes go unanswered the entry is removed.
      e->probing = true;
      e->requests = 0;
      if (cfg_.delay_first_probe > Duration{}) {
        // DELAY (RFC 4861 §7.3.3): upper layers get a chance to confirm first.
        e->next_action = now + cfg_.delay_first_probe;
        lower_deadline(e->next_action);
      } else {
        send_request(*e, now, out, true);
      }
    }
    if (mac) *mac = e->mac;
    if (confirmed) *confirmed = e->state == NeighborState::kReachable;
    return Resolve::kResolved;
  }
  if (e == nullptr) {
    if (next_hop.family() != cfg_.family || next_hop.is_unspecified() || next_hop.is_multicast())
      return Resolve::kDropped;
    const std::uint32_t limit = cfg_.max_incomplete != 0
                                    ? cfg_.max_incomplete
                                    : std::max<std::uint32_t>(1, cfg_.max_entries / 2);
    if (incomplete() >= limit) {
      counters_.inc(ArpCounter::kIncompleteLimit);
      return Resolve::kDropped;
    }
    e = create(next_hop, now, out);
    if (e == nullptr) return Resolve::kDropped;
    if (pkt != nullptr && !enqueue(*e, pkt)) {
      send_request(*e, now, out, false);
      return Resolve::kDropped;
    }
    send_request(*e, now, out, false);
    return Resolve::kQueued;
  }
  e->last_used = now;
  if (pkt != nullptr && !enqueue(*e, pkt)) return Resolve::kDropped;
  return Resolve::kQueued;
}

void NeighborCache::on_arp(const ArpPacket& p, Instant now, NeighborOutput& out) {
  counters_.inc(p.op == ArpOp::kRequest ? ArpCounter::kRxRequests : ArpCounter::kRxReplies);
  if (!unicast_mac(p.sha) || p.spa.is_multicast() || p.spa.is_broadcast()) {
    counters_.inc(ArpCounter::kRxBadSender);
    return;
  }
  const bool probe = p.spa.is_unspecified();  // RFC 5227 probe: sender has no address yet
  if (!probe && is_local(p.spa)) {
    if (!mac_equal(p.sha, mac_)) counters_.inc(ArpCounter::kRxAddressConflict);
    return;
  }
  const bool for_us = is_local(p.tpa);

  if (!probe) {
    Entry* e = lookup(p.spa);
    if (e != nullptr) {
      // RFC 826 merge: an existing binding is refreshed by any message from its owner.
      if (e->state == NeighborState::kIncomplete || p.op == ArpOp::kReply || for_us ||
          !mac_equal(e->mac, p.sha)) {
        confirm(*e, p.sha, now, out);
      }
    } else if (for_us) {
      // The sender is about to talk to us: learn it so our answer needs no request.
      e = create(p.spa, now, out);
      if (e != nullptr) {
        counters_.inc(ArpCounter::kLearned);
        e->mac = p.sha;
        e->state = NeighborState::kReachable;
        e->confirmed = now;
        lower_deadline(now + cfg_.reachable_time);
      }
    }
  }

  if (p.op == ArpOp::kRequest) {
    if (!for_us) {
      if (!p.is_gratuitous()) counters_.inc(ArpCounter::kRxNotForUs);
      return;
    }
    ArpPacket r;
    r.op = ArpOp::kReply;
    r.sha = mac_;
    r.spa = p.tpa;
    r.tha = p.sha;
    r.tpa = p.spa;
    out.send_arp(r, p.sha);
    counters_.inc(ArpCounter::kTxReplies);
  }
}

Instant NeighborCache::entry_deadline(const Entry& e) const {
  switch (e.state) {
    case NeighborState::kIncomplete:
      return e.next_action;
    case NeighborState::kReachable:
      return e.confirmed + cfg_.reachable_time;
    case NeighborState::kStale: {
      const Instant age_out = std::max(e.confirmed, e.last_used) + cfg_.stale_lifetime;
      return e.probing ? std::min(e.next_action, age_out) : age_out;
    }
    case NeighborState::kDelay:  // never stored (see find())
    case NeighborState::kProbe:
      break;
  }
  return Instant::never();
}

void NeighborCache::on_timer(Instant now, NeighborOutput& out) {
  if (now < next_deadline_) return;
  std::size_t i = 0;
  while (i < used_) {
    Entry& e = entries_[i];
    bool removed = false;
    switch (e.state) {
      case NeighborState::kIncomplete:
        if (now >= e.next_action) {
          if (e.requests < cfg_.max_requests) {
            send_request(e, now, out, false);
          } else {
            counters_.inc(ArpCounter::kResolveFailed);
            const IpAddr ip = e.ip;
            remove(&e, out);
            removed = true;
            out.on_unresolved(ip);
          }
        }
        break;
      case NeighborState::kReachable:
        if (now >= e.confirmed + cfg_.reachable_time) {
          e.state = NeighborState::kStale;
          changed();
        }
        break;
      case NeighborState::kStale:
        if (e.probing && now >= e.next_action) {
          if (e.requests < cfg_.max_requests) {
            send_request(e, now, out, true);
          } else {
            // The neighbour stopped answering: forget it; the next packet starts a
            // fresh broadcast resolution.
            counters_.inc(ArpCounter::kResolveFailed);
            remove(&e, out);
            removed = true;
          }
        } else if (!e.probing && now >= std::max(e.confirmed, e.last_used) + cfg_.stale_lifetime) {
          counters_.inc(ArpCounter::kAgedOut);
          remove(&e, out);
          removed = true;
        }
        break;
      case NeighborState::kDelay:  // never stored (see find())
      case NeighborState::kProbe:
        break;
    }
    if (!removed) ++i;  // a removal moved the last entry into slot i: look at it again
  }
  next_deadline_ = Instant::never();
  for (std::size_t j = 0; j < used_; ++j) lower_deadline(entry_deadline(entries_[j]));
}

void NeighborCache::on_solicit_source(const IpAddr& src, const rte_ether_addr& mac, Instant now,
                                      NeighborOutput& out) {
  if (!unicast_mac(mac)) {
    counters_.inc(ArpCounter::kRxBadSender);
    return;
  }
  Entry* e = lookup(src);
  if (e == nullptr) {
    e = create(src, now, out);
    if (e == nullptr) return;
    counters_.inc(ArpCounter::kLearned);
    e->mac = mac;
    e->state = NeighborState::kStale;
    lower_deadline(entry_deadline(*e));
    return;
  }
  if (e->state == NeighborState::kIncomplete) {
    e->mac = mac;
    e->state = NeighborState::kStale;
    e->confirmed = now;
    e->requests = 0;
    counters_.inc(ArpCounter::kResolved);
    lower_deadline(entry_deadline(*e));
    release(*e, out);
    return;
  }
  if (!mac_equal(e->mac, mac)) {
    counters_.inc(ArpCounter::kUpdated);
    changed();
    e->mac = mac;
    e->state = NeighborState::kStale;
    e->probing = false;
    e->confirmed = now;
    lower_deadline(entry_deadline(*e));
  }
}

void NeighborCache::on_advert(const IpAddr& target, const rte_ether_addr* mac, bool solicited,
                              bool override_flag, Instant now, NeighborOutput& out) {
  counters_.inc(ArpCounter::kRxReplies);
  if (mac != nullptr && !unicast_mac(*mac)) {
    counters_.inc(ArpCounter::kRxBadSender);
    return;
  }
  Entry* e = lookup(target);
  if (e == nullptr) return;  // §7.2.5: no entry, silently discard
  if (e->state == NeighborState::kIncomplete) {
    if (mac == nullptr) return;
    e->mac = *mac;
    if (solicited) {
      confirm(*e, *mac, now, out);
    } else {
      e->state = NeighborState::kStale;
      e->confirmed = now;
      e->requests = 0;
      counters_.inc(ArpCounter::kResolved);
      lower_deadline(entry_deadline(*e));
      release(*e, out);
    }
    return;
  }
  const bool different = mac != nullptr && !mac_equal(*mac, e->mac);
  if (!override_flag && different) {
    // Keep the binding we have but stop trusting it.
    if (e->state == NeighborState::kReachable) {
      e->state = NeighborState::kStale;
      changed();
    }
    return;
  }
  if (different) {
    counters_.inc(ArpCounter::kUpdated);
    changed();
    e->mac = *mac;
  }
  if (solicited) {
    confirm(*e, e->mac, now, out);
  } else if (different) {
    e->state = NeighborState::kStale;
    e->probing = false;
    lower_deadline(entry_deadline(*e));
  }
}

void NeighborCache::announce(NeighborOutput& out) {
  if (cfg_.family != IpFamily::kV4) return;  // IPv6 announces through the IpStack (DAD)
  for (std::uint32_t n = 0; n < cfg_.gratuitous_count; ++n) {
    for (const IpAddr& a : local_) {
      ArpPacket p;
      p.op = ArpOp::kRequest;
      p.sha = mac_;
      p.spa = a;
      p.tha = rte_ether_addr{};
      p.tpa = a;
      out.send_arp(p, kBroadcastMac);
      counters_.inc(ArpCounter::kTxGratuitous);
    }
  }
}

bool NeighborCache::insert_reachable(const IpAddr& ip, const rte_ether_addr& mac, Instant now,
                                     NeighborOutput& out) {
  if (ip.family() != cfg_.family || !unicast_mac(mac)) return false;
  Entry* e = lookup(ip);
  if (e == nullptr) e = create(ip, now, out);
  if (e == nullptr) return false;
  confirm(*e, mac, now, out);
  return true;
}

bool NeighborCache::erase(const IpAddr& ip, NeighborOutput& out) {
  Entry* e = lookup(ip);
  if (e == nullptr) return false;
  remove(e, out);
  return true;
}

void NeighborCache::clear(NeighborOutput& out) {
  while (used_ > 0) remove(&entries_[used_ - 1], out);
  next_deadline_ = Instant::never();
}

std::optional<NeighborInfo> NeighborCache::find(const IpAddr& ip) const {
  const Entry* e = lookup(ip);
  if (e == nullptr) return std::nullopt;
  NeighborState st = e->state;
  if (st == NeighborState::kStale && e->probing)
    st = e->requests == 0 ? NeighborState::kDelay : NeighborState::kProbe;
  return NeighborInfo{e->ip, st, e->mac, e->q_len, e->requests};
}

}  // namespace shardtcp
