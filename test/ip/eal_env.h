// One EAL and one mbuf pool per test process (rte_eal_init runs only once), shared
// by every EAL-using test of the executable through a gtest Environment.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>
#include <vector>

namespace shardtcp::l3test {

// The pool all tests allocate from; no per-lcore cache, so avail counts are exact and
// leak checks can compare them.
rte_mempool* pool();

inline unsigned pool_avail() {
  return rte_mempool_avail_count(pool());
}

// A single-segment mbuf holding `bytes`.
rte_mbuf* make_mbuf(const std::uint8_t* bytes, std::size_t len);
inline rte_mbuf* make_mbuf(const std::vector<std::uint8_t>& v) {
  return make_mbuf(v.data(), v.size());
}
// The bytes of a (possibly chained) mbuf.
std::vector<std::uint8_t> mbuf_bytes(const rte_mbuf* m);

}  // namespace shardtcp::l3test
