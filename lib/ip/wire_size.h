// The size a datagram takes on the wire, where the device may cut it up (TSO): a frame
// marked RTE_MBUF_F_TX_TCP_SEG leaves as segments of tso_segsz payload bytes, each with
// a copy of its headers, so only they have to fit the MTU.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

namespace shardtcp {

// Largest IP packet (L3 header `l3_len` plus the L4 datagram `m`) the wire will see.
inline std::uint32_t largest_wire_packet(const rte_mbuf* m, std::uint32_t l3_len) {
  if ((m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) != 0 && m->tso_segsz != 0)
    return l3_len + m->l4_len + m->tso_segsz;
  return l3_len + m->pkt_len;
}

}  // namespace shardtcp
