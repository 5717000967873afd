// The manual's extras next to the sockets: routes, ping, a diagnostic dump and the
// text of an error. Like the calls, they run on the engines (every engine keeps its
// own copy of the routes, so route changes go to each of them).
#include <rte_mempool.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include "api/sockets_internal.h"
#define SHARDTCP_NO_COMPAT  // this file uses the native layers' names
#include "sockets.h"

using namespace shardtcp;
using namespace shardtcp::sockets;

namespace {

Stack* current() {
  return runtime().stack.load(std::memory_order_acquire);
}

std::string endpoint_text(const Endpoint& e) {
  return (e.addr.is_none() ? std::string("*") : e.addr.to_string()) + ":" + std::to_string(e.port);
}

}  // namespace

extern "C" {

int shardtcp_route_add(in_addr_t network, int prefix_len, in_addr_t gateway) {
  Stack* s = current();
  if (s == nullptr) return fail_with(ENETDOWN);
  if (prefix_len < 0 || prefix_len > 32) return fail_with(EINVAL);
  Route r;
  r.prefix = IpAddr::v4_be(network);
  r.prefix_len = static_cast<std::uint8_t>(prefix_len);
  if (gateway != 0) r.gateway = IpAddr::v4_be(gateway);
  long res = 0;
  for (std::uint16_t i = 0; i < s->engine_count(); ++i) {
    const long r1 =
        on_engine(i, [&]() -> long { return s->ip(i).routes().add_route(r) ? 0 : -EEXIST; });
    if (r1 < 0) res = r1;
  }
  return res < 0 ? fail_with(static_cast<int>(-res)) : 0;
}

int shardtcp_route_delete(in_addr_t network, int prefix_len) {
  Stack* s = current();
  if (s == nullptr) return fail_with(ENETDOWN);
  if (prefix_len < 0 || prefix_len > 32) return fail_with(EINVAL);
  long res = 0;
  for (std::uint16_t i = 0; i < s->engine_count(); ++i) {
    const long r1 = on_engine(i, [&]() -> long {
      return s->ip(i).routes().delete_route(IpAddr::v4_be(network),
                                            static_cast<std::uint8_t>(prefix_len))
                 ? 0
                 : -ESRCH;
    });
    if (r1 < 0) res = r1;
  }
  return res < 0 ? fail_with(static_cast<int>(-res)) : 0;
}

int shardtcp_ping(in_addr_t host, int count, int timeout_ms) {
  Stack* s = current();
  if (s == nullptr) return fail_with(ENETDOWN);
  if (count <= 0 || timeout_ms < 0) return fail_with(EINVAL);
  if (wait_style() == WaitStyle::kNever) return fail_with(EWOULDBLOCK);  // it waits for replies
  static std::atomic<std::uint16_t> ident{0x5354};
  const std::uint16_t id = ident.fetch_add(1);
  std::atomic<int> replies{0};
  const IpAddr dst = IpAddr::v4_be(host);
  const long sent = on_engine(0, [&]() -> long {
    s->ip(0).set_ping_handler([&replies, id](const PingReply& r) {
      if (r.ident == id) replies.fetch_add(1);
    });
    PacketContext ctx = s->context(0);
    long n = 0;
    for (int i = 0; i < count; ++i) {
      const OutputResult o = s->ip(0).ping(dst, id, static_cast<std::uint16_t>(i), 56, ctx);
      if (o == OutputResult::kSent || o == OutputResult::kQueuedForResolution)
        ++n;
      else if (n == 0 && o == OutputResult::kNoRoute)
        return -ENETUNREACH;
    }
    return n;
  });
  if (sent < 0) {
    on_engine(0, [&]() -> long {
      s->ip(0).set_ping_handler({});
      return 0;
    });
    return fail_with(static_cast<int>(-sent));
  }
  const std::int64_t end = now_ns() + std::int64_t{timeout_ms} * 1000000;
  while (replies.load() < count && now_ns() < end) {
    if (wait_style() == WaitStyle::kPoll)
      poll_inline();  // the replies arrive through our own engines
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  on_engine(0, [&]() -> long {
    s->ip(0).set_ping_handler({});
    return 0;
  });
  return replies.load();
}

int shardtcp_dump(void* out) {
  Stack* s = current();
  if (s == nullptr) return fail_with(ENETDOWN);
  if (out == nullptr) return fail_with(EFAULT);
  FILE* f = static_cast<FILE*>(out);
  Runtime& rt = runtime();
  std::fprintf(f, "shardtcp: %u engine(s), %d open socket(s)\n", s->engine_count(),
               rt.table.live_count());
  std::fprintf(
      f,
      "sockets:\n      handle engine type   state        local                  remote        "
      "         rx-bytes\n");
  rt.table.for_each_live([&](int h) {
    SocketEntry& e = rt.table.at(h);
    on_engine(e.engine, [&]() -> long {
      if (rt.table.lookup(h) == nullptr) return 0;
      Endpoint local, remote;
      long rx = 0;
      const char* state = "";
      if (e.type == SOCK_STREAM) {
        TcpLayer& tcp = s->engine_tcp(e.engine);
        tcp.local_endpoint(e.tcp, &local);
        tcp.remote_endpoint(e.tcp, &remote);
        rx = tcp.readable_bytes(e.tcp);
        state = e.listening ? "LISTEN" : to_string(tcp.state(e.tcp));
      } else {
        UdpLayer& udp = s->engine_udp(e.engine);
        udp.local_endpoint(e.udp, &local);
        udp.peer_endpoint(e.udp, &remote);
        rx = udp.readable_bytes(e.udp);
        state = e.connected ? "CONNECTED" : "-";
      }
      std::fprintf(f, "  %10d %6u %-6s %-12s %-22s %-22s %ld\n", h, e.engine,
                   e.type == SOCK_STREAM ? "tcp" : "udp", state, endpoint_text(local).c_str(),
                   endpoint_text(remote).c_str(), rx < 0 ? 0 : rx);
      return 0;
    });
  });
  rte_mempool* pool = s->pool();
  std::fprintf(f, "buffers:\n  pool %s: %u of %u mbufs free\n", pool->name,
               rte_mempool_avail_count(pool), pool->size);
  for (std::uint16_t i = 0; i < s->engine_count(); ++i) {
    on_engine(i, [&]() -> long {
      std::fprintf(f, "  engine %u: %zu tcp connection(s), %zu TIME_WAIT, %zu udp socket(s)\n", i,
                   s->engine_tcp(i).connections(), s->engine_tcp(i).time_wait_records(),
                   s->engine_udp(i).open_sockets());
      return 0;
    });
  }
  std::fprintf(f, "routes:\n");
  on_engine(0, [&]() -> long {
    const RouteTable& rtab = s->ip(0).routes();
    for (const InterfaceAddress& a : rtab.addresses())
      std::fprintf(f, "  %s/%u dev (connected)\n", a.addr.to_string().c_str(), a.prefix_len);
    for (const Route& r : rtab.routes())
      std::fprintf(f, "  %s/%u via %s\n", r.prefix.to_string().c_str(), r.prefix_len,
                   r.gateway.is_none() ? "on-link" : r.gateway.to_string().c_str());
    return 0;
  });
  return 0;
}

long long shardtcp_counter(const char* name) {
  Stack* s = current();
  if (s == nullptr) return fail_with(ENETDOWN);
  if (name == nullptr) return fail_with(EFAULT);
  const std::string_view n = name;
  rte_mempool* pool = s->pool();
  if (n == "pool.size") return pool->size;
  if (n == "pool.element_size")  // bytes an mbuf takes in the pool, headers included
    return pool->header_size + pool->elt_size + pool->trailer_size;
  if (n == "pool.in_use") return static_cast<long long>(pool->size) - rte_mempool_avail_count(pool);
  const auto all = s->counters().snapshot();
  const auto it = all.find(std::string(n));
  if (it == all.end()) return fail_with(ENOENT);
  return static_cast<long long>(it->second);
}

const char* shardtcp_strerror(int err) {
  return std::strerror(err);
}

}  // extern "C"
