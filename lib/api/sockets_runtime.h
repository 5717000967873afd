// The runtime behind <sockets.h>: which Stack the calls use, the handle table, one
// request ring per engine, and who drives the engines.
//
// Two ways to run it:
//   * kOwnThread: a driver thread polls every engine of the stack and drains the
//     request rings between iterations (what shardtcp_init() sets up). Ordinary
//     threads' calls post requests and wait; calls made on the driver thread itself
//     (from native-layer callbacks) run inline and never block.
//   * kApplication (embedding): the application keeps polling the stack itself and
//     calls sockets::poll() (drain + poll_once) or drain_requests() after each of its
//     own poll_once() calls; the thread that does so is the engine thread.
//
// The Stack's own start() (engines on worker lcores) does not drain the request rings,
// so with this API the engines must be run by one of the two modes above.
#pragma once

#include <cstdint>
#include <functional>

#include "common/status.h"
#include "shardtcp/stack.h"

namespace shardtcp::sockets {

enum class DriveMode { kOwnThread, kApplication };

struct AttachOptions {
  DriveMode mode = DriveMode::kOwnThread;
  // Run by the driver thread every iteration after the stack's engines (tests poll a
  // peer here); returns the frames it handled (0 lets the driver idle).
  std::function<unsigned()> extra_poll;
};

// Makes `stack` the stack behind <sockets.h>. EALREADY-like failure if one is attached.
Status attach(Stack& stack, const AttachOptions& options = {});
// Closes every socket (abortively), stops the driver and forgets the stack; the
// calls fail with ENETDOWN afterwards. Also frees a stack shardtcp_init() built.
void detach();
// Takes ownership of a stack built by shardtcp_init.
void adopt(std::unique_ptr<Stack> stack);
bool attached();

// Embedding mode: runs the queued requests, then one poll of every engine. The
// calling thread is the engine thread from then on.
void poll();
void drain_requests();

// Open sockets (for tests: leak checks).
int open_sockets();

}  // namespace shardtcp::sockets
