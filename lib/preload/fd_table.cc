// The descriptor table: reserved with mmap(MAP_NORESERVE) so its pages cost memory only
// where descriptors are used.
#include "preload/fd_table.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <new>

namespace shardtcp::preload {

FdEntry* FdTable::entries() {
  FdEntry* e = entries_.load(std::memory_order_acquire);
  if (e != nullptr) return e;
  // Zeroed anonymous pages are valid entries (kNone, every field zero) except epfd,
  // which only matters once kind is kSocket and set_socket() sets it.
  void* p = mmap(nullptr, sizeof(FdEntry) * kMaxFds, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "libshardtcp-preload: cannot reserve the descriptor table\n");
    std::abort();
  }
  FdEntry* want = static_cast<FdEntry*>(p);
  if (!entries_.compare_exchange_strong(e, want)) {
    munmap(p, sizeof(FdEntry) * kMaxFds);  // another thread made it first
    return e;
  }
  return want;
}

void FdTable::note(int fd) {
  int h = high_.load(std::memory_order_relaxed);
  while (fd > h && !high_.compare_exchange_weak(h, fd)) {
  }
}

void FdTable::set_socket(int fd, int handle, bool nonblock) {
  FdEntry& e = entries()[fd];
  e.nonblock = nonblock;
  e.dgram = false;
  e.handle = handle;
  e.shared = nullptr;
  e.epfd = -1;
  e.events = 0;
  e.armed = 0;
  e.disabled = false;
  e.data = 0;
  e.members = 0;
  note(fd);
  e.kind.store(FdKind::kSocket, std::memory_order_release);
}

void FdTable::share(int from, int to) {
  FdEntry& src = entries()[from];
  // dup() is rare (a program redirecting a socket): one small allocation then.
  if (src.shared == nullptr) src.shared = new std::atomic<int>(1);
  src.shared->fetch_add(1);
  set_socket(to, src.handle, src.nonblock);
  entries()[to].dgram = src.dgram;
  entries()[to].shared = src.shared;
}

bool FdTable::forget(int fd) {
  FdEntry* e = at(fd);
  if (e == nullptr) return false;
  const FdKind was = e->kind.exchange(FdKind::kNone, std::memory_order_acq_rel);
  if (was != FdKind::kSocket) return false;
  std::atomic<int>* shared = e->shared;
  e->shared = nullptr;
  e->epfd = -1;
  if (shared == nullptr) return true;
  if (shared->fetch_sub(1) == 1) {
    delete shared;
    return true;
  }
  return false;
}

void FdTable::set_epoll(int fd) {
  FdEntry& e = entries()[fd];
  e.handle = 0;
  e.members = 0;
  e.shared = nullptr;
  e.epfd = -1;
  note(fd);
  e.kind.store(FdKind::kEpoll, std::memory_order_release);
}

FdTable& fd_table() {
  static FdTable t;
  return t;
}

}  // namespace shardtcp::preload
