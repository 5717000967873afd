// The C calls of <sockets.h>. Each validates its arguments and the handle on the
// calling thread, then runs the native-layer part on the owning engine (inline on the
// engine thread, else as a request) and, for blocking calls, sleeps on the socket's
// event counter between tries. Errors: -1 and errno.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <rte_lcore.h>

#include "api/readiness_set.h"
#include "api/sockets_addr.h"
#include "api/sockets_internal.h"
#include "api/sockets_tcp_options.h"
#define SHARDTCP_NO_COMPAT  // this file uses the native layers' send/connect/...
#include "sockets.h"

namespace shardtcp::sockets {
namespace {

int fail(long err) {
  errno = static_cast<int>(-err);
  return -1;
}

std::int64_t timeval_ns(const timeval& tv) {
  return static_cast<std::int64_t>(tv.tv_sec) * 1000000000 +
         static_cast<std::int64_t>(tv.tv_usec) * 1000;
}

timeval ns_timeval(std::int64_t ns) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ns / 1000000000);
  tv.tv_usec = static_cast<suseconds_t>((ns % 1000000000) / 1000);
  return tv;
}

// The live entry of `h`, or null with the errno to report in *err.
SocketEntry* entry(int h, std::uint32_t* gen, long* err) {
  Runtime& rt = runtime();
  if (rt.stack.load(std::memory_order_acquire) == nullptr) {
    *err = -ENETDOWN;
    return nullptr;
  }
  SocketEntry* e = rt.table.lookup(h, gen);
  if (e == nullptr) *err = -ENOTSOCK;
  return e;
}

Stack& stack() {
  return *runtime().stack.load(std::memory_order_acquire);
}

// Retries `op` (run on the engine) while it says EAGAIN, waiting for the socket's
// events in between (wait_for_event), until `timeout_ns` (0: forever). Never waits
// when `nonblock` or inside an engine iteration.
// `attempt` runs on the calling thread (it posts to whichever engine it needs).
// A registered interrupt check (shardtcp_set_interrupt_check) whose count moved since
// the call began ends it with EINTR before it would wait again.
template <class F>
long blocking_attempts(SocketEntry& e, bool nonblock, std::int64_t timeout_ns, F&& attempt) {
  const std::int64_t deadline = timeout_ns > 0 ? now_ns() + timeout_ns : 0;
  unsigned (*const check)(int) = runtime().interrupt.load(std::memory_order_acquire);
  const int timed = timeout_ns > 0 ? 1 : 0;
  const unsigned mark = check != nullptr && !nonblock ? check(timed) : 0;
  for (;;) {
    const std::uint32_t seq = e.events.load();
    const long r = attempt();
    if (r != -EAGAIN || nonblock || wait_style() == WaitStyle::kNever) return r;
    if (check != nullptr && check(timed) != mark) return -EINTR;
    std::int64_t wait = -1;
    if (deadline != 0) {
      wait = deadline - now_ns();
      if (wait <= 0) return -EAGAIN;
    }
    wait_for_event(e.events, e.waiters, seq, wait);
  }
}

template <class F>
long blocking(SocketEntry& e, bool nonblock, std::int64_t timeout_ns, F&& op) {
  return blocking_attempts(e, nonblock, timeout_ns, [&]() -> long {
    // Back-pressure: a full request ring makes a non-blocking call fail with ENOBUFS
    // and a blocking one wait for room.
    return on_engine(e.engine, op, /*may_wait=*/!nonblock);
  });
}

bool still(int h, std::uint32_t gen) {
  return runtime().table.still(h, gen);
}

// Engine thread: the error a failed connect left, read once from the native layer and
// then remembered (connect() repeats it, as BSD stacks do until the socket is closed).
int take_connect_error(SocketEntry& e) {
  const int err = stack().engine_tcp(e.engine).pending_error(e.tcp);
  if (err > 0) e.last_error = err;
  e.has_error = false;
  refresh(e);
  return e.last_error != 0 ? e.last_error : ECONNABORTED;
}

// The calling thread: moves an unconnected TCP socket to engine `to_engine` (its
// bound address and options come along), because the tuple a connect() would make
// belongs to that engine. The handle keeps naming the engine it was created on.
long move_to_engine(int h, SocketEntry& e, std::uint32_t gen, std::uint16_t to_engine) {
  Endpoint local;
  const long closed = on_engine(e.engine, [&]() -> long {
    if (!still(h, gen)) return -ENOTSOCK;
    TcpLayer& tcp = stack().engine_tcp(e.engine);
    if (tcp.local_endpoint(e.tcp, &local) != 0) local = Endpoint{};
    tcp.set_callback(e.tcp, {});
    tcp.close(e.tcp);
    e.tcp = {};
    return 0;
  });
  if (closed < 0) return closed;
  return on_engine(to_engine, [&]() -> long {
    if (!still(h, gen)) return -ENOTSOCK;
    TcpLayer& tcp = stack().engine_tcp(to_engine);
    int err = 0;
    const TcpConnId id = tcp.open(
        TcpCallback{&on_tcp_event, reinterpret_cast<void*>(static_cast<std::uintptr_t>(h))}, &err);
    if (!id.valid()) return err != 0 ? err : -ENOBUFS;
    e.tcp = id;
    e.engine = to_engine;
    apply_tcp_options(tcp, id, e);
    // Only a bound port matters (it is why the socket moves); an address bound with
    // port 0 is left for connect() to fill in from the route.
    if (local.port != 0) {
      const int b = tcp.bind(id, local);
      if (b < 0) return b == -EAGAIN ? -EADDRINUSE : b;
    }
    return 0;
  });
}

