// epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait over stack sockets and
// kernel descriptors together. An instance is a real kernel epoll descriptor (it holds
// the kernel descriptors) plus, once a stack socket joins, a readiness set of the stack
// (<sockets.h>'s shardtcp_epoll_*: the engines queue a member when it becomes ready, so
// a wait costs what is ready). Each wait round asks the kernel with a zero timeout and
// takes what the set holds (wait_loop.h).
//
// The stack's set is level-triggered; EPOLLET and EPOLLONESHOT are kept here per
// descriptor: an edge-triggered member is reported once per arming, and I/O on it
// (read, write, accept, ...) re-arms what that I/O could consume, so a program that
// reads until EAGAIN (or, as nginx, until a short read) hears of the next data.
// EPOLLRDHUP is reported after the peer's FIN (or a reset), EPOLLHUP once both
// directions are shut or the connection is gone and EPOLLERR on a pending error, the
// last two whether asked or not, as the kernel does; EPOLLEXCLUSIVE is accepted.
#include <sys/epoll.h>

#include <cstdint>

#include "preload/intercept.h"
#include "preload/wait_loop.h"
#include "sockets.h"

using namespace shardtcp::preload;

namespace {

unsigned to_stack(std::uint32_t ev) {
  return ((ev & EPOLLIN) ? SHARDTCP_EPOLLIN : 0u) | ((ev & EPOLLOUT) ? SHARDTCP_EPOLLOUT : 0u) |
         ((ev & EPOLLRDHUP) ? SHARDTCP_EPOLLRDHUP : 0u);
}

int epoll_ctl_stack(int epfd, FdEntry* ep, int op, int fd, FdEntry* s, epoll_event* ev) {
  if (!usable()) return -1;
  if (op != EPOLL_CTL_DEL && ev == nullptr) return fail(EFAULT);
  Inside in;
  switch (op) {
    case EPOLL_CTL_ADD: {
      if (s->epfd == epfd) return fail(EEXIST);
      if (s->epfd >= 0) return fail(EEXIST);  // the stack watches a socket from one set
      if (ep->handle == 0) {
        const int set = shardtcp_epoll_create();
        if (set < 0) return -1;
        ep->handle = set;
      }
      shardtcp_epoll_event sev{to_stack(ev->events), reinterpret_cast<void*>(std::intptr_t{fd})};
      if (shardtcp_epoll_ctl(ep->handle, SHARDTCP_EPOLL_CTL_ADD, s->handle, &sev) != 0) return -1;
      s->epfd = epfd;
      ++ep->members;
      break;
    }
    case EPOLL_CTL_MOD: {
      if (s->epfd != epfd) return fail(ENOENT);
      if (ev->events & EPOLLEXCLUSIVE) return fail(EINVAL);  // as the kernel: ADD only
      shardtcp_epoll_event sev{to_stack(ev->events), reinterpret_cast<void*>(std::intptr_t{fd})};
      if (shardtcp_epoll_ctl(ep->handle, SHARDTCP_EPOLL_CTL_MOD, s->handle, &sev) != 0) return -1;
      break;
    }
    case EPOLL_CTL_DEL:
      if (s->epfd != epfd) return fail(ENOENT);
      if (shardtcp_epoll_ctl(ep->handle, SHARDTCP_EPOLL_CTL_DEL, s->handle, nullptr) != 0)
        return -1;
      s->epfd = -1;
      --ep->members;
      return 0;
    default:
      return fail(EINVAL);
  }
  s->events = ev->events;
  s->data = ev->data.u64;
  s->armed = ~0u;
  s->disabled = false;
  return 0;
}

// Moves what the stack's set reports into `out` (up to `room`), applying EPOLLET and
// EPOLLONESHOT. Reports the set passes over stay queued in it (level-triggered).
int collect_stack(int epfd, FdEntry* ep, epoll_event* out, int room) {
  if (ep->handle == 0 || room <= 0) return 0;
  constexpr int kBatch = 256;
  thread_local shardtcp_epoll_event got[kBatch];
  int k = 0;
  {
    Inside in;
    k = shardtcp_epoll_wait(ep->handle, got, kBatch, 0);
  }
  int n = 0;
  for (int i = 0; i < k && n < room; ++i) {
    const int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(got[i].data));
    FdEntry* s = fd_table().socket_at(fd);
    if (s == nullptr || s->epfd != epfd || s->disabled) continue;
    std::uint32_t ev = 0;
    if (got[i].events & SHARDTCP_EPOLLIN) ev |= EPOLLIN;
    if (got[i].events & SHARDTCP_EPOLLOUT) ev |= EPOLLOUT;
    if (got[i].events & SHARDTCP_EPOLLERR) ev |= EPOLLERR;
    if (got[i].events & SHARDTCP_EPOLLRDHUP) ev |= EPOLLRDHUP;
    if (got[i].events & SHARDTCP_EPOLLHUP) ev |= EPOLLHUP;
    ev &= s->events | EPOLLERR | EPOLLHUP;
    if (s->events & EPOLLET) {
      ev &= s->armed;
      s->armed &= ~ev;
    }
    if (ev == 0) continue;
    if (s->events & EPOLLONESHOT) s->disabled = true;
    out[n].events = ev;
    out[n].data.u64 = s->data;
    ++n;
  }
  return n;
}

