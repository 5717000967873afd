// Whether the stack's frames may reference send storage (zero-copy TX: a header mbuf
// chained to indirect mbufs attached to the send buffer's chunks) on a device, from
// what the device negotiated. Chains are the first condition (RTE_ETH_TX_OFFLOAD_
// MULTI_SEGS, PortInfo::tx_multi_seg). Then, per PMD as of DPDK 22.11:
//  - net_ring passes the mbufs themselves; virtio(_user) hands each segment to the
//    backend as a descriptor, the header in the first: both read chains of any shape,
//    and an attached payload is one copy fewer.
//  - net_memif and net_af_packet copy every segment into their shared rings anyway
//    (they too read any chain), so attaching
//    saves no copy there and costs the indirect mbufs: measured on the memif
//    TCP_STREAM pair, 13.2 Gbit/s attached against 17.9 copied (three alternating
//    runs each, --zero-copy-tx on/off). They copy.
//  - net_tap with TX checksum offload sums the L4 payload itself, segment by segment
//    (rte_raw_cksum per iovec), which is only right while every segment but the last
//    has an even length; an attached payload is cut where the send buffer's chunks
//    end, at any byte. The kernel copies the frame anyway (writev), so TAP keeps
//    copying: its frames stay one segment up to the mbuf's room.
#pragma once

#include <cstring>

namespace shardtcp {

inline bool tx_zero_copy_suits(const char* driver_name, bool tx_multi_seg, bool tx_l4_cksum) {
  if (!tx_multi_seg) return false;
  if (driver_name != nullptr && (std::strcmp(driver_name, "net_memif") == 0 ||
                                 std::strcmp(driver_name, "net_af_packet") == 0))
    return false;
  if (tx_l4_cksum && driver_name != nullptr && std::strcmp(driver_name, "net_tap") == 0)
    return false;
  return true;
}

}  // namespace shardtcp