long tcp_connect(int h, SocketEntry& e, std::uint32_t gen, const Endpoint& to) {
  const bool nonblock = e.nonblock.load() || wait_style() == WaitStyle::kNever;
  std::uint16_t owner = 0;
  auto start = [&]() -> long {
    if (!still(h, gen)) return -ENOTSOCK;
    TcpLayer& tcp = stack().engine_tcp(e.engine);
    if (e.listening) return -EOPNOTSUPP;
    if (e.connect_failed) return -take_connect_error(e);
    if (e.connected) return -EISCONN;
    if (e.connecting) return -EALREADY;
    // A directed broadcast of one of our subnets is as unusable as 255.255.255.255.
    if (stack().ip(e.engine).routes().is_subnet_broadcast(to.addr)) return -EADDRNOTAVAIL;
    if (e.connect_timeout_ns > 0) tcp.set_connect_timeout(e.tcp, Duration(e.connect_timeout_ns));
    e.connecting = true;
    const int c = tcp.connect(e.tcp, to, &owner);
    if (c < 0) {
      e.connecting = false;
      if (c == TcpLayer::kNotOwner) return TcpLayer::kNotOwner;
      return c == -EBADF ? -ENOTSOCK : c;
    }
    refresh(e);
    return -EINPROGRESS;
  };
  long r = on_engine(e.engine, start);
  if (r == TcpLayer::kNotOwner) {
    // The socket is bound to a port whose tuple another engine owns (the engine picks
    // owned ephemeral ports itself): the connection must live there.
    const long m = move_to_engine(h, e, gen, owner);
    if (m < 0) return m;
    r = on_engine(e.engine, start);
    if (r == TcpLayer::kNotOwner) return -EADDRNOTAVAIL;  // ownership moved again: give up
  }
  if (r != -EINPROGRESS || nonblock) return r;
  // Blocking: wait for kConnected or the error.
  return blocking(e, false, 0, [&]() -> long {
    if (!still(h, gen)) return -ENOTSOCK;
    if (e.connected) return 0;
    if (e.connect_failed) return -take_connect_error(e);
    if (e.connecting) return -EAGAIN;
    return -ECONNABORTED;
  });
}

long udp_connect(int h, SocketEntry& e, std::uint32_t gen, const Endpoint& to, bool unspec) {
  if (!unspec && (to.addr.is_unspecified() || to.port == 0)) return -EDESTADDRREQ;
  return on_engine(e.engine, [&]() -> long {
    if (!still(h, gen)) return -ENOTSOCK;
    const int r = stack().engine_udp(e.engine).connect(e.udp, unspec ? Endpoint{} : to);
    if (r == 0) e.connected = !unspec;
    refresh(e);
    return r;
  });
}

long tcp_send(int h, SocketEntry& e, std::uint32_t gen, const char* p, std::size_t len,
              bool nonblock, bool more) {
  std::size_t done = 0;
  while (done < len || len == 0) {
    const long r = blocking(e, nonblock, e.sndtimeo_ns.load(), [&]() -> long {
      if (!still(h, gen)) return -ENOTSOCK;
      if (e.wr_shut) return -EPIPE;
      const long n = stack().engine_tcp(e.engine).send(e.tcp, p + done, len - done, more);
      refresh(e);
      return n;
    });
    if (r < 0) return done > 0 ? static_cast<long>(done) : r;
    done += static_cast<std::size_t>(r);
    if (nonblock || len == 0) break;
  }
  return static_cast<long>(done);
}

// Reads into the caller's buffer at `p` (a copy), or with `reader` (in place; none:
// MSG_TRUNC's discard) when `p` is null.
struct StreamReader {
  char* p = nullptr;
  TcpLayer::InPlaceReader reader = nullptr;
  void* arg = nullptr;
  long take(TcpLayer& tcp, TcpConnId id, std::size_t done, std::size_t len, bool peek) const {
    return p != nullptr ? tcp.recv(id, p + done, len - done, peek)
                        : tcp.recv_in_place(id, len - done, peek, reader, arg);
  }
};

long tcp_recv(int h, SocketEntry& e, std::uint32_t gen, const StreamReader& rd, std::size_t len,
              int flags, bool nonblock) {
  const bool peek = (flags & MSG_PEEK) != 0;
  const bool all = (flags & MSG_WAITALL) != 0 && !peek && !nonblock;
  std::size_t done = 0;
  do {
    const long r = blocking(e, nonblock, e.rcvtimeo_ns.load(), [&]() -> long {
      if (!still(h, gen)) return -ENOTSOCK;
      if (e.rd_shut) return 0;
      if (e.listening) return -ENOTCONN;
      const long n = rd.take(stack().engine_tcp(e.engine), e.tcp, done, len, peek);
      refresh(e);
      return n;
    });
    if (r < 0) return done > 0 ? static_cast<long>(done) : r;
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  } while (all && done < len);
  return static_cast<long>(done);
}

}  // namespace
}  // namespace shardtcp::sockets

using namespace shardtcp;
using namespace shardtcp::sockets;

