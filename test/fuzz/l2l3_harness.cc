#include "l2l3_harness.h"

#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "common/time.h"
#include "engine/packet_handler.h"
#include "ip/ip_stack.h"
#include "port/eal.h"

namespace shardtcp::fuzz {
namespace {

using namespace std::chrono_literals;

struct FreeingSink final : FrameSink {
  std::uint64_t sent = 0;
  void send(rte_mbuf* m) override {
    ++sent;
    rte_pktmbuf_free(m);
  }
};

// A transport that answers everything with port unreachable, as UDP does for
// closed ports: exercises the quoting path on fuzzed headers.
struct UnreachableTransport final : TransportHandler {
  IpStack* stack = nullptr;
  void on_l4(rte_mbuf* m, const L3Meta& meta, PacketContext& ctx) override {
    stack->send_dest_unreachable(m, meta, 3, ctx);
    rte_pktmbuf_free(m);
  }
  void on_icmp_error(const IcmpErrorInfo&, PacketContext&) override {}
};

constexpr unsigned kPoolSize = 2047;

struct State {
  rte_mempool* pool = nullptr;
  std::unique_ptr<IpStack> stack;
  UnreachableTransport udp;
  FreeingSink sink;
  VirtualClock clock;
};

State* g = nullptr;

PacketContext ctx() {
  return PacketContext{g->clock.now(), &g->sink, g->pool, 0};
}

rte_mbuf* to_mbuf(const std::uint8_t* data, std::size_t len, std::uint16_t seg_len) {
  rte_mbuf* head = nullptr;
  rte_mbuf* tail = nullptr;
  std::size_t pos = 0;
  do {
    rte_mbuf* seg = rte_pktmbuf_alloc(g->pool);
    if (seg == nullptr) {
      rte_pktmbuf_free(head);
      return nullptr;
    }
    const std::size_t n = std::min<std::size_t>({len - pos, seg_len, rte_pktmbuf_tailroom(seg)});
    std::memcpy(rte_pktmbuf_append(seg, static_cast<std::uint16_t>(n)), data + pos, n);
    pos += n;
    if (head == nullptr) {
      head = tail = seg;
    } else {
      tail->next = seg;
      tail = seg;
      head->nb_segs++;
      head->pkt_len += seg->data_len;
    }
  } while (pos < len);
  return head;
}

}  // namespace

bool l2l3_init() {
  if (g != nullptr) return g->stack != nullptr;
  g = new State;
  TestEalOptions o;
  o.file_prefix = "l3_fuzz";
  o.extra.push_back("--log-level=*:error");
  if (!eal_init_for_tests(o)) return false;
  MbufPoolOptions po;
  po.n_mbufs = kPoolSize;
  po.cache_size = 0;  // exact avail counts for leak checks
  auto p = create_mbuf_pool("l3_fuzz_pool", po);
  if (!p) return false;
  g->pool = p.value();
  IpStackConfig c;
  c.port.mac = rte_ether_addr{{0x02, 0, 0, 0, 0, 0x02}};
  c.port.mtu = 1500;
  c.addresses.push_back({IpAddr::v4(0xC6120002), 24});  // 198.18.0.2/24
  c.gateway = IpAddr::v4(0xC61200FE);
  // IPv6 too (the v6 seeds are Linux frames to 2001:db8:6::2): NDP, extension
  // headers, reassembly and ICMPv6 are reached as well.
  c.addresses.push_back({*IpAddr::parse("2001:db8:6::2"), 64});
  c.gateway6 = *IpAddr::parse("fe80::ff:fe00:601");
  c.arp.retry_interval = 100ms;
  c.reassembly_cfg.max_flows = 64;
  c.icmp_errors_per_second = 1e9;  // do not let the rate limit hide the error path
  c.icmp_error_burst = 1e9;
  g->stack = std::make_unique<IpStack>(c);
  g->udp.stack = g->stack.get();
  g->stack->set_transport(17, &g->udp);
  g->stack->set_transport(6, &g->udp);
  return true;
}

void l2l3_run_one(const std::uint8_t* data, std::size_t size) {
  if (g == nullptr || g->stack == nullptr || size == 0) return;
  const std::uint8_t mode = data[0];
  ++data;
  --size;
  std::uint16_t seg_len = 0xffff;
  if ((mode & 1) && size > 0) {
    seg_len = static_cast<std::uint16_t>(1 + data[0] % 64);
  }
  rte_mbuf* m = to_mbuf(data, size, seg_len);
  if (m == nullptr) return;
  if (mode & 2) m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD;
  g->clock.advance(1ms);
  auto c = ctx();
  g->stack->on_frames(&m, 1, c);
  if (mode & 4) g->clock.advance(3s);
  c = ctx();
  g->stack->on_timers(c);
}

void l2l3_drain() {
  if (g == nullptr || g->stack == nullptr) return;
  for (int i = 0; i < 100; ++i) {
    g->clock.advance(10s);
    auto c = ctx();
    g->stack->on_timers(c);
  }
}

unsigned l2l3_pool_avail() {
  return g && g->pool ? rte_mempool_avail_count(g->pool) : 0;
}
unsigned l2l3_pool_size() {
  return kPoolSize;
}
IpStack& l2l3_stack() {
  return *g->stack;
}

}  // namespace shardtcp::fuzz
