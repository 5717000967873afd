#include "wire/arp.h"

namespace shardtcp {
namespace {

constexpr std::size_t kData = offsetof(rte_arp_hdr, arp_data);
constexpr std::size_t kSha = kData + offsetof(rte_arp_ipv4, arp_sha);
constexpr std::size_t kSip = kData + offsetof(rte_arp_ipv4, arp_sip);
constexpr std::size_t kTha = kData + offsetof(rte_arp_ipv4, arp_tha);
constexpr std::size_t kTip = kData + offsetof(rte_arp_ipv4, arp_tip);

void put16(std::uint8_t* p, std::uint16_t host) {
  const rte_be16_t be = rte_cpu_to_be_16(host);
  std::memcpy(p, &be, sizeof(be));
}

}  // namespace

std::optional<ArpView> ArpView::parse(const std::uint8_t* data, std::size_t len, ArpError* why) {
  auto fail = [&](ArpError e) {
    if (why) *why = e;
    return std::nullopt;
  };
  if (data == nullptr || len < kLen) return fail(ArpError::kTruncated);
  ArpView v(data);
  if (v.be16(offsetof(rte_arp_hdr, arp_hardware)) != RTE_ARP_HRD_ETHER ||
      data[offsetof(rte_arp_hdr, arp_hlen)] != RTE_ETHER_ADDR_LEN)
    return fail(ArpError::kBadHardware);
  if (v.be16(offsetof(rte_arp_hdr, arp_protocol)) != RTE_ETHER_TYPE_IPV4 ||
      data[offsetof(rte_arp_hdr, arp_plen)] != 4)
    return fail(ArpError::kBadProtocol);
  const std::uint16_t op = v.opcode();
  if (op != RTE_ARP_OP_REQUEST && op != RTE_ARP_OP_REPLY) return fail(ArpError::kBadOpcode);
  if (why) *why = ArpError::kNone;
  return v;
}

ArpPacket ArpView::packet() const {
  ArpPacket p;
  p.op = static_cast<ArpOp>(opcode());
  std::memcpy(p.sha.addr_bytes, data_ + kSha, RTE_ETHER_ADDR_LEN);
  std::memcpy(p.tha.addr_bytes, data_ + kTha, RTE_ETHER_ADDR_LEN);
  std::uint32_t ip;
  std::memcpy(&ip, data_ + kSip, 4);
  p.spa = IpAddr::v4_be(ip);
  std::memcpy(&ip, data_ + kTip, 4);
  p.tpa = IpAddr::v4_be(ip);
  return p;
}

std::size_t emit_arp(std::uint8_t* buf, std::size_t cap, const ArpPacket& p) {
  if (buf == nullptr || cap < ArpView::kLen || !p.spa.is_v4() || !p.tpa.is_v4()) return 0;
  put16(buf + offsetof(rte_arp_hdr, arp_hardware), RTE_ARP_HRD_ETHER);
  put16(buf + offsetof(rte_arp_hdr, arp_protocol), RTE_ETHER_TYPE_IPV4);
  buf[offsetof(rte_arp_hdr, arp_hlen)] = RTE_ETHER_ADDR_LEN;
  buf[offsetof(rte_arp_hdr, arp_plen)] = 4;
  put16(buf + offsetof(rte_arp_hdr, arp_opcode), static_cast<std::uint16_t>(p.op));
  std::memcpy(buf + kSha, p.sha.addr_bytes, RTE_ETHER_ADDR_LEN);
  std::memcpy(buf + kSip, p.spa.bytes(), 4);
  std::memcpy(buf + kTha, p.tha.addr_bytes, RTE_ETHER_ADDR_LEN);
  std::memcpy(buf + kTip, p.tpa.bytes(), 4);
  return ArpView::kLen;
}

}  // namespace shardtcp