extern "C" {

int shardtcp_init(int argc, char** argv) {
  if (attached()) return fail(-EALREADY);
  std::vector<std::string> rest;
  auto st = Stack::create(argc, argv, &rest);
  if (!st) {
    std::fprintf(stderr, "shardtcp_init: %s\n", st.error().c_str());
    return fail(-EINVAL);
  }
  Stack& s = *st.value();
  // Engines on worker lcores when the EAL gave us one per engine (-l 0-N); else the
  // calling thread runs them all inline (run to completion), or a driver thread does
  // when SHARDTCP_SOCKETS_DRIVER=thread asks for one.
  AttachOptions ao;
  const char* driver = std::getenv("SHARDTCP_SOCKETS_DRIVER");
  const std::string want = driver != nullptr ? driver : "";
  if (!want.empty() && want != "inline" && want != "thread" && want != "lcores" &&
      want != "threads") {
    std::fprintf(stderr,
                 "shardtcp_init: SHARDTCP_SOCKETS_DRIVER=%s: want inline, thread, threads or "
                 "lcores\n",
                 want.c_str());
    return fail(-EINVAL);
  }
  const bool lcores = rte_lcore_count() > s.engine_count();
  if (want == "lcores" && !lcores) {
    std::fprintf(stderr,
                 "shardtcp_init: SHARDTCP_SOCKETS_DRIVER=lcores needs a worker lcore per engine\n");
    return fail(-EINVAL);
  }
  if (want == "thread")
    ao.mode = DriveMode::kOwnThread;
  else if (want == "threads")
    ao.mode = DriveMode::kPerThread;
  else if (want == "inline" || !lcores)
    ao.mode = DriveMode::kInline;
  else
    ao.mode = DriveMode::kLcores;
  const Status a = attach(s, ao);
  if (!a) {
    std::fprintf(stderr, "shardtcp_init: %s\n", a.message().c_str());
    return fail(-EINVAL);
  }
  adopt(std::move(st.value()));
  return 0;
}

int shardtcp_set_interrupt_check(shardtcp_interrupt_fn fn) {
  runtime().interrupt.store(fn, std::memory_order_release);
  return 0;
}

int shardtcp_poll(void) {
  if (!attached()) return fail(-ENETDOWN);
  if (wait_style() != WaitStyle::kPoll) return 0;
  return static_cast<int>(poll_inline());
}

int shardtcp_fini(void) {
  if (!attached()) return fail(-ENETDOWN);
  detach();
  return 0;
}

int shardtcp_socket(int family, int type, int protocol) {
  Runtime& rt = runtime();
  Stack* stk = rt.stack.load(std::memory_order_acquire);
  if (stk == nullptr) return fail(-ENETDOWN);
  if (family != AF_INET && family != AF_INET6) return fail(-EAFNOSUPPORT);
  const bool nonblock = (type & SOCK_NONBLOCK) != 0;
  type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (type != SOCK_STREAM && type != SOCK_DGRAM) return fail(-ESOCKTNOSUPPORT);
  if (protocol != 0 && protocol != (type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP))
    return fail(-EPROTONOSUPPORT);
  // TCP sockets are spread over the engines (a connect picks a local port whose
  // tuple its engine owns); UDP datagrams are all steered to the home engine, so UDP
  // sockets live there.
  // A thread that runs an engine of its own (kPerThread) keeps its TCP sockets there.
  std::uint16_t own = 0;
  const bool has_own = thread_engine(&own);
  const auto engine =
      type == SOCK_DGRAM && stk->engine_count() > 1 ? stk->config().steering.home_engine
      : has_own                                     ? own
                : static_cast<std::uint16_t>(rt.next_engine.fetch_add(1) % stk->engine_count());
  const int h = rt.table.allocate(engine);
  if (h < 0) return fail(-EMFILE);
  SocketEntry& e = rt.table.at(h);
  e.type = type;
  e.family = family;
  e.nonblock.store(nonblock);
  const long r = on_engine(e.engine, [&]() -> long {
    int err = 0;
    if (type == SOCK_STREAM) {
      TcpConnId id = stk->engine_tcp(e.engine).open(
          TcpCallback{&on_tcp_event, reinterpret_cast<void*>(static_cast<std::uintptr_t>(h))},
          &err);
      if (!id.valid()) return err != 0 ? err : -ENOBUFS;
      e.tcp = id;
    } else {
      UdpSocketId id = stk->engine_udp(e.engine).open(
          [h](UdpSocketId u, UdpEvent ev) { on_udp_event(h, u, ev); },
          family == AF_INET6 ? IpFamily::kV6 : IpFamily::kV4, &err);
      if (!id.valid()) return err != 0 ? err : -ENOBUFS;
      e.udp = id;
    }
    rt.table.make_live(h);
    refresh(e);
    return 0;
  });
  if (r < 0) {
    rt.table.release(h);
    return fail(r == -ENFILE ? -ENOBUFS : r);
  }
  return h;
}

int shardtcp_bind(int s, const void* addr, socklen_t addrlen) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  Endpoint ep;
  if (const long r = parse_addr(addr, addrlen, &ep, *e, AddrUse::kLocal); r < 0) return fail(r);
  const long r = on_engine(e->engine, [&]() -> long {
    if (!still(s, gen)) return -ENOTSOCK;
    const int b = e->type == SOCK_STREAM ? stack().engine_tcp(e->engine).bind(e->tcp, ep)
                                         : stack().engine_udp(e->engine).bind(e->udp, ep);
    return b == -EAGAIN ? -EADDRINUSE : b;
  });
  return r < 0 ? fail(r) : 0;
}

// Engine `k`'s thread: closes listener `id` of a group (its pending connections go
// with it).
void close_listener(std::uint16_t k, TcpConnId id) {
  TcpLayer& tcp = stack().engine_tcp(k);
  tcp.set_callback(id, {});
  tcp.close(id);
}

