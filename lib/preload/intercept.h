// What every intercepted call shares: finding the stack socket behind a descriptor
// (or deciding the call is the kernel's), the placeholder descriptors, readiness of one
// stack socket, and re-arming edge-triggered epoll interest after I/O.
#pragma once

#include <sys/epoll.h>

#include <cerrno>
#include <cstdint>

#include "preload/fd_table.h"
#include "preload/libc.h"
#include "preload/preload_state.h"

namespace shardtcp::preload {

// The stack socket behind `fd`, or null when the call belongs to the C library (not a
// stack socket, or the library's own call from inside the stack).
inline FdEntry* stack_socket(int fd) {
  if (inside()) return nullptr;
  return fd_table().socket_at(fd);
}

inline int fail(int err) {
  errno = err;
  return -1;
}

// A forked child holds its parent's stack descriptors as placeholders only: calls on
// them fail with ENETDOWN (close() aside). True when the call may go on.
inline bool usable() {
  if (!forked_child()) return true;
  errno = ENETDOWN;
  return false;
}

// Opens the kernel placeholder a stack socket occupies. -1/errno (EMFILE, ...).
int open_placeholder(bool cloexec);
// Gives `handle` a descriptor: a placeholder entered in the table. On failure closes
// the stack socket and returns -1 with errno.
int adopt_handle(int handle, bool nonblock, bool cloexec, bool dgram);

// Readiness of one stack socket now, as bits below; kGone when the handle is no longer
// a socket (closed underneath: poll's POLLNVAL). kRdHup: the receive side is shut (the
// peer's FIN, a reset); kHup: both sides are, or the connection is gone (POLLHUP).
inline constexpr unsigned kReadable = 1, kWritable = 2, kError = 4, kGone = 8, kRdHup = 16,
                          kHup = 32;
unsigned readiness(int handle);

// Edge-triggered epoll: an I/O call re-arms the events it could have consumed, so the
// next wait reports the socket again if it is (still or newly) ready.
inline constexpr std::uint32_t kArmRead = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
inline constexpr std::uint32_t kArmWrite = EPOLLOUT | EPOLLERR;
inline void arm(FdEntry* e, std::uint32_t bits) {
  e->armed |= bits;
}

// Clamps a size_t length to the int the <sockets.h> calls take.
inline int clamp_len(std::size_t n) {
  return n > 0x7fffffff ? 0x7fffffff : static_cast<int>(n);
}

// The flags of send/recv the stack takes (MSG_NOSIGNAL is dropped: the stack raises no
// SIGPIPE). -1 with errno EOPNOTSUPP for MSG_OOB, which the stack lacks.
int stack_flags(int flags);

// Drops the table's entry of `fd` (a socket or an epoll instance) and closes what the
// stack held for it when it was the last descriptor; the kernel descriptor is the
// caller's to close (close()) or already replaced (dup2()).
void release_descriptor(int fd);

}  // namespace shardtcp::preload
