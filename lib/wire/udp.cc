#include "wire/udp.h"

#include <netinet/in.h>

namespace shardtcp {

std::optional<UdpView> UdpView::parse(const std::uint8_t* data, std::size_t len, UdpWireDrop* why) {
  auto fail = [why](UdpWireDrop e) -> std::optional<UdpView> {
    if (why) *why = e;
    return std::nullopt;
  };
  if (data == nullptr || len < kHeaderLen) return fail(UdpWireDrop::kTruncated);
  const std::size_t dlen = (std::size_t{data[4]} << 8) | data[5];
  if (dlen < kHeaderLen || dlen > len) return fail(UdpWireDrop::kBadLength);
  if (why) *why = UdpWireDrop::kNone;
  return UdpView(data);
}

UdpWireDrop verify_udp_checksum(const IpAddr& src, const IpAddr& dst, const UdpView& v) {
  if (v.checksum() == 0) {
    // RFC 768: zero means the sender computed none (IPv4 only).
    return src.is_v6() ? UdpWireDrop::kZeroChecksumV6 : UdpWireDrop::kNone;
  }
  return l4_checksum_ok(src, dst, IPPROTO_UDP, v.data(), v.length()) ? UdpWireDrop::kNone
                                                                     : UdpWireDrop::kBadChecksum;
}

std::optional<UdpView> decode_udp(const IpAddr& src, const IpAddr& dst, const std::uint8_t* l4,
                                  std::size_t len, bool verify_checksum, UdpWireDrop* why) {
  auto v = UdpView::parse(l4, len, why);
  if (!v) return std::nullopt;
  // Even when the port vouched for the checksum, IPv6 forbids a zero checksum.
  if (verify_checksum || (src.is_v6() && v->checksum() == 0)) {
    const UdpWireDrop e = verify_udp_checksum(src, dst, *v);
    if (e != UdpWireDrop::kNone) {
      if (why) *why = e;
      return std::nullopt;
    }
  }
  return v;
}

std::size_t emit_udp_header(std::uint8_t* buf, std::size_t cap, std::uint16_t src_port,
                            std::uint16_t dst_port, std::size_t payload_len) {
  if (buf == nullptr || cap < UdpView::kHeaderLen) return 0;
  const std::size_t total = payload_len + UdpView::kHeaderLen;
  if (total > 0xffff) return 0;
  buf[0] = static_cast<std::uint8_t>(src_port >> 8);
  buf[1] = static_cast<std::uint8_t>(src_port);
  buf[2] = static_cast<std::uint8_t>(dst_port >> 8);
  buf[3] = static_cast<std::uint8_t>(dst_port);
  buf[4] = static_cast<std::uint8_t>(total >> 8);
  buf[5] = static_cast<std::uint8_t>(total);
  buf[6] = 0;
  buf[7] = 0;
  return UdpView::kHeaderLen;
}

void udp_finish_checksum(const IpAddr& src, const IpAddr& dst, std::uint8_t* dgram,
                         std::size_t len) {
  set_udp_checksum(dgram, 0);
  set_udp_checksum(dgram, l4_checksum(src, dst, IPPROTO_UDP, dgram, len));
}

}  // namespace shardtcp
