// Turns the TCP core's output into frames: one mbuf per OutSegment with the header and
// options written by the wire codec, the payload copied from the connection's send
// buffer or (zero-copy) referenced from its mbuf chunks through indirect mbufs, the
// checksum computed in software or left to the device (pseudo-header sum +
// RTE_MBUF_F_TX_TCP_CKSUM), a segment longer than the MSS marked for the device to cut
// up (TSO: RTE_MBUF_F_TX_TCP_SEG, tso_segsz), and the datagram handed to IpStack::output.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "common/counters.h"
#include "engine/packet_handler.h"
#include "ip/ip_stack.h"
#include "tcp/tcp_buffer.h"
#include "tcp/tcp_events.h"
#include "tcp/tcp_layer_counters.h"
#include "wire/ip_addr.h"

namespace shardtcp {

struct TcpEmitterConfig {
  bool tx_cksum_offload = false;  // PortInfo::tx_l4_cksum
  // Reference send chunks from indirect mbufs instead of copying (needs a device that
  // sends chains: PortInfo::tx_multi_seg). Payloads up to copy_threshold are copied
  // anyway: an indirect mbuf costs more than copying a few hundred bytes.
  bool zero_copy = false;
  std::uint32_t copy_threshold = 512;
};

class TcpEmitter {
 public:
  // `counters`: the layer's ("tcp_layer"), where zero-copy frames and fallbacks are
  // counted; only referred to here, so it may be constructed after the emitter.
  TcpEmitter(IpStack& ip, const TcpEmitterConfig& config, CounterGroup& counters)
      : ip_(ip), config_(config), counters_(counters) {}

  // One segment of a connection; `sndbuf` holds the payload bytes it refers to; `path`
  // the connection's prebuilt IPv4 headers (IpStack::output_via), or null.
  OutputResult emit(const OutSegment& out, const SendBuffer* sndbuf, const IpAddr& src,
                    const IpAddr& dst, PacketContext& ctx, Ipv4OutputPath* path = nullptr);
  // A segment without payload that belongs to no connection (RST, cookie SYN-ACK,
  // TIME_WAIT re-ACK).
  OutputResult emit_control(const TcpSegment& seg, const IpAddr& src, const IpAddr& dst,
                            PacketContext& ctx);

  const TcpEmitterConfig& config() const { return config_; }
  std::uint64_t zero_copy_segments() const { return counters_.get(TcpLayerCounter::kTxZeroCopy); }
  // Segments meant for zero copy that were copied: the pool had no indirect mbufs left.
  std::uint64_t zero_copy_fallbacks() const {
    return counters_.get(TcpLayerCounter::kTxZeroCopyFallbacks);
  }

 private:
  // Appends `len` bytes of `sndbuf` from `off` to the chain: copies, chaining more
  // mbufs when the first runs out of room. False when the pool ran dry.
  bool copy_payload(rte_mbuf* m, const SendBuffer& sndbuf, std::uint64_t off, std::uint32_t len,
                    rte_mempool* pool);
  // Chains one indirect mbuf per send chunk the range touches to the header `m`.
  // False when the pool ran dry, with `m` left as it came (the pieces taken freed).
  bool attach_payload(rte_mbuf* m, const SendBuffer& sndbuf, std::uint64_t off, std::uint32_t len,
                      rte_mempool* pool);
  // `ip_ecn`: the segment's ECN codepoint, for the IP header.
  OutputResult finish(rte_mbuf* m, std::size_t header_len, std::uint8_t ip_ecn, const IpAddr& src,
                      const IpAddr& dst, PacketContext& ctx, Ipv4OutputPath* path);

  IpStack& ip_;
  TcpEmitterConfig config_;
  CounterGroup& counters_;
};

}  // namespace shardtcp
