// An echo workload that runs on the engines' own threads: a server stack listens on
// every engine and echoes; a client stack runs, on each engine, a poll hook that opens
// connections (each engine picks ports it owns) and drives them:
//   kCrr  connect, send a request, read the echo, close; repeat (connections/s)
//   kRr   a fixed set of connections ping-pong requests (transactions/s)
// Every echo is compared byte for byte with what was sent, and every callback checks
// that the engine running it owns the connection's tuple. State is per engine (no
// sharing); the only cross-thread traffic is a few relaxed atomics the main thread
// reads. Used by test/engine/sharded_threads_test.cc and bench/scaling/scaling.cc.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shardtcp/stack.h"

namespace shardtcp::workload {

enum class Mode : std::uint8_t { kCrr, kRr };

inline std::uint8_t pattern(std::uint32_t conn, std::uint32_t i) {
  return static_cast<std::uint8_t>(conn * 131 + i * 7 + (i >> 8));
}

// The per-engine counters the main thread reads.
struct Tally {
  std::atomic<std::uint64_t> transactions{0};  // verified echoes
  std::atomic<std::uint64_t> connections{0};   // connections completed (CRR)
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> owner_mismatches{0};
  std::atomic<std::uint64_t> owner_checks{0};
};

inline void check_owner(Stack& s, std::uint16_t e, TcpConnId id, Tally& t) {
  Endpoint l, r;
  if (s.engine_tcp(e).local_endpoint(id, &l) != 0 || s.engine_tcp(e).remote_endpoint(id, &r) != 0)
    return;
  t.owner_checks.fetch_add(1, std::memory_order_relaxed);
  if (s.owner(TcpTuple{l, r}) != e) t.owner_mismatches.fetch_add(1, std::memory_order_relaxed);
}

// Echo server on one engine.
struct ServerEngine {
  Stack* stack = nullptr;
  std::uint16_t engine = 0;
  TcpConnId listener;
  Tally tally;

  static void cb(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t) {
    auto* self = static_cast<ServerEngine*>(user);
    TcpLayer& tcp = self->stack->engine_tcp(self->engine);
    switch (ev) {
      case TcpSocketEvent::kAcceptable:
        for (;;) {
          const TcpConnId c = tcp.accept(id);
          if (!c.valid()) break;
          check_owner(*self->stack, self->engine, c, self->tally);
        }
        break;
      case TcpSocketEvent::kReadable: {
        char buf[4096];
        for (;;) {
          const long n = tcp.recv(id, buf, sizeof buf);
          if (n <= 0) break;
          if (tcp.send(id, buf, static_cast<std::size_t>(n)) != n)
            self->tally.failures.fetch_add(1, std::memory_order_relaxed);
        }
        break;
      }
      case TcpSocketEvent::kPeerFin:
      case TcpSocketEvent::kError:
        tcp.close(id);
        break;
      default:
        break;
    }
  }
};

// Client side of one engine, driven from its poll hook.
struct ClientEngine {
  Stack* stack = nullptr;
  std::uint16_t engine = 0;
  Endpoint server;
  Mode mode = Mode::kCrr;
  std::uint32_t concurrency = 16;  // connections in flight (CRR) / open (RR)
  std::uint64_t limit = 0;         // CRR: stop opening after this many (0: no limit)
  std::uint32_t request = 64;      // bytes per request
  std::atomic<bool> go{false};
  std::atomic<bool> halt{false};  // RR: stop sending new requests
  Tally tally;

  struct Conn {
    std::uint32_t index = 0;
    std::uint32_t got = 0;
    bool active = false;
  };
  std::vector<Conn> conns;  // by slot
  std::uint64_t started = 0;
  std::uint32_t in_flight = 0;

  void init(std::uint32_t max_slots) { conns.assign(max_slots, Conn{}); }

  void send_request(TcpConnId id, Conn& c) {
    std::uint8_t buf[4096];
    for (std::uint32_t i = 0; i < request; ++i) buf[i] = pattern(c.index, i);
    c.got = 0;
    if (stack->engine_tcp(engine).send(id, buf, request) != static_cast<long>(request))
      tally.failures.fetch_add(1, std::memory_order_relaxed);
  }

  void finish(TcpConnId id, Conn& c, bool ok) {
    if (!c.active) return;
    c.active = false;
    --in_flight;
    if (ok) tally.connections.fetch_add(1, std::memory_order_relaxed);
    stack->engine_tcp(engine).close(id);
  }

