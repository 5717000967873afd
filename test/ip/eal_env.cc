#include "eal_env.h"

#include <gtest/gtest.h>

#include <cstring>

#include "port/eal.h"

namespace shardtcp::l3test {
namespace {

rte_mempool* g_pool = nullptr;

class L3EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    TestEalOptions o;
    o.file_prefix = "l3_ip_tests";
    const Status s = eal_init_for_tests(o);
    ASSERT_TRUE(s) << s.message();
    MbufPoolOptions po;
    po.n_mbufs = 4095;
    po.cache_size = 0;
    auto p = create_mbuf_pool("l3_test_pool", po);
    ASSERT_TRUE(p) << p.status().message();
    g_pool = p.value();
  }
};

[[maybe_unused]] ::testing::Environment* const g_env =
    ::testing::AddGlobalTestEnvironment(new L3EalEnvironment);

}  // namespace

rte_mempool* pool() {
  return g_pool;
}

rte_mbuf* make_mbuf(const std::uint8_t* bytes, std::size_t len) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  if (m == nullptr) return nullptr;
  char* p = rte_pktmbuf_append(m, static_cast<std::uint16_t>(len));
  if (p == nullptr) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  std::memcpy(p, bytes, len);
  return m;
}

std::vector<std::uint8_t> mbuf_bytes(const rte_mbuf* m) {
  std::vector<std::uint8_t> out(m->pkt_len);
  const void* p = rte_pktmbuf_read(m, 0, m->pkt_len, out.data());
  if (p != out.data()) std::memcpy(out.data(), p, m->pkt_len);
  return out;
}

}  // namespace shardtcp::l3test
