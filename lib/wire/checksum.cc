#include "wire/checksum.h"

namespace shardtcp {

std::uint16_t internet_checksum(const void* data, std::size_t len) {
  const std::uint16_t sum = rte_raw_cksum(data, len);
  // 0xffff and 0x0000 are the same value in one's complement; RFC 1071 stores the
  // inverted sum, where a sum of 0xffff inverts to 0.
  return static_cast<std::uint16_t>(~sum);
}

bool internet_checksum_ok(const void* data, std::size_t len) {
  return rte_raw_cksum(data, len) == 0xffff;
}

bool mbuf_checksum(const rte_mbuf* m, std::uint32_t off, std::uint32_t len, std::uint16_t* out) {
  if (static_cast<std::uint64_t>(off) + len > m->pkt_len) return false;
  std::uint16_t sum = 0;
  if (rte_raw_cksum_mbuf(m, off, len, &sum) != 0) return false;
  *out = static_cast<std::uint16_t>(~sum);
  return true;
}

bool mbuf_checksum_ok(const rte_mbuf* m, std::uint32_t off, std::uint32_t len) {
  if (static_cast<std::uint64_t>(off) + len > m->pkt_len) return false;
  std::uint16_t sum = 0;
  if (rte_raw_cksum_mbuf(m, off, len, &sum) != 0) return false;
  return sum == 0xffff;
}

std::uint16_t ipv4_header_checksum(const rte_ipv4_hdr* hdr) {
  return rte_ipv4_cksum(hdr);
}

bool ipv4_header_checksum_ok(const void* hdr, std::size_t ihl_bytes) {
  return internet_checksum_ok(hdr, ihl_bytes);
}

}  // namespace shardtcp
