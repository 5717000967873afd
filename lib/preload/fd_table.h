// What each file descriptor number of the process is to the preload library: nothing
// (the kernel's, passed through), a stack socket, or an epoll instance that may watch
// stack sockets. A stack socket occupies a real descriptor (a placeholder the kernel
// reserves: /dev/null opened), so the program's own descriptor bookkeeping, FD_SETSIZE
// arithmetic, dup() and close() keep working; the entry maps that number to the
// <sockets.h> handle.
//
// One flat array indexed by descriptor, reserved address space (backed as used), so a
// lookup on every read()/write() is one load and nothing is allocated per socket.
// Entries are changed by the calls on that descriptor; a program that races two
// threads on one descriptor (close against read) races here as it would in the
// kernel, and the lookups of other descriptors are unaffected.
#pragma once

#include <atomic>
#include <cstdint>

namespace shardtcp::preload {

enum class FdKind : std::uint8_t { kNone = 0, kSocket = 1, kEpoll = 2 };

struct FdEntry {
  std::atomic<FdKind> kind{FdKind::kNone};
  bool nonblock = false;  // what F_GETFL reports (the stack's socket holds the truth)
  bool dgram = false;     // UDP: vectored I/O gathers into one datagram
  int handle = 0;  // kSocket: the <sockets.h> handle; kEpoll: its readiness set (0: none yet)
  // kSocket after dup(): how many descriptors share the handle (heap, made on the first
  // dup; null while one descriptor owns it).
  std::atomic<int>* shared = nullptr;
  // kSocket in an epoll instance: which, with what it asked and gave.
  int epfd = -1;
  std::uint32_t events = 0;  // EPOLL* asked (EPOLLET, EPOLLONESHOT included)
  std::uint32_t armed = 0;   // edge-triggered: the bits that may be reported next
  bool disabled = false;     // EPOLLONESHOT fired; MOD re-enables
  std::uint64_t data = 0;    // the caller's epoll_data
  // kEpoll: how many stack sockets it watches (close scans the table only then).
  int members = 0;
};

class FdTable {
 public:
  // Descriptors above this are never stack sockets (placeholders beyond it are refused
  // with EMFILE).
  static constexpr int kMaxFds = 1 << 20;

  // The entry of `fd`, or null when `fd` is outside the table (or no stack descriptor
  // was ever made: a program that never uses the stack never reserves the table).
  FdEntry* at(int fd) {
    FdEntry* all = entries_.load(std::memory_order_acquire);
    if (fd < 0 || fd >= kMaxFds || all == nullptr) return nullptr;  // none made yet
    return &all[fd];
  }
  // The entry when `fd` is a stack socket (the common pass-through test).
  FdEntry* socket_at(int fd) {
    FdEntry* e = at(fd);
    return e != nullptr && e->kind.load(std::memory_order_acquire) == FdKind::kSocket ? e : nullptr;
  }
  FdEntry* epoll_at(int fd) {
    FdEntry* e = at(fd);
    return e != nullptr && e->kind.load(std::memory_order_acquire) == FdKind::kEpoll ? e : nullptr;
  }
  // Marks `fd` a stack socket with `handle`.
  void set_socket(int fd, int handle, bool nonblock);
  // Marks `to` a descriptor of the same socket as `from` (dup): both share the handle.
  void share(int from, int to);
  // Forgets `fd`. For a socket, true when it was the last descriptor of its handle (the
  // caller closes the stack's socket).
  bool forget(int fd);
  void set_epoll(int fd);
  // The highest descriptor ever entered (bounds the scans close() of an epoll makes).
  int high() const { return high_.load(std::memory_order_relaxed); }

 private:
  FdEntry* entries();
  void note(int fd);
  std::atomic<FdEntry*> entries_{nullptr};
  std::atomic<int> high_{-1};
};

FdTable& fd_table();

}  // namespace shardtcp::preload
