// The runtime behind <sockets.h>: which Stack the calls use, the handle table, one
// request ring per engine, and who drives the engines.
//
// Each engine drains its request ring at the start of every loop iteration (an Engine
// poll hook), whoever runs it. Five ways to run the engines:
//   * kInline (run to completion; what shardtcp_init() sets up unless the EAL has a
//     worker lcore per engine): the thread that attached runs every engine itself.
//     Its calls run directly on the engines, with no ring, futex or other thread; a
//     blocking call keeps the engines running from inside the call (rx burst, timers,
//     tx flush: every other socket keeps being served) until its socket is ready, its
//     timeout passes or an error arrives. Event callbacks that fire meanwhile may call
//     the API; inside a callback blocking calls act as non-blocking ones (EWOULDBLOCK,
//     EINPROGRESS), so no wait nests in another. Other threads' calls are posted to the
//     engines' rings and served whenever the owner runs the engines (in a blocking
//     call, select() or shardtcp_poll()).
//   * kOwnThread: a driver thread polls every engine of the stack (shardtcp_init() with
//     SHARDTCP_SOCKETS_DRIVER=thread). Ordinary threads' calls post requests and wait;
//     calls made on the driver thread itself (from native-layer callbacks) run inline
//     and never block.
//   * kLcores: the stack's engines run on EAL worker lcores (Stack::start(), called by
//     attach()); shardtcp_init() picks it when there are enough worker lcores. A call
//     made on an engine's lcore for a socket of another engine is posted to that
//     engine's ring; while it waits, the caller keeps serving its own ring.
//   * kPerThread (one application thread per core, each with its shard; shardtcp_init()
//     with SHARDTCP_SOCKETS_DRIVER=threads): each engine is run by the application
//     thread that claimed it (claim_engine(), shardtcp_thread_engine()), the way kInline's
//     thread runs them all: its calls on its engine's sockets run inline, its blocking
//     calls keep its engine running, the TCP sockets it creates live on its engine and
//     accept() on it returns the connections its engine owns (SO_REUSEPORT-like). Calls
//     on another engine's socket, and every call of a thread that claimed none, are
//     posted to the owner's ring and served when the owner next runs its engine.
//   * kApplication (embedding): the application keeps polling the stack itself
//     (sockets::poll()); the thread that does so is the engine thread, and between its
//     polls its blocking calls run the engines as kInline's do.
#pragma once

#include <cstdint>
#include <functional>

#include "api/request_ring.h"
#include "common/status.h"
#include "shardtcp/stack.h"

namespace shardtcp::sockets {

enum class DriveMode { kInline, kOwnThread, kLcores, kApplication, kPerThread };

struct AttachOptions {
  DriveMode mode = DriveMode::kOwnThread;
  // Run by the driver thread every iteration after the stack's engines, and by a
  // kInline/kApplication thread's blocking waits (tests poll a peer here); returns the
  // frames it handled (0 lets the driver idle).
  std::function<unsigned()> extra_poll;
  // Requests each engine's ring holds (a full ring: ENOBUFS for non-blocking calls,
  // a wait for blocking ones).
  std::size_t request_ring_capacity = RequestRing::kDefaultCapacity;
};

// Makes `stack` the stack behind <sockets.h>. EALREADY-like failure if one is attached.
// With kInline the calling thread becomes the engines' thread.
Status attach(Stack& stack, const AttachOptions& options = {});
// Closes every socket (abortively), stops the driver and forgets the stack; the
// calls fail with ENETDOWN afterwards. Also frees a stack shardtcp_init() built.
void detach();
// Takes ownership of a stack built by shardtcp_init.
void adopt(std::unique_ptr<Stack> stack);
bool attached();

// One poll of every engine (each drains its requests first), and for kInline the
// extra_poll. Embedding mode: the calling thread is the engine thread from then on.
void poll();

// Code that runs as part of an engine iteration though not called by the engine (an
// embedding application's own event handlers): blocking calls made in its scope act
// as non-blocking ones, as they do in the native callbacks.
class InsideEngine {
 public:
  InsideEngine();
  ~InsideEngine();
  InsideEngine(const InsideEngine&) = delete;
  InsideEngine& operator=(const InsideEngine&) = delete;
};
// Embedding mode: runs the queued requests of every engine without polling.
void drain_requests();

// kPerThread: the calling thread runs `engine` from now on (0, or a negative errno:
// EINVAL no such engine or another mode, EBUSY another thread has it, EALREADY this
// thread runs one already). release_engine() gives it back (a thread that ends must).
int claim_engine(std::uint16_t engine);
int release_engine();

// Open sockets (for tests: leak checks).
int open_sockets();
// Requests posted to the engines' rings since attach() (for tests: calls that ran
// inline posted none).
std::uint64_t requests_posted();

}  // namespace shardtcp::sockets