int shardtcp_listen(int s, int backlog) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  if (e->type != SOCK_STREAM) return fail(-EOPNOTSUPP);
  if (backlog <= 0) backlog = 1;
  const std::uint16_t engines = stack().engine_count();
  Endpoint local;
  bool fresh = false;
  const long r = on_engine(e->engine, [&]() -> long {
    if (!still(s, gen)) return -ENOTSOCK;
    if (e->listening) return 0;
    if (e->connecting || e->connected) return -EINVAL;
    TcpLayer& tcp = stack().engine_tcp(e->engine);
    if (tcp.local_endpoint(e->tcp, &local) != 0 || local.port == 0) {
      // Unbound: Linux binds an ephemeral port first; we do the same.
      // A dual-stack IPv6 socket listens on both families (IpAddr{}), as Linux's `::`.
      const IpAddr any = e->family == AF_INET ? IpAddr::v4(0)
                         : e->v6only.load()   ? IpAddr::v6(&in6addr_any.s6_addr[0])
                                              : IpAddr{};
      const int b = tcp.bind(e->tcp, Endpoint{any, 0});
      if (b < 0) return b;
      tcp.local_endpoint(e->tcp, &local);
    }
    const int l = tcp.listen(e->tcp, static_cast<std::uint32_t>(backlog));
    if (l != 0) return l;
    auto group = std::make_unique<ListenGroup>();
    group->ids.assign(engines, TcpConnId{});
    group->ids[e->engine] = e->tcp;
    e->group = std::move(group);
    e->listening = true;
    fresh = true;
    refresh(*e);
    return 0;
  });
  if (r < 0) return fail(r);
  if (!fresh) return 0;
  // The same address on every other engine: each accepts the SYNs it owns.
  for (std::uint16_t k = 0; k < engines; ++k) {
    if (k == e->engine) continue;
    const long lk = on_engine(k, [&]() -> long {
      if (!still(s, gen)) return -ENOTSOCK;
      TcpLayer& tcp = stack().engine_tcp(k);
      int oerr = 0;
      const TcpConnId id = tcp.open(
          TcpCallback{&on_tcp_event, reinterpret_cast<void*>(static_cast<std::uintptr_t>(s))},
          &oerr);
      if (!id.valid()) return oerr != 0 ? oerr : -ENOBUFS;
      apply_tcp_options(tcp, id, *e);  // its connections inherit them
      int c = tcp.bind(id, local);
      if (c == 0) c = tcp.listen(id, static_cast<std::uint32_t>(backlog));
      if (c != 0) {
        close_listener(k, id);
        return c == -EAGAIN ? -EADDRINUSE : c;
      }
      e->group->ids[k] = id;  // read by engine k only (and by close, after it)
      return 0;
    });
    if (lk < 0) {
      // Nothing stays listening: undo the engines done so far, then our own.
      for (std::uint16_t j = 0; j < k; ++j) {
        if (j == e->engine) continue;
        on_engine(j, [&]() -> long {
          close_listener(j, e->group->ids[j]);
          e->group->ids[j] = {};
          return 0;
        });
      }
      on_engine(e->engine, [&]() -> long {
        TcpLayer& tcp = stack().engine_tcp(e->engine);
        tcp.set_callback(e->tcp, {});
        tcp.close(e->tcp);
        e->listening = false;
        e->group.reset();
        int oerr = 0;
        e->tcp = tcp.open(
            TcpCallback{&on_tcp_event, reinterpret_cast<void*>(static_cast<std::uintptr_t>(s))},
            &oerr);
        refresh(*e);
        return 0;
      });
      return fail(lk);
    }
  }
  return 0;
}

int shardtcp_accept(int s, void* addr, socklen_t* addrlen) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  if (e->type != SOCK_STREAM) return fail(-EOPNOTSUPP);
  if (addr != nullptr && addrlen == nullptr) return fail(-EFAULT);
  Endpoint peer;
  Runtime& rt = runtime();
  const bool nonblock = e->nonblock.load();
  // One engine's accept queue (run on engine k).
  auto accept_on = [&](std::uint16_t k) -> long {
    if (!still(s, gen)) return -ENOTSOCK;
    ListenGroup& g = *e->group;
    TcpLayer& tcp = stack().engine_tcp(k);
    int aerr = 0;
    const TcpConnId c = tcp.accept(g.ids[k], &aerr, &peer);
    if (!c.valid()) {
      g.acceptable.fetch_and(~(1u << k), std::memory_order_acq_rel);
      refresh(*e);
      return aerr != 0 ? aerr : -EAGAIN;
    }
    const int nh = rt.table.allocate(k);
    if (nh < 0) {
      tcp.abort(c);
      return -EMFILE;
    }
    SocketEntry& n = rt.table.at(nh);
    n.type = SOCK_STREAM;
    n.family = e->family;
    n.v6only.store(e->v6only.load(std::memory_order_relaxed), std::memory_order_relaxed);
    n.tcp = c;
    n.connected = true;
    const TcpState st = tcp.state(c);
    n.peer_fin = st == TcpState::kCloseWait || st == TcpState::kLastAck ||
                 st == TcpState::kClosing || st == TcpState::kClosed || st == TcpState::kTimeWait;
    tcp.set_callback(
        c, TcpCallback{&on_tcp_event, reinterpret_cast<void*>(static_cast<std::uintptr_t>(nh))});
    rt.table.make_live(nh);
    refresh(n);
    // The last queued connection taken: the listener is no longer readable, so
    // select()/poll() do not report it until the next one arrives (else a program that
    // accepts on a blocking listener after select() blocks there).
    if (!tcp.has_pending_accept(g.ids[k]))
      g.acceptable.fetch_and(~(1u << k), std::memory_order_acq_rel);
    refresh(*e);
    return nh;
  };
  const long r = blocking_attempts(*e, nonblock, e->rcvtimeo_ns.load(), [&]() -> long {
    if (!still(s, gen)) return -ENOTSOCK;
    if (!e->listening || e->group == nullptr) return -EINVAL;
    ListenGroup& g = *e->group;
    const auto n = static_cast<std::uint16_t>(g.ids.size());
    // Fair: start at the engine after the one that gave the last connection, and try
    // only engines that reported a pending connection.
    const std::uint32_t start = g.next.load(std::memory_order_relaxed);
    std::uint32_t mask = g.acceptable.load(std::memory_order_acquire);
    // A thread running an engine of its own takes only that engine's connections (as
    // each SO_REUSEPORT socket of a group gets its share); other threads take any.
    std::uint16_t own = 0;
    if (thread_engine(&own)) mask &= 1u << own;
    for (std::uint16_t i = 0; i < n; ++i) {
      const auto k = static_cast<std::uint16_t>((start + i) % n);
      if ((mask & (1u << k)) == 0) continue;
      const long a = on_engine(
          k, [&]() -> long { return accept_on(k); }, !nonblock);
      if (a == -EAGAIN) continue;
      if (a >= 0) g.next.store(k + 1u, std::memory_order_relaxed);
      return a;
    }
    return -EAGAIN;
  });
  if (r < 0) return fail(r);
  if (addr != nullptr) write_addr(peer, addr, addrlen, e->family);
  return static_cast<int>(r);
}

