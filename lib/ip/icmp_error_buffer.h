// The body of an ICMP or ICMPv6 error message, shared by both families' senders.
#pragma once

#include <rte_mbuf.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace shardtcp {

// An mbuf from `pool` holding `header_len` bytes for the ICMP header (left for the
// caller to write) followed by the quote of the offending packet: `ip_len` bytes of its
// IP header(s) from `ip_hdr`, then `l4_len` bytes of what follows, read from `m` at
// `l4_off` (across segments if need be). Null with *no_buffer set when the pool has
// nothing; null with *no_buffer clear when `m` is shorter than it said.
inline rte_mbuf* alloc_icmp_error(rte_mempool* pool, std::size_t header_len,
                                  const std::uint8_t* ip_hdr, std::size_t ip_len, const rte_mbuf* m,
                                  std::uint32_t l4_off, std::uint32_t l4_len, bool* no_buffer) {
  *no_buffer = false;
  const std::size_t total = header_len + ip_len + l4_len;
  rte_mbuf* e = pool != nullptr ? rte_pktmbuf_alloc(pool) : nullptr;
  auto* buf =
      e ? reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(e, static_cast<std::uint16_t>(total)))
        : nullptr;
  if (buf == nullptr) {
    if (e) rte_pktmbuf_free(e);
    *no_buffer = true;
    return nullptr;
  }
  std::uint8_t* quote = buf + header_len;
  std::memcpy(quote, ip_hdr, ip_len);
  if (l4_len > 0) {
    // rte_pktmbuf_read copies only when the bytes straddle segments; else it points in.
    const void* p = rte_pktmbuf_read(m, l4_off, l4_len, quote + ip_len);
    if (p == nullptr) {
      rte_pktmbuf_free(e);
      return nullptr;
    }
    if (p != quote + ip_len) std::memcpy(quote + ip_len, p, l4_len);
  }
  return e;
}

}  // namespace shardtcp
