#include "wire/icmpv6.h"

#include "wire/ipv6.h"
#include "wire/tcp.h"

namespace shardtcp {
namespace {

void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
std::uint32_t get32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}
std::size_t put_link_option(std::uint8_t* p, std::uint8_t type, const rte_ether_addr& mac) {
  p[0] = type;
  p[1] = 1;  // units of 8 bytes
  std::memcpy(p + 2, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  return 8;
}

}  // namespace

bool icmpv6_checksum_ok(const IpAddr& src, const IpAddr& dst, const std::uint8_t* msg,
                        std::size_t len) {
  return l4_checksum_ok(src, dst, kIpProtoIcmpv6, msg, len);
}

void set_icmpv6_checksum(const IpAddr& src, const IpAddr& dst, std::uint8_t* msg, std::size_t len) {
  msg[2] = msg[3] = 0;
  const std::uint16_t c = l4_checksum(src, dst, kIpProtoIcmpv6, msg, len);
  std::memcpy(msg + 2, &c, sizeof(c));  // l4_checksum returns it in wire order
}

std::optional<IcmpQuote> parse_icmpv6_quote(const std::uint8_t* data, std::size_t len) {
  if (data == nullptr || len < Ipv6View::kHeaderLen || (data[0] >> 4) != 6) return std::nullopt;
  Ipv6ExtInfo info;
  if (walk_ipv6_extensions(data, len, false, &info) != Ipv6ExtResult::kOk) return std::nullopt;
  if (info.fragment && info.frag_offset != 0) return std::nullopt;  // no L4 header quoted
  if (len < info.l4_offset + 8) return std::nullopt;
  IcmpQuote q;
  q.src = IpAddr::v6(data + 8);
  q.dst = IpAddr::v6(data + 24);
  q.protocol = info.upper_proto;
  const std::uint8_t* l4 = data + info.l4_offset;
  q.src_port = static_cast<std::uint16_t>((l4[0] << 8) | l4[1]);
  q.dst_port = static_cast<std::uint16_t>((l4[2] << 8) | l4[3]);
  q.l4_word1 = get32(l4 + 4);
  q.l4_bytes = len - info.l4_offset;
  return q;
}

bool parse_nd_options(const std::uint8_t* p, std::size_t len, NdOptions* out) {
  *out = NdOptions{};
  std::size_t off = 0;
  while (off < len) {
    if (off + 2 > len) return false;
    const std::size_t olen = std::size_t{p[off + 1]} * 8;
    if (olen == 0 || off + olen > len) return false;
    const std::uint8_t* o = p + off;
    switch (o[0]) {
      case kNdOptSourceLinkAddr:
      case kNdOptTargetLinkAddr: {
        rte_ether_addr m;
        std::memcpy(m.addr_bytes, o + 2, RTE_ETHER_ADDR_LEN);
        (o[0] == kNdOptSourceLinkAddr ? out->source_link : out->target_link) = m;
        break;
      }
      case kNdOptMtu:
        if (olen == 8) out->mtu = get32(o + 4);
        break;
      case kNdOptPrefixInfo:
        if (olen == 32 && out->prefix_count < out->prefixes.size()) {
          NdPrefix& pr = out->prefixes[out->prefix_count++];
          pr.prefix_len = o[2];
          pr.on_link = (o[3] & 0x80) != 0;
          pr.autonomous = (o[3] & 0x40) != 0;
          pr.valid_lifetime = get32(o + 4);
          pr.preferred_lifetime = get32(o + 8);
          pr.prefix = IpAddr::v6(o + 16);
        }
        break;
      default:
        break;  // §4.6: unknown options are skipped
    }
    off += olen;
  }
  return true;
}

std::optional<NdSolicit> parse_neighbor_solicit(const std::uint8_t* msg, std::size_t len) {
  if (msg == nullptr || len < 24 || msg[0] != kIcmp6NeighborSolicit || msg[1] != 0)
    return std::nullopt;
  NdSolicit s;
  s.target = IpAddr::v6(msg + 8);
  if (s.target.is_multicast()) return std::nullopt;
  if (!parse_nd_options(msg + 24, len - 24, &s.options)) return std::nullopt;
  return s;
}

std::optional<NdAdvert> parse_neighbor_advert(const std::uint8_t* msg, std::size_t len) {
  if (msg == nullptr || len < 24 || msg[0] != kIcmp6NeighborAdvert || msg[1] != 0)
    return std::nullopt;
  NdAdvert a;
  a.router = (msg[4] & 0x80) != 0;
  a.solicited = (msg[4] & 0x40) != 0;
  a.override_flag = (msg[4] & 0x20) != 0;
  a.target = IpAddr::v6(msg + 8);
  if (a.target.is_multicast()) return std::nullopt;
  if (!parse_nd_options(msg + 24, len - 24, &a.options)) return std::nullopt;
  return a;
}

std::optional<RouterAdvert> parse_router_advert(const std::uint8_t* msg, std::size_t len) {
  if (msg == nullptr || len < 16 || msg[0] != kIcmp6RouterAdvert || msg[1] != 0)
    return std::nullopt;
  RouterAdvert r;
  r.cur_hop_limit = msg[4];
  r.managed = (msg[5] & 0x80) != 0;
  r.other = (msg[5] & 0x40) != 0;
  r.router_lifetime = static_cast<std::uint16_t>((msg[6] << 8) | msg[7]);
  r.reachable_time = get32(msg + 8);
  r.retrans_timer = get32(msg + 12);
  if (!parse_nd_options(msg + 16, len - 16, &r.options)) return std::nullopt;
  return r;
}

std::size_t emit_neighbor_solicit(std::uint8_t* buf, std::size_t cap, const IpAddr& target,
                                  const rte_ether_addr* source_link) {
  const std::size_t n = 24 + (source_link ? 8 : 0);
  if (buf == nullptr || cap < n || !target.is_v6()) return 0;
  std::memset(buf, 0, 8);
  buf[0] = kIcmp6NeighborSolicit;
  std::memcpy(buf + 8, target.bytes(), 16);
  if (source_link) put_link_option(buf + 24, kNdOptSourceLinkAddr, *source_link);
  return n;
}

std::size_t emit_neighbor_advert(std::uint8_t* buf, std::size_t cap, const IpAddr& target,
                                 bool router, bool solicited, bool override_flag,
                                 const rte_ether_addr* target_link) {
  const std::size_t n = 24 + (target_link ? 8 : 0);
  if (buf == nullptr || cap < n || !target.is_v6()) return 0;
  std::memset(buf, 0, 8);
  buf[0] = kIcmp6NeighborAdvert;
  buf[4] = static_cast<std::uint8_t>((router ? 0x80 : 0) | (solicited ? 0x40 : 0) |
                                     (override_flag ? 0x20 : 0));
  std::memcpy(buf + 8, target.bytes(), 16);
  if (target_link) put_link_option(buf + 24, kNdOptTargetLinkAddr, *target_link);
  return n;
}

std::size_t emit_router_solicit(std::uint8_t* buf, std::size_t cap,
                                const rte_ether_addr* source_link) {
  const std::size_t n = 8 + (source_link ? 8 : 0);
  if (buf == nullptr || cap < n) return 0;
  std::memset(buf, 0, 8);
  buf[0] = kIcmp6RouterSolicit;
  if (source_link) put_link_option(buf + 8, kNdOptSourceLinkAddr, *source_link);
  return n;
}

std::size_t emit_icmpv6_echo_header(std::uint8_t* buf, std::size_t cap, std::uint8_t type,
                                    std::uint16_t ident, std::uint16_t seq) {
  if (buf == nullptr || cap < 8) return 0;
  buf[0] = type;
  buf[1] = 0;
  buf[2] = buf[3] = 0;
  buf[4] = static_cast<std::uint8_t>(ident >> 8);
  buf[5] = static_cast<std::uint8_t>(ident);
  buf[6] = static_cast<std::uint8_t>(seq >> 8);
  buf[7] = static_cast<std::uint8_t>(seq);
  return 8;
}

std::size_t emit_icmpv6_error(std::uint8_t* buf, std::size_t cap, std::uint8_t type,
                              std::uint8_t code, std::uint32_t word1, const std::uint8_t* quote,
                              std::size_t quote_len) {
  if (buf == nullptr || cap < 8 + quote_len || type >= 128) return 0;
  buf[0] = type;
  buf[1] = code;
  buf[2] = buf[3] = 0;
  put32(buf + 4, word1);
  if (quote_len > 0 && quote != buf + 8) std::memmove(buf + 8, quote, quote_len);
  return 8 + quote_len;
}

IpAddr ipv6_link_local_from_mac(const rte_ether_addr& mac) {
  std::uint8_t b[16] = {0xfe, 0x80};
  const auto* m = mac.addr_bytes;
  b[8] = static_cast<std::uint8_t>(m[0] ^ 0x02);  // flip the universal/local bit
  b[9] = m[1];
  b[10] = m[2];
  b[11] = 0xff;
  b[12] = 0xfe;
  b[13] = m[3];
  b[14] = m[4];
  b[15] = m[5];
  return IpAddr::v6(b);
}

IpAddr ipv6_solicited_node(const IpAddr& a) {
  std::uint8_t b[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
  b[13] = a.bytes()[13];
  b[14] = a.bytes()[14];
  b[15] = a.bytes()[15];
  return IpAddr::v6(b);
}

IpAddr ipv6_all_nodes() {
  const std::uint8_t b[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return IpAddr::v6(&b[0]);
}

IpAddr ipv6_all_routers() {
  const std::uint8_t b[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  return IpAddr::v6(&b[0]);
}

rte_ether_addr ipv6_multicast_mac(const IpAddr& group) {
  rte_ether_addr m{
      {0x33, 0x33, group.bytes()[12], group.bytes()[13], group.bytes()[14], group.bytes()[15]}};
  return m;
}

}  // namespace shardtcp