int shardtcp_connect(int s, const void* addr, socklen_t addrlen) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  Endpoint to;
  const long p = parse_addr(addr, addrlen, &to, *e, AddrUse::kPeer,
                            /*allow_unspec=*/e->type == SOCK_DGRAM);
  if (p < 0) return fail(p);
  const long r =
      e->type == SOCK_STREAM ? tcp_connect(s, *e, gen, to) : udp_connect(s, *e, gen, to, p == 1);
  return r < 0 ? fail(r) : 0;
}

int shardtcp_send(int s, const void* buf, int len, int flags) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  if (len < 0) return fail(-EINVAL);
  if (buf == nullptr && len > 0) return fail(-EFAULT);
  const bool nonblock = e->nonblock.load() || (flags & MSG_DONTWAIT) != 0;
  long r;
  if (e->type == SOCK_STREAM) {
    r = tcp_send(s, *e, gen, static_cast<const char*>(buf), static_cast<std::size_t>(len), nonblock,
                 (flags & MSG_MORE) != 0);
  } else {
    r = on_engine(e->engine, [&]() -> long {
      if (!still(s, gen)) return -ENOTSOCK;
      if (e->wr_shut) return -EPIPE;
      return stack().engine_udp(e->engine).send(e->udp, buf, static_cast<std::size_t>(len));
    });
  }
  return r < 0 ? fail(r) : static_cast<int>(r);
}

int shardtcp_recv(int s, void* buf, int len, int flags) {
  return shardtcp_recvfrom(s, buf, len, flags, nullptr, nullptr);
}

int shardtcp_sendto(int s, const void* buf, int len, int flags, const void* to, socklen_t tolen) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  if (e->type == SOCK_STREAM || to == nullptr) return shardtcp_send(s, buf, len, flags);
  if (len < 0) return fail(-EINVAL);
  if (buf == nullptr && len > 0) return fail(-EFAULT);
  Endpoint dst;
  if (const long p = parse_addr(to, tolen, &dst, *e, AddrUse::kPeer); p < 0) return fail(p);
  if (dst.port == 0) return fail(-EINVAL);
  const long r = on_engine(e->engine, [&]() -> long {
    if (!still(s, gen)) return -ENOTSOCK;
    if (e->wr_shut) return -EPIPE;
    return stack().engine_udp(e->engine).send_to(e->udp, buf, static_cast<std::size_t>(len), dst);
  });
  return r < 0 ? fail(r) : static_cast<int>(r);
}

int shardtcp_recvfrom(int s, void* buf, int len, int flags, void* from, socklen_t* fromlen) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  if (len < 0) return fail(-EINVAL);
  // MSG_TRUNC on a stream socket discards what it reads (as Linux's TCP does): no
  // buffer is needed, and none is written.
  const bool discard = e->type == SOCK_STREAM && (flags & MSG_TRUNC) != 0;
  if (buf == nullptr && len > 0 && !discard) return fail(-EFAULT);
  if (from != nullptr && fromlen == nullptr) return fail(-EFAULT);
  const bool nonblock = e->nonblock.load() || (flags & MSG_DONTWAIT) != 0;
  long r;
  Endpoint src;
  if (e->type == SOCK_STREAM) {
    const StreamReader rd{discard ? nullptr : static_cast<char*>(buf)};
    r = tcp_recv(s, *e, gen, rd, static_cast<std::size_t>(len), flags, nonblock);
    if (r >= 0 && from != nullptr) {
      on_engine(e->engine, [&]() -> long {
        return still(s, gen) ? stack().engine_tcp(e->engine).remote_endpoint(e->tcp, &src) : 0;
      });
    }
  } else {
    r = blocking(*e, nonblock, e->rcvtimeo_ns.load(), [&]() -> long {
      if (!still(s, gen)) return -ENOTSOCK;
      if (e->rd_shut) return 0;
      const long n = stack().engine_udp(e->engine).recv_from(
          e->udp, buf, static_cast<std::size_t>(len), &src, (flags & MSG_PEEK) ? kUdpPeek : 0);
      if (n < 0 && n != -EAGAIN) e->has_error = false;  // the pending error was returned
      refresh(*e);
      return n;
    });
  }
  if (r < 0) return fail(r);
  if (from != nullptr) write_addr(src, from, fromlen, e->family);
  return static_cast<int>(r);
}

int shardtcp_recv_inplace(int s, int len, int flags, shardtcp_reader_fn fn, void* user) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  if (e->type != SOCK_STREAM) return fail(-EOPNOTSUPP);
  if (len < 0) return fail(-EINVAL);
  if (fn == nullptr) return fail(-EFAULT);
  // The C callback's shape, (data, len, user), from the layer's (arg, data, n).
  struct Call {
    shardtcp_reader_fn fn;
    void* user;
    static void run(void* arg, const std::uint8_t* data, std::uint32_t n) {
      const auto* c = static_cast<const Call*>(arg);
      c->fn(data, static_cast<int>(n), c->user);
    }
  } call{fn, user};
  const bool nonblock = e->nonblock.load() || (flags & MSG_DONTWAIT) != 0;
  const StreamReader rd{nullptr, &Call::run, &call};
  const long r = tcp_recv(s, *e, gen, rd, static_cast<std::size_t>(len), flags, nonblock);
  return r < 0 ? fail(r) : static_cast<int>(r);
}

