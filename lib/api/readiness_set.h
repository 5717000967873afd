// A readiness set (the epoll-style calls of <sockets.h>): the sockets a caller watches
// and a queue of those that may be ready. The engines feed the queue from refresh()
// whenever a watched socket's readiness matches what the set wants, so a wait costs
// what is ready, not the number of sockets watched. Level-triggered: a socket that is
// still ready after it was reported goes back into the queue.
#pragma once

#include <boost/lockfree/queue.hpp>

#include <atomic>
#include <cstdint>

namespace shardtcp::sockets {

struct SocketEntry;

struct ReadinessSet {
  // Each watched socket is in the queue at most once (SocketEntry::queued); the queue
  // keeps two nodes per member at the most members it had, so pushing does not
  // allocate. (Two per socket ever added grew the heap without bound when connections
  // come and go: 460 bytes a connection, 30 MB/s in a TCP_CRR server.)
  boost::lockfree::queue<int> queue{0};
  std::atomic<std::uint32_t> members{0};   // sockets watching this set now
  std::atomic<std::uint32_t> reserved{0};  // nodes reserved in `queue` for them
  std::atomic<std::uint32_t> word{0};      // bumped when a handle is queued; waits sleep on it
  std::atomic<std::uint32_t> waiters{0};   // threads asleep on `word`
  std::atomic<bool> open{false};
};

// Engine thread, from refresh(): queues the entry's handle in its set when its
// readiness `bits` (kReadable, kWritable, kErrorBit) meet what the set wants.
void notify_watcher(SocketEntry& e, std::uint32_t bits);

// Forgets the set watching `e` (closesocket).
void unwatch(SocketEntry& e);

}  // namespace shardtcp::sockets
