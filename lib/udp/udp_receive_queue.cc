#include "udp/udp_receive_queue.h"

namespace shardtcp {

UdpNodePool::UdpNodePool(std::size_t capacity) : nodes_(capacity) {
  // Thread the free list through the nodes, lowest index first.
  for (std::size_t i = capacity; i > 0; --i) {
    nodes_[i - 1].next = free_;
    free_ = static_cast<std::uint32_t>(i - 1);
  }
}

std::uint32_t UdpNodePool::take() {
  const std::uint32_t i = free_;
  if (i == UdpReceiveQueue::kNone) return i;
  free_ = nodes_[i].next;
  nodes_[i].next = UdpReceiveQueue::kNone;
  ++in_use_;
  return i;
}

void UdpNodePool::give(std::uint32_t i) {
  nodes_[i].m = nullptr;
  nodes_[i].next = free_;
  free_ = i;
  --in_use_;
}

bool UdpReceiveQueue::push(UdpNodePool& pool, rte_mbuf* m, const Endpoint& from) {
  const std::uint32_t i = pool.take();
  if (i == kNone) return false;
  auto& n = pool.nodes_[i];
  n.m = m;
  n.from = from;
  if (tail_ == kNone) {
    head_ = i;
  } else {
    pool.nodes_[tail_].next = i;
  }
  tail_ = i;
  ++count_;
  bytes_ += m->pkt_len;
  charged_ += m->pkt_len + kChargeOverhead;
  return true;
}

rte_mbuf* UdpReceiveQueue::front(const UdpNodePool& pool, Endpoint* from) const {
  if (head_ == kNone) return nullptr;
  const auto& n = pool.nodes_[head_];
  if (from != nullptr) *from = n.from;
  return n.m;
}

rte_mbuf* UdpReceiveQueue::pop(UdpNodePool& pool, Endpoint* from) {
  if (head_ == kNone) return nullptr;
  const std::uint32_t i = head_;
  auto& n = pool.nodes_[i];
  rte_mbuf* m = n.m;
  if (from != nullptr) *from = n.from;
  head_ = n.next;
  if (head_ == kNone) tail_ = kNone;
  --count_;
  bytes_ -= m->pkt_len;
  charged_ -= m->pkt_len + kChargeOverhead;
  pool.give(i);
  return m;
}

void UdpReceiveQueue::clear(UdpNodePool& pool) {
  while (rte_mbuf* m = pop(pool, nullptr)) rte_pktmbuf_free(m);
}

}  // namespace shardtcp
