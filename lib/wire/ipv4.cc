#include "wire/ipv4.h"

#include "wire/checksum.h"

namespace shardtcp {

std::optional<Ipv4View> Ipv4View::parse_split(const std::uint8_t* data, std::size_t contiguous,
                                              std::size_t total, bool verify_checksum,
                                              Ipv4Error* why) {
  auto fail = [&](Ipv4Error e) {
    if (why) *why = e;
    return std::nullopt;
  };
  if (data == nullptr || contiguous < kMinHeaderLen || total < contiguous)
    return fail(Ipv4Error::kTruncated);
  Ipv4View v(data, contiguous);
  if (v.version() != 4) return fail(Ipv4Error::kBadVersion);
  const std::size_t ihl = v.header_len();
  if (ihl < kMinHeaderLen) return fail(Ipv4Error::kBadIhl);
  if (contiguous < ihl) return fail(Ipv4Error::kTruncated);
  const std::size_t tl = v.total_length();
  if (tl < ihl || tl > total) return fail(Ipv4Error::kBadLength);
  if (verify_checksum && !ipv4_header_checksum_ok(data, ihl)) return fail(Ipv4Error::kBadChecksum);
  if (why) *why = Ipv4Error::kNone;
  return v;
}

std::size_t emit_ipv4(std::uint8_t* buf, std::size_t cap, const Ipv4Header& h, bool fill_checksum) {
  constexpr std::size_t kLen = Ipv4View::kMinHeaderLen;
  if (buf == nullptr || cap < kLen || !h.src.is_v4() || !h.dst.is_v4()) return 0;
  if (h.payload_len > 0xffff - kLen) return 0;
  rte_ipv4_hdr hdr{};
  hdr.version_ihl = RTE_IPV4_VHL_DEF;
  hdr.type_of_service = h.tos;
  hdr.total_length = rte_cpu_to_be_16(static_cast<std::uint16_t>(kLen + h.payload_len));
  hdr.packet_id = rte_cpu_to_be_16(h.id);
  std::uint16_t frag = static_cast<std::uint16_t>((h.fragment_offset / RTE_IPV4_HDR_OFFSET_UNITS) &
                                                  RTE_IPV4_HDR_OFFSET_MASK);
  if (h.dont_fragment) frag |= RTE_IPV4_HDR_DF_FLAG;
  if (h.more_fragments) frag |= RTE_IPV4_HDR_MF_FLAG;
  hdr.fragment_offset = rte_cpu_to_be_16(frag);
  hdr.time_to_live = h.ttl;
  hdr.next_proto_id = h.protocol;
  hdr.hdr_checksum = 0;
  hdr.src_addr = h.src.v4_be();
  hdr.dst_addr = h.dst.v4_be();
  if (fill_checksum) hdr.hdr_checksum = rte_ipv4_cksum(&hdr);
  std::memcpy(buf, &hdr, kLen);
  return kLen;
}

}  // namespace shardtcp
