// close dup dup2 dup3 fcntl ioctl: descriptor-level calls. A stack socket's placeholder
// is the kernel's descriptor, so dup() of it is the kernel's dup() plus a table entry
// that shares the handle; close() of the last descriptor closes the stack's socket.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdarg>

#include "preload/intercept.h"
#include "sockets.h"

using namespace shardtcp::preload;

namespace {

// After the kernel made `to` a copy of `from`: `to`'s former stack meaning (a dup2()
// target that was a socket) is released and `from`'s shared.
int after_dup(int from, int to, FdKind was_to) {
  if (to < 0) return to;
  if (was_to != FdKind::kNone) release_descriptor(to);
  if (fd_table().socket_at(from) != nullptr) {
    if (to >= FdTable::kMaxFds) {
      libc().close(to);
      return fail(EMFILE);
    }
    fd_table().share(from, to);
  }
  return to;
}

FdKind kind_of(int fd) {
  FdEntry* e = fd_table().at(fd);
  return e != nullptr ? e->kind.load(std::memory_order_acquire) : FdKind::kNone;
}

int fcntl_common(int fd, int cmd, long arg) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().fcntl(fd, cmd, arg);
  if (!usable()) return -1;
  switch (cmd) {
    case F_GETFL:
      return O_RDWR | (e->nonblock ? O_NONBLOCK : 0);
    case F_SETFL: {
      int nb = (arg & O_NONBLOCK) != 0 ? 1 : 0;
      Inside in;
      if (shardtcp_ioctlsocket(e->handle, FIONBIO, &nb) != 0) return -1;
      e->nonblock = nb != 0;
      return 0;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
      return after_dup(fd, libc().fcntl(fd, cmd, arg), FdKind::kNone);
    default:  // F_GETFD/F_SETFD, locks, owners: the placeholder's
      return libc().fcntl(fd, cmd, arg);
  }
}

}  // namespace

extern "C" {

int close(int fd) {
  if (!inside() && kind_of(fd) != FdKind::kNone) release_descriptor(fd);
  return libc().close(fd);
}

int dup(int fd) noexcept {
  if (inside() || stack_socket(fd) == nullptr) return libc().dup(fd);
  return after_dup(fd, libc().dup(fd), FdKind::kNone);
}

int dup2(int from, int to) noexcept {
  if (inside() || from == to) return libc().dup2(from, to);
  const FdKind was = kind_of(to);
  return after_dup(from, libc().dup2(from, to), was);
}

int dup3(int from, int to, int flags) noexcept {
  if (inside()) return libc().dup3(from, to, flags);
  const FdKind was = from == to ? FdKind::kNone : kind_of(to);
  return after_dup(from, libc().dup3(from, to, flags), was);
}

int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const long arg = va_arg(ap, long);  // every command's argument fits a long (x86-64 ABI)
  va_end(ap);
  return fcntl_common(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const long arg = va_arg(ap, long);
  va_end(ap);
  return fcntl_common(fd, cmd, arg);
}

int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().ioctl(fd, request, arg);
  if (!usable()) return -1;
  if (request != FIONBIO && request != FIONREAD) return fail(ENOTTY);
  if (arg == nullptr) return fail(EFAULT);
  Inside in;
  if (shardtcp_ioctlsocket(e->handle, static_cast<int>(request), arg) != 0) return -1;
  if (request == FIONBIO) e->nonblock = *static_cast<int*>(arg) != 0;
  return 0;
}

}  // extern "C"
