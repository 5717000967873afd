// mbuf-chain helpers the UDP layer needs beyond lib/wire/udp.h, whose checksum
// helpers take one contiguous buffer: reassembled and large datagrams are chains.
#pragma once

#include <rte_mbuf.h>

#include <cstddef>
#include <cstdint>

#include "wire/ip_addr.h"

namespace shardtcp {

// True when the UDP checksum of the `len`-byte datagram at offset 0 of `m` (header
// included, stored checksum in place) verifies against the pseudo-header.
// False if the chain is shorter than `len`.
bool udp_checksum_ok_mbuf(const rte_mbuf* m, const IpAddr& src, const IpAddr& dst,
                          std::uint32_t len);

// Computes the checksum of the datagram at offset 0 of `m` (whole chain; the
// checksum field must be 0) and returns it in wire order, 0 mapped to 0xffff
// (RFC 768). Both sum the chain with l4_checksum_mbuf (lib/wire/tcp.h).
std::uint16_t udp_checksum_mbuf(const rte_mbuf* m, const IpAddr& src, const IpAddr& dst);

// Shortens a chain to `len` bytes, freeing segments that fall wholly past it
// (rte_pktmbuf_trim only trims the last segment). False if len > pkt_len.
bool trim_chain(rte_mbuf* m, std::uint32_t len);

// Copies up to `len` bytes from offset `off` of a chain into `out`; returns the
// number copied.
std::size_t copy_from_chain(const rte_mbuf* m, std::uint32_t off, void* out, std::size_t len);

// Allocates a chain holding `len` bytes copied from `data`, leaving the pool's
// headroom free in the first segment for headers. nullptr when the pool runs dry
// (nothing is leaked).
rte_mbuf* chain_from_bytes(rte_mempool* pool, const void* data, std::size_t len);

}  // namespace shardtcp
