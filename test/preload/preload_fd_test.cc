// The preload library's descriptor table, seen through plain POSIX calls: a stack
// socket occupies a real descriptor, dup()/dup2()/close() keep the kernel's meaning,
// every intercepted call given a bad descriptor or argument fails with the errno the
// kernel gives (compared with a kernel socket made by a raw system call, which the
// library passes through), a bad configuration stops the program, and a fork()ed child
// that leaves the stack alone runs on.
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>

#include <csignal>

#include "preload_test_util.h"

namespace {

using preload_test::stack_addr;

// A kernel socket the library does not know (socket() itself would give a stack one).
int kernel_socket(int type) {
  return static_cast<int>(syscall(SYS_socket, AF_INET, type, 0));
}

// A stack TCP socket bound to the stack's address and `port` (listening when asked).
int stack_tcp(unsigned short port, bool listening) {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = stack_addr(port);
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  if (listening && listen(s, 4) != 0) return -1;
  return s;
}

// The local port of a socket (0 when getsockname fails).
unsigned short port_of(int fd) {
  sockaddr_in got{};
  socklen_t len = sizeof got;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&got), &len) != 0) return 0;
  return ntohs(got.sin_port);
}

bool is_stack_socket(int fd) {
  // Only the stack has 198.18.30.2: a bind to it fails on a kernel socket.
  sockaddr_in a = stack_addr(0);
  return bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

TEST(PreloadFd, SocketOccupiesARealDescriptor) {
  PRELOAD_REQUIRE_ROOT();
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(s, 0) << std::strerror(errno);
  EXPECT_TRUE(is_stack_socket(s));
  struct stat st {};
  ASSERT_EQ(0, fstat(s, &st));  // the kernel's placeholder behind the number
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  int type = 0;
  socklen_t len = sizeof type;
  ASSERT_EQ(0, getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len));
  EXPECT_EQ(SOCK_STREAM, type);
  // The next kernel descriptor is numbered after it: the number is really taken.
  const int k = eventfd(0, 0);
  EXPECT_NE(k, s);
  EXPECT_EQ(0, close(k));
  EXPECT_EQ(0, close(s));
  EXPECT_ERRNO(fcntl(s, F_GETFD), EBADF);
}

