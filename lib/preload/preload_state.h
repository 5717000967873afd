// The preload library's process-wide state: whether the stack is up, which thread runs
// it, whether this process is a fork()ed child of the one that brought it up, and the
// re-entry guard that sends the stack's own kernel calls (DPDK's TAP ioctl socket,
// netlink, telemetry) straight to the C library.
#pragma once

#include <atomic>

namespace shardtcp::preload {

// True while the calling thread is inside the preload library's own use of the stack:
// every intercepted call it makes then goes to the C library (DPDK opens AF_INET
// sockets for its TAP ioctls while shardtcp_init() runs).
bool inside();

class Inside {
 public:
  Inside();
  ~Inside();
  Inside(const Inside&) = delete;
  Inside& operator=(const Inside&) = delete;
};

// Brings the stack up from SHARDTCP_ARGS / SHARDTCP_CONF on first use (the first
// AF_INET/AF_INET6 socket()); prints "ready" on stderr once the port is up. A wrong or
// missing configuration prints why and exits the process with status 2: a program
// must never fall back to the kernel silently. Returns false (errno ENETDOWN) only in
// a forked child, which may not use its parent's stack.
bool ensure_stack();
// True once the stack is up in this process (and this is not a forked child).
bool stack_up();
// True in a process that gave the stack up at a fork(): by default the child (the
// parent keeps the stack), with SHARDTCP_FORK=child the parent (its first child took
// the stack over). Stack descriptors are placeholders there (close() works, other
// calls fail with ENETDOWN).
bool forked_child();
// True on the thread that brought the stack up: it runs the engines (run to
// completion), so its waits keep polling them.
bool engine_thread();

}  // namespace shardtcp::preload
