#include "wire/tcp.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "wire/checksum.h"

namespace shardtcp {

namespace {

void store_be16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

constexpr std::size_t kMaxOptionBytes = TcpView::kMaxHeaderLen - TcpView::kMinHeaderLen;  // 40

// IPv4's pseudo-header sum from the addresses as the header holds them: three 32-bit
// words added in 64 bits, not folded (raw_sum64 takes it as it is; pseudo_sum_v4 folds
// it). A word's two 16-bit halves add up to the same ones'-complement sum as the word
// does (2^16 = 1 mod 0xffff), so this is __rte_raw_cksum's sum of the twelve bytes, in
// a few instructions instead of a loop of six steps.
inline std::uint64_t pseudo_sum_v4_wide(std::uint32_t src_wire, std::uint32_t dst_wire,
                                        std::uint8_t proto, std::size_t len, bool with_len) {
  struct {
    std::uint8_t zero;
    std::uint8_t proto;
    rte_be16_t len;
  } tail{0, proto, with_len ? rte_cpu_to_be_16(static_cast<std::uint16_t>(len)) : rte_be16_t{0}};
  std::uint32_t t;
  std::memcpy(&t, &tail, 4);
  return std::uint64_t{src_wire} + dst_wire + t;
}
inline std::uint32_t pseudo_sum_v4(std::uint32_t src_wire, std::uint32_t dst_wire,
                                   std::uint8_t proto, std::size_t len, bool with_len) {
  const std::uint64_t wide = pseudo_sum_v4_wide(src_wire, dst_wire, proto, len, with_len);
  const auto lo = static_cast<std::uint32_t>(wide);
  const std::uint32_t folded = lo + static_cast<std::uint32_t>(wide >> 32);
  return folded + (folded < lo);  // the end-around carry
}

// Sum of the pseudo-header (RFC 9293 §3.1 for IPv4, RFC 8200 §8.1 for IPv6), not
// reduced or complemented. `len` is left out when `with_len` is false (TSO).
inline std::uint32_t pseudo_sum(const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                                std::size_t len, bool with_len) {
  std::uint32_t sum = 0;
  if (src.is_v6()) {
    sum = __rte_raw_cksum(src.bytes(), 16, sum);
    sum = __rte_raw_cksum(dst.bytes(), 16, sum);
    struct {
      rte_be32_t len;
      rte_be32_t proto;
    } tail{with_len ? rte_cpu_to_be_32(static_cast<std::uint32_t>(len)) : 0u,
           rte_cpu_to_be_32(proto)};
    return __rte_raw_cksum(&tail, sizeof(tail), sum);
  }
  std::uint32_t s, d;
  std::memcpy(&s, src.bytes(), 4);
  std::memcpy(&d, dst.bytes(), 4);
  return pseudo_sum_v4(s, d, proto, len, with_len);
}

// The one sum every L4 checksum over an mbuf chain goes through: `pseudo` (a
// pseudo-header sum, wire order) plus `len` bytes of the chain from `off`, folded, not
// complemented (0xffff when a stored checksum verifies). The chain is summed by
// raw_cksum_mbuf, never DPDK 22.11's rte_raw_cksum_mbuf (wrong after a segment of odd
// length). False if the range runs past the chain.
bool l4_folded_sum_mbuf(const rte_mbuf* m, std::uint32_t off, std::uint32_t len,
                        std::uint32_t pseudo, std::uint16_t* folded) {
  std::uint16_t body = 0;
  if (!raw_cksum_mbuf(m, off, len, &body)) return false;
  // Both sums are in wire order, so they add as they are.
  *folded = __rte_raw_cksum_reduce(pseudo + body);
  return true;
}

// L4 length of an IPv4 packet (total length less the header's own), false when the
// header's lengths contradict each other.
bool ipv4_l4_len(const rte_ipv4_hdr* ip, std::uint32_t* len) {
  const std::uint32_t total = rte_be_to_cpu_16(ip->total_length);
  const std::uint32_t ihl = rte_ipv4_hdr_len(ip);
  if (total < ihl) return false;
  *len = total - ihl;
  return true;
}

// Folded sum of an L4 segment at `l4_off` of a chain behind a finished IP header.
bool ipv4_l4_folded_sum(const rte_mbuf* m, const rte_ipv4_hdr* ip, std::uint16_t l4_off,
                        std::uint16_t* folded) {
  std::uint32_t len = 0;
  return ipv4_l4_len(ip, &len) &&
         l4_folded_sum_mbuf(m, l4_off, len, rte_ipv4_phdr_cksum(ip, 0), folded);
}
bool ipv6_l4_folded_sum(const rte_mbuf* m, const rte_ipv6_hdr* ip, std::uint16_t l4_off,
                        std::uint16_t* folded) {
  return l4_folded_sum_mbuf(m, l4_off, rte_be_to_cpu_16(ip->payload_len),
                            rte_ipv6_phdr_cksum(ip, 0), folded);
}

// The checksum to store for a folded sum; UDP's 0 goes out as 0xffff (RFC 768).
std::uint16_t to_store(std::uint16_t folded, std::uint8_t proto) {
  const auto ck = static_cast<std::uint16_t>(~folded);
  return ck == 0 && proto == IPPROTO_UDP ? 0xffff : ck;
}

}  // namespace

TcpOptionStatus parse_tcp_options(const std::uint8_t* p, std::size_t len, TcpOptions& out) {
  out = TcpOptions{};
  // The block nearly every segment of a connection with timestamps carries (NOP, NOP,
  // timestamps: RFC 7323 Appendix A's layout, Linux's and ours), known in one compare
  // instead of three turns of the loop below, which reads it the same.
  if (len == 12 && load_be32(p) == 0x0101080au) {
    out.timestamps = TcpTimestamps{load_be32(p + 4), load_be32(p + 8)};
    return TcpOptionStatus::kOk;
  }
  TcpOptionStatus status = TcpOptionStatus::kOk;
  auto note = [&status](TcpOptionStatus s) {
    if (status == TcpOptionStatus::kOk) status = s;
  };
  std::size_t i = 0;
  while (i < len) {
    const std::uint8_t kind = p[i];
    if (kind == tcp_option::kEol) break;
    if (kind == tcp_option::kNop) {
      ++i;
      continue;
    }
    if (i + 1 >= len) {  // kind without a length byte
      note(TcpOptionStatus::kTruncated);
      break;
    }
    const std::size_t olen = p[i + 1];
    if (olen < 2 || olen > len - i) {  // would loop forever, or runs past the header
      note(TcpOptionStatus::kTruncated);
      break;
    }
    const std::uint8_t* v = p + i + 2;
    switch (kind) {
      case tcp_option::kMss:
        if (olen == 4) {
          out.mss = load_be16(v);
        } else {
          note(TcpOptionStatus::kBadLength);
        }
        break;
      case tcp_option::kWindowScale:
        if (olen == 3) {
          out.window_scale = std::min(v[0], tcp_option::kMaxWindowScale);
        } else {
          note(TcpOptionStatus::kBadLength);
        }
        break;
      case tcp_option::kSackPermitted:
        if (olen == 2) {
          out.sack_permitted = true;
        } else {
          note(TcpOptionStatus::kBadLength);
        }
        break;
      case tcp_option::kSack:
        if (olen >= 10 && (olen - 2) % 8 == 0) {
          const std::size_t n = std::min<std::size_t>((olen - 2) / 8, out.sack.size());
          for (std::size_t k = 0; k < n; ++k) {
            out.sack[k] = SackBlock{SeqNum(load_be32(v + 8 * k)), SeqNum(load_be32(v + 8 * k + 4))};
          }
          out.sack_count = static_cast<std::uint8_t>(n);
        } else {
          note(TcpOptionStatus::kBadLength);
        }
        break;
      case tcp_option::kTimestamps:
        if (olen == 10) {
          out.timestamps = TcpTimestamps{load_be32(v), load_be32(v + 4)};
        } else {
          note(TcpOptionStatus::kBadLength);
        }
        break;
      default:
        break;  // unknown kinds are skipped by their length (RFC 9293 §3.2)
    }
    i += olen;
  }
  return status;
}

std::optional<TcpView> TcpView::parse(const std::uint8_t* data, std::size_t len, TcpWireDrop* why) {
  auto fail = [why](TcpWireDrop e) -> std::optional<TcpView> {
    if (why) *why = e;
    return std::nullopt;
  };
  if (data == nullptr || len < kMinHeaderLen) return fail(TcpWireDrop::kTruncated);
  const std::size_t hlen = static_cast<std::size_t>(data[offsetof(rte_tcp_hdr, data_off)] >> 4) * 4;
  if (hlen < kMinHeaderLen || hlen > len) return fail(TcpWireDrop::kBadDataOffset);
  if (why) *why = TcpWireDrop::kNone;
  return TcpView(data, len);
}

TcpOptionStatus TcpView::to_segment(TcpSegment& seg) const {
  seg.src_port = src_port();
  seg.dst_port = dst_port();
  seg.seq = seq();
  seg.ack = ack();
  seg.flags = flags();
  seg.window = window();
  seg.urgent = urgent();
  seg.payload = Payload{payload(), static_cast<std::uint32_t>(payload_len()), nullptr};
  return parse_tcp_options(options(), options_len(), seg.options);
}

TcpWireDrop decode_tcp(const IpAddr& src, const IpAddr& dst, const std::uint8_t* l4,
                       std::size_t len, bool verify_checksum, TcpSegment& out,
                       TcpOptionStatus* option_status) {
  if (l4 != nullptr && is_common_tcp_header(l4, len)) {
    if (verify_checksum && !l4_checksum_ok(src, dst, IPPROTO_TCP, l4, len))
      return TcpWireDrop::kBadChecksum;
    out = decode_common_tcp_header(l4, len);
    if (option_status) *option_status = TcpOptionStatus::kOk;
    return TcpWireDrop::kNone;
  }
  TcpWireDrop why = TcpWireDrop::kNone;
  const auto view = TcpView::parse(l4, len, &why);
  if (!view) return why;
  if (verify_checksum && !l4_checksum_ok(src, dst, IPPROTO_TCP, l4, len)) {
    return TcpWireDrop::kBadChecksum;
  }
  const TcpOptionStatus st = view->to_segment(out);
  if (option_status) *option_status = st;
  return TcpWireDrop::kNone;
}

std::size_t tcp_sack_blocks_that_fit(const TcpOptions& o) {
  if (o.sack_count == 0) return 0;
  std::size_t used = 0;
  if (o.mss) used += 4;
  if (o.timestamps) {
    used += 12;
  } else if (o.sack_permitted) {
    used += 4;
  }
  if (o.window_scale) used += 4;
  if (used + 4 + 8 > kMaxOptionBytes) return 0;
  return std::min<std::size_t>(o.sack_count, (kMaxOptionBytes - used - 4) / 8);
}

std::size_t tcp_header_len(const TcpSegment& seg) {
  const TcpOptions& o = seg.options;
  std::size_t n = TcpView::kMinHeaderLen;
  if (o.mss) n += 4;
  if (o.timestamps) {
    n += 12;  // SACK-permitted + TS, or NOP NOP TS
  } else if (o.sack_permitted) {
    n += 4;  // NOP NOP SACK-permitted
  }
  if (o.window_scale) n += 4;
  const std::size_t blocks = tcp_sack_blocks_that_fit(o);
  if (blocks > 0) n += 4 + 8 * blocks;
  return n;
}

std::size_t emit_tcp_header(std::uint8_t* buf, std::size_t cap, const TcpSegment& seg) {
  const std::size_t hlen = tcp_header_len(seg);
  if (buf == nullptr || cap < hlen) return 0;
  store_be16(buf + 0, seg.src_port);
  store_be16(buf + 2, seg.dst_port);
  store_be32(buf + 4, seg.seq.raw());
  store_be32(buf + 8, seg.ack.raw());
  buf[12] = static_cast<std::uint8_t>((hlen / 4) << 4);
  buf[13] = seg.flags;
  store_be16(buf + 14, seg.window);
  store_be16(buf + 16, 0);
  store_be16(buf + 18, seg.urgent);

  const TcpOptions& o = seg.options;
  std::uint8_t* p = buf + TcpView::kMinHeaderLen;
  if (o.mss) {
    p[0] = tcp_option::kMss;
    p[1] = 4;
    store_be16(p + 2, *o.mss);
    p += 4;
  }
  if (o.timestamps) {
    if (o.sack_permitted) {
      p[0] = tcp_option::kSackPermitted;
      p[1] = 2;
    } else {
      p[0] = tcp_option::kNop;
      p[1] = tcp_option::kNop;
    }
    p[2] = tcp_option::kTimestamps;
    p[3] = 10;
    store_be32(p + 4, o.timestamps->value);
    store_be32(p + 8, o.timestamps->echo);
    p += 12;
  } else if (o.sack_permitted) {
    p[0] = tcp_option::kNop;
    p[1] = tcp_option::kNop;
    p[2] = tcp_option::kSackPermitted;
    p[3] = 2;
    p += 4;
  }
  if (o.window_scale) {
    p[0] = tcp_option::kNop;
    p[1] = tcp_option::kWindowScale;
    p[2] = 3;
    p[3] = *o.window_scale;
    p += 4;
  }
  const std::size_t blocks = tcp_sack_blocks_that_fit(o);
  if (blocks > 0) {
    p[0] = tcp_option::kNop;
    p[1] = tcp_option::kNop;
    p[2] = tcp_option::kSack;
    p[3] = static_cast<std::uint8_t>(2 + 8 * blocks);
    p += 4;
    for (std::size_t k = 0; k < blocks; ++k) {
      store_be32(p, o.sack[k].left.raw());
      store_be32(p + 4, o.sack[k].right.raw());
      p += 8;
    }
  }
  return hlen;
}

std::uint16_t l4_checksum(const IpAddr& src, const IpAddr& dst, std::uint8_t proto, const void* l4,
                          std::size_t len) {
  std::uint32_t sum = pseudo_sum(src, dst, proto, len, true);
  sum = raw_sum(l4, len, sum);
  std::uint16_t ck = static_cast<std::uint16_t>(~__rte_raw_cksum_reduce(sum));
  if (ck == 0 && proto == IPPROTO_UDP) ck = 0xffff;
  return ck;
}

bool l4_checksum_ok(const IpAddr& src, const IpAddr& dst, std::uint8_t proto, const void* l4,
                    std::size_t len) {
  // Never 0: the pseudo-header holds the protocol.
  return raw_sum64(l4, len, pseudo_sum(src, dst, proto, len, true)) % 0xffff == 0;
}

std::uint16_t l4_checksum_mbuf(const rte_mbuf* m, std::uint32_t len, const IpAddr& src,
                               const IpAddr& dst, std::uint8_t proto, std::uint32_t off) {
  std::uint16_t folded = 0;
  if (!l4_folded_sum_mbuf(m, off, len, pseudo_sum(src, dst, proto, len, true), &folded))
    return 0xffff;  // shorter than len: fails
  return static_cast<std::uint16_t>(~folded);
}

std::uint16_t l4_pseudo_header_checksum(const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                                        std::size_t len, std::uint64_t ol_flags) {
  const bool with_len = (ol_flags & RTE_MBUF_F_TX_TCP_SEG) == 0;
  return __rte_raw_cksum_reduce(pseudo_sum(src, dst, proto, len, with_len));
}

std::uint16_t l4_checksum_ipv4(const rte_ipv4_hdr* ip, const void* l4) {
  return rte_ipv4_udptcp_cksum(ip, l4);
}
std::uint16_t l4_checksum_ipv6(const rte_ipv6_hdr* ip, const void* l4) {
  return rte_ipv6_udptcp_cksum(ip, l4);
}
// Not DPDK's rte_ipv4_udptcp_cksum_verify: its byte loop costs four times raw_sum's AVX2
// steps. l4_checksum_ok_v4 is the same for a caller that knows the L4 length (TcpLayer's
// offer_ipv4, for every segment that joins a receive run).
bool l4_checksum_ok_ipv4(const rte_ipv4_hdr* ip, const void* l4) {
  std::uint32_t len = 0;
  return ipv4_l4_len(ip, &len) &&
         l4_checksum_ok_v4(ip->src_addr, ip->dst_addr, ip->next_proto_id, l4, len);
}
bool l4_checksum_ok_v4(rte_be32_t src, rte_be32_t dst, std::uint8_t proto, const void* l4,
                       std::size_t len) {
  return raw_sum64(l4, len, pseudo_sum_v4_wide(src, dst, proto, len, true)) % 0xffff == 0;
}
bool l4_checksum_ok_ipv6(const rte_ipv6_hdr* ip, const void* l4) {
  return rte_ipv6_udptcp_cksum_verify(ip, l4) == 0;
}
std::uint16_t l4_pseudo_header_checksum_ipv4(const rte_ipv4_hdr* ip, std::uint64_t ol_flags) {
  return rte_ipv4_phdr_cksum(ip, ol_flags);
}
std::uint16_t l4_pseudo_header_checksum_ipv6(const rte_ipv6_hdr* ip, std::uint64_t ol_flags) {
  return rte_ipv6_phdr_cksum(ip, ol_flags);
}
std::uint16_t l4_checksum_ipv4_mbuf(const rte_mbuf* m, const rte_ipv4_hdr* ip,
                                    std::uint16_t l4_off) {
  std::uint16_t folded = 0;
  if (!ipv4_l4_folded_sum(m, ip, l4_off, &folded)) return 0;
  return to_store(folded, ip->next_proto_id);
}
std::uint16_t l4_checksum_ipv6_mbuf(const rte_mbuf* m, const rte_ipv6_hdr* ip,
                                    std::uint16_t l4_off) {
  std::uint16_t folded = 0;
  if (!ipv6_l4_folded_sum(m, ip, l4_off, &folded)) return 0;
  return to_store(folded, ip->proto);
}
bool l4_checksum_ok_ipv4_mbuf(const rte_mbuf* m, const rte_ipv4_hdr* ip, std::uint16_t l4_off) {
  std::uint16_t folded = 0;
  return ipv4_l4_folded_sum(m, ip, l4_off, &folded) && folded == 0xffff;
}
bool l4_checksum_ok_ipv6_mbuf(const rte_mbuf* m, const rte_ipv6_hdr* ip, std::uint16_t l4_off) {
  std::uint16_t folded = 0;
  return ipv6_l4_folded_sum(m, ip, l4_off, &folded) && folded == 0xffff;
}

}  // namespace shardtcp
