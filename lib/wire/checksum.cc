#include "wire/checksum.h"

#include <rte_byteorder.h>

#include <algorithm>

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

bool raw_cksum_mbuf(const rte_mbuf* m, std::uint32_t off, std::uint32_t len, std::uint16_t* out) {
  if (static_cast<std::uint64_t>(off) + len > m->pkt_len) return false;
  while (m != nullptr && off >= m->data_len) {
    off -= m->data_len;
    m = m->next;
  }
  std::uint32_t sum = 0, done = 0;
  for (; m != nullptr && done < len; m = m->next, off = 0) {
    const std::uint32_t n = std::min<std::uint32_t>(m->data_len - off, len - done);
    std::uint16_t part =
        __rte_raw_cksum_reduce(__rte_raw_cksum(rte_pktmbuf_mtod_offset(m, const void*, off), n, 0));
    // A segment starting at an odd offset of the range holds the other byte of every
    // 16-bit word: its (folded) sum counts swapped.
    if (done & 1) part = rte_bswap16(part);
    sum += part;
    done += n;
  }
  if (done != len) return false;
  *out = __rte_raw_cksum_reduce(sum);
  return true;
}

bool mbuf_checksum(const rte_mbuf* m, std::uint32_t off, std::uint32_t len, std::uint16_t* out) {
  std::uint16_t sum = 0;
  if (!raw_cksum_mbuf(m, off, len, &sum)) return false;
  *out = static_cast<std::uint16_t>(~sum);
  return true;
}

bool mbuf_checksum_ok(const rte_mbuf* m, std::uint32_t off, std::uint32_t len) {
  std::uint16_t sum = 0;
  if (!raw_cksum_mbuf(m, off, len, &sum)) return false;
  return sum == 0xffff;
}

std::uint16_t ipv4_header_checksum(const rte_ipv4_hdr* hdr) {
  return rte_ipv4_cksum(hdr);
}

bool ipv4_header_checksum_ok(const void* hdr, std::size_t ihl_bytes) {
  return internet_checksum_ok(hdr, ihl_bytes);
}

}  // namespace shardtcp
