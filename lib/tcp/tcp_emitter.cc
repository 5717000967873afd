#include "tcp/tcp_emitter.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "wire/tcp.h"

namespace shardtcp {
namespace {

rte_mbuf* header_mbuf(const TcpSegment& seg, rte_mempool* pool, std::size_t* hl) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (m == nullptr) return nullptr;
  *hl = tcp_header_len(seg);
  auto* h = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(m, static_cast<std::uint16_t>(*hl)));
  if (h == nullptr || emit_tcp_header(h, *hl, seg) != *hl) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  return m;
}

}  // namespace

OutputResult TcpEmitter::emit(const OutSegment& out, const SendBuffer* sndbuf, const IpAddr& src,
                              const IpAddr& dst, PacketContext& ctx, Ipv4OutputPath* path) {
  std::size_t hl = 0;
  rte_mbuf* m = header_mbuf(out.seg, ctx.pool, &hl);
  if (m == nullptr) return OutputResult::kNoBuffer;
  if (out.payload_len > 0) {
    bool ok = sndbuf != nullptr;
    if (ok) {
      if (config_.zero_copy && out.payload_len > config_.copy_threshold) {
        ok = attach_payload(m, *sndbuf, out.stream_offset, out.payload_len, ctx.pool);
        if (ok) {
          counters_.inc(TcpLayerCounter::kTxZeroCopy);
        } else if (out.payload_len <= rte_pktmbuf_tailroom(m)) {
          // The pool ran dry before every chunk had its indirect mbuf (attach_payload
          // left the header alone): a payload that fits the header's own room needs
          // no other mbuf when copied.
          ok = copy_payload(m, *sndbuf, out.stream_offset, out.payload_len, ctx.pool);
          if (ok) counters_.inc(TcpLayerCounter::kTxZeroCopyFallbacks);
        }
      } else {
        ok = copy_payload(m, *sndbuf, out.stream_offset, out.payload_len, ctx.pool);
      }
    }
    if (!ok) {
      rte_pktmbuf_free(m);
      return OutputResult::kNoBuffer;
    }
  }
  if (out.tso_segsz != 0) {
    // The device cuts the frame into tso_segsz-byte segments and sums each; the
    // pseudo-header sum it starts from leaves the length out (finish).
    m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG;
    m->tso_segsz = static_cast<std::uint16_t>(out.tso_segsz);
  }
  return finish(m, hl, out.seg.ip_ecn, src, dst, ctx, path);
}

OutputResult TcpEmitter::emit_control(const TcpSegment& seg, const IpAddr& src, const IpAddr& dst,
                                      PacketContext& ctx) {
  std::size_t hl = 0;
  rte_mbuf* m = header_mbuf(seg, ctx.pool, &hl);
  if (m == nullptr) return OutputResult::kNoBuffer;
  return finish(m, hl, seg.ip_ecn, src, dst, ctx, nullptr);
}

bool TcpEmitter::copy_payload(rte_mbuf* m, const SendBuffer& sndbuf, std::uint64_t off,
                              std::uint32_t len, rte_mempool* pool) {
  rte_mbuf* seg = m;
  while (len > 0) {
    std::uint16_t room = rte_pktmbuf_tailroom(seg);
    if (room == 0) {
      // `seg` is the chain's last mbuf: linked there directly (rte_pktmbuf_chain would
      // walk from the head for every mbuf of a 64 KiB frame).
      rte_mbuf* next = rte_pktmbuf_alloc(pool);
      if (next == nullptr) return false;
      seg->next = next;
      ++m->nb_segs;
      seg = next;
      continue;
    }
    const std::uint32_t take = std::min<std::uint32_t>(room, len);
    std::uint8_t* dst = rte_pktmbuf_mtod_offset(seg, std::uint8_t*, seg->data_len);
    if (sndbuf.copy(off, take, dst) != take) return false;
    seg->data_len = static_cast<std::uint16_t>(seg->data_len + take);
    m->pkt_len += take;
    off += take;
    len -= take;
  }
  return true;
}

bool TcpEmitter::attach_payload(rte_mbuf* m, const SendBuffer& sndbuf, std::uint64_t off,
                                std::uint32_t len, rte_mempool* pool) {
  // `m` is the header alone. The pieces are linked behind the last one added, not by
  // rte_pktmbuf_chain, which walks the chain to its end for every piece (a 64 KiB TSO
  // frame is 33 of them).
  rte_mbuf* last = m;
  std::uint32_t covered = 0;
  std::uint16_t pieces = 0;
  bool ok = true;
  sndbuf.for_each_chunk(off, len, [&](const std::uint8_t* data, std::uint32_t n, void* handle) {
    if (!ok) return;
    rte_mbuf* ind = rte_pktmbuf_alloc(pool);
    if (ind == nullptr) {
      ok = false;
      return;
    }
    rte_pktmbuf_attach(ind, static_cast<rte_mbuf*>(handle));  // a reference on the chunk
    ind->data_off =
        static_cast<std::uint16_t>(data - static_cast<const std::uint8_t*>(ind->buf_addr));
    ind->data_len = static_cast<std::uint16_t>(n);
    last->next = ind;
    last = ind;
    covered += n;
    ++pieces;
  });
  if (!ok || covered != len) {
    // Give back the pieces taken (and their chunk references): the header stays as
    // it was, for the caller to copy into or free.
    rte_pktmbuf_free(m->next);
    m->next = nullptr;
    return false;
  }
  m->nb_segs = static_cast<std::uint16_t>(m->nb_segs + pieces);
  m->pkt_len += covered;
  return true;
}

OutputResult TcpEmitter::finish(rte_mbuf* m, std::size_t header_len, std::uint8_t ip_ecn,
                                const IpAddr& src, const IpAddr& dst, PacketContext& ctx,
                                Ipv4OutputPath* path) {
  auto* h = rte_pktmbuf_mtod(m, std::uint8_t*);
  m->l4_len = static_cast<std::uint16_t>(header_len);
  if (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) {
    set_tcp_checksum(h, l4_pseudo_header_checksum(src, dst, IPPROTO_TCP, m->pkt_len, m->ol_flags));
  } else if (config_.tx_cksum_offload) {
    m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
    set_tcp_checksum(h, l4_pseudo_header_checksum(src, dst, IPPROTO_TCP, m->pkt_len, m->ol_flags));
  } else if (m->nb_segs == 1) {
    set_tcp_checksum(h, l4_checksum(src, dst, IPPROTO_TCP, h, m->pkt_len));
  } else {
    set_tcp_checksum(h, l4_checksum_mbuf(m, m->pkt_len, src, dst, IPPROTO_TCP));
  }
  if (path != nullptr) return ip_.output_via(m, src, dst, IPPROTO_TCP, ctx, ip_ecn, *path);
  return ip_.output(m, src, dst, IPPROTO_TCP, ctx, ip_ecn);
}

}  // namespace shardtcp
