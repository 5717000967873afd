// IpStack's NeighborOutput: connects a NeighborCache's decisions (ARP or NDP) to the
// PacketContext of one call. Internal to lib/ip (ip_stack.cc, ipv6_*.cc).
#pragma once

#include <rte_mbuf.h>

#include <cstddef>
#include <cstring>

#include "ip/ip_stack.h"
#include "wire/arp.h"
#include "wire/ethernet.h"

namespace shardtcp {

// Connects the NeighborCache's decisions to this call's PacketContext.
class IpStack::Sink final : public NeighborOutput {
 public:
  Sink(IpStack& s, PacketContext& ctx) : s_(s), ctx_(ctx) {}

  void send_arp(const ArpPacket& p, const rte_ether_addr& eth_dst) override {
    rte_mbuf* m = ctx_.pool ? rte_pktmbuf_alloc(ctx_.pool) : nullptr;
    if (m == nullptr) {
      s_.eth_.inc(EthCounter::kTxNoMbuf);
      return;
    }
    auto* buf = reinterpret_cast<std::uint8_t*>(
        rte_pktmbuf_append(m, EthernetView::kHeaderLen + ArpView::kLen));
    if (buf == nullptr) {
      rte_pktmbuf_free(m);
      s_.eth_.inc(EthCounter::kTxNoMbuf);
      return;
    }
    emit_ethernet(buf, EthernetView::kHeaderLen, {eth_dst, s_.cfg_.port.mac, kEtherTypeArp});
    emit_arp(buf + EthernetView::kHeaderLen, ArpView::kLen, p);
    s_.transmit(m, ctx_);
  }
  void send_resolved(rte_mbuf* pkt, const rte_ether_addr& mac) override {
    std::memcpy(rte_pktmbuf_mtod(pkt, std::uint8_t*) + offsetof(rte_ether_hdr, dst_addr),
                mac.addr_bytes, RTE_ETHER_ADDR_LEN);
    s_.transmit(pkt, ctx_);
  }
  void drop_unresolved(rte_mbuf* pkt) override {
    const auto* eth = rte_pktmbuf_mtod(pkt, const rte_ether_hdr*);
    if (eth->ether_type == rte_cpu_to_be_16(kEtherTypeIpv6))
      s_.ipv6_c_.inc(Ipv6Counter::kTxResolutionDropped);
    else
      s_.ipv4_.inc(Ipv4Counter::kTxResolutionDropped);
    rte_pktmbuf_free(pkt);
  }
  void send_solicit(const IpAddr& target, const IpAddr& source,
                    const rte_ether_addr* unicast) override {
    s_.send_ns(target, source, unicast, ctx_);
  }

 private:
  IpStack& s_;
  PacketContext& ctx_;
};

}  // namespace shardtcp
