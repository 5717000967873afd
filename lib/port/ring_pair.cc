#include "port/ring_pair.h"

#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_mbuf.h>

#include <atomic>

namespace shardtcp {

RingCable::~RingCable() {
  for (rte_ring* r : rings_) rte_ring_free(r);
}

void RingCable::discard_in_flight() {
  for (rte_ring* r : rings_) {
    rte_mbuf* m = nullptr;
    while (rte_ring_dequeue(r, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
  }
}

Result<std::unique_ptr<RingCable>> RingCable::create(const RingCableOptions& o) {
  using R = Result<std::unique_ptr<RingCable>>;
  if (o.nb_queues == 0) return R::failure("ring cable " + o.name + ": nb_queues is 0");
  std::unique_ptr<RingCable> cable(new RingCable());
  std::vector<rte_ring*> a_to_b(o.nb_queues), b_to_a(o.nb_queues);
  const unsigned flags = o.multi_producer ? RING_F_SC_DEQ : (RING_F_SP_ENQ | RING_F_SC_DEQ);
  for (std::uint16_t q = 0; q < o.nb_queues; ++q) {
    for (int dir = 0; dir < 2; ++dir) {
      const std::string rname = o.name + (dir == 0 ? "_ab" : "_ba") + std::to_string(q);
      rte_ring* r = rte_ring_create(rname.c_str(), o.ring_size, SOCKET_ID_ANY, flags);
      if (r == nullptr) {
        return R::failure("ring cable " + o.name + ": rte_ring_create(" + rname +
                          ") failed: " + rte_strerror(rte_errno));
      }
      cable->rings_.push_back(r);
      (dir == 0 ? a_to_b : b_to_a)[q] = r;
    }
  }
  const std::string name_a = o.name + "_a";
  const std::string name_b = o.name + "_b";
  const int id_a = rte_eth_from_rings(name_a.c_str(), b_to_a.data(), o.nb_queues, a_to_b.data(),
                                      o.nb_queues, SOCKET_ID_ANY);
  if (id_a < 0) {
    return R::failure("ring cable: rte_eth_from_rings(" + name_a +
                      ") failed: " + rte_strerror(rte_errno));
  }
  const int id_b = rte_eth_from_rings(name_b.c_str(), a_to_b.data(), o.nb_queues, b_to_a.data(),
                                      o.nb_queues, SOCKET_ID_ANY);
  if (id_b < 0) {
    rte_eth_dev_close(static_cast<std::uint16_t>(id_a));
    return R::failure("ring cable: rte_eth_from_rings(" + name_b +
                      ") failed: " + rte_strerror(rte_errno));
  }
  // The names net_ring gives the devices ("net_ring_<name>_a").
  char dev_name[RTE_ETH_NAME_MAX_LEN];
  if (rte_eth_dev_get_name_by_port(static_cast<std::uint16_t>(id_a), dev_name) != 0)
    return R::failure("ring cable " + o.name + ": no name for port " + std::to_string(id_a));
  cable->a_name_ = dev_name;
  if (rte_eth_dev_get_name_by_port(static_cast<std::uint16_t>(id_b), dev_name) != 0)
    return R::failure("ring cable " + o.name + ": no name for port " + std::to_string(id_b));
  cable->b_name_ = dev_name;
  cable->a_port_ = static_cast<std::uint16_t>(id_a);
  cable->b_port_ = static_cast<std::uint16_t>(id_b);
  return R(std::move(cable));
}

RingPair::~RingPair() {
  a_.reset();
  b_.reset();
  if (cable_) cable_->discard_in_flight();  // the ports are closed: nobody reads them now
}

Result<std::unique_ptr<RingPair>> RingPair::create(const RingPairOptions& o) {
  using R = Result<std::unique_ptr<RingPair>>;
  if (o.pool == nullptr) return R::failure("ring pair " + o.name + ": no mbuf pool");
  RingCableOptions co;
  co.name = o.name;
  co.nb_queues = o.nb_queues;
  co.ring_size = o.ring_size;  // one engine per queue on each side: single producer
  auto cable = RingCable::create(co);
  if (!cable) return R::failure("ring pair: " + cable.error());
  std::unique_ptr<RingPair> pair(new RingPair());
  pair->cable_ = std::move(cable.value());
  const std::uint16_t id_a = pair->cable_->a_port(), id_b = pair->cable_->b_port();
  static std::atomic<std::uint8_t> serial{0};
  const std::uint8_t nn = serial.fetch_add(1);
  for (int side = 0; side < 2; ++side) {
    EthdevConfig c;
    const auto& given = side == 0 ? o.mac_a : o.mac_b;
    c.mac = given
                ? *given
                : rte_ether_addr{{0x02, 0x72, 0x70, nn, 0x00, static_cast<std::uint8_t>(side + 1)}};
    c.port_id = side == 0 ? id_a : id_b;
    c.nb_queues = o.nb_queues;
    c.rx_pools = {o.pool};
    c.mtu = o.mtu;
    c.link_timeout = std::chrono::milliseconds(0);
    auto port = EthdevPort::open(c);
    if (!port) {
      // Close what is not yet owned by an EthdevPort (an owned port closes itself).
      rte_eth_dev_close(id_b);
      if (side == 0) rte_eth_dev_close(id_a);
      return R::failure("ring pair " + o.name + ": " + port.error());
    }
    (side == 0 ? pair->a_ : pair->b_) = std::move(port.value());
  }
  return R(std::move(pair));
}

}  // namespace shardtcp
