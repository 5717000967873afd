// read write readv writev send recv sendto recvfrom sendmsg recvmsg sendfile (and the
// _FORTIFY_SOURCE entry points of the reads): a stack socket's data goes through
// <sockets.h>, anything else to the C library.
#include <fcntl.h>
#include <limits.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "preload/intercept.h"
#include "sockets.h"

using namespace shardtcp::preload;

namespace {

// Gathers small vectors into one send and scatters UDP datagrams; a thread's, reused.
constexpr std::size_t kBounce = 65536;
// Made on a thread's first use (a static thread_local array would cost every thread of
// the program 64 KiB, socket user or not).
unsigned char* bounce() {
  thread_local std::unique_ptr<unsigned char[]> buf;
  if (!buf) buf.reset(new unsigned char[kBounce]);
  return buf.get();
}

bool bad_iov(const iovec* iov, int n) {
  return n < 0 || n > IOV_MAX || (n > 0 && iov == nullptr);
}

std::size_t iov_total(const iovec* iov, int n) {
  std::size_t t = 0;
  for (int i = 0; i < n; ++i) t += iov[i].iov_len;
  return t;
}

ssize_t stack_send(FdEntry* e, const void* buf, std::size_t len, int flags) {
  arm(e, kArmWrite);
  Inside in;
  const int r = shardtcp_send(e->handle, buf, clamp_len(len), flags);
  // Linux's TCP send on a socket that is not connected fails with EPIPE (it waits for
  // a connection only in SYN_SENT/SYN_RECV); <sockets.h> says ENOTCONN.
  if (r < 0 && errno == ENOTCONN && !e->dgram) errno = EPIPE;
  return r;
}

ssize_t stack_recv(FdEntry* e, void* buf, std::size_t len, int flags) {
  arm(e, kArmRead);
  Inside in;
  return shardtcp_recv(e->handle, buf, clamp_len(len), flags);
}

// A stream's vector piece after piece, the pieces after the first without waiting (a
// short count, as a non-blocking socket's readv/writev gives); stops at a short piece.
template <class Op>
ssize_t piecewise(const iovec* iov, int n, int flags, Op&& op) {
  ssize_t done = 0;
  for (int i = 0; i < n; ++i) {
    if (iov[i].iov_len == 0) continue;
    const ssize_t r = op(iov[i].iov_base, iov[i].iov_len, flags | (done > 0 ? MSG_DONTWAIT : 0));
    if (r < 0) return done > 0 ? done : -1;
    done += r;
    if (static_cast<std::size_t>(r) < iov[i].iov_len) break;
  }
  return done;
}

// A vector as one stream write: gathered into one send when it fits the bounce buffer
// (one segment rather than one per piece), else piece by piece, the pieces after the
// first without waiting (a short count, as a non-blocking socket's writev gives).
ssize_t stack_writev(FdEntry* e, const iovec* iov, int n, int flags, const sockaddr* to,
                     socklen_t tolen) {
  const std::size_t total = iov_total(iov, n);
  if (e->dgram || total <= kBounce) {
    if (total > kBounce) return fail(EMSGSIZE);
    unsigned char* const buf = bounce();
    std::size_t off = 0;
    for (int i = 0; i < n; ++i) {
      if (iov[i].iov_len == 0) continue;
      std::memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
      off += iov[i].iov_len;
    }
    if (to != nullptr) {
      arm(e, kArmWrite);
      Inside in;
      return shardtcp_sendto(e->handle, buf, static_cast<int>(off), flags, to, tolen);
    }
    return stack_send(e, buf, off, flags);
  }
  return piecewise(iov, n, flags,
                   [e](void* p, std::size_t len, int f) { return stack_send(e, p, len, f); });
}

// A vector as one read: a stream fills piece after piece without waiting after the
// first; a datagram is received whole and scattered (*truncated when it did not fit).
ssize_t stack_readv(FdEntry* e, const iovec* iov, int n, int flags, sockaddr* from,
                    socklen_t* fromlen, bool* truncated) {
  if (e->dgram) {
    arm(e, kArmRead);
    unsigned char* const buf = bounce();
    int r = 0;
    {
      Inside in;
      r = shardtcp_recvfrom(e->handle, buf, static_cast<int>(kBounce), flags, from, fromlen);
    }
    if (r < 0) return -1;
    std::size_t left = static_cast<std::size_t>(r), off = 0;
    for (int i = 0; i < n && left > 0; ++i) {
      const std::size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
      std::memcpy(iov[i].iov_base, buf + off, k);
      off += k;
      left -= k;
    }
    if (truncated != nullptr) *truncated = left > 0;
    return static_cast<ssize_t>(off);
  }
  if (from != nullptr && fromlen != nullptr) *fromlen = 0;
  return piecewise(iov, n, flags,
                   [e](void* p, std::size_t len, int f) { return stack_recv(e, p, len, f); });
}

// sendmsg/recvmsg: the header checked as the kernel does; the stack's flags, or -1.
int msg_flags(const msghdr* msg, int flags) {
  if (msg == nullptr) return fail(EFAULT);
  if (msg->msg_iovlen > IOV_MAX) return fail(EMSGSIZE);
  if (bad_iov(msg->msg_iov, static_cast<int>(msg->msg_iovlen))) return fail(EFAULT);
  return stack_flags(flags);
}

}  // namespace

extern "C" {

ssize_t read(int fd, void* buf, size_t len) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().read(fd, buf, len);
  if (!usable()) return -1;
  return stack_recv(e, buf, len, 0);
}

