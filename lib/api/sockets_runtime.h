// The runtime behind <sockets.h>: which Stack the calls use, the handle table, one
// request ring per engine, and who drives the engines.
//
// Each engine drains its request ring at the start of every loop iteration (an Engine
// poll hook), whoever runs it. Three ways to run the engines:
//   * kOwnThread: a driver thread polls every engine of the stack (what shardtcp_init()
//     sets up when the EAL has fewer worker lcores than engines). Ordinary threads'
//     calls post requests and wait; calls made on the driver thread itself (from
//     native-layer callbacks) run inline and never block.
//   * kLcores: the stack's engines run on EAL worker lcores (Stack::start(), called by
//     attach()); shardtcp_init() picks it when there are enough worker lcores. A call
//     made on an engine's lcore for a socket of another engine is posted to that
//     engine's ring; while it waits, the caller keeps serving its own ring.
//   * kApplication (embedding): the application keeps polling the stack itself
//     (Stack::poll_once() or sockets::poll()); the thread that does so is the engine
//     thread.
#pragma once

#include <cstdint>
#include <functional>

#include "api/request_ring.h"
#include "common/status.h"
#include "shardtcp/stack.h"

namespace shardtcp::sockets {

enum class DriveMode { kOwnThread, kLcores, kApplication };

struct AttachOptions {
  DriveMode mode = DriveMode::kOwnThread;
  // Run by the driver thread every iteration after the stack's engines (tests poll a
  // peer here); returns the frames it handled (0 lets the driver idle).
  std::function<unsigned()> extra_poll;
  // Requests each engine's ring holds (a full ring: ENOBUFS for non-blocking calls,
  // a wait for blocking ones).
  std::size_t request_ring_capacity = RequestRing::kDefaultCapacity;
};

// Makes `stack` the stack behind <sockets.h>. EALREADY-like failure if one is attached.
Status attach(Stack& stack, const AttachOptions& options = {});
// Closes every socket (abortively), stops the driver and forgets the stack; the
// calls fail with ENETDOWN afterwards. Also frees a stack shardtcp_init() built.
void detach();
// Takes ownership of a stack built by shardtcp_init.
void adopt(std::unique_ptr<Stack> stack);
bool attached();

// Embedding mode: one poll of every engine (each drains its requests first). The
// calling thread is the engine thread from then on.
void poll();
// Embedding mode: runs the queued requests of every engine without polling.
void drain_requests();

// Open sockets (for tests: leak checks).
int open_sockets();

}  // namespace shardtcp::sockets