int epoll_wait_common(int epfd, epoll_event* events, int max, int timeout, const sigset_t* mask) {
  FdEntry* ep = inside() ? nullptr : fd_table().epoll_at(epfd);
  if (ep == nullptr || forked_child() || (ep->handle == 0 && !(stack_up() && engine_thread())))
    return libc().epoll_pwait(epfd, events, max, timeout, mask);
  if (max <= 0) return fail(EINVAL);
  if (events == nullptr) return fail(EFAULT);
  // Which side fills the array first alternates from round to round, so neither a
  // busy stack nor a kernel descriptor that stays ready starves the other.
  thread_local bool stack_first = false;
  return wait_rounds(ms_to_ns(timeout), [&]() -> int {
    stack_first = !stack_first;
    int n = stack_first ? collect_stack(epfd, ep, events, max) : 0;
    int k = n < max ? libc().epoll_pwait(epfd, events + n, max - n, 0, mask) : 0;
    if (k < 0) {
      if (!kernel_interrupted()) return n > 0 ? n : -1;
      k = 0;
    }
    n += k;
    if (!stack_first) n += collect_stack(epfd, ep, events + n, max - n);
    return n;
  });
}

}  // namespace

extern "C" {

int epoll_create(int size) noexcept {
  const int fd = libc().epoll_create(size);
  if (fd >= 0 && fd < FdTable::kMaxFds && !inside()) fd_table().set_epoll(fd);
  return fd;
}

int epoll_create1(int flags) noexcept {
  const int fd = libc().epoll_create1(flags);
  if (fd >= 0 && fd < FdTable::kMaxFds && !inside()) fd_table().set_epoll(fd);
  return fd;
}

int epoll_ctl(int epfd, int op, int fd, epoll_event* ev) noexcept {
  FdEntry* s = stack_socket(fd);
  FdEntry* ep = s != nullptr ? fd_table().epoll_at(epfd) : nullptr;
  if (s == nullptr || ep == nullptr) return libc().epoll_ctl(epfd, op, fd, ev);
  return epoll_ctl_stack(epfd, ep, op, fd, s, ev);
}

int epoll_wait(int epfd, epoll_event* events, int max, int timeout) {
  return epoll_wait_common(epfd, events, max, timeout, nullptr);
}

int epoll_pwait(int epfd, epoll_event* events, int max, int timeout, const sigset_t* mask) {
  return epoll_wait_common(epfd, events, max, timeout, mask);
}

}  // extern "C"