int shardtcp_closesocket(int s) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  Runtime& rt = runtime();
  // A listener's other engines first (their pending connections are reset there).
  if (e->group != nullptr) {
    for (std::uint16_t k = 0; k < e->group->ids.size(); ++k) {
      if (k == e->engine || !e->group->ids[k].valid()) continue;
      on_engine(k, [&]() -> long {
        if (!still(s, gen)) return -ENOTSOCK;
        close_listener(k, e->group->ids[k]);
        e->group->ids[k] = {};
        return 0;
      });
    }
  }
  // SO_LINGER with a time, called from an ordinary thread (blocking or not, as on
  // Linux): send the FIN after the data, then wait until all of it and the FIN are
  // acknowledged or the time passes; when it passes the connection is reset (the
  // unacknowledged data is discarded), as Winsock's closesocket does. Inside an engine
  // iteration nothing may block: the close is the ordinary graceful one.
  bool linger_expired = false;
  if (e->type == SOCK_STREAM && wait_style() != WaitStyle::kNever) {
    int linger_sec = 0;
    const long started = on_engine(e->engine, [&]() -> long {
      if (!still(s, gen)) return -ENOTSOCK;
      if (!e->linger_on || e->linger_sec <= 0 || !e->connected || e->listening) return 0;
      linger_sec = e->linger_sec;
      // The FIN after the data; the id stays ours (a close would release it) and the
      // callback stays, so ACKs wake us.
      stack().engine_tcp(e->engine).shutdown_write(e->tcp);
      return 1;
    });
    if (started < 0) return fail(started);
    if (started == 1) {
      const std::int64_t deadline = now_ns() + std::int64_t{linger_sec} * 1000000000;
      for (;;) {
        const std::uint32_t seq = e->events.load();
        const long done = on_engine(e->engine, [&]() -> long {
          if (!still(s, gen)) return -ENOTSOCK;
          const TcpState st = stack().engine_tcp(e->engine).state(e->tcp);
          return st == TcpState::kFinWait2 || st == TcpState::kTimeWait || st == TcpState::kClosed
                     ? 1
                     : 0;
        });
        if (done != 0) break;  // acknowledged (or the handle went: reported below)
        const std::int64_t left = deadline - now_ns();
        if (left <= 0) {
          linger_expired = true;
          break;
        }
        // The last ACK raises no socket event of its own: look again every 2 ms.
        wait_for_event(e->events, e->waiters, seq, std::min<std::int64_t>(left, 2000000));
      }
    }
  }
  const long r = on_engine(e->engine, [&]() -> long {
    if (!still(s, gen)) return -ENOTSOCK;
    if (e->type == SOCK_STREAM) {
      TcpLayer& tcp = stack().engine_tcp(e->engine);
      tcp.set_callback(e->tcp, {});
      if (linger_expired)
        tcp.abort(e->tcp);
      else
        tcp.close(e->tcp);
    } else {
      stack().engine_udp(e->engine).close(e->udp);
    }
    e->tcp = {};
    e->udp = {};
    unwatch(*e);
    rt.table.release(s);
    refresh(*e);
    e->ready.store(0);
    wake_waiters(*e);  // anyone blocked on it finds the handle gone
    return 0;
  });
  return r < 0 ? fail(r) : 0;
}

int shardtcp_shutdown(int s, int how) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return fail(-EINVAL);
  const long r = on_engine(e->engine, [&]() -> long {
    if (!still(s, gen)) return -ENOTSOCK;
    if (!e->connected) return -ENOTCONN;
    if (how != SHUT_WR && !e->rd_shut) {
      e->rd_shut = true;
      if (e->type == SOCK_STREAM) stack().engine_tcp(e->engine).shutdown_read(e->tcp);
    }
    if (how != SHUT_RD && !e->wr_shut) {
      e->wr_shut = true;
      if (e->type == SOCK_STREAM) {
        const int w = stack().engine_tcp(e->engine).shutdown_write(e->tcp);
        if (w < 0 && w != -ENOTCONN) return w;
      }
    }
    refresh(*e);
    return 0;
  });
  return r < 0 ? fail(r) : 0;
}

int shardtcp_setsockopt(int s, int level, int name, const void* val, socklen_t len) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  if (val == nullptr) return fail(-EFAULT);
  const bool tcp = e->type == SOCK_STREAM;
  auto int_val = [&](int* out) -> long {
    if (len < static_cast<socklen_t>(sizeof(int))) return -EINVAL;
    std::memcpy(out, val, sizeof(int));
    return 0;
  };
  auto tv_val = [&](std::int64_t* out) -> long {
    if (len < static_cast<socklen_t>(sizeof(timeval))) return -EINVAL;
    timeval tv;
    std::memcpy(&tv, val, sizeof tv);
    if (tv.tv_sec < 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000) return -EDOM;
    *out = timeval_ns(tv);
    return 0;
  };
  int v = 0;
  long r = 0;
  if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
    std::int64_t ns = 0;
    if ((r = tv_val(&ns)) < 0) return fail(r);
    (name == SO_RCVTIMEO ? e->rcvtimeo_ns : e->sndtimeo_ns).store(ns);
    return 0;
  }
  if (level == SOL_SOCKET && name == SHARDTCP_SO_CONNECT_TIMEOUT) {
    std::int64_t ns = 0;
    if ((r = tv_val(&ns)) < 0) return fail(r);
    if (!tcp) return fail(-ENOPROTOOPT);
    r = on_engine(e->engine, [&]() -> long {
      if (!still(s, gen)) return -ENOTSOCK;
      if (e->connecting || e->connected) return -EISCONN;
      e->connect_timeout_ns = ns;
      return 0;
    });
    return r < 0 ? fail(r) : 0;
  }
  linger lg{};
  if (level == SOL_SOCKET && name == SO_LINGER) {
    if (len < static_cast<socklen_t>(sizeof lg)) return fail(-EINVAL);
    std::memcpy(&lg, val, sizeof lg);
  } else if ((r = int_val(&v)) < 0) {
    return fail(r);
  }
  r = on_engine(e->engine, [&]() -> long {
    if (!still(s, gen)) return -ENOTSOCK;
    Stack& st = stack();
    if (level == IPPROTO_TCP) {
      if (!tcp) return -ENOPROTOOPT;
      return set_tcp_option(st.engine_tcp(e->engine), *e, name, v);
    }
    if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY) return set_v6only(st, s, *e, v != 0);
    if (level != SOL_SOCKET) return -ENOPROTOOPT;
    switch (name) {
      case SO_REUSEADDR:
        e->reuseaddr = v != 0;
        return tcp ? st.engine_tcp(e->engine).set_reuse_addr(e->tcp, v != 0)
                   : st.engine_udp(e->engine).set_reuse_addr(e->udp, v != 0);
      case SO_KEEPALIVE:
        if (!tcp) return -ENOPROTOOPT;
        e->keepalive = v != 0;
        return set_keepalive_options(st.engine_tcp(e->engine), e->tcp, *e);
      case SO_LINGER:
        if (!tcp) return -ENOPROTOOPT;
        e->linger_on = lg.l_onoff != 0;
        e->linger_sec = lg.l_linger;
        // On with zero time: RST on close (the native layer's linger-zero). On with a
        // time: closesocket() waits for the ACK of everything sent (see there).
        return st.engine_tcp(e->engine).set_linger_zero(e->tcp,
                                                        lg.l_onoff != 0 && lg.l_linger == 0);
      case SO_RCVBUF: {
        if (v <= 0) return -EINVAL;
        e->rcvbuf = v;
        const int b =
            tcp ? st.engine_tcp(e->engine).set_recv_buffer(e->tcp, static_cast<std::uint32_t>(v))
                : st.engine_udp(e->engine).set_rcvbuf(e->udp, static_cast<std::size_t>(v));
        return b;
      }
      case SO_SNDBUF:
        if (v <= 0) return -EINVAL;
        e->sndbuf = v;
        return tcp ? st.engine_tcp(e->engine).set_send_buffer(e->tcp, static_cast<std::uint32_t>(v))
                   : 0;
      default:
        return -ENOPROTOOPT;
    }
  });
  if (r == -EBADF) r = -ENOTSOCK;
  return r < 0 ? fail(r) : 0;
}

