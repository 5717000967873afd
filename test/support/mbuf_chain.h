// Test helper: bytes in an mbuf chain cut at chosen lengths, odd ones included, as
// zero-copy TX (send chunks attached wherever they end) and LRO (coalesced pieces)
// make them.
#pragma once

#include <rte_mbuf.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace shardtcp::test_support {

// A chain from `pool` holding `len` bytes of `data`: one segment per entry of `cuts`
// (its length), then one more for whatever is left. The first segment keeps the pool's
// headroom. nullptr (nothing leaked) if the pool runs dry or a piece does not fit.
inline rte_mbuf* chain_with_cuts(rte_mempool* pool, const std::uint8_t* data, std::size_t len,
                                 const std::vector<std::uint16_t>& cuts) {
  rte_mbuf* head = nullptr;
  std::size_t done = 0;
  for (std::size_t i = 0; i <= cuts.size() && (done < len || head == nullptr); ++i) {
    const std::size_t n = i < cuts.size() ? std::min<std::size_t>(cuts[i], len - done) : len - done;
    rte_mbuf* seg = rte_pktmbuf_alloc(pool);
    char* p = seg != nullptr ? rte_pktmbuf_append(seg, static_cast<std::uint16_t>(n)) : nullptr;
    if (p == nullptr || (head != nullptr && rte_pktmbuf_chain(head, seg) != 0)) {
      if (seg != nullptr) rte_pktmbuf_free(seg);
      if (head != nullptr) rte_pktmbuf_free(head);
      return nullptr;
    }
    std::memcpy(p, data + done, n);
    done += n;
    if (head == nullptr) head = seg;
  }
  return head;
}

inline rte_mbuf* chain_with_cuts(rte_mempool* pool, const std::vector<std::uint8_t>& data,
                                 const std::vector<std::uint16_t>& cuts) {
  return chain_with_cuts(pool, data.data(), data.size(), cuts);
}

}  // namespace shardtcp::test_support
