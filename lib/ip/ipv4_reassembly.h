// IPv4 (and IPv6) reassembly over DPDK's rte_ip_frag table: bounded in flows (table entries)
// and in memory (at most RTE_LIBRTE_IP_FRAG_MAX_FRAG fragments held per flow, and
// incomplete flows time out). The table is keyed by (src, dst, id, protocol) and
// takes time as a plain number, so we feed it our own nanosecond `now`.
#pragma once

#include <rte_ip_frag.h>
#include <rte_mbuf.h>

#include <cstdint>

#include "common/time.h"

namespace shardtcp {

struct ReassemblyConfig {
  std::uint32_t max_flows = 1024;     // datagrams being reassembled at once
  std::uint32_t bucket_entries = 16;  // associativity of the hash table (power of 2)
  Duration timeout = std::chrono::seconds(2);
  int socket_id = SOCKET_ID_ANY;
};

class Ipv4Reassembly {
 public:
  enum class Result : std::uint8_t {
    kComplete,  // *out is the whole datagram (an mbuf chain, header checksum valid)
    kHeld,      // the fragment was stored; wait for the rest
    kDropped,   // rejected (table full, overlap, too many fragments); freed at collect()
  };

  // Allocates the table with rte_zmalloc: needs EAL. ok() says whether it worked.
  explicit Ipv4Reassembly(const ReassemblyConfig& cfg);
  ~Ipv4Reassembly();
  Ipv4Reassembly(const Ipv4Reassembly&) = delete;
  Ipv4Reassembly& operator=(const Ipv4Reassembly&) = delete;

  bool ok() const { return tbl_ != nullptr; }

  // `m` holds one fragment with its data at the L2 header; m->l2_len and m->l3_len
  // must be set. Takes ownership.
  Result process(rte_mbuf* m, Instant now, rte_mbuf** out);
  // The same for an IPv6 fragment (the table is keyed by family too): the fragment
  // header must follow the fixed header directly (m->l3_len = 48), as DPDK expects.
  // A complete datagram comes back without the fragment header.
  Result process_v6(rte_mbuf* m, Instant now, rte_mbuf** out);

  // Expires flows older than the timeout and frees everything the table gave up on.
  // Call once per poll. Returns the number of fragments freed because their flow
  // timed out (the table does not report flows).
  std::uint32_t collect(Instant now);

  std::uint32_t held_fragments_freed() const { return freed_; }

 private:
  void free_death_row();

  ReassemblyConfig cfg_;
  rte_ip_frag_tbl* tbl_ = nullptr;
  rte_ip_frag_death_row dr_{};
  std::uint32_t freed_ = 0;
};

}  // namespace shardtcp
