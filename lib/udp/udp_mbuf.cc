#include "udp/udp_mbuf.h"

#include <netinet/in.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>

#include "wire/tcp.h"

namespace shardtcp {

bool udp_checksum_ok_mbuf(const rte_mbuf* m, const IpAddr& src, const IpAddr& dst,
                          std::uint32_t len) {
  return l4_checksum_mbuf(m, len, src, dst, IPPROTO_UDP) == 0;
}

std::uint16_t udp_checksum_mbuf(const rte_mbuf* m, const IpAddr& src, const IpAddr& dst) {
  const std::uint16_t ck = l4_checksum_mbuf(m, m->pkt_len, src, dst, IPPROTO_UDP);
  return ck == 0 ? 0xffff : ck;
}

bool trim_chain(rte_mbuf* m, std::uint32_t len) {
  if (len > m->pkt_len) return false;
  if (len == m->pkt_len) return true;
  std::uint32_t kept = 0;
  std::uint16_t segs = 0;
  rte_mbuf* seg = m;
  rte_mbuf* last = m;
  while (seg != nullptr && kept + seg->data_len <= len) {
    kept += seg->data_len;
    ++segs;
    last = seg;
    seg = seg->next;
    if (kept == len) break;
  }
  if (seg != nullptr && kept < len) {
    // `seg` holds the end: keep part of it.
    seg->data_len = static_cast<std::uint16_t>(len - kept);
    ++segs;
    last = seg;
  }
  // Everything after `last` goes (but the head always stays, even when len is 0).
  if (segs == 0) {
    m->data_len = 0;
    segs = 1;
    last = m;
  }
  rte_mbuf* rest = last->next;
  last->next = nullptr;
  if (rest != nullptr) {
    rest->nb_segs = 1;  // rte_pktmbuf_free walks ->next regardless; keep fields sane
    rte_pktmbuf_free(rest);
  }
  m->nb_segs = segs;
  m->pkt_len = len;
  return true;
}

std::size_t copy_from_chain(const rte_mbuf* m, std::uint32_t off, void* out, std::size_t len) {
  if (off >= m->pkt_len || len == 0) return 0;
  const std::size_t n = std::min<std::size_t>(len, m->pkt_len - off);
  auto* dst = static_cast<std::uint8_t*>(out);
  std::size_t done = 0;
  const rte_mbuf* seg = m;
  std::uint32_t skip = off;
  while (seg != nullptr && skip >= seg->data_len) {
    skip -= seg->data_len;
    seg = seg->next;
  }
  while (seg != nullptr && done < n) {
    const std::size_t take = std::min<std::size_t>(seg->data_len - skip, n - done);
    std::memcpy(dst + done, rte_pktmbuf_mtod_offset(seg, const std::uint8_t*, skip), take);
    done += take;
    skip = 0;
    seg = seg->next;
  }
  return done;
}

rte_mbuf* chain_from_bytes(rte_mempool* pool, const void* data, std::size_t len) {
  if (pool == nullptr) return nullptr;
  rte_mbuf* head = rte_pktmbuf_alloc(pool);
  if (head == nullptr) return nullptr;
  const auto* src = static_cast<const std::uint8_t*>(data);
  rte_mbuf* seg = head;
  std::size_t done = 0;
  while (done < len) {
    std::uint16_t room = rte_pktmbuf_tailroom(seg);
    if (room == 0) {
      rte_mbuf* next = rte_pktmbuf_alloc(pool);
      if (next == nullptr || rte_pktmbuf_chain(head, next) != 0) {
        if (next != nullptr) rte_pktmbuf_free(next);
        rte_pktmbuf_free(head);
        return nullptr;
      }
      seg = next;
      continue;
    }
    const auto take = static_cast<std::uint16_t>(std::min<std::size_t>(room, len - done));
    std::memcpy(rte_pktmbuf_mtod_offset(seg, std::uint8_t*, seg->data_len), src + done, take);
    seg->data_len = static_cast<std::uint16_t>(seg->data_len + take);
    head->pkt_len += take;
    done += take;
  }
  return head;
}

}  // namespace shardtcp
