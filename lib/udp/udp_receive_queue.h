// Receive queues of UDP sockets: each queued datagram is the received mbuf itself
// (payload at offset 0, header stripped) plus its source endpoint, so nothing is
// copied until the application reads. Queue nodes come from one pool per UdpLayer,
// sized at construction, and each socket's queue is a FIFO of node indices: no heap
// allocation on the receive path. Each socket also bounds its queue in bytes
// (SO_RCVBUF); a datagram is charged its payload plus kChargeOverhead, so empty
// datagrams cannot fill the node pool for free (Linux charges skb truesize alike).
#pragma once

#include <rte_mbuf.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "wire/ip_addr.h"

namespace shardtcp {

class UdpNodePool;

// One socket's FIFO of datagrams. Holds indices into a UdpNodePool it does not own.
class UdpReceiveQueue {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;
  static constexpr std::size_t kChargeOverhead = 64;

  bool empty() const { return head_ == kNone; }
  std::size_t datagrams() const { return count_; }
  std::size_t payload_bytes() const { return bytes_; }
  std::size_t charged_bytes() const { return charged_; }

  // True if a datagram of `payload` bytes fits under `limit` charged bytes. An empty
  // queue always takes one datagram, as Linux does, so a datagram larger than the
  // buffer is not undeliverable forever.
  bool fits(std::size_t payload, std::size_t limit) const {
    return empty() || charged_ + payload + kChargeOverhead <= limit;
  }

  // Appends; false (and nothing taken) when the pool has no free node.
  bool push(UdpNodePool& pool, rte_mbuf* m, const Endpoint& from);
  // The oldest datagram, or nullptr.
  rte_mbuf* front(const UdpNodePool& pool, Endpoint* from) const;
  // Removes the oldest and returns its mbuf (the caller owns it), or nullptr.
  rte_mbuf* pop(UdpNodePool& pool, Endpoint* from);
  // Frees every queued mbuf and returns the nodes.
  void clear(UdpNodePool& pool);

 private:
  std::uint32_t head_ = kNone;
  std::uint32_t tail_ = kNone;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  std::size_t charged_ = 0;
};

// Fixed set of queue nodes shared by the sockets of one UdpLayer.
class UdpNodePool {
 public:
  explicit UdpNodePool(std::size_t capacity);
  std::size_t capacity() const { return nodes_.size(); }
  std::size_t in_use() const { return in_use_; }

 private:
  friend class UdpReceiveQueue;
  struct Node {
    rte_mbuf* m = nullptr;
    Endpoint from;
    std::uint32_t next = UdpReceiveQueue::kNone;
  };
  std::uint32_t take();
  void give(std::uint32_t i);

  std::vector<Node> nodes_;  // sized once
  std::uint32_t free_ = UdpReceiveQueue::kNone;
  std::size_t in_use_ = 0;
};

}  // namespace shardtcp
