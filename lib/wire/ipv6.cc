#include "wire/ipv6.h"

namespace shardtcp {

std::optional<Ipv6View> Ipv6View::parse(const std::uint8_t* data, std::size_t contiguous,
                                        std::size_t total, Ipv6Error* why) {
  auto fail = [&](Ipv6Error e) {
    if (why) *why = e;
    return std::nullopt;
  };
  if (data == nullptr || contiguous < kHeaderLen || total < contiguous)
    return fail(Ipv6Error::kTruncated);
  Ipv6View v(data);
  if (v.version() != 6) return fail(Ipv6Error::kBadVersion);
  if (kHeaderLen + v.payload_length() > total) return fail(Ipv6Error::kBadLength);
  if (why) *why = Ipv6Error::kNone;
  return v;
}

std::size_t emit_ipv6(std::uint8_t* buf, std::size_t cap, const Ipv6Header& h) {
  constexpr std::size_t kLen = Ipv6View::kHeaderLen;
  if (buf == nullptr || cap < kLen || !h.src.is_v6() || !h.dst.is_v6()) return 0;
  const std::uint32_t vtf =
      (6u << 28) | (std::uint32_t{h.traffic_class} << 20) | (h.flow_label & 0xfffffu);
  buf[0] = static_cast<std::uint8_t>(vtf >> 24);
  buf[1] = static_cast<std::uint8_t>(vtf >> 16);
  buf[2] = static_cast<std::uint8_t>(vtf >> 8);
  buf[3] = static_cast<std::uint8_t>(vtf);
  buf[4] = static_cast<std::uint8_t>(h.payload_len >> 8);
  buf[5] = static_cast<std::uint8_t>(h.payload_len);
  buf[6] = h.next_header;
  buf[7] = h.hop_limit;
  std::memcpy(buf + 8, h.src.bytes(), 16);
  std::memcpy(buf + 24, h.dst.bytes(), 16);
  return kLen;
}

std::size_t emit_ipv6_fragment_header(std::uint8_t* buf, std::size_t cap, std::uint8_t next_header,
                                      std::uint32_t offset_bytes, bool more, std::uint32_t id) {
  if (buf == nullptr || cap < 8 || offset_bytes % 8 != 0 || offset_bytes > 0xfff8) return 0;
  const auto field = static_cast<std::uint16_t>(offset_bytes | (more ? 1u : 0u));
  buf[0] = next_header;
  buf[1] = 0;
  buf[2] = static_cast<std::uint8_t>(field >> 8);
  buf[3] = static_cast<std::uint8_t>(field);
  buf[4] = static_cast<std::uint8_t>(id >> 24);
  buf[5] = static_cast<std::uint8_t>(id >> 16);
  buf[6] = static_cast<std::uint8_t>(id >> 8);
  buf[7] = static_cast<std::uint8_t>(id);
  return 8;
}

namespace {

// Options of a hop-by-hop or destination options header (RFC 8200 §4.2). We know
// Pad1, PadN and router alert (RFC 2711); the rest follow their action bits.
Ipv6ExtResult walk_options(const std::uint8_t* pkt, std::uint32_t start, std::uint32_t end,
                           bool dst_multicast, Ipv6ExtInfo* out) {
  std::uint32_t p = start + 2;
  while (p < end) {
    const std::uint8_t type = pkt[p];
    if (type == 0) {  // Pad1
      ++p;
      continue;
    }
    if (p + 2 > end || p + 2 + pkt[p + 1] > end) return Ipv6ExtResult::kTruncated;
    const std::uint32_t next = p + 2 + pkt[p + 1];
    if (type != 1 && type != 5) {
      switch (type >> 6) {
        case 0:  // skip
          break;
        case 1:
          return Ipv6ExtResult::kDiscard;
        case 3:
          if (dst_multicast) return Ipv6ExtResult::kDiscard;
          [[fallthrough]];
        case 2:
          out->problem_code = 2;
          out->problem_pointer = p;
          return Ipv6ExtResult::kParameterProblem;
      }
    }
    p = next;
  }
  return Ipv6ExtResult::kOk;
}

}  // namespace

Ipv6ExtResult walk_ipv6_extensions(const std::uint8_t* pkt, std::size_t len, bool dst_multicast,
                                   Ipv6ExtInfo* out) {
  *out = Ipv6ExtInfo{};
  if (pkt == nullptr || len < Ipv6View::kHeaderLen) return Ipv6ExtResult::kTruncated;
  std::uint8_t nh = pkt[6];
  std::uint32_t nh_pos = 6;
  std::uint32_t off = Ipv6View::kHeaderLen;
  for (;;) {
    switch (nh) {
      case kIpProtoHopByHop:
      case kIpProtoRouting:
      case kIpProtoDestOptions:
      case kIpProtoFragment:
        break;
      default:
        out->upper_proto = nh;
        out->l4_offset = off;
        out->next_header_pos = nh_pos;
        return Ipv6ExtResult::kOk;
    }
    if (nh == kIpProtoHopByHop && off != Ipv6View::kHeaderLen) {
      // §4.1: hop-by-hop only right after the IPv6 header.
      out->problem_code = 1;
      out->problem_pointer = nh_pos;
      return Ipv6ExtResult::kParameterProblem;
    }
    if (++out->header_count > kMaxExtensionHeaders) return Ipv6ExtResult::kTooManyHeaders;
    if (off + 8 > len) return Ipv6ExtResult::kTruncated;
    const std::uint32_t hlen = nh == kIpProtoFragment ? 8u : (std::uint32_t{pkt[off + 1]} + 1) * 8;
    if (off + hlen > len) return Ipv6ExtResult::kTruncated;
    switch (nh) {
      case kIpProtoHopByHop:
      case kIpProtoDestOptions:
        if (const auto r = walk_options(pkt, off, off + hlen, dst_multicast, out);
            r != Ipv6ExtResult::kOk)
          return r;
        break;
      case kIpProtoRouting:
        // §4.4: with segments left we would have to forward; a host does not, and
        // knows no routing type (type 0 is deprecated by RFC 5095): point at the type.
        if (pkt[off + 3] != 0) {
          out->problem_code = 0;
          out->problem_pointer = off + 2;
          return Ipv6ExtResult::kParameterProblem;
        }
        break;
      case kIpProtoFragment: {
        const auto field = static_cast<std::uint16_t>((pkt[off + 2] << 8) | pkt[off + 3]);
        const std::uint32_t frag_off = field & 0xfff8u;
        const bool more = (field & 1u) != 0;
        if (frag_off != 0 || more) {
          // §4.5: a fragment other than the last must be a multiple of 8 bytes long.
          const std::uint32_t plen = (std::uint32_t{pkt[4]} << 8) | pkt[5];
          const std::uint32_t frag_len = Ipv6View::kHeaderLen + plen - (off + 8);
          if (more && frag_len % 8 != 0) {
            out->problem_code = 0;
            out->problem_pointer = 4;
            return Ipv6ExtResult::kParameterProblem;
          }
          out->fragment = true;
          out->frag_offset = frag_off;
          out->more_fragments = more;
          out->frag_id = (std::uint32_t{pkt[off + 4]} << 24) | (std::uint32_t{pkt[off + 5]} << 16) |
                         (std::uint32_t{pkt[off + 6]} << 8) | pkt[off + 7];
          out->frag_header_pos = off;
          out->upper_proto = pkt[off];
          out->l4_offset = off + 8;
          out->next_header_pos = off;
          return Ipv6ExtResult::kOk;
        }
        // An atomic fragment (RFC 6946): processed as if unfragmented.
        break;
      }
    }
    nh_pos = off;
    nh = pkt[off];
    off += hlen;
  }
}

}  // namespace shardtcp
