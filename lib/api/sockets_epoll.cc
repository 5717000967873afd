// The epoll-style calls of <sockets.h> over readiness sets (readiness_set.h): a set
// holds the sockets a caller watches; the engines queue a watched socket's handle when
// it becomes ready, and a wait takes what the queue holds, so its cost follows the
// sockets that are ready, not the number watched (select() scans its whole set).
#include <array>
#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>
#include <vector>

#include "api/readiness_set.h"
#include "api/sockets_internal.h"
#include "sockets.h"

namespace shardtcp::sockets {
namespace {

// Sets by id - 1. Created under the mutex (not on any hot path); looked up without it
// (every wait and ctl does). A closed set's memory stays for reuse, so an id read by a
// racing call never dangles.
constexpr int kMaxSets = 1024;
std::mutex g_sets_mu;
std::array<std::atomic<ReadinessSet*>, kMaxSets> g_sets{};
std::array<std::unique_ptr<ReadinessSet>, kMaxSets> g_owned;  // g_sets' owners
int g_set_count = 0;                                          // under g_sets_mu

ReadinessSet* set_of(int id) {
  if (id <= 0 || id > kMaxSets) return nullptr;
  ReadinessSet* s = g_sets[static_cast<std::size_t>(id - 1)].load(std::memory_order_acquire);
  return s != nullptr && s->open.load(std::memory_order_acquire) ? s : nullptr;
}

std::uint32_t wanted_bits(std::uint32_t events) {
  // Errors and hang-ups are always reported, as epoll does.
  std::uint32_t bits = kErrorBit | kHupBit;
  if (events & SHARDTCP_EPOLLIN) bits |= kReadable;
  if (events & SHARDTCP_EPOLLOUT) bits |= kWritable;
  if (events & SHARDTCP_EPOLLRDHUP) bits |= kRdHupBit;
  return bits;
}

// Every event the readiness `bits` stand for (what shardtcp_socket_events reports).
std::uint32_t all_events(std::uint32_t bits) {
  std::uint32_t ev = 0;
  if (bits & kReadable) ev |= SHARDTCP_EPOLLIN;
  if (bits & kWritable) ev |= SHARDTCP_EPOLLOUT;
  if (bits & kErrorBit) ev |= SHARDTCP_EPOLLERR;
  if (bits & kRdHupBit) ev |= SHARDTCP_EPOLLRDHUP;
  if (bits & kHupBit) ev |= SHARDTCP_EPOLLHUP;
  return ev;
}

std::uint32_t reported_events(std::uint32_t bits, std::uint32_t wanted) {
  return all_events(bits) & (wanted | SHARDTCP_EPOLLERR | SHARDTCP_EPOLLHUP);
}

void push(ReadinessSet& set, int handle) {
  // Two nodes per member are reserved (join): bounded_push does not allocate. Should
  // stale entries (sockets removed and added again) use them up, push() takes one more
  // from the heap, which the queue keeps for the next push.
  if (!set.queue.bounded_push(handle)) set.queue.push(handle);
}

// A socket joins `set`: the queue gets two more nodes when its members outgrow them.
void join(ReadinessSet& set) {
  const std::uint32_t m = set.members.fetch_add(1, std::memory_order_relaxed) + 1;
  if (2 * m > set.reserved.load(std::memory_order_relaxed)) {
    set.reserved.fetch_add(2, std::memory_order_relaxed);
    set.queue.reserve(2);
  }
}

// Puts the entry's handle into its set's queue unless it is there already.
void enqueue(ReadinessSet& set, SocketEntry& e) {
  if (e.queued.exchange(true, std::memory_order_seq_cst)) return;
  push(set, e.watch_handle);
  set.word.fetch_add(1, std::memory_order_release);
  if (set.waiters.load(std::memory_order_acquire) != 0) futex_wake_all(&set.word);
}

// Takes what the queue holds: reports up to `max` ready members into `out` and puts
// the ones still ready back (level-triggered). Returns how many were reported.
int collect(ReadinessSet& set, shardtcp_epoll_event* out, int max) {
  Runtime& rt = runtime();
  // Reused by this thread's waits: no allocation once they have grown.
  thread_local std::vector<SocketEntry*> reported, unreached;
  reported.clear();
  unreached.clear();
  int n = 0;
  int h = 0;
  while (set.queue.pop(h)) {
    SocketEntry* e = rt.table.lookup(h);
    if (e == nullptr) continue;  // closed since it was queued
    ReadinessSet* w = e->watcher.load(std::memory_order_acquire);
    if (w != &set) {
      // Removed from this set (and perhaps added to another) while queued here.
      e->queued.store(false, std::memory_order_seq_cst);
      if (w != nullptr) notify_watcher(*e, e->ready.load(std::memory_order_seq_cst));
      continue;
    }
    if (n == max) {  // no room left in `out`: it stays queued for the next wait
      unreached.push_back(e);
      continue;
    }
    // Cleared before reading the readiness: a change after this queues it again.
    e->queued.store(false, std::memory_order_seq_cst);
    const std::uint32_t wanted = e->watch_events.load(std::memory_order_acquire);
    const std::uint32_t ev =
        reported_events(e->ready.load(std::memory_order_seq_cst) & wanted_bits(wanted), wanted);
    if (ev == 0) continue;
    out[n].events = ev;
    out[n].data = e->watch_data;
    ++n;
    reported.push_back(e);
  }
  for (SocketEntry* e : unreached) push(set, e->watch_handle);  // still marked queued
  for (SocketEntry* e : reported) enqueue(set, *e);             // level-triggered
  return n;
}

}  // namespace

void notify_watcher(SocketEntry& e, std::uint32_t bits) {
  ReadinessSet* set = e.watcher.load(std::memory_order_acquire);
  if (set == nullptr) return;
  if ((bits & wanted_bits(e.watch_events.load(std::memory_order_acquire))) == 0) return;
  // Pairs with collect()'s store of `queued` then load of `ready`: either it sees the
  // readiness just stored, or enqueue() sees the handle no longer queued. Sockets no
  // set watches (the common case) pay no fence.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  enqueue(*set, e);
}

void unwatch(SocketEntry& e) {
  if (ReadinessSet* set = e.watcher.exchange(nullptr, std::memory_order_acq_rel))
    set->members.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace shardtcp::sockets

using namespace shardtcp;
using namespace shardtcp::sockets;

extern "C" {

int shardtcp_epoll_create(void) {
  if (!attached()) return fail_with(ENETDOWN);
  std::lock_guard<std::mutex> lock(g_sets_mu);
  for (int i = 0; i < g_set_count; ++i) {
    ReadinessSet& s = *g_sets[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
    if (s.open.load(std::memory_order_acquire)) continue;  // closed ones left it empty
    s.open.store(true, std::memory_order_release);
    return i + 1;
  }
  if (g_set_count == kMaxSets) return fail_with(EMFILE);
  auto& owned = g_owned[static_cast<std::size_t>(g_set_count)];
  owned = std::make_unique<ReadinessSet>();  // kept until exit: ids never dangle
  owned->open.store(true, std::memory_order_relaxed);
  g_sets[static_cast<std::size_t>(g_set_count)].store(owned.get(), std::memory_order_release);
  return ++g_set_count;
}

int shardtcp_epoll_ctl(int ep, int op, int s, const shardtcp_epoll_event* ev) {
  if (!attached()) return fail_with(ENETDOWN);
  ReadinessSet* set = set_of(ep);
  if (set == nullptr) return fail_with(EBADF);
  SocketEntry* e = runtime().table.lookup(s);
  if (e == nullptr) return fail_with(ENOTSOCK);
  if (op != SHARDTCP_EPOLL_CTL_DEL && ev == nullptr) return fail_with(EFAULT);
  ReadinessSet* now = e->watcher.load(std::memory_order_acquire);
  switch (op) {
    case SHARDTCP_EPOLL_CTL_ADD:
      if (now != nullptr) return fail_with(EEXIST);  // one set per socket
      join(*set);
      e->watch_handle = s;
      e->watch_data = ev->data;
      e->watch_events.store(ev->events, std::memory_order_release);
      // `queued` stays as it is: a handle still in a former set's queue is passed on
      // when that set's wait meets it.
      e->watcher.store(set, std::memory_order_seq_cst);
      break;
    case SHARDTCP_EPOLL_CTL_MOD:
      if (now != set) return fail_with(ENOENT);
      e->watch_data = ev->data;
      e->watch_events.store(ev->events, std::memory_order_seq_cst);
      break;
    case SHARDTCP_EPOLL_CTL_DEL:
      if (now != set) return fail_with(ENOENT);
      unwatch(*e);
      return 0;
    default:
      return fail_with(EINVAL);
  }
  // Already ready: the engine raised nothing for it yet, so queue it here.
  notify_watcher(*e, e->ready.load(std::memory_order_seq_cst));
  return 0;
}

int shardtcp_epoll_wait(int ep, shardtcp_epoll_event* events, int maxevents, int timeout_ms) {
  if (!attached()) return fail_with(ENETDOWN);
  ReadinessSet* set = set_of(ep);
  if (set == nullptr) return fail_with(EBADF);
  if (events == nullptr) return fail_with(EFAULT);
  if (maxevents <= 0) return fail_with(EINVAL);
  const std::int64_t deadline = timeout_ms > 0 ? now_ns() + std::int64_t{timeout_ms} * 1000000 : 0;
  for (;;) {
    const std::uint32_t seq = set->word.load(std::memory_order_acquire);
    const int n = collect(*set, events, maxevents);
    if (n > 0 || timeout_ms == 0 || wait_style() == WaitStyle::kNever) return n;
    // Collect again only once something was queued (the word moved): on an engine
    // thread each wait is one engine iteration, and an empty queue's pop alone costs
    // about 60 instructions.
    do {
      std::int64_t left = -1;
      if (deadline != 0) {
        left = deadline - now_ns();
        if (left <= 0) return 0;
      }
      wait_for_event(set->word, set->waiters, seq, left);
    } while (set->word.load(std::memory_order_acquire) == seq);
  }
}

int shardtcp_socket_events(int s) {
  if (!attached()) return fail_with(ENETDOWN);
  SocketEntry* e = runtime().table.lookup(s);
  if (e == nullptr) return fail_with(ENOTSOCK);
  return static_cast<int>(all_events(e->ready.load(std::memory_order_acquire)));
}

int shardtcp_epoll_close(int ep) {
  if (!attached()) return fail_with(ENETDOWN);
  ReadinessSet* set = set_of(ep);
  if (set == nullptr) return fail_with(EBADF);
  // Its members forget it; handles still in its queue are dropped when it is reused.
  runtime().table.for_each_live([&](int h) {
    SocketEntry* e = runtime().table.lookup(h);
    if (e != nullptr && e->watcher.load(std::memory_order_acquire) == set) unwatch(*e);
  });
  set->open.store(false, std::memory_order_release);
  // What its queue held is no longer queued anywhere (a socket already added to
  // another set goes into that one's queue).
  int h = 0;
  while (set->queue.pop(h)) {
    SocketEntry* e = runtime().table.lookup(h);
    if (e == nullptr) continue;
    e->queued.store(false, std::memory_order_seq_cst);
    notify_watcher(*e, e->ready.load(std::memory_order_seq_cst));
  }
  return 0;
}

}  // extern "C"
