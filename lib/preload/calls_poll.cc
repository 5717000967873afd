// poll ppoll select pselect over stack sockets and kernel descriptors together
// (wait_loop.h): each round asks the kernel about its descriptors with a zero timeout
// (stack placeholders hidden from it) and reads each stack socket's readiness.
#include <poll.h>
#include <sys/select.h>

#include <climits>
#include <vector>

#include "preload/intercept.h"
#include "preload/wait_loop.h"

using namespace shardtcp::preload;

namespace {

// Whether the wait must be the library's own loop: a stack socket is among the
// descriptors, or this thread runs the engines (a wait on kernel descriptors alone
// must keep the stack served).
bool ours(bool any_stack) {
  return any_stack || (stack_up() && engine_thread());
}

// As the kernel's poll: POLLERR and POLLHUP whether asked or not, POLLRDHUP if asked.
short poll_bits(unsigned r, short want) {
  if (r & kGone) return POLLNVAL;
  short got = 0;
  if (r & kReadable) got |= want & (POLLIN | POLLRDNORM);
  if (r & kWritable) got |= want & (POLLOUT | POLLWRNORM);
  if (r & kRdHup) got |= want & POLLRDHUP;
  if (r & kError) got |= POLLERR;
  if (r & kHup) got |= POLLHUP;
  return got;
}

int poll_common(pollfd* fds, nfds_t n, std::int64_t timeout_ns, const sigset_t* mask,
                bool with_mask, const timespec* ts, int ms) {
  // Stack sockets' slots, found once per call (a thread's list, reused).
  thread_local std::vector<nfds_t> stack_slots;
  thread_local std::vector<int> hidden;
  stack_slots.clear();
  if (!inside() && fds != nullptr)
    for (nfds_t i = 0; i < n; ++i)
      if (fd_table().socket_at(fds[i].fd) != nullptr) stack_slots.push_back(i);
  if (inside() || forked_child() || !ours(!stack_slots.empty()))
    return with_mask ? libc().ppoll(fds, n, ts, mask) : libc().poll(fds, n, ms);
  hidden.resize(stack_slots.size());
  return wait_rounds(timeout_ns, [&]() -> int {
    // The kernel ignores negative descriptors (revents 0): hide the placeholders.
    for (std::size_t k = 0; k < stack_slots.size(); ++k) {
      hidden[k] = fds[stack_slots[k]].fd;
      fds[stack_slots[k]].fd = -1;
    }
    const timespec zero{0, 0};
    int got = libc().ppoll(fds, n, &zero, mask);
    for (std::size_t k = 0; k < stack_slots.size(); ++k) fds[stack_slots[k]].fd = hidden[k];
    if (got < 0) {
      if (!kernel_interrupted()) return -1;
      got = 0;
    }
    for (nfds_t i : stack_slots) {
      FdEntry* e = fd_table().socket_at(fds[i].fd);
      fds[i].revents = e == nullptr ? POLLNVAL : poll_bits(readiness(e->handle), fds[i].events);
      if (fds[i].revents != 0) ++got;
    }
    return got;
  });
}

using Word = unsigned long;
constexpr int kWordBits = static_cast<int>(sizeof(Word) * CHAR_BIT);

bool bit(const Word* set, int fd) {
  return set != nullptr && ((set[fd / kWordBits] >> (fd % kWordBits)) & 1) != 0;
}
void put(Word* set, int fd) {
  set[fd / kWordBits] |= Word{1} << (fd % kWordBits);
}
void drop(Word* set, int fd) {
  set[fd / kWordBits] &= ~(Word{1} << (fd % kWordBits));
}

int select_common(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, std::int64_t timeout_ns,
                  const sigset_t* mask, bool with_mask, timeval* tv, const timespec* ts) {
  if (inside() || nfds <= 0 || forked_child())
    return with_mask ? libc().pselect(nfds, rd, wr, ex, ts, mask)
                     : libc().select(nfds, rd, wr, ex, tv);
  Word* user[3] = {reinterpret_cast<Word*>(rd), reinterpret_cast<Word*>(wr),
                   reinterpret_cast<Word*>(ex)};
  thread_local std::vector<int> stack_fds;
  stack_fds.clear();
  for (int fd = 0; fd < nfds; ++fd)
    if ((bit(user[0], fd) || bit(user[1], fd) || bit(user[2], fd)) &&
        fd_table().socket_at(fd) != nullptr)
      stack_fds.push_back(fd);
  if (!ours(!stack_fds.empty()))
    return with_mask ? libc().pselect(nfds, rd, wr, ex, ts, mask)
                     : libc().select(nfds, rd, wr, ex, tv);
  // The caller's sets are the question for every round; the answer goes back at the end.
  const std::size_t words = static_cast<std::size_t>((nfds + kWordBits - 1) / kWordBits);
  thread_local std::vector<Word> asked[3], got[3];
  for (int k = 0; k < 3; ++k) {
    asked[k].assign(words, 0);
    got[k].assign(words, 0);
    if (user[k] != nullptr)
      for (std::size_t w = 0; w < words; ++w) asked[k][w] = user[k][w];
  }
  const int n = wait_rounds(timeout_ns, [&]() -> int {
    Word* kset[3];
    for (int k = 0; k < 3; ++k) {
      got[k] = asked[k];
      for (int fd : stack_fds) drop(got[k].data(), fd);
      kset[k] = user[k] != nullptr ? got[k].data() : nullptr;
    }
    const timespec zero{0, 0};
    int count =
        libc().pselect(nfds, reinterpret_cast<fd_set*>(kset[0]), reinterpret_cast<fd_set*>(kset[1]),
                       reinterpret_cast<fd_set*>(kset[2]), &zero, mask);
    if (count < 0) {
      if (!kernel_interrupted()) return -1;
      count = 0;
    }
    constexpr unsigned kWant[3] = {kReadable, kWritable, kError};
    for (int fd : stack_fds) {
      FdEntry* e = fd_table().socket_at(fd);
      if (e == nullptr) return fail(EBADF);  // closed by another thread meanwhile
      const unsigned r = readiness(e->handle);
      for (int k = 0; k < 3; ++k) {
        if (!bit(asked[k].data(), fd)) continue;
        // An error makes a socket readable and writable too, and a hang-up readable, as
        // the kernel's select() reports them (POLLIN_SET holds POLLHUP).
        if ((r & kWant[k]) || (k < 2 && (r & (kError | kGone))) || (k == 0 && (r & kHup))) {
          put(got[k].data(), fd);
          ++count;
        }
      }
    }
    return count;
  });
  if (n < 0) return -1;
  for (int k = 0; k < 3; ++k) {
    if (user[k] == nullptr) continue;
    for (std::size_t w = 0; w < words; ++w) user[k][w] = n > 0 ? got[k][w] : 0;
  }
  return n;
}

}  // namespace

extern "C" {

int poll(pollfd* fds, nfds_t n, int timeout) {
  return poll_common(fds, n, ms_to_ns(timeout), nullptr, false, nullptr, timeout);
}

int ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) {
  if (ts != nullptr && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000))
    return fail(EINVAL);
  return poll_common(fds, n, ts_to_ns(ts), mask, true, ts, 0);
}

int __poll_chk(pollfd* fds, nfds_t n, int timeout, size_t fdslen) {
  if (fdslen / sizeof(*fds) < n) __builtin_trap();
  return poll(fds, n, timeout);
}

int select(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, timeval* tv) {
  if (tv != nullptr && (tv->tv_sec < 0 || tv->tv_usec < 0)) return fail(EINVAL);
  return select_common(nfds, rd, wr, ex, tv_to_ns(tv), nullptr, false, tv, nullptr);
}

int pselect(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, const timespec* ts,
            const sigset_t* mask) {
  if (ts != nullptr && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000))
    return fail(EINVAL);
  return select_common(nfds, rd, wr, ex, ts_to_ns(ts), mask, true, nullptr, ts);
}

}  // extern "C"
