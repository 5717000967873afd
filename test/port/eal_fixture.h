// Shared EAL bring-up for test executables: rte_eal_init runs once per process, so
// every test calls test_eal() and gets the same pool. Tries hugepages (--in-memory)
// first, then --no-huge.
#pragma once

#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "port/eal.h"
#include "port/packet_port.h"

namespace shardtcp::testing {

// Brings up the EAL with two lcores (one worker) and returns a shared mbuf pool;
// nullptr (with a gtest failure) if that is impossible.
inline rte_mempool* test_eal(const std::string& prefix, std::vector<std::string> vdevs = {}) {
  static rte_mempool* pool = [&]() -> rte_mempool* {
    TestEalOptions o;
    o.file_prefix = prefix;
    o.lcores = "0-1";
    o.vdevs = vdevs;
    Status s = eal_init_for_tests(o);
    if (!s) {
      ADD_FAILURE() << s.message();
      return nullptr;
    }
    MbufPoolOptions po;
    po.n_mbufs = 16383;
    auto mp = create_mbuf_pool(prefix + "_pool", po);
    if (!mp) {
      ADD_FAILURE() << mp.error();
      return nullptr;
    }
    return *mp;
  }();
  return pool;
}

// Every byte of seq affects the pattern, so corrupting any byte of the sequence
// number is detected.
inline std::uint8_t pattern(std::uint32_t seq, std::uint16_t i) {
  return static_cast<std::uint8_t>((seq * 31 + i) ^ (seq >> 8) ^ (seq >> 16) ^ (seq >> 24));
}

// A frame: Ethernet header (dst, src, type 0x88b5, local experimental) then a 32-bit
// sequence number and `pad` bytes of a pattern derived from it.
inline rte_mbuf* make_frame(rte_mempool* mp, std::uint32_t seq, std::uint16_t len = 64) {
  rte_mbuf* m = rte_pktmbuf_alloc(mp);
  if (m == nullptr) return nullptr;
  auto* p = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(m, len));
  const std::uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02};
  const std::uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x01};
  std::memcpy(p, dst, 6);
  std::memcpy(p + 6, src, 6);
  p[12] = 0x88;
  p[13] = 0xb5;
  std::memcpy(p + 14, &seq, 4);
  for (std::uint16_t i = 18; i < len; ++i) p[i] = pattern(seq, i);
  return m;
}

inline std::uint32_t frame_seq(const rte_mbuf* m) {
  std::uint32_t seq;
  std::memcpy(&seq, rte_pktmbuf_mtod_offset(m, const std::uint8_t*, 14), 4);
  return seq;
}

// True if the frame's bytes are exactly what make_frame(seq, len) wrote.
inline bool frame_intact(const rte_mbuf* m, std::uint16_t len = 64) {
  if (rte_pktmbuf_pkt_len(m) != len || m->nb_segs != 1) return false;
  const auto* p = rte_pktmbuf_mtod(m, const std::uint8_t*);
  if (p[12] != 0x88 || p[13] != 0xb5) return false;
  const std::uint32_t seq = frame_seq(m);
  for (std::uint16_t i = 18; i < len; ++i) {
    if (p[i] != pattern(seq, i)) return false;
  }
  return true;
}

// A PacketPort in memory: tx_burst appends to `sent` (up to tx_limit per call),
// rx_burst pops `inbox`. Owns whatever it holds and frees it on destruction.
class MemoryPort final : public PacketPort {
 public:
  MemoryPort() { info_.port_id = 0; }
  ~MemoryPort() override { clear(); }
  std::uint16_t rx_burst(std::uint16_t, rte_mbuf** pkts, std::uint16_t n) override {
    std::uint16_t i = 0;
    while (i < n && !inbox.empty()) {
      pkts[i++] = inbox.front();
      inbox.pop_front();
    }
    return i;
  }
  std::uint16_t tx_burst(std::uint16_t, rte_mbuf** pkts, std::uint16_t n) override {
    const std::uint16_t k = std::min<std::uint16_t>(n, tx_limit);
    sent.insert(sent.end(), pkts, pkts + k);
    return k;
  }
  const PortInfo& info() const override { return info_; }
  void clear() {
    for (rte_mbuf* m : sent) rte_pktmbuf_free(m);
    for (rte_mbuf* m : inbox) rte_pktmbuf_free(m);
    sent.clear();
    inbox.clear();
  }

  std::vector<rte_mbuf*> sent;
  std::deque<rte_mbuf*> inbox;
  std::uint16_t tx_limit = UINT16_MAX;
  PortInfo info_;
};

}  // namespace shardtcp::testing