  static void cb(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t) {
    auto* self = static_cast<ClientEngine*>(user);
    TcpLayer& tcp = self->stack->engine_tcp(self->engine);
    Conn& c = self->conns[id.slot()];
    switch (ev) {
      case TcpSocketEvent::kConnected:
        check_owner(*self->stack, self->engine, id, self->tally);
        self->send_request(id, c);
        break;
      case TcpSocketEvent::kReadable: {
        std::uint8_t buf[4096];
        bool bad = false;
        for (;;) {
          const long n = tcp.recv(id, buf, sizeof buf);
          if (n <= 0) break;
          for (long i = 0; i < n && !bad; ++i)
            bad = c.got >= self->request || buf[i] != pattern(c.index, c.got++);
        }
        if (bad) {
          self->tally.failures.fetch_add(1, std::memory_order_relaxed);
          self->finish(id, c, false);
          break;
        }
        if (c.got < self->request) break;
        self->tally.transactions.fetch_add(1, std::memory_order_relaxed);
        if (self->mode == Mode::kCrr || self->halt.load(std::memory_order_relaxed)) {
          self->finish(id, c, true);
        } else {
          self->send_request(id, c);
        }
        break;
      }
      case TcpSocketEvent::kError:
        self->tally.failures.fetch_add(1, std::memory_order_relaxed);
        self->finish(id, c, false);
        break;
      default:
        break;
    }
  }

  static unsigned hook(void* arg) {
    auto* self = static_cast<ClientEngine*>(arg);
    if (!self->go.load(std::memory_order_relaxed)) return 0;
    if (self->mode == Mode::kRr && self->started >= self->concurrency) return 0;
    unsigned opened = 0;
    while (self->in_flight < self->concurrency &&
           (self->limit == 0 || self->started < self->limit)) {
      int err = 0;
      const TcpConnId id =
          self->stack->engine_tcp(self->engine).connect(self->server, TcpCallback{&cb, self}, &err);
      if (!id.valid()) {
        // Out of ports or buffers for now: try again next iteration.
        if (err != -EADDRNOTAVAIL && err != -ENOBUFS)
          self->tally.failures.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      Conn& c = self->conns[id.slot()];
      c = Conn{static_cast<std::uint32_t>(self->started * 64 + self->engine), 0, true};
      ++self->started;
      ++self->in_flight;
      ++opened;
    }
    return opened;
  }
};

// Hooks up a server stack and a client stack; engines must not be running yet.
struct EchoPair {
  std::vector<std::unique_ptr<ServerEngine>> servers;
  std::vector<std::unique_ptr<ClientEngine>> clients;
  Stack* server_stack = nullptr;
  Stack* client_stack = nullptr;

  std::string setup(Stack& server, Stack& client, const Endpoint& where, Mode mode,
                    std::uint32_t concurrency_per_engine, std::uint64_t limit_per_engine,
                    std::uint32_t request, std::uint32_t max_slots) {
    server_stack = &server;
    client_stack = &client;
    for (std::uint16_t e = 0; e < server.engine_count(); ++e) {
      auto s = std::make_unique<ServerEngine>();
      s->stack = &server;
      s->engine = e;
      int err = 0;
      s->listener = server.engine_tcp(e).listen(Endpoint{IpAddr{}, where.port}, 4096,
                                                TcpCallback{&ServerEngine::cb, s.get()}, &err);
      if (!s->listener.valid()) return "listen on engine " + std::to_string(e) + " failed";
      servers.push_back(std::move(s));
    }
    for (std::uint16_t e = 0; e < client.engine_count(); ++e) {
      auto c = std::make_unique<ClientEngine>();
      c->stack = &client;
      c->engine = e;
      c->server = where;
      c->mode = mode;
      c->concurrency = concurrency_per_engine;
      c->limit = limit_per_engine;
      c->request = request;
      c->init(max_slots);
      if (!client.engine(e).add_poll_hook(&ClientEngine::hook, c.get()))
        return "no poll hook slot on engine " + std::to_string(e);
      clients.push_back(std::move(c));
    }
    return {};
  }
  void go() {
    for (auto& c : clients) c->go.store(true);
  }
  // Engines must be stopped.
  void teardown() {
    for (auto& c : clients) client_stack->engine(c->engine).remove_poll_hooks(c.get());
  }
  std::uint64_t sum(std::atomic<std::uint64_t> Tally::*field, bool client_side = true) const {
    std::uint64_t n = 0;
    if (client_side) {
      for (const auto& c : clients) n += (c->tally.*field).load();
    } else {
      for (const auto& s : servers) n += (s->tally.*field).load();
    }
    return n;
  }
};

}  // namespace shardtcp::workload
