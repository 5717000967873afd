// Internet checksums (RFC 1071) through DPDK's rte_net helpers, so the same code
// path is used whether the bytes sit in a flat buffer or in an mbuf chain.
#pragma once

#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace shardtcp {

// `sum` plus the buffer's 16-bit words (in memory order), as DPDK's __rte_raw_cksum
// adds them (a last odd byte as a word whose other byte is zero), not reduced: fold it
// with __rte_raw_cksum_reduce. The result is congruent to DPDK's modulo 0xffff and zero
// only when DPDK's is, so the folded checksums are equal (it may use all 32 bits).
// Under 64 bytes (headers) one jump to straight adds with carry for that length; longer
// buffers 32 bytes per step with AVX2 (the receive path verifies every segment's 1.5 KB
// when the device does not), 64 bytes per chain of adds with carry on other CPUs.
std::uint32_t raw_sum(const void* buf, std::size_t len, std::uint32_t sum);
// The same, not folded: `acc` (below 2^40) plus the words, in a 64-bit value congruent
// to their ones'-complement sum modulo 0xffff. A checksum verifies when that value is a
// multiple of 0xffff (one multiply and compare, in place of the folds).
std::uint64_t raw_sum64(const void* buf, std::size_t len, std::uint64_t acc);

// One's-complement checksum of a flat buffer, ready to store (already inverted).
std::uint16_t internet_checksum(const void* data, std::size_t len);

// True if the buffer, including its stored checksum field, sums to 0xffff.
bool internet_checksum_ok(const void* data, std::size_t len);

// The one's-complement sum (not inverted) of `len` bytes of an mbuf chain from `off`,
// as rte_raw_cksum_mbuf, which in DPDK 22.11 is wrong after a segment of odd length:
// it cuts the next segment's 32-bit partial sum to 16 bits before swapping its bytes,
// losing the carries. Chains of attached send chunks (zero-copy TX) and LRO pieces
// have such segments. False if the range runs past the chain.
bool raw_cksum_mbuf(const rte_mbuf* m, std::uint32_t off, std::uint32_t len, std::uint16_t* out);

// Same over `len` bytes of an mbuf chain starting at `off`; false if the range
// runs past the chain.
bool mbuf_checksum(const rte_mbuf* m, std::uint32_t off, std::uint32_t len, std::uint16_t* out);
bool mbuf_checksum_ok(const rte_mbuf* m, std::uint32_t off, std::uint32_t len);

// IPv4 header checksum over the header's own IHL (the stored field is treated as 0
// by rte_ipv4_cksum only if the caller zeroed it; pass a header with checksum 0 to
// compute, or use ipv4_header_checksum_ok to verify).
std::uint16_t ipv4_header_checksum(const rte_ipv4_hdr* hdr);
bool ipv4_header_checksum_ok(const void* hdr, std::size_t ihl_bytes);
// The same for a 20-byte header (no options), inline, for every frame of IP's fast
// path: its five 32-bit words added in 64 bits. 2^16 = 1 modulo 0xffff, so that sum is
// congruent to the ones'-complement sum of its ten 16-bit words, which a correct header
// makes 0xffff: the check is one test for a multiple of 0xffff (a multiply and a
// compare; the sum is never 0, the version field is not), against raw_sum's call and
// its folds.
inline bool ipv4_base_header_checksum_ok(const void* hdr) {
  const auto* p = static_cast<const std::uint8_t*>(hdr);
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < 20; i += 4) {
    std::uint32_t w;
    std::memcpy(&w, p + i, sizeof(w));
    sum += w;
  }
  return sum % 0xffff == 0;
}

}  // namespace shardtcp
