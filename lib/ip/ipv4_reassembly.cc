#include "ip/ipv4_reassembly.h"

#include <rte_ip.h>

#include <algorithm>

namespace shardtcp {

Ipv4Reassembly::Ipv4Reassembly(const ReassemblyConfig& cfg) : cfg_(cfg) {
  std::uint32_t be = std::max<std::uint32_t>(1, cfg_.bucket_entries);
  if (!rte_is_power_of_2(be)) be = rte_align32pow2(be);
  const std::uint32_t max_flows = std::max<std::uint32_t>(1, cfg_.max_flows);
  // Twice as many buckets as needed keeps hash collisions from refusing flows before
  // the table holds max_flows.
  const std::uint32_t buckets = std::max<std::uint32_t>(1, (2 * max_flows + be - 1) / be);
  tbl_ = rte_ip_frag_table_create(buckets, be, max_flows,
                                  static_cast<std::uint64_t>(cfg_.timeout.count()), cfg_.socket_id);
}

Ipv4Reassembly::~Ipv4Reassembly() {
  free_death_row();
  if (tbl_ != nullptr) rte_ip_frag_table_destroy(tbl_);
}

void Ipv4Reassembly::free_death_row() {
  freed_ += dr_.cnt;
  if (dr_.cnt > 0) rte_ip_frag_free_death_row(&dr_, 0);
}

Ipv4Reassembly::Result Ipv4Reassembly::process(rte_mbuf* m, Instant now, rte_mbuf** out) {
  *out = nullptr;
  if (tbl_ == nullptr) {
    rte_pktmbuf_free(m);
    return Result::kDropped;
  }
  // A death row that could overflow within this call is emptied first.
  if (dr_.cnt + RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1 > RTE_IP_FRAG_DEATH_ROW_MBUF_LEN) free_death_row();
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, m->l2_len);
  const std::uint32_t before = dr_.cnt;
  rte_mbuf* done =
      rte_ipv4_frag_reassemble_packet(tbl_, &dr_, m, static_cast<std::uint64_t>(now.ns), ip);
  if (done != nullptr) {
    // The table rewrites total length and fragment fields but not the checksum; fix it
    // so the header is valid again for anyone who quotes or re-parses it.
    auto* h = rte_pktmbuf_mtod_offset(done, rte_ipv4_hdr*, done->l2_len);
    h->hdr_checksum = 0;
    h->hdr_checksum = rte_ipv4_cksum(h);
    *out = done;
    return Result::kComplete;
  }
  // The table puts what it refuses on the death row; nothing new there means held.
  return dr_.cnt > before ? Result::kDropped : Result::kHeld;
}

Ipv4Reassembly::Result Ipv4Reassembly::process_v6(rte_mbuf* m, Instant now, rte_mbuf** out) {
  *out = nullptr;
  if (tbl_ == nullptr) {
    rte_pktmbuf_free(m);
    return Result::kDropped;
  }
  if (dr_.cnt + RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1 > RTE_IP_FRAG_DEATH_ROW_MBUF_LEN) free_death_row();
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, m->l2_len);
  auto* fh = rte_pktmbuf_mtod_offset(m, rte_ipv6_fragment_ext*, m->l2_len + sizeof(rte_ipv6_hdr));
  const std::uint32_t before = dr_.cnt;
  rte_mbuf* done =
      rte_ipv6_frag_reassemble_packet(tbl_, &dr_, m, static_cast<std::uint64_t>(now.ns), ip, fh);
  if (done != nullptr) {
    *out = done;
    return Result::kComplete;
  }
  return dr_.cnt > before ? Result::kDropped : Result::kHeld;
}

std::uint32_t Ipv4Reassembly::collect(Instant now) {
  std::uint32_t expired = 0;
  free_death_row();  // room for what expiry adds
  if (tbl_ != nullptr) {
    const std::uint32_t before = dr_.cnt;
    rte_ip_frag_table_del_expired_entries(tbl_, &dr_, static_cast<std::uint64_t>(now.ns));
    expired = dr_.cnt - before;  // fragments, not flows: the table does not say which
  }
  free_death_row();
  return expired;
}

}  // namespace shardtcp
