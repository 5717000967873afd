// Giving up one reference to a received single-segment packet, inline for the case
// the TCP receive path meets on nearly every segment: the receive queue took a
// reference of its own, so giving up ours is one atomic decrement. rte_pktmbuf_free
// does the same but out of line, with the frame of its whole free path (six saved
// registers, the chain loop, the mempool put inlined): 33 instructions a segment
// for that decrement. The last reference still goes through rte_pktmbuf_free.
#pragma once

#include <rte_mbuf.h>

namespace shardtcp {

// rte_pktmbuf_free(m) for an mbuf that is not chained (m->next == nullptr).
inline void release_single_mbuf(rte_mbuf* m) {
  RTE_ASSERT(m->next == nullptr);
  if (rte_mbuf_refcnt_read(m) != 1) {
    if (rte_mbuf_refcnt_update(m, -1) != 0) return;  // others still hold it
    // Another holder let go meanwhile and ours became the last: freed from a count of
    // one, as rte_pktmbuf_prefree_seg frees then.
    rte_mbuf_refcnt_set(m, 1);
  }
  rte_pktmbuf_free(m);
}

}  // namespace shardtcp