int shardtcp_getsockopt(int s, int level, int name, void* val, socklen_t* len) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  if (val == nullptr || len == nullptr) return fail(-EFAULT);
  const bool tcp = e->type == SOCK_STREAM;
  auto put = [&](const void* p, socklen_t n) -> int {
    if (*len < n) return fail(-EINVAL);
    std::memcpy(val, p, n);
    *len = n;
    return 0;
  };
  if (level == SOL_SOCKET &&
      (name == SO_RCVTIMEO || name == SO_SNDTIMEO || name == SHARDTCP_SO_CONNECT_TIMEOUT)) {
    std::int64_t ns = name == SO_RCVTIMEO   ? e->rcvtimeo_ns.load()
                      : name == SO_SNDTIMEO ? e->sndtimeo_ns.load()
                                            : 0;
    if (name == SHARDTCP_SO_CONNECT_TIMEOUT)
      on_engine(e->engine, [&]() -> long {
        ns = e->connect_timeout_ns;
        return 0;
      });
    const timeval tv = ns_timeval(ns);
    return put(&tv, sizeof tv);
  }
  if (level == SOL_SOCKET && name == SO_TYPE) {
    const int t = e->type;
    return put(&t, sizeof t);
  }
  linger lg{};
  tcp_info ti{};
  int v = 0;
  const long r = on_engine(e->engine, [&]() -> long {
    if (!still(s, gen)) return -ENOTSOCK;
    Stack& st = stack();
    if (level == IPPROTO_TCP) {
      if (!tcp) return -ENOPROTOOPT;
      if (name == TCP_INFO) {
        const long i = get_tcp_info(st.engine_tcp(e->engine), *e, &ti);
        return i < 0 ? i : 2;
      }
      return get_tcp_option(st.engine_tcp(e->engine), *e, name, &v);
    }
    if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY) {
      if (e->family != AF_INET6) return -ENOPROTOOPT;
      v = e->v6only.load() ? 1 : 0;
      return 0;
    }
    if (level != SOL_SOCKET) return -ENOPROTOOPT;
    switch (name) {
      case SO_ERROR: {
        int pe = tcp ? st.engine_tcp(e->engine).pending_error(e->tcp)
                     : st.engine_udp(e->engine).pending_error(e->udp);
        if (pe < 0) pe = 0;
        if (tcp && e->connect_failed && pe > 0) e->last_error = pe;
        e->has_error = false;
        refresh(*e);
        v = pe;
        return 0;
      }
      case SO_REUSEADDR:
        v = e->reuseaddr;
        return 0;
      case SO_KEEPALIVE:
        v = e->keepalive;
        return 0;
      case SO_RCVBUF:
        v = e->rcvbuf != 0 ? e->rcvbuf
            : tcp          ? static_cast<int>(st.config().tcp.defaults.recv_buffer)
                           : static_cast<int>(st.config().udp.default_rcvbuf);
        return 0;
      case SO_SNDBUF:
        v = e->sndbuf != 0 ? e->sndbuf : static_cast<int>(st.config().tcp.defaults.send_buffer);
        return 0;
      case SO_LINGER:
        lg.l_onoff = e->linger_on;
        lg.l_linger = e->linger_sec;
        return 1;
      default:
        return -ENOPROTOOPT;
    }
  });
  if (r < 0) return fail(r);
  if (r == 1) return put(&lg, sizeof lg);
  if (r == 2) {
    // Linux copies as much of struct tcp_info as the caller's buffer holds.
    const socklen_t n = std::min<socklen_t>(*len, sizeof ti);
    std::memcpy(val, &ti, n);
    *len = n;
    return 0;
  }
  return put(&v, sizeof v);
}

int shardtcp_getsockname(int s, void* addr, socklen_t* len) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  if (addr == nullptr || len == nullptr) return fail(-EFAULT);
  Endpoint ep;
  const long r = on_engine(e->engine, [&]() -> long {
    if (!still(s, gen)) return -ENOTSOCK;
    // An unbound socket has no local endpoint: it shows 0.0.0.0:0, not an error.
    if (e->type == SOCK_STREAM) {
      stack().engine_tcp(e->engine).local_endpoint(e->tcp, &ep);
    } else {
      stack().engine_udp(e->engine).local_endpoint(e->udp, &ep);
    }
    return 0;
  });
  if (r < 0) return fail(r);
  return static_cast<int>(write_addr(ep, addr, len, e->family));
}