TEST(PreloadFd, NonblockAndCloexecFlags) {
  PRELOAD_REQUIRE_ROOT();
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  EXPECT_TRUE(fcntl(s, F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(fcntl(s, F_GETFD) & FD_CLOEXEC);
  sockaddr_in a = stack_addr(7101);
  ASSERT_EQ(0, bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a));
  ASSERT_EQ(0, listen(s, 8));
  EXPECT_ERRNO(accept(s, nullptr, nullptr), EAGAIN);
  // fcntl(F_SETFL) and ioctl(FIONBIO) switch the stack socket's mode.
  ASSERT_EQ(0, fcntl(s, F_SETFL, 0));
  EXPECT_FALSE(fcntl(s, F_GETFL) & O_NONBLOCK);
  int on = 1;
  ASSERT_EQ(0, ioctl(s, FIONBIO, &on));
  EXPECT_TRUE(fcntl(s, F_GETFL) & O_NONBLOCK);
  EXPECT_ERRNO(accept4(s, nullptr, nullptr, SOCK_NONBLOCK), EAGAIN);
  const int u = socket(AF_INET, SOCK_DGRAM, 0);
  int pending = -1;
  ASSERT_EQ(0, ioctl(u, FIONREAD, &pending));
  EXPECT_EQ(0, pending);
  close(u);
  close(s);
}

TEST(PreloadFd, DupSharesTheSocketUntilTheLastClose) {
  PRELOAD_REQUIRE_ROOT();
  const int s = stack_tcp(7102, false);
  ASSERT_GE(s, 0);
  const int d = dup(s);
  ASSERT_GE(d, 0);
  ASSERT_NE(d, s);
  const int d3 = fcntl(s, F_DUPFD_CLOEXEC, 100);
  ASSERT_GE(d3, 100);
  EXPECT_TRUE(fcntl(d3, F_GETFD) & FD_CLOEXEC);
  ASSERT_EQ(0, close(s));
  EXPECT_EQ(7102, port_of(d));
  ASSERT_EQ(0, close(d));
  EXPECT_EQ(7102, port_of(d3));
  ASSERT_EQ(0, listen(d3, 4));
  ASSERT_EQ(0, close(d3));
  // The last close closed the stack's socket: its port is free again.
  const int again = stack_tcp(7102, false);
  EXPECT_GE(again, 0) << std::strerror(errno);
  close(again);
}

TEST(PreloadFd, Dup2OntoAStackSocketClosesIt) {
  PRELOAD_REQUIRE_ROOT();
  const int s = stack_tcp(7103, true);
  ASSERT_GE(s, 0);
  const int k = eventfd(0, 0);
  ASSERT_EQ(s, dup2(k, s));
  // s is the eventfd now (a kernel descriptor, no socket) and the listener is gone.
  EXPECT_ERRNO(listen(s, 4), ENOTSOCK);
  const int again = stack_tcp(7103, false);
  EXPECT_GE(again, 0) << std::strerror(errno);
  // dup3 of a stack socket onto a kernel descriptor: the target becomes the socket.
  ASSERT_EQ(k, dup3(again, k, O_CLOEXEC));
  EXPECT_TRUE(fcntl(k, F_GETFD) & FD_CLOEXEC);
  EXPECT_EQ(7103, port_of(k));
  EXPECT_ERRNO(dup3(k, k, 0), EINVAL);
  close(k);
  close(again);
  close(s);
}

// The same mistake on a stack socket and on a kernel socket gives the same errno.
TEST(PreloadFd, BadArgumentsGiveTheKernelsErrno) {
  PRELOAD_REQUIRE_ROOT();
  signal(SIGPIPE, SIG_IGN);  // write() on an unconnected kernel TCP socket raises it
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    SCOPED_TRACE(type == SOCK_STREAM ? "tcp" : "udp");
    const int st = socket(AF_INET, type, 0);
    const int kt = kernel_socket(type);
    ASSERT_GE(st, 0);
    ASSERT_GE(kt, 0);
    ASSERT_TRUE(is_stack_socket(st));
    ASSERT_FALSE(is_stack_socket(kt));
    char buf[8] = {};
    sockaddr_in a = stack_addr(7104);
    sockaddr_in6 a6{};
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(9);
    for (int fd : {st, kt}) {
      SCOPED_TRACE(fd == st ? "stack socket" : "kernel socket");
      EXPECT_ERRNO(bind(fd, reinterpret_cast<sockaddr*>(&a), 3), EINVAL);
      EXPECT_ERRNO(connect(fd, reinterpret_cast<sockaddr*>(&a6), 3), EINVAL);
      EXPECT_ERRNO(ioctl(fd, TCGETS, buf), ENOTTY);
      EXPECT_ERRNO(accept4(fd, nullptr, nullptr, 0x40000000), EINVAL);
      EXPECT_ERRNO(sendfile(fd, fd, nullptr, 1), EINVAL);  // a socket is no file to read
      if (type == SOCK_STREAM) {
        EXPECT_ERRNO(recv(fd, buf, sizeof buf, 0), ENOTCONN);
        EXPECT_ERRNO(write(fd, buf, 1), EPIPE);
        EXPECT_ERRNO(getpeername(fd, nullptr, nullptr), ENOTCONN);
      } else {
        EXPECT_ERRNO(listen(fd, 1), EOPNOTSUPP);
        EXPECT_ERRNO(send(fd, buf, 1, MSG_OOB),
                     EOPNOTSUPP);  // TCP's urgent data: the stack lacks it
        EXPECT_ERRNO(accept(fd, nullptr, nullptr), EOPNOTSUPP);
        EXPECT_ERRNO(recv(fd, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
      }
    }
    close(st);
    close(kt);
  }
}

// A descriptor that is not open, and a kernel descriptor that is no socket.
TEST(PreloadFd, BadDescriptorsGiveTheKernelsErrno) {
  PRELOAD_REQUIRE_ROOT();
  const int bad = 987654;
  const int ev = eventfd(0, 0);
  char buf[4] = {};
  sockaddr_in a = stack_addr(1);
  socklen_t len = sizeof a;
  int v = 0;
  socklen_t vl = sizeof v;
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  for (int fd : {bad, ev}) {
    const int e = fd == bad ? EBADF : ENOTSOCK;
    SCOPED_TRACE(fd == bad ? "closed descriptor" : "eventfd");
    EXPECT_ERRNO(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), e);
    EXPECT_ERRNO(listen(fd, 1), e);
    EXPECT_ERRNO(accept(fd, nullptr, nullptr), e);
    EXPECT_ERRNO(accept4(fd, nullptr, nullptr, 0), e);
    EXPECT_ERRNO(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), e);
    EXPECT_ERRNO(send(fd, buf, 1, 0), e);
    EXPECT_ERRNO(recv(fd, buf, 1, MSG_DONTWAIT), e);
    EXPECT_ERRNO(sendto(fd, buf, 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof a), e);
    EXPECT_ERRNO(recvfrom(fd, buf, 1, MSG_DONTWAIT, nullptr, nullptr), e);
    EXPECT_ERRNO(sendmsg(fd, &msg, 0), e);
    EXPECT_ERRNO(recvmsg(fd, &msg, MSG_DONTWAIT), e);
    EXPECT_ERRNO(shutdown(fd, SHUT_RDWR), e);
    EXPECT_ERRNO(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &vl), e);
    EXPECT_ERRNO(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, vl), e);
    EXPECT_ERRNO(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), e);
    EXPECT_ERRNO(getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len), e);
  }
  EXPECT_ERRNO(read(bad, buf, 1), EBADF);
  EXPECT_ERRNO(write(bad, buf, 1), EBADF);
  EXPECT_ERRNO(readv(bad, &iov, 1), EBADF);
  EXPECT_ERRNO(writev(bad, &iov, 1), EBADF);
  EXPECT_ERRNO(close(bad), EBADF);
  EXPECT_ERRNO(dup(bad), EBADF);
  EXPECT_ERRNO(dup2(bad, 5000), EBADF);
  EXPECT_ERRNO(dup3(bad, 5000, 0), EBADF);
  EXPECT_ERRNO(fcntl(bad, F_GETFL), EBADF);
  EXPECT_ERRNO(ioctl(bad, FIONBIO, &v), EBADF);
  EXPECT_ERRNO(sendfile(bad, ev, nullptr, 1), EBADF);
  epoll_event in{};
  EXPECT_ERRNO(epoll_ctl(bad, EPOLL_CTL_ADD, ev, &in), EBADF);
  epoll_event out[1];
  EXPECT_ERRNO(epoll_wait(bad, out, 1, 0), EBADF);
  EXPECT_ERRNO(epoll_wait(ev, out, 1, 0), EINVAL);  // not an epoll descriptor
  pollfd p{bad, POLLIN, 0};
  EXPECT_EQ(1, poll(&p, 1, 0));
  EXPECT_EQ(POLLNVAL, p.revents);
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(900, &rd);
  EXPECT_ERRNO(select(901, &rd, nullptr, nullptr, nullptr), EBADF);
  timeval neg{-1, 0};
  EXPECT_ERRNO(select(1, nullptr, nullptr, nullptr, &neg), EINVAL);
  close(ev);
}