ssize_t write(int fd, const void* buf, size_t len) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().write(fd, buf, len);
  if (!usable()) return -1;
  return stack_send(e, buf, len, 0);
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().send(fd, buf, len, flags);
  if (!usable()) return -1;
  const int f = stack_flags(flags);
  if (f < 0) return -1;
  return stack_send(e, buf, len, f);
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().recv(fd, buf, len, flags);
  if (!usable()) return -1;
  const int f = stack_flags(flags);
  if (f < 0) return -1;
  return stack_recv(e, buf, len, f);
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* to,
               socklen_t tolen) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().sendto(fd, buf, len, flags, to, tolen);
  if (!usable()) return -1;
  const int f = stack_flags(flags);
  if (f < 0) return -1;
  if (to == nullptr) return stack_send(e, buf, len, f);
  arm(e, kArmWrite);
  Inside in;
  return shardtcp_sendto(e->handle, buf, clamp_len(len), f, to, tolen);
}

ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().recvfrom(fd, buf, len, flags, from, fromlen);
  if (!usable()) return -1;
  const int f = stack_flags(flags);
  if (f < 0) return -1;
  arm(e, kArmRead);
  Inside in;
  return shardtcp_recvfrom(e->handle, buf, clamp_len(len), f, from, fromlen);
}

ssize_t readv(int fd, const iovec* iov, int n) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().readv(fd, iov, n);
  if (!usable()) return -1;
  if (bad_iov(iov, n)) return fail(n < 0 || n > IOV_MAX ? EINVAL : EFAULT);
  return stack_readv(e, iov, n, 0, nullptr, nullptr, nullptr);
}

ssize_t writev(int fd, const iovec* iov, int n) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().writev(fd, iov, n);
  if (!usable()) return -1;
  if (bad_iov(iov, n)) return fail(n < 0 || n > IOV_MAX ? EINVAL : EFAULT);
  return stack_writev(e, iov, n, 0, nullptr, 0);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().sendmsg(fd, msg, flags);
  if (!usable()) return -1;
  const int f = msg_flags(msg, flags);
  if (f < 0) return -1;
  const int n = static_cast<int>(msg->msg_iovlen);
  const auto* to = static_cast<const sockaddr*>(msg->msg_name);
  return stack_writev(e, msg->msg_iov, n, f, msg->msg_namelen > 0 ? to : nullptr, msg->msg_namelen);
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  FdEntry* e = stack_socket(fd);
  if (e == nullptr) return libc().recvmsg(fd, msg, flags);
  if (!usable()) return -1;
  const int f = msg_flags(msg, flags);
  if (f < 0) return -1;
  const int n = static_cast<int>(msg->msg_iovlen);
  bool truncated = false;
  auto* from = static_cast<sockaddr*>(msg->msg_name);
  const ssize_t r = stack_readv(e, msg->msg_iov, n, f, from,
                                from != nullptr ? &msg->msg_namelen : nullptr, &truncated);
  if (r < 0) return -1;
  msg->msg_controllen = 0;  // no ancillary data from the stack
  msg->msg_flags = truncated ? MSG_TRUNC : 0;
  return r;
}

// A file into a stack socket: read in bounce-buffer chunks and sent; a chunk the socket
// takes only partly ends the call with what went (the file offset moves by that much).
ssize_t sendfile(int out, int in, off_t* offset, size_t count) noexcept {
  FdEntry* e = stack_socket(out);
  if (stack_socket(in) != nullptr) return fail(EINVAL);  // a socket is no file to map
  if (e == nullptr) return libc().sendfile(out, in, offset, count);
  if (!usable()) return -1;
  unsigned char* const buf = bounce();
  std::size_t done = 0;
  while (done < count) {
    const std::size_t want = count - done < kBounce ? count - done : kBounce;
    const ssize_t rd = offset != nullptr ? pread(in, buf, want, *offset + static_cast<off_t>(done))
                                         : libc().read(in, buf, want);
    if (rd < 0) {
      if (done == 0) return -1;
      break;
    }
    if (rd == 0) break;
    const ssize_t sent =
        stack_send(e, buf, static_cast<std::size_t>(rd), done > 0 ? MSG_DONTWAIT : 0);
    const ssize_t kept = sent < 0 ? 0 : sent;
    if (offset == nullptr && kept < rd) lseek(in, kept - rd, SEEK_CUR);  // unsent: not consumed
    if (sent < 0) {
      if (done == 0) return -1;
      break;
    }
    done += static_cast<std::size_t>(sent);
    if (sent < rd) break;
  }
  if (offset != nullptr) *offset += static_cast<off_t>(done);
  return static_cast<ssize_t>(done);
}

ssize_t sendfile64(int out, int in, off64_t* offset, size_t count) noexcept {
  return sendfile(out, in, reinterpret_cast<off_t*>(offset), count);
}

// _FORTIFY_SOURCE's checked reads, for programs built with it.
ssize_t __read_chk(int fd, void* buf, size_t len, size_t buflen) {
  if (len > buflen) __builtin_trap();
  return read(fd, buf, len);
}
ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags) {
  if (len > buflen) __builtin_trap();
  return recv(fd, buf, len, flags);
}
ssize_t __recvfrom_chk(int fd, void* buf, size_t len, size_t buflen, int flags, sockaddr* from,
                       socklen_t* fromlen) {
  if (len > buflen) __builtin_trap();
  return recvfrom(fd, buf, len, flags, from, fromlen);
}

}  // extern "C"
