#include "port/offload_emulating_port.h"

#include <netinet/in.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>

#include "wire/tcp.h"

namespace shardtcp {
namespace {

constexpr std::uint32_t kEth = RTE_ETHER_HDR_LEN;
constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20,
                       kCwr = 0x80;
constexpr std::uint32_t kMaxFrame = 65535;  // IP length fields
// Segments per coalesced frame: the TCP layer takes up to 128 pieces, and an LRO NIC
// stops somewhere too.
constexpr std::uint16_t kMaxMergedSegs = 64;

std::uint16_t load16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void store16(std::uint8_t* p, std::uint16_t v) {
  std::memcpy(p, &v, 2);
}
std::uint32_t be32_at(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
void store_be32(std::uint8_t* p, std::uint32_t v) {
  const rte_be32_t be = rte_cpu_to_be_32(v);
  std::memcpy(p, &be, 4);
}

// The headers of a frame, all in its first segment.
struct Headers {
  bool v4 = false;
  bool fragment = false;
  std::uint16_t l3 = 0;  // IP header bytes
  std::uint8_t proto = 0;
  std::uint16_t l4 = 0;  // TCP header bytes, 8 for UDP, 0 for anything else
  std::uint8_t* ip = nullptr;
  std::uint8_t* l4p = nullptr;

  std::uint32_t hdr_len() const { return kEth + l3 + l4; }
  rte_ipv4_hdr* ip4() const { return reinterpret_cast<rte_ipv4_hdr*>(ip); }
  rte_ipv6_hdr* ip6() const { return reinterpret_cast<rte_ipv6_hdr*>(ip); }
  // IP length as the header states it (IPv4 total length, IPv6 payload + 40).
  std::uint32_t ip_len() const {
    return v4 ? rte_be_to_cpu_16(ip4()->total_length) : 40u + rte_be_to_cpu_16(ip6()->payload_len);
  }
  void set_ip_len(std::uint32_t len) const {
    if (v4)
      ip4()->total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(len));
    else
      ip6()->payload_len = rte_cpu_to_be_16(static_cast<std::uint16_t>(len - 40));
  }
  std::uint16_t cksum_off() const { return proto == IPPROTO_TCP ? 16 : 6; }
};

// IPv4 or IPv6 (no extension headers) with TCP/UDP headers whole in the first segment.
bool parse(rte_mbuf* m, Headers& h) {
  auto* p = rte_pktmbuf_mtod(m, std::uint8_t*);
  const std::uint32_t len = m->data_len;
  if (len < kEth + 20u) return false;
  const std::uint16_t type = static_cast<std::uint16_t>(p[12] << 8 | p[13]);
  h.ip = p + kEth;
  if (type == RTE_ETHER_TYPE_IPV4) {
    if ((h.ip[0] >> 4) != 4) return false;
    h.v4 = true;
    h.l3 = static_cast<std::uint16_t>((h.ip[0] & 0x0f) * 4);
    h.proto = h.ip4()->next_proto_id;
    h.fragment = (rte_be_to_cpu_16(h.ip4()->fragment_offset) & 0x3fff) != 0;
    if (h.l3 < 20 || len < kEth + h.l3) return false;
  } else if (type == RTE_ETHER_TYPE_IPV6) {
    if (len < kEth + 40u || (h.ip[0] >> 4) != 6) return false;
    h.l3 = 40;
    h.proto = h.ip6()->proto;
  } else {
    return false;
  }
  if (h.ip_len() < h.l3 || h.ip_len() > m->pkt_len - kEth) return false;
  h.l4p = h.ip + h.l3;
  const std::uint32_t l4off = kEth + h.l3;
  if (h.fragment) return true;
  if (h.proto == IPPROTO_TCP) {
    if (len < l4off + 20) return false;
    h.l4 = static_cast<std::uint16_t>((h.l4p[12] >> 4) * 4);
    if (h.l4 < 20 || len < l4off + h.l4 || h.ip_len() < h.l3 + h.l4) return false;
  } else if (h.proto == IPPROTO_UDP) {
    if (len < l4off + 8 || h.ip_len() < h.l3 + 8u) return false;
    h.l4 = 8;
  }
  return true;
}

bool ipv4_header_ok(const Headers& h) {
  return rte_raw_cksum(h.ip, h.l3) == 0xffff;
}

// The L4 checksum of the frame as a NIC's: lib/wire's sums over the chain (not
// rte_ipv4/6_udptcp_cksum_mbuf: they sum chains through DPDK 22.11's
// rte_raw_cksum_mbuf, wrong after an odd-length segment, and a NIC sums what it is
// given).
bool l4_sum_ok(const rte_mbuf* m, const Headers& h) {
  if (h.proto == IPPROTO_UDP && h.v4 && load16(h.l4p + 6) == 0) return true;  // none sent
  const auto l4_off = static_cast<std::uint16_t>(kEth + h.l3);
  return h.v4 ? l4_checksum_ok_ipv4_mbuf(m, h.ip4(), l4_off)
              : l4_checksum_ok_ipv6_mbuf(m, h.ip6(), l4_off);
}

// The checksum to store (the field zeroed first); UDP's 0 is sent as 0xffff.
std::uint16_t l4_sum(const rte_mbuf* m, const Headers& h) {
  const auto l4_off = static_cast<std::uint16_t>(kEth + h.l3);
  return h.v4 ? l4_checksum_ipv4_mbuf(m, h.ip4(), l4_off)
              : l4_checksum_ipv6_mbuf(m, h.ip6(), l4_off);
}

std::uint16_t pseudo_sum(const Headers& h, std::uint64_t ol_flags) {
  return h.v4 ? rte_ipv4_phdr_cksum(h.ip4(), ol_flags) : rte_ipv6_phdr_cksum(h.ip6(), ol_flags);
}

// What a driver expects of the flags the sender set (rte_mbuf_core.h's rules).
bool tx_flags_ok(const rte_mbuf* m, const Headers& h, std::uint16_t mtu) {
  const std::uint64_t f = m->ol_flags;
  const std::uint64_t l4f = f & RTE_MBUF_F_TX_L4_MASK;
  const bool seg = (f & RTE_MBUF_F_TX_TCP_SEG) != 0;
  const bool ipck = (f & RTE_MBUF_F_TX_IP_CKSUM) != 0;
  const bool l4_sums = h.l4 != 0 && !h.fragment;
  if (!seg && l4f == 0 && !ipck)  // nothing asked of the device: the frame is finished
    return (!h.v4 || ipv4_header_ok(h)) && (!l4_sums || l4_sum_ok(m, h));
  if (m->l2_len != kEth || m->l3_len != h.l3) return false;
  if ((f & (h.v4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6)) == 0) return false;
  if (ipck ? (!h.v4 || h.ip4()->hdr_checksum != 0) : (h.v4 && !ipv4_header_ok(h))) return false;
  if (seg) {
    return h.proto == IPPROTO_TCP && l4_sums && m->l4_len == h.l4 && m->tso_segsz != 0 &&
           h.l3 + h.l4 + m->tso_segsz <= mtu && load16(h.l4p + 16) == pseudo_sum(h, f);
  }
  if (l4f == RTE_MBUF_F_TX_TCP_CKSUM || l4f == RTE_MBUF_F_TX_UDP_CKSUM) {
    const std::uint8_t want = l4f == RTE_MBUF_F_TX_TCP_CKSUM ? IPPROTO_TCP : IPPROTO_UDP;
    return h.proto == want && l4_sums && load16(h.l4p + h.cksum_off()) == pseudo_sum(h, f);
  }
  return l4f == 0 && (!l4_sums || l4_sum_ok(m, h));
}

void finish_ipv4_header(const Headers& h) {
  h.ip4()->hdr_checksum = 0;
  h.ip4()->hdr_checksum = rte_ipv4_cksum(h.ip4());
}

// Copies `len` bytes of the chain from `off`.
void copy_out(const rte_mbuf* m, std::uint32_t off, std::uint32_t len, std::uint8_t* dst) {
  const void* p = rte_pktmbuf_read(m, off, len, dst);
  if (p != nullptr && p != dst) std::memcpy(dst, p, len);
}

bool same_flow(const Headers& a, const Headers& b) {
  if (a.v4 != b.v4 || a.l4 != b.l4) return false;
  if (a.v4) {
    const auto *x = a.ip4(), *y = b.ip4();
    if (x->src_addr != y->src_addr || x->dst_addr != y->dst_addr ||
        x->type_of_service != y->type_of_service || x->time_to_live != y->time_to_live)
      return false;
  } else {
    // Version, traffic class (ECN included) and flow label, then both addresses.
    if (std::memcmp(a.ip, b.ip, 4) != 0 || std::memcmp(a.ip + 7, b.ip + 7, 33) != 0) return false;
  }
  // Ports; then ACK, header length, flags, window; then every option byte (timestamps
  // included, as Linux's GRO does).
  return std::memcmp(a.l4p, b.l4p, 4) == 0 && std::memcmp(a.l4p + 8, b.l4p + 8, 8) == 0 &&
         std::memcmp(a.l4p + 20, b.l4p + 20, a.l4 - 20u) == 0;
}

}  // namespace

OffloadEmulatingPort::OffloadEmulatingPort(PacketPort& inner) : inner_(inner), info_(inner.info()) {
  info_.rx_ipv4_cksum = info_.rx_l4_cksum = true;
  info_.tx_ipv4_cksum = info_.tx_l4_cksum = true;
  info_.tx_tso = info_.tx_multi_seg = true;
  // It sums and cuts chains segment by segment (raw_cksum_mbuf, rte_pktmbuf_read),
  // whatever their lengths: attached payloads are fine.
  info_.tx_zero_copy = true;
  info_.rx_lro = true;
}

void OffloadEmulatingPort::flush(Batch& b) {
  if (b.count == 0) return;
  const std::uint16_t sent = inner_.tx_burst(b.queue, b.out.data(), b.count);
  if (sent < b.count) {
    rte_pktmbuf_free_bulk(b.out.data() + sent, b.count - sent);
    wire_drops_ += b.count - sent;
  }
  b.count = 0;
}

std::uint16_t OffloadEmulatingPort::tx_burst(std::uint16_t queue, rte_mbuf** pkts,
                                             std::uint16_t n) {
  Batch batch{queue, {}, 0};
  for (std::uint16_t i = 0; i < n; ++i) transmit_one(pkts[i], batch);
  flush(batch);
  return n;
}

void OffloadEmulatingPort::put(rte_mbuf* m, Batch& b) {
  if (b.count == kTxBatch) flush(b);
  b.out[b.count++] = m;
  ++stats_.tx_segments;
  stats_.tx_largest = std::max<std::uint64_t>(stats_.tx_largest, m->pkt_len);
}

void OffloadEmulatingPort::transmit_one(rte_mbuf* m, Batch& batch) {
  ++stats_.tx_frames;
  Headers h;
  const bool parsed = parse(m, h);
  if (!parsed) {
    // Not IP (ARP): nothing for the device to do, unless the sender asked anyway.
    if (m->ol_flags & (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IP_CKSUM))
      ++stats_.tx_flag_errors;
    m->ol_flags = 0;
    put(m, batch);
    return;
  }
  if (!tx_flags_ok(m, h, info_.mtu)) ++stats_.tx_flag_errors;
  const std::uint64_t f = m->ol_flags;
  if ((f & RTE_MBUF_F_TX_TCP_SEG) == 0 || h.proto != IPPROTO_TCP || m->tso_segsz == 0) {
    if (f & RTE_MBUF_F_TX_IP_CKSUM && h.v4) {
      finish_ipv4_header(h);
      ++stats_.tx_ip_filled;
    }
    if ((f & RTE_MBUF_F_TX_L4_MASK) != 0 && h.l4 != 0) {
      store16(h.l4p + h.cksum_off(), 0);
      store16(h.l4p + h.cksum_off(), l4_sum(m, h));
      ++stats_.tx_l4_filled;
    }
    m->ol_flags = 0;
    put(m, batch);
    return;
  }
  // TSO: cut the payload into tso_segsz pieces, each behind a copy of the headers.
  ++stats_.tx_tso_frames;
  const std::uint32_t hdr = h.hdr_len();
  const std::uint32_t payload = kEth + h.ip_len() - hdr;
  const std::uint16_t segsz = m->tso_segsz;
  const std::uint32_t seq0 = be32_at(h.l4p + 4);
  const std::uint8_t flags = h.l4p[13];
  const std::uint16_t id0 = h.v4 ? rte_be_to_cpu_16(h.ip4()->packet_id) : 0;
  std::uint32_t k = 0;
  for (std::uint32_t off = 0; off < payload; off += segsz, ++k) {
    const std::uint32_t len = std::min<std::uint32_t>(segsz, payload - off);
    rte_mbuf* s = rte_pktmbuf_alloc(m->pool);
    auto* d = s != nullptr ? reinterpret_cast<std::uint8_t*>(
                                 rte_pktmbuf_append(s, static_cast<std::uint16_t>(hdr + len)))
                           : nullptr;
    if (d == nullptr) {
      rte_pktmbuf_free(s);
      ++stats_.tx_alloc_failed;
      continue;
    }
    copy_out(m, 0, hdr, d);
    copy_out(m, hdr + off, len, d + hdr);
    Headers sh = h;  // the same layout, over the copy
    sh.ip = d + kEth;
    sh.l4p = sh.ip + h.l3;
    sh.set_ip_len(h.l3 + h.l4 + len);
    store_be32(sh.l4p + 4, seq0 + off);
    std::uint8_t fl = flags;
    if (off + len < payload) fl &= static_cast<std::uint8_t>(~(kFin | kPsh));
    if (k > 0) fl &= static_cast<std::uint8_t>(~kCwr);
    sh.l4p[13] = fl;
    if (sh.v4) {
      sh.ip4()->packet_id = rte_cpu_to_be_16(static_cast<std::uint16_t>(id0 + k));
      finish_ipv4_header(sh);
    }
    store16(sh.l4p + 16, 0);
    store16(sh.l4p + 16, l4_sum(s, sh));
    ++stats_.tx_l4_filled;
    put(s, batch);
  }
  rte_pktmbuf_free(m);
}

std::uint16_t OffloadEmulatingPort::rx_burst(std::uint16_t queue, rte_mbuf** pkts,
                                             std::uint16_t n) {
  n = inner_.rx_burst(queue, pkts, n);
  stats_.rx_frames += n;
  std::uint16_t kept = 0;
  Headers open_h;  // headers of pkts[kept - 1] while it may take more segments
  bool open = false;
  std::uint32_t open_end = 0;  // sequence after its payload
  for (std::uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    m->ol_flags = 0;  // what the sender's side left there is not ours to report
    Headers h;
    const bool parsed = parse(m, h);
    bool good = false;
    if (parsed && !h.fragment) {
      const bool ip_ok = !h.v4 || ipv4_header_ok(h);
      if (h.v4) m->ol_flags |= ip_ok ? RTE_MBUF_F_RX_IP_CKSUM_GOOD : RTE_MBUF_F_RX_IP_CKSUM_BAD;
      if (h.l4 != 0) {
        const bool l4_ok = l4_sum_ok(m, h);
        m->ol_flags |= l4_ok ? RTE_MBUF_F_RX_L4_CKSUM_GOOD : RTE_MBUF_F_RX_L4_CKSUM_BAD;
        good = ip_ok && l4_ok;
      }
      if (!good && (h.l4 != 0 || !ip_ok)) ++stats_.rx_bad_cksum;
    }
    const std::uint32_t payload = parsed ? kEth + h.ip_len() - h.hdr_len() : 0;
    const std::uint8_t fl = parsed && h.proto == IPPROTO_TCP ? h.l4p[13] : 0;
    const bool mergeable = good && h.proto == IPPROTO_TCP && payload > 0 && (fl & kAck) &&
                           (fl & (kFin | kSyn | kRst | kUrg | kCwr | 0x40)) == 0 &&
                           m->pkt_len == kEth + h.ip_len();
    if (mergeable && open && same_flow(open_h, h) && be32_at(h.l4p + 4) == open_end) {
      rte_mbuf* head = pkts[kept - 1];
      const std::uint32_t merged = open_h.ip_len() + payload;
      if (merged <= kMaxFrame && head->nb_segs + m->nb_segs <= kMaxMergedSegs) {
        rte_pktmbuf_adj(m, static_cast<std::uint16_t>(h.hdr_len()));
        if (rte_pktmbuf_chain(head, m) == 0) {
          open_h.set_ip_len(merged);
          if (open_h.v4) finish_ipv4_header(open_h);
          open_h.l4p[13] |= fl & kPsh;
          open = (fl & kPsh) == 0;  // PSH ends a run, as in GRO
          open_end += payload;
          ++stats_.rx_coalesced;
          continue;
        }
        rte_pktmbuf_prepend(m, static_cast<std::uint16_t>(h.hdr_len()));
      }
    }
    pkts[kept++] = m;
    open = mergeable && (fl & kPsh) == 0;
    if (open) {
      open_h = h;
      open_end = be32_at(h.l4p + 4) + payload;
    }
  }
  for (std::uint16_t i = 0; i < kept; ++i)
    stats_.rx_largest = std::max<std::uint64_t>(stats_.rx_largest, pkts[i]->pkt_len);
  stats_.rx_delivered += kept;
  return kept;
}

}  // namespace shardtcp