int shardtcp_getpeername(int s, void* addr, socklen_t* len) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  if (addr == nullptr || len == nullptr) return fail(-EFAULT);
  Endpoint ep;
  const long r = on_engine(e->engine, [&]() -> long {
    if (!still(s, gen)) return -ENOTSOCK;
    if (e->type == SOCK_STREAM) {
      if (!e->connected) return -ENOTCONN;
      return stack().engine_tcp(e->engine).remote_endpoint(e->tcp, &ep);
    }
    return stack().engine_udp(e->engine).peer_endpoint(e->udp, &ep);
  });
  if (r < 0) return fail(r);
  return static_cast<int>(write_addr(ep, addr, len, e->family));
}

int shardtcp_ioctlsocket(int s, int request, void* arg) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  if (arg == nullptr) return fail(-EFAULT);
  if (static_cast<unsigned long>(request) == FIONBIO) {
    int on = 0;
    std::memcpy(&on, arg, sizeof on);
    e->nonblock.store(on != 0);
    return 0;
  }
  if (static_cast<unsigned long>(request) == FIONREAD) {
    const long r = on_engine(e->engine, [&]() -> long {
      if (!still(s, gen)) return -ENOTSOCK;
      if (e->type == SOCK_STREAM) {
        const long n = stack().engine_tcp(e->engine).readable_bytes(e->tcp);
        return n < 0 ? 0 : n;
      }
      const long n = stack().engine_udp(e->engine).next_datagram_size(e->udp);
      return n < 0 ? 0 : n;
    });
    if (r < 0) return fail(r);
    const int n = static_cast<int>(r);
    std::memcpy(arg, &n, sizeof n);
    return 0;
  }
  return fail(-EINVAL);
}

int shardtcp_set_event_callback(int s, shardtcp_event_fn fn, void* user) {
  long err = 0;
  std::uint32_t gen = 0;
  SocketEntry* e = entry(s, &gen, &err);
  if (e == nullptr) return fail(err);
  const long r = on_engine(e->engine, [&]() -> long {
    if (!still(s, gen)) return -ENOTSOCK;
    e->event_fn = fn;
    e->event_user = user;
    return 0;
  });
  return r < 0 ? fail(r) : 0;
}

int shardtcp_select(int nfds, shardtcp_fd_set* rd, shardtcp_fd_set* wr, shardtcp_fd_set* ex,
                    struct timeval* timeout) {
  Runtime& rt = runtime();
  if (rt.stack.load(std::memory_order_acquire) == nullptr) return fail(-ENETDOWN);
  if (nfds < 0) return fail(-EINVAL);
  std::int64_t wait_ns = -1;
  if (timeout != nullptr) {
    if (timeout->tv_sec < 0 || timeout->tv_usec < 0) return fail(-EINVAL);
    wait_ns = timeval_ns(*timeout);
  }
  shardtcp_fd_set* sets[3] = {rd, wr, ex};
  constexpr std::uint32_t kWant[3] = {kReadable, kWritable, kErrorBit};
  // Every handle in the sets must be a live socket.
  for (shardtcp_fd_set* set : sets) {
    if (set == nullptr) continue;
    if (set->count > SHARDTCP_FD_SETSIZE) return fail(-EINVAL);
    for (unsigned i = 0; i < set->count; ++i)
      if (rt.table.lookup(set->handles[i]) == nullptr) return fail(-ENOTSOCK);
  }
  const std::int64_t deadline = wait_ns > 0 ? now_ns() + wait_ns : 0;
  for (;;) {
    const std::uint32_t epoch = rt.epoch.load();
    unsigned ready[3] = {0, 0, 0};
    for (int k = 0; k < 3; ++k) {
      if (sets[k] == nullptr) continue;
      for (unsigned i = 0; i < sets[k]->count; ++i) {
        SocketEntry* e = rt.table.lookup(sets[k]->handles[i]);
        if (e != nullptr && (e->ready.load(std::memory_order_acquire) & kWant[k]) != 0) ++ready[k];
      }
    }
    const unsigned count = ready[0] + ready[1] + ready[2];
    std::int64_t left = -1;
    if (wait_ns == 0) {
      left = 0;
    } else if (deadline != 0) {
      left = deadline - now_ns();
      if (left < 0) left = 0;
    }
    const bool never = wait_style() == WaitStyle::kNever;
    if (count > 0 || left == 0 || never) {
      // Keep the ready handles of each set, in order (a socket that became ready since
      // the count is kept too; one that stopped being ready is dropped).
      unsigned total = 0;
      for (int k = 0; k < 3; ++k) {
        if (sets[k] == nullptr) continue;
        unsigned kept = 0;
        for (unsigned i = 0; i < sets[k]->count; ++i) {
          const int h = sets[k]->handles[i];
          SocketEntry* e = rt.table.lookup(h);
          if (e != nullptr && (e->ready.load(std::memory_order_acquire) & kWant[k]) != 0)
            sets[k]->handles[kept++] = h;
        }
        sets[k]->count = kept;
        total += kept;
      }
      if (total > 0 || left == 0 || never) return static_cast<int>(total);
      continue;
    }
    // Rescan only once some socket's readiness came on (the epoch moved) or the time is
    // up: an engine thread's wait is one engine iteration, and a scan of the sets costs
    // a handle lookup per entry (with 16 handles, as much again as an idle iteration).
    do {
      wait_for_event(rt.epoch, rt.epoch_waiters, epoch, left);
      if (deadline != 0 && (left = deadline - now_ns()) <= 0) break;
    } while (rt.epoch.load(std::memory_order_acquire) == epoch);
  }
}

}  // extern "C"