TEST(PreloadFd, SocketsTheStackDoesNotServe) {
  PRELOAD_REQUIRE_ROOT();
  // Another family is the kernel's, unchanged.
  int sv[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  ASSERT_EQ(3, write(sv[0], "abc", 3));
  char buf[4] = {};
  ASSERT_EQ(3, read(sv[1], buf, sizeof buf));
  EXPECT_STREQ("abc", buf);
  const int u = socket(AF_UNIX, SOCK_DGRAM, 0);
  EXPECT_FALSE(is_stack_socket(u));
  close(u);
  close(sv[0]);
  close(sv[1]);
  // An AF_INET type or protocol the stack lacks fails, never a silent kernel socket.
  EXPECT_ERRNO(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
  EXPECT_ERRNO(socket(AF_INET, SOCK_SEQPACKET, 0), ESOCKTNOSUPPORT);
  // Options it lacks: ENOPROTOOPT, the kernel's errno for an unknown option.
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  int v = 1;
  EXPECT_ERRNO(setsockopt(s, SOL_SOCKET, 0x7777, &v, sizeof v), ENOPROTOOPT);
  close(s);
}

// A child fork()ed with stack sockets open: close() and kernel descriptors work, the
// stack's calls fail with ENETDOWN, and its exit leaves the parent's stack running.
TEST(PreloadFd, ForkedChildLeavesTheStackAlone) {
  PRELOAD_REQUIRE_ROOT();
  const int s = stack_tcp(7105, true);
  ASSERT_GE(s, 0);
  int pipefd[2];
  ASSERT_EQ(0, pipe(pipefd));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int bad = 0;
    sockaddr_in got{};
    socklen_t len = sizeof got;
    if (getsockname(s, reinterpret_cast<sockaddr*>(&got), &len) != -1 || errno != ENETDOWN)
      bad |= 1;
    if (socket(AF_INET, SOCK_STREAM, 0) != -1 || errno != ENETDOWN) bad |= 2;
    if (close(s) != 0) bad |= 4;
    if (write(pipefd[1], "x", 1) != 1) bad |= 8;
    std::exit(bad);  // through exit(): the library's on_exit handler leaves via _exit
  }
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(0, WEXITSTATUS(status)) << "child's failed checks (bits): " << WEXITSTATUS(status);
  char c = 0;
  EXPECT_EQ(1, read(pipefd[0], &c, 1));
  // The parent's listener is intact and the stack still serves new sockets.
  EXPECT_EQ(7105, port_of(s));
  sockaddr_in a = stack_addr(7105);
  EXPECT_ERRNO(bind(socket(AF_INET, SOCK_STREAM, 0), reinterpret_cast<sockaddr*>(&a), sizeof a),
               EADDRINUSE);
  close(pipefd[0]);
  close(pipefd[1]);
  close(s);
}

}  // namespace
