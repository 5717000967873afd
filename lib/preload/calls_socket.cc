// socket bind listen accept accept4 connect shutdown getsockopt setsockopt getsockname
// getpeername: a stack socket's call goes to <sockets.h>, any other to the C library.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>

#include "preload/intercept.h"
#include "sockets.h"

using namespace shardtcp::preload;

namespace {

// What a new AF_INET6 socket's IPV6_V6ONLY is: the kernel's default for this network
// namespace (net.ipv6.bindv6only, 0 unless changed: dual-stack), read once. <sockets.h>
// itself makes IPv6-only sockets; programs written for Linux expect `[::]` to take
// IPv4 too (iperf3 -s, nginx `listen [::]:80`, redis `bind * -::*`).
int default_v6only() {
  static const int v = [] {
    int on = 0;
    if (std::FILE* f = std::fopen("/proc/sys/net/ipv6/bindv6only", "re")) {
      if (std::fscanf(f, "%d", &on) != 1) on = 0;
      std::fclose(f);
    }
    return on != 0 ? 1 : 0;
  }();
  return v;
}

int accept_common(int fd, sockaddr* addr, socklen_t* len, int flags, bool four) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr)
    return four ? libc().accept4(fd, addr, len, flags) : libc().accept(fd, addr, len);
  if (!usable()) return -1;
  if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) return fail(EINVAL);
  arm(e, kArmRead);
  int h = -1;
  {
    Inside in;
    h = shardtcp_accept(e->handle, addr, len);
    if (h < 0) return -1;
    // Linux's accepted sockets do not inherit the listener's O_NONBLOCK.
    int nb = (flags & SOCK_NONBLOCK) != 0 ? 1 : 0;
    shardtcp_ioctlsocket(h, FIONBIO, &nb);
  }
  return adopt_handle(h, (flags & SOCK_NONBLOCK) != 0, (flags & SOCK_CLOEXEC) != 0, false);
}

}  // namespace

extern "C" {

int socket(int domain, int type, int protocol) noexcept {
  if (inside() || (domain != AF_INET && domain != AF_INET6))
    return libc().socket(domain, type, protocol);
  if (!ensure_stack()) return -1;
  int h = -1;
  {
    Inside in;
    h = shardtcp_socket(domain, type, protocol);
    if (h >= 0 && domain == AF_INET6) {
      const int v6only = default_v6only();
      shardtcp_setsockopt(h, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
  }
  if (h < 0) return -1;
  const int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  return adopt_handle(h, (type & SOCK_NONBLOCK) != 0, (type & SOCK_CLOEXEC) != 0,
                      base == SOCK_DGRAM);
}

int bind(int fd, const sockaddr* addr, socklen_t len) noexcept {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().bind(fd, addr, len);
  if (!usable()) return -1;
  Inside in;
  return shardtcp_bind(e->handle, addr, len);
}

int listen(int fd, int backlog) noexcept {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().listen(fd, backlog);
  if (!usable()) return -1;
  Inside in;
  return shardtcp_listen(e->handle, backlog);
}

int accept(int fd, sockaddr* addr, socklen_t* len) {
  return accept_common(fd, addr, len, 0, false);
}

int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  return accept_common(fd, addr, len, flags, true);
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().connect(fd, addr, len);
  if (!usable()) return -1;
  arm(e, kArmWrite);
  Inside in;
  return shardtcp_connect(e->handle, addr, len);
}

int shutdown(int fd, int how) noexcept {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().shutdown(fd, how);
  if (!usable()) return -1;
  Inside in;
  return shardtcp_shutdown(e->handle, how);
}

int getsockopt(int fd, int level, int name, void* val, socklen_t* len) noexcept {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().getsockopt(fd, level, name, val, len);
  if (!usable()) return -1;
  Inside in;
  return shardtcp_getsockopt(e->handle, level, name, val, len);
}

int setsockopt(int fd, int level, int name, const void* val, socklen_t len) noexcept {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().setsockopt(fd, level, name, val, len);
  if (!usable()) return -1;
  Inside in;
  return shardtcp_setsockopt(e->handle, level, name, val, len);
}

int getsockname(int fd, sockaddr* addr, socklen_t* len) noexcept {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().getsockname(fd, addr, len);
  if (!usable()) return -1;
  Inside in;
  return shardtcp_getsockname(e->handle, addr, len);
}

int getpeername(int fd, sockaddr* addr, socklen_t* len) noexcept {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().getpeername(fd, addr, len);
  if (!usable()) return -1;
  Inside in;
  if (addr == nullptr || len == nullptr) {
    // The kernel reports ENOTCONN before it looks at the caller's pointers.
    sockaddr_storage ss{};
    socklen_t l = sizeof ss;
    if (shardtcp_getpeername(e->handle, &ss, &l) != 0) return -1;
    return fail(EFAULT);
  }
  return shardtcp_getpeername(e->handle, addr, len);
}

}  // extern "C"
