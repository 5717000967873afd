// Makes the first `n` bytes of a chained packet contiguous in its first segment, for
// the IP input paths (IPv4 and IPv6).
#pragma once

#include <rte_mbuf.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace shardtcp {

// Moves bytes from the following segments into the first one's tailroom (frames we
// fragmented ourselves arrive as a header segment followed by the payload). No-op
// when they already are contiguous. False if the first segment cannot take them (not
// a private direct buffer, or too little room).
inline bool pullup(rte_mbuf* m, std::uint32_t n) {
  if (n > m->pkt_len) return false;
  if (m->data_len >= n) return true;
  if (!RTE_MBUF_DIRECT(m) || rte_mbuf_refcnt_read(m) != 1 ||
      rte_pktmbuf_tailroom(m) < n - m->data_len)
    return false;
  while (m->data_len < n && m->next != nullptr) {
    rte_mbuf* seg = m->next;
    const auto k =
        static_cast<std::uint16_t>(std::min<std::uint32_t>(n - m->data_len, seg->data_len));
    std::memcpy(rte_pktmbuf_mtod_offset(m, std::uint8_t*, m->data_len),
                rte_pktmbuf_mtod(seg, const std::uint8_t*), k);
    m->data_len = static_cast<std::uint16_t>(m->data_len + k);
    seg->data_off = static_cast<std::uint16_t>(seg->data_off + k);
    seg->data_len = static_cast<std::uint16_t>(seg->data_len - k);
    if (seg->data_len == 0) {
      // Unlink the emptied segment: zero-length segments upset some TX paths.
      m->next = seg->next;
      seg->next = nullptr;
      m->nb_segs = static_cast<std::uint16_t>(m->nb_segs - 1);
      rte_pktmbuf_free_seg(seg);
    }
  }
  return m->data_len >= n;
}

}  // namespace shardtcp
