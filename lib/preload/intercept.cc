// The helpers every intercepted call shares.
#include "preload/intercept.h"

#include <fcntl.h>
#include <sys/socket.h>

#include "sockets.h"

namespace shardtcp::preload {

int open_placeholder(bool cloexec) {
  // /dev/null: cheap, never blocks, and a program that hands it to an unintercepted
  // call gets a harmless answer.
  const int fd = ::open("/dev/null", O_RDWR | (cloexec ? O_CLOEXEC : 0));
  if (fd >= FdTable::kMaxFds) {
    libc().close(fd);
    return fail(EMFILE);
  }
  return fd;
}

int adopt_handle(int handle, bool nonblock, bool cloexec, bool dgram) {
  const int fd = open_placeholder(cloexec);
  if (fd < 0) {
    const int err = errno;
    Inside in;
    shardtcp_closesocket(handle);
    return fail(err);
  }
  fd_table().set_socket(fd, handle, nonblock);
  fd_table().at(fd)->dgram = dgram;
  return fd;
}

unsigned readiness(int handle) {
  // The socket's readiness bits as the engines last published them: neither waits nor
  // runs the engines.
  Inside in;
  const int ev = shardtcp_socket_events(handle);
  if (ev < 0) return kGone;
  const auto u = static_cast<unsigned>(ev);
  return ((u & SHARDTCP_EPOLLIN) ? kReadable : 0u) | ((u & SHARDTCP_EPOLLOUT) ? kWritable : 0u) |
         ((u & SHARDTCP_EPOLLERR) ? kError : 0u) | ((u & SHARDTCP_EPOLLRDHUP) ? kRdHup : 0u) |
         ((u & SHARDTCP_EPOLLHUP) ? kHup : 0u);
}

int stack_flags(int flags) {
  if (flags & MSG_OOB) return fail(EOPNOTSUPP);
  return flags & (MSG_DONTWAIT | MSG_PEEK | MSG_WAITALL | MSG_MORE);
}

void release_descriptor(int fd) {
  FdTable& t = fd_table();
  FdEntry* e = t.at(fd);
  if (e == nullptr) return;
  const FdKind kind = e->kind.load(std::memory_order_acquire);
  if (kind == FdKind::kSocket) {
    if (e->epfd >= 0) {
      FdEntry* ep = t.epoll_at(e->epfd);
      if (ep != nullptr) --ep->members;
    }
    const int h = e->handle;
    if (t.forget(fd) && !forked_child()) {
      Inside in;
      shardtcp_closesocket(h);
    }
  } else if (kind == FdKind::kEpoll) {
    // Its stack members forget it (the stack's set drops them when it closes).
    if (e->members > 0) {
      for (int i = 0; i <= t.high(); ++i) {
        FdEntry* m = t.socket_at(i);
        if (m != nullptr && m->epfd == fd) m->epfd = -1;
      }
    }
    const int set = e->handle;
    e->kind.store(FdKind::kNone, std::memory_order_release);
    if (set != 0 && !forked_child()) {
      Inside in;
      shardtcp_epoll_close(set);
    }
  }
}

}  // namespace shardtcp::preload
