#include "api/sockets_runtime.h"

#include <pthread.h>
#include <sched.h>

#include <cerrno>
#include <chrono>

#include "api/readiness_set.h"
#include "api/sockets_internal.h"
#include "common/fast_tls.h"

namespace shardtcp::sockets {

namespace {

// Which engine the calling thread runs: none, all of them (the driver thread, an
// embedding application's polling thread) or one (a worker lcore).
constexpr int kNoEngine = -1;
constexpr int kAllEngines = -2;
SHARDTCP_FAST_TLS thread_local int tl_engine = kNoEngine;
// True on a kPerThread application thread that claimed tl_engine (claim_engine()): it
// runs that engine from its own calls, as kInline's thread runs them all.
SHARDTCP_FAST_TLS thread_local bool tl_claimed = false;
// > 0 while the thread is inside an engine iteration (its callbacks and requests run
// there; InsideEngine counts it): blocking calls then act as non-blocking ones.
SHARDTCP_FAST_TLS thread_local int tl_inside = 0;

unsigned poll_engines(Stack& stack) {
  InsideEngine in;
  unsigned n = 0;
  for (std::uint16_t i = 0; i < stack.engine_count(); ++i) n += stack.engine(i).poll_once();
  return n;
}

Runtime g_runtime;

// One iteration of the claimed engine (kPerThread). Returns the frames handled.
unsigned poll_claimed() {
  Stack* stack = g_runtime.stack.load(std::memory_order_acquire);
  if (stack == nullptr) return 0;
  InsideEngine in;
  return stack->engine(static_cast<std::uint16_t>(tl_engine)).poll_once();
}

unsigned serve_claimed(void*) {
  return poll_claimed();
}

unsigned serve_ring(void* ring) {
  return static_cast<RequestRing*>(ring)->drain();
}

// True when the driver thread last ran on the caller's CPU (it publishes its CPU every
// 256 rounds; -1 until then, and in modes without a driver).
bool driver_shares_my_cpu() {
  const int cpu = g_runtime.driver_cpu.load(std::memory_order_relaxed);
  return cpu >= 0 && cpu == sched_getcpu();
}

}  // namespace

void wake_waiters(SocketEntry& e) {
  e.events.fetch_add(1, std::memory_order_release);
  if (e.waiters.load(std::memory_order_acquire) != 0) futex_wake_all(&e.events);
  Runtime& rt = g_runtime;
  rt.epoch.fetch_add(1, std::memory_order_release);
  if (rt.epoch_waiters.load(std::memory_order_acquire) != 0) futex_wake_all(&rt.epoch);
}

namespace {

unsigned drain_all(Runtime& rt) {
  unsigned n = 0;
  for (auto& ring : rt.rings) n += ring->drain();
  return n;
}

// The Engine poll hook: runs on the engine's thread at the start of each iteration.
unsigned drain_hook(void* arg) {
  auto* ring = static_cast<RequestRing*>(arg);
  if (tl_engine == kNoEngine) tl_engine = ring->engine();  // a worker lcore
  return ring->drain();
}

// The driver thread is started from the application's thread, which EAL pinned to the
// main lcore's CPU; left there, the busy-polling driver and the application would take
// turns on one core (every blocking call then waits for a time slice: measured ~2 600
// instead of ~75 000 TCP_RR transactions/s). So the driver may run on every CPU but
// that one, when there is another.
void unpin_driver_from_caller(std::thread& driver) {
  cpu_set_t caller;
  CPU_ZERO(&caller);
  if (pthread_getaffinity_np(pthread_self(), sizeof caller, &caller) != 0) return;
  const unsigned n = std::thread::hardware_concurrency();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (unsigned c = 0; c < n && c < CPU_SETSIZE; ++c) CPU_SET(c, &set);
  if (CPU_COUNT(&caller) == 1 && n > 1)
    for (unsigned c = 0; c < n && c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &caller)) CPU_CLR(c, &set);
  pthread_setaffinity_np(driver.native_handle(), sizeof set, &set);  // best effort
}

void driver_loop(Runtime* rt) {
  tl_engine = kAllEngines;
  InsideEngine in;  // the driver makes no calls of its own: only callbacks and requests do
  Stack& stack = *rt->stack.load();
  unsigned idle = 0;
  std::uint64_t wakes = wakes_issued();
  for (std::uint32_t round = 0; !rt->stop.load(std::memory_order_acquire); ++round) {
    if ((round & 255) == 0) rt->driver_cpu.store(sched_getcpu(), std::memory_order_relaxed);
    unsigned work = poll_engines(stack);
    if (rt->options.extra_poll) work += rt->options.extra_poll();
    idle = work != 0 ? 0 : idle + 1;
    // A thread this round woke (a request done, a socket ready) may be waiting for this
    // very CPU (application and driver on one core): then give it the CPU now rather
    // than at the end of our time slice. Only then: on a busy machine a yield may cost
    // the driver milliseconds.
    if (wakes_issued() != wakes) {
      wakes = wakes_issued();
      if (rt->same_cpu_sleepers.load(std::memory_order_relaxed) != 0) sched_yield();
    }
    if (idle > 20000) {
      // Nothing for a while: sleep briefly (timers still run every 200 us); a poster
      // wakes us at once.
      const std::uint32_t w = rt->driver_word.load(std::memory_order_acquire);
      rt->driver_sleeping.store(true, std::memory_order_release);
      bool empty = true;
      for (auto& ring : rt->rings) empty = empty && ring->empty();
      if (empty) futex_wait(&rt->driver_word, w, 200000);
      rt->driver_sleeping.store(false, std::memory_order_release);
    }
  }
}

}  // namespace

Runtime& runtime() {
  return g_runtime;
}
bool on_engine_thread() {
  return tl_engine != kNoEngine;
}
WaitStyle wait_style() {
  if (tl_engine == kNoEngine) return WaitStyle::kSleep;
  if ((tl_engine == kAllEngines || tl_claimed) && tl_inside == 0) return WaitStyle::kPoll;
  return WaitStyle::kNever;
}
unsigned poll_inline() {
  if (tl_claimed) return poll_claimed();
  Stack* stack = g_runtime.stack.load(std::memory_order_acquire);
  if (stack == nullptr) return 0;
  unsigned n = poll_engines(*stack);
  if (g_runtime.options.extra_poll) {
    InsideEngine in;
    n += g_runtime.options.extra_poll();
  }
  return n;
}
std::int64_t now_ns() {
  if (TscClock* tsc = g_runtime.tsc.get()) return tsc->now().ns;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
void wait_for_event(std::atomic<std::uint32_t>& word, std::atomic<std::uint32_t>& waiters,
                    std::uint32_t seq, std::int64_t wait_ns) {
  const WaitStyle style = wait_style();
  if (style == WaitStyle::kPoll && !tl_claimed) {
    poll_inline();  // runs every engine: the caller tries again after each round
    return;
  }
  if (style == WaitStyle::kPoll) {
    // A claimed engine's thread: its own engine keeps running until the word moves (the
    // socket may live on another engine, which another thread runs; a try on it costs
    // that engine a request). At most 1 ms between tries, so nothing waits on a missed
    // word.
    const std::int64_t start = now_ns();
    const std::int64_t limit = wait_ns >= 0 && wait_ns < 1000000 ? wait_ns : 1000000;
    do {
      poll_claimed();
    } while (word.load(std::memory_order_acquire) == seq && now_ns() - start < limit);
    return;
  }
  // An ordinary thread sleeps until the engine wakes us. No spin first (unlike a posted
  // request's wait): what it waits for comes from the network, usually later than a
  // spin lasts, and spinning took the CPU from whoever had to make it happen (tried:
  // with two busy threads per CPU, as in the benchmark's pairs, 4x fewer transactions).
  const WaitHelp help = wait_help();
  waiters.fetch_add(1);
  sleep_on(&word, seq, wait_ns, help);
  waiters.fetch_sub(1);
}
InsideEngine::InsideEngine() {
  ++tl_inside;
}
InsideEngine::~InsideEngine() {
  --tl_inside;
}
bool runs_engine(std::uint16_t engine) {
  return tl_engine == kAllEngines || tl_engine == engine;
}
WaitHelp wait_help() {
  WaitHelp h;
  if (tl_claimed && tl_inside == 0) {
    h.serve = &serve_claimed;  // keeps its whole engine running, not only its requests
  } else if (tl_engine >= 0) {
    h.serve = &serve_ring;
    h.arg = g_runtime.rings[static_cast<std::size_t>(tl_engine)].get();
  } else {
    const bool shares = driver_shares_my_cpu();
    h.spin = !shares;
    if (shares) h.same_cpu_sleepers = &g_runtime.same_cpu_sleepers;
  }
  return h;
}
bool thread_engine(std::uint16_t* engine) {
  if (!tl_claimed) return false;
  *engine = static_cast<std::uint16_t>(tl_engine);
  return true;
}

int claim_engine(std::uint16_t engine) {
  Runtime& rt = g_runtime;
  Stack* stack = rt.stack.load(std::memory_order_acquire);
  if (stack == nullptr) return -ENETDOWN;
  if (rt.options.mode != DriveMode::kPerThread || engine >= stack->engine_count()) return -EINVAL;
  if (tl_claimed) return -EALREADY;
  bool expected = false;
  if (!rt.claimed[engine].compare_exchange_strong(expected, true, std::memory_order_acq_rel))
    return -EBUSY;
  tl_engine = engine;
  tl_claimed = true;
  return 0;
}
int release_engine() {
  if (!tl_claimed) return -EINVAL;
  g_runtime.claimed[static_cast<std::size_t>(tl_engine)].store(false, std::memory_order_release);
  tl_claimed = false;
  tl_engine = kNoEngine;
  return 0;
}

namespace {

// Writable again once a third of the send buffer is free (its size learnt as the most
// space ever seen free); with TCP_NOTSENT_LOWAT the native layer's own threshold holds.
bool send_space_enough(SocketEntry& e, long space) {
  if (space <= 0) return false;
  if (space > e.send_space_max) e.send_space_max = space;
  if (e.notsent_lowat != UINT32_MAX) return true;
  return space >= e.send_space_max / 3;
}

}  // namespace

void refresh(SocketEntry& e) {
  Stack* stack = g_runtime.stack.load(std::memory_order_acquire);
  if (stack == nullptr) return;
  std::uint32_t bits = 0;
  if (e.type == SOCK_STREAM) {
    TcpLayer& tcp = stack->engine_tcp(e.engine);
    if (e.listening) {
      if (e.group != nullptr && e.group->acceptable.load(std::memory_order_acquire) != 0)
        bits |= kReadable;
    } else {
      if (e.tcp.valid() && tcp.readable_bytes(e.tcp) > 0) bits |= kReadable;
      if (e.peer_fin || e.rd_shut || e.has_error || (e.closed && !e.connecting)) bits |= kReadable;
      if (e.connected && !e.wr_shut && send_space_enough(e, tcp.writable_bytes(e.tcp)))
        bits |= kWritable;
      if (e.connect_failed || e.has_error || (e.closed && e.connected)) bits |= kWritable;
      // A connection that existed (or was attempted) and is gone: Linux's TCP_CLOSE.
      // A fresh socket is TCP_CLOSE too, but reporting a hang-up before connect() would
      // only confuse programs that watch a socket early; it stays quiet here.
      const bool gone = e.closed && (e.connected || e.connect_failed);
      const bool rcv_shut = e.peer_fin || e.rd_shut || gone;
      if (rcv_shut) bits |= kRdHupBit;
      if (gone || (rcv_shut && e.wr_shut)) bits |= kHupBit;
    }
  } else {
    UdpLayer& udp = stack->engine_udp(e.engine);
    if (e.udp.valid() && udp.pending_datagrams(e.udp) > 0) bits |= kReadable;
    if (e.has_error) bits |= kReadable;
    bits |= kWritable;  // UDP never blocks on send
    // shutdown() of a connected datagram socket: a read returns 0 at once (readable),
    // as Linux's datagram_poll() reports it.
    if (e.rd_shut) bits |= kReadable | kRdHupBit;
    if (e.rd_shut && e.wr_shut) bits |= kHupBit;
  }
  if (e.has_error) bits |= kErrorBit;
  const std::uint32_t was = e.ready.exchange(bits, std::memory_order_acq_rel);
  notify_watcher(e, bits);  // a load of a null pointer unless a readiness set watches
  // Waiters wait for a bit to come on: wake them once when one does, not on every event
  // (an ACK, more data behind unread data). A listener's bits are written by every
  // engine, which may race: its waiters are woken on every event.
  if ((bits & ~was) != 0 || e.listening) wake_waiters(e);
}

namespace {

// TargetTCP-style event numbers (SHARDTCP_EV_* in <sockets.h>).
constexpr int kEvData = 1, kEvAcked = 2, kEvOpened = 3, kEvAccepted = 4, kEvClosed = 5,
              kEvPeerFin = 6, kEvError = 7, kEvWritable = 8;

int event_number(TcpSocketEvent ev) {
  switch (ev) {
    case TcpSocketEvent::kConnected:
      return kEvOpened;
    case TcpSocketEvent::kAcceptable:
      return kEvAccepted;
    case TcpSocketEvent::kReadable:
      return kEvData;
    case TcpSocketEvent::kWritable:
      return kEvWritable;
    case TcpSocketEvent::kAcked:
      return kEvAcked;
    case TcpSocketEvent::kPeerFin:
      return kEvPeerFin;
    case TcpSocketEvent::kClosed:
      return kEvClosed;
    case TcpSocketEvent::kError:
      return kEvError;
  }
  return 0;
}

}  // namespace

void on_tcp_event(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value) {
  const int h = static_cast<int>(reinterpret_cast<std::uintptr_t>(user));
  Runtime& rt = g_runtime;
  if (rt.table.lookup(h) == nullptr) return;
  SocketEntry& e = rt.table.at(h);
  // A listener's per-engine listeners (this runs on the engine that owns `id`).
  if (e.group != nullptr && ev == TcpSocketEvent::kAcceptable) {
    for (std::size_t k = 0; k < e.group->ids.size(); ++k) {
      if (e.group->ids[k] == id) {
        e.group->acceptable.fetch_or(1u << k, std::memory_order_acq_rel);
        refresh(e);
        if (e.event_fn != nullptr)
          e.event_fn(h, kEvAccepted, static_cast<int>(value), e.event_user);
        return;
      }
    }
  }
  // Events of a listener's children before accept() come with the child's id: only
  // the listener's own events matter here.
  if (!(e.tcp == id)) return;
  switch (ev) {
    case TcpSocketEvent::kConnected:
      e.connected = true;
      e.connecting = false;
      break;
    case TcpSocketEvent::kAcceptable:  // handled through the group above
      break;
    case TcpSocketEvent::kPeerFin:
      e.peer_fin = true;
      break;
    case TcpSocketEvent::kClosed:
      e.closed = true;
      break;
    case TcpSocketEvent::kError:
      e.has_error = value != 0;
      if (e.connecting) {
        e.connect_failed = true;
        e.connecting = false;
      }
      break;
    case TcpSocketEvent::kReadable:
    case TcpSocketEvent::kWritable:
    case TcpSocketEvent::kAcked:
      break;
  }
  refresh(e);
  // Last: the application's callback may close the socket.
  if (e.event_fn != nullptr) e.event_fn(h, event_number(ev), static_cast<int>(value), e.event_user);
}

void on_udp_event(int h, UdpSocketId id, UdpEvent ev) {
  Runtime& rt = g_runtime;
  if (rt.table.lookup(h) == nullptr) return;
  SocketEntry& e = rt.table.at(h);
  if (!(e.udp == id)) return;
  if (ev == UdpEvent::kError) e.has_error = true;
  refresh(e);
  if (e.event_fn != nullptr) {
    const int n = ev == UdpEvent::kReadable ? kEvData
                  : ev == UdpEvent::kError  ? kEvError
                                            : kEvOpened;
    e.event_fn(h, n, 0, e.event_user);
  }
}

Status attach(Stack& stack, const AttachOptions& options) {
  Runtime& rt = g_runtime;
  if (rt.stack.load() != nullptr) return Status::error("a stack is already attached");
  for (auto& c : rt.claimed) c.store(false, std::memory_order_relaxed);
  if (stack.engine_count() > HandleTable::kMaxEngines)
    return Status::error("more engines than <sockets.h> handles can name");
  rt.options = options;
  rt.rings.clear();
  for (std::uint16_t i = 0; i < stack.engine_count(); ++i) {
    rt.rings.push_back(std::make_unique<RequestRing>(i, options.request_ring_capacity));
    if (!stack.engine(i).add_poll_hook(&drain_hook, rt.rings.back().get())) {
      for (std::uint16_t k = 0; k < i; ++k) stack.engine(k).remove_poll_hooks(rt.rings[k].get());
      rt.rings.clear();
      return Status::error("engine has no free poll hook");
    }
  }
  rt.stop.store(false);
  if (!rt.tsc) rt.tsc = std::make_unique<TscClock>();
  rt.stack.store(&stack, std::memory_order_release);
  if (options.mode == DriveMode::kInline) tl_engine = kAllEngines;
  if (options.mode == DriveMode::kOwnThread) {
    rt.driver = std::thread(driver_loop, &rt);
    unpin_driver_from_caller(rt.driver);
  }
  if (options.mode == DriveMode::kLcores) {
    const Status st = stack.start();
    if (!st) {
      rt.stack.store(nullptr, std::memory_order_release);
      for (std::uint16_t i = 0; i < stack.engine_count(); ++i)
        stack.engine(i).remove_poll_hooks(rt.rings[i].get());
      rt.rings.clear();
      return st;
    }
  }
  return Status::ok();
}

void adopt(std::unique_ptr<Stack> stack) {
  g_runtime.owned = std::move(stack);
}

bool attached() {
  return g_runtime.stack.load(std::memory_order_acquire) != nullptr;
}

void detach() {
  Runtime& rt = g_runtime;
  Stack* stack = rt.stack.load();
  if (stack == nullptr) return;
  // Close every live socket on its engine (abort: nothing lingers past the stack). In
  // embedding mode the application is not polling now: this thread is the engine.
  const int was = tl_engine;
  if (rt.options.mode == DriveMode::kApplication || rt.options.mode == DriveMode::kInline ||
      rt.options.mode == DriveMode::kPerThread) {
    tl_engine = kAllEngines;  // kPerThread: the application's engine threads have ended
    tl_claimed = false;
  }
  // First the listeners a listening socket keeps on engines other than its own.
  for (std::uint16_t engine = 0; engine < stack->engine_count(); ++engine) {
    on_engine(engine, [&]() -> long {
      rt.table.for_each_live([&](int h) {
        SocketEntry& e = rt.table.at(h);
        if (e.group == nullptr || e.engine == engine || engine >= e.group->ids.size()) return;
        TcpConnId& id = e.group->ids[engine];
        if (!id.valid()) return;
        stack->engine_tcp(engine).set_callback(id, {});
        stack->engine_tcp(engine).abort(id);
        id = {};
      });
      return 0;
    });
  }
  for (std::uint16_t engine = 0; engine < stack->engine_count(); ++engine) {
    on_engine(engine, [&]() -> long {
      rt.table.for_each_live([&](int h) {
        SocketEntry& e = rt.table.at(h);
        if (e.engine != engine) return;
        if (e.type == SOCK_STREAM && e.tcp.valid()) {
          stack->engine_tcp(e.engine).set_callback(e.tcp, {});
          stack->engine_tcp(e.engine).abort(e.tcp);
        } else if (e.udp.valid()) {
          stack->engine_udp(e.engine).close(e.udp);
        }
        e.tcp = {};
        e.udp = {};
        rt.table.release(h);
        wake_waiters(e);
      });
      return 0;
    });
  }
  tl_engine = rt.options.mode == DriveMode::kInline || rt.options.mode == DriveMode::kPerThread
                  ? kNoEngine
                  : was;
  if (rt.driver.joinable()) {
    rt.stop.store(true, std::memory_order_release);
    rt.driver_word.fetch_add(1);
    futex_wake_all(&rt.driver_word);
    rt.driver.join();
  }
  if (rt.options.mode == DriveMode::kLcores) stack->stop();
  drain_all(rt);  // nobody should be waiting, but never strand a poster
  for (std::uint16_t i = 0; i < stack->engine_count(); ++i)
    stack->engine(i).remove_poll_hooks(rt.rings[i].get());
  rt.stack.store(nullptr, std::memory_order_release);
  rt.rings.clear();
  for (auto& c : rt.claimed) c.store(false, std::memory_order_relaxed);
  rt.driver_cpu.store(-1, std::memory_order_relaxed);
  rt.options = {};
  rt.owned.reset();
}

void drain_requests() {
  tl_engine = kAllEngines;
  drain_all(g_runtime);
}

void poll() {
  Runtime& rt = g_runtime;
  Stack* stack = rt.stack.load(std::memory_order_acquire);
  if (stack == nullptr) return;
  if (rt.options.mode == DriveMode::kApplication) tl_engine = kAllEngines;
  if (tl_engine != kAllEngines) return;  // kInline: only the owner runs the engines
  if (rt.options.mode == DriveMode::kInline)
    poll_inline();
  else
    poll_engines(*stack);
}

int open_sockets() {
  return g_runtime.table.live_count();
}

std::uint64_t requests_posted() {
  std::uint64_t n = 0;
  for (const auto& ring : g_runtime.rings) n += ring->posted();
  return n;
}

}  // namespace shardtcp::sockets
