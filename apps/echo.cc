// shardtcp-echo: a TCP and UDP echo server and client on the native API.
//
//   server: shardtcp-echo [EAL options] -- [stack options] --listen PORT [--udp] [--verbose]
//   client: shardtcp-echo [EAL options] -- [stack options] --connect ADDR:PORT --bytes N
//           [--conns K] [--udp] [--datagram BYTES] [--start-delay-ms MS] [--wait-signal]
//           [--timeout SEC]
//
// With --engines N the server listens on every engine and the client spreads its
// connections over them. --listen PORT takes IPv4 and IPv6 alike. --wait-signal: the
// client connects only once SIGUSR1 arrives (then --start-delay-ms), so a script
// starts it when its peer is really listening instead of guessing a delay.
//
// The server echoes everything on every connection (or every datagram) until
// SIGINT/SIGTERM. The client sends N bytes (suffixes k/m/g: KiB/MiB/GiB) on each of K
// connections, reads them back, verifies every byte against the connection's
// deterministic pattern, prints a throughput line and exits non-zero on any
// mismatch or error. Both run to completion on the engine thread: poll the stack,
// react to socket events. "ready" is printed once the port is up; the stack's
// counters are printed on exit.
#include <rte_ethdev.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "echo_tcp.h"
#include "echo_udp.h"
#include "shardtcp/stack.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_go = 0;
void on_signal(int) {
  g_stop = 1;
}
void on_go(int) {
  g_go = 1;
}

struct EchoOptions {
  std::optional<std::uint16_t> listen;
  std::optional<shardtcp::Endpoint> connect;
  std::string connect_text;
  std::uint64_t bytes = 0;
  bool bytes_set = false;
  std::uint32_t conns = 1;
  bool udp = false;
  std::size_t datagram = 1024;
  unsigned start_delay_ms = 0;
  bool wait_signal = false;  // client: start at SIGUSR1
  double timeout_s = 0;      // client: give up after this long (0: never)
  bool verbose = false;
  bool quiet = false;  // no counters at exit
};

void usage() {
  std::fprintf(stderr,
               "usage: shardtcp-echo [EAL options] -- [stack options] --listen PORT [--udp] "
               "[--verbose]\n"
               "       shardtcp-echo [EAL options] -- [stack options] --connect ADDR:PORT "
               "--bytes N[k|m|g] [--conns K] [--udp]\n"
               "                     [--datagram BYTES] [--start-delay-ms MS] [--wait-signal]\n"
               "                     [--timeout SEC]\n"
               "       [--quiet] omits the counters printed at exit\n");
}

bool parse_u64(const std::string& s, std::uint64_t* out, bool suffixes) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || end == s.c_str() || s[0] == '-') return false;
  if (suffixes && *end != '\0') {
    unsigned shift = 0;
    switch (*end) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      default:
        return false;
    }
    ++end;
    if (v > (~0ull >> shift)) return false;
    v <<= shift;
  }
  if (*end != '\0') return false;
  *out = v;
  return true;
}

std::optional<shardtcp::Endpoint> parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = text.substr(0, colon);
  // IPv6 as [ADDR]:PORT.
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto addr = shardtcp::IpAddr::parse(host);
  std::uint64_t port = 0;
  if (!addr || !parse_u64(text.substr(colon + 1), &port, false) || port == 0 || port > 65535)
    return std::nullopt;
  return shardtcp::Endpoint{*addr, static_cast<std::uint16_t>(port)};
}

bool parse_echo_options(const std::vector<std::string>& args, EchoOptions* o) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string inline_value;
    bool has_inline = false;
    if (const auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    auto value = [&](std::string* out) {
      if (has_inline) {
        *out = inline_value;
        return true;
      }
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "shardtcp-echo: %s needs a value\n", a.c_str());
        return false;
      }
      *out = args[++i];
      return true;
    };
    auto bad = [&](const std::string& v) {
      std::fprintf(stderr, "shardtcp-echo: bad value '%s' for %s\n", v.c_str(), a.c_str());
      return false;
    };
    std::string v;
    std::uint64_t n = 0;
    if (a == "--listen") {
      if (!value(&v)) return false;
      if (!parse_u64(v, &n, false) || n == 0 || n > 65535) return bad(v);
      o->listen = static_cast<std::uint16_t>(n);
    } else if (a == "--connect") {
      if (!value(&v)) return false;
      o->connect = parse_endpoint(v);
      if (!o->connect) return bad(v);
      o->connect_text = v;
    } else if (a == "--bytes") {
      if (!value(&v)) return false;
      if (!parse_u64(v, &o->bytes, true)) return bad(v);
      o->bytes_set = true;
    } else if (a == "--conns") {
      if (!value(&v)) return false;
      if (!parse_u64(v, &n, false) || n == 0 || n > 65536) return bad(v);
      o->conns = static_cast<std::uint32_t>(n);
    } else if (a == "--datagram") {
      if (!value(&v)) return false;
      if (!parse_u64(v, &n, false) || n <= shardtcp::echo::UdpEchoClient::kHeader ||
          n > shardtcp::UdpLayer::kMaxPayload)
        return bad(v);
      o->datagram = static_cast<std::size_t>(n);
    } else if (a == "--start-delay-ms") {
      if (!value(&v)) return false;
      if (!parse_u64(v, &n, false) || n > 3600000) return bad(v);
      o->start_delay_ms = static_cast<unsigned>(n);
    } else if (a == "--timeout") {
      if (!value(&v)) return false;
      char* end = nullptr;
      o->timeout_s = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || o->timeout_s < 0) return bad(v);
    } else if (a == "--udp" && !has_inline) {
      o->udp = true;
    } else if (a == "--verbose" && !has_inline) {
      o->verbose = true;
    } else if (a == "--wait-signal" && !has_inline) {
      o->wait_signal = true;
    } else if (a == "--quiet" && !has_inline) {
      o->quiet = true;
    } else if (a == "--help" || a == "-h") {
      usage();
      return false;
    } else {
      std::fprintf(stderr, "shardtcp-echo: unknown option '%s'\n", args[i].c_str());
      usage();
      return false;
    }
  }
  if (o->listen.has_value() == o->connect.has_value()) {
    std::fprintf(stderr,
                 "shardtcp-echo: give exactly one of --listen PORT and --connect ADDR:PORT\n");
    usage();
    return false;
  }
  if (o->connect && !o->bytes_set) {
    std::fprintf(stderr, "shardtcp-echo: --connect needs --bytes N\n");
    return false;
  }
  return true;
}

// The device's own counters: RX frames it dropped for want of an mbuf or a free
// descriptor do not reach the stack's counters.
void print_port_stats() {
  std::uint16_t id;
  RTE_ETH_FOREACH_DEV(id) {
    rte_eth_stats st{};
    if (rte_eth_stats_get(id, &st) != 0) continue;
    std::printf(
        "port%u.rx_nombuf %llu\nport%u.imissed %llu\nport%u.ierrors %llu\nport%u.oerrors %llu\n",
        id, static_cast<unsigned long long>(st.rx_nombuf), id,
        static_cast<unsigned long long>(st.imissed), id,
        static_cast<unsigned long long>(st.ierrors), id,
        static_cast<unsigned long long>(st.oerrors));
  }
}

double seconds(shardtcp::Duration d) {
  return std::chrono::duration<double>(d).count();
}

void print_throughput(const char* proto, std::uint32_t conns, std::uint64_t bytes_each,
                      std::uint64_t verified, shardtcp::Duration elapsed) {
  const double s = seconds(elapsed);
  const double mbit = s > 0 ? static_cast<double>(verified) * 8 / s / 1e6 : 0;
  std::printf(
      "%s echo: %u conn%s x %llu bytes, %llu bytes echoed and verified in %.3f s: "
      "%.1f Mbit/s each way\n",
      proto, conns, conns == 1 ? "" : "s", static_cast<unsigned long long>(bytes_each),
      static_cast<unsigned long long>(verified), s, mbit);
}

int run_server(shardtcp::Stack& stack, const EchoOptions& o) {
  std::optional<shardtcp::echo::TcpEchoServer> tcp;
  std::optional<shardtcp::echo::UdpEchoServer> udp;
  int r = 0;
  if (o.udp) {
    udp.emplace(stack.engine_udp(0), *o.listen);
    r = udp->start();
  } else {
    shardtcp::echo::TcpEchoServerConfig cfg;
    cfg.port = *o.listen;
    cfg.verbose = o.verbose;
    tcp.emplace(stack, cfg);
    r = tcp->start();
  }
  if (r != 0) {
    std::fprintf(stderr, "shardtcp-echo: listen on %s port %u: %s\n", o.udp ? "udp" : "tcp",
                 static_cast<unsigned>(*o.listen), std::strerror(-r));
    return 1;
  }
  std::printf("ready\n");
  std::printf("echoing %s on port %u until SIGINT/SIGTERM\n", o.udp ? "udp" : "tcp",
              static_cast<unsigned>(*o.listen));
  std::fflush(stdout);
  while (!g_stop) stack.poll_once();
  if (tcp) {
    std::printf(
        "tcp echo server: %llu connections (%llu completed, %llu failed, %zu open), "
        "%llu bytes echoed\n",
        static_cast<unsigned long long>(tcp->accepted()),
        static_cast<unsigned long long>(tcp->completed()),
        static_cast<unsigned long long>(tcp->failed()), tcp->active(),
        static_cast<unsigned long long>(tcp->bytes_echoed()));
    if (stack.engine_count() > 1) {
      std::printf("tcp echo server: accepted per engine:");
      for (std::uint16_t e = 0; e < stack.engine_count(); ++e)
        std::printf(" %llu", static_cast<unsigned long long>(tcp->accepted_on(e)));
      std::printf("\n");
    }
    tcp->stop();
  } else {
    std::printf("udp echo server: %llu datagrams, %llu bytes echoed, %llu send errors\n",
                static_cast<unsigned long long>(udp->datagrams()),
                static_cast<unsigned long long>(udp->bytes()),
                static_cast<unsigned long long>(udp->send_errors()));
    udp->stop();
  }
  // Let the RSTs/FINs of the closing connections leave.
  const shardtcp::Instant until = stack.clock().now() + std::chrono::milliseconds(100);
  while (stack.clock().now() < until) stack.poll_once();
  return 0;
}

int run_client(shardtcp::Stack& stack, const EchoOptions& o) {
  shardtcp::Clock& clock = stack.clock();
  std::printf("ready\n");
  std::fflush(stdout);
  // The peer may still be coming up (a TAP's kernel side is configured after we start):
  // a script says when with SIGUSR1 (--wait-signal).
  while (o.wait_signal && !g_go && !g_stop) stack.poll_once();
  const shardtcp::Instant go = clock.now() + std::chrono::milliseconds(o.start_delay_ms);
  while (!g_stop && clock.now() < go) stack.poll_once();
  if (g_stop) return 1;

  const shardtcp::Instant give_up =
      o.timeout_s > 0
          ? clock.now() + std::chrono::nanoseconds(static_cast<std::int64_t>(o.timeout_s * 1e9))
          : shardtcp::Instant::never();
  int rc = 0;
  if (o.udp) {
    shardtcp::echo::UdpEchoClientConfig cfg;
    cfg.server = *o.connect;
    cfg.bytes = o.bytes;
    cfg.conns = o.conns;
    cfg.datagram = o.datagram;
    shardtcp::echo::UdpEchoClient client(stack.engine_udp(0), clock, cfg);
    client.start();
    while (!g_stop && !client.finished() && clock.now() < give_up) {
      stack.poll_once();
      client.tick();
    }
    if (!client.finished()) {
      std::fprintf(stderr, "shardtcp-echo: %s after %.3f s (%llu of %llu bytes verified)\n",
                   g_stop ? "interrupted" : "timed out", seconds(client.elapsed()),
                   static_cast<unsigned long long>(client.bytes_verified()),
                   static_cast<unsigned long long>(o.bytes * o.conns));
      rc = 1;
    } else if (client.failed()) {
      std::fprintf(stderr, "shardtcp-echo: %s\n", client.error().c_str());
      rc = 1;
    } else {
      print_throughput("udp", o.conns, o.bytes, client.bytes_verified(), client.elapsed());
      std::printf("udp echo: %llu datagrams sent, %llu resent, %llu duplicate echoes\n",
                  static_cast<unsigned long long>(client.datagrams_sent()),
                  static_cast<unsigned long long>(client.resends()),
                  static_cast<unsigned long long>(client.duplicates()));
    }
    client.close_all();
  } else {
    shardtcp::echo::TcpEchoClientConfig cfg;
    cfg.server = *o.connect;
    cfg.bytes = o.bytes;
    cfg.conns = o.conns;
    shardtcp::echo::TcpEchoClient client(stack, cfg);
    client.start();
    while (!g_stop && !client.finished() && clock.now() < give_up) stack.poll_once();
    if (!client.finished()) {
      std::fprintf(stderr,
                   "shardtcp-echo: %s after %.3f s (%u of %u connected, %llu of %llu "
                   "bytes verified)\n",
                   g_stop ? "interrupted" : "timed out", seconds(client.elapsed()),
                   client.connected(), o.conns,
                   static_cast<unsigned long long>(client.bytes_verified()),
                   static_cast<unsigned long long>(o.bytes * o.conns));
      std::fprintf(stderr, "%s", client.describe_unfinished().c_str());
      client.abort_all();
      rc = 1;
    } else if (client.failed()) {
      std::fprintf(stderr, "shardtcp-echo: %s\n", client.error().c_str());
      client.abort_all();
      rc = 1;
    } else {
      print_throughput("tcp", o.conns, o.bytes, client.bytes_verified(), client.elapsed());
    }
    // Let the last ACKs and FINs (or RSTs) leave before the port goes.
    const shardtcp::Instant until = clock.now() + std::chrono::milliseconds(200);
    auto open_connections = [&] {
      std::size_t n = 0;
      for (std::uint16_t e = 0; e < stack.engine_count(); ++e)
        n += stack.engine_tcp(e).connections();
      return n;
    };
    while (clock.now() < until && open_connections() > 0) stack.poll_once();
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> rest;
  auto created = shardtcp::Stack::create(argc, argv, &rest);
  if (!created) {
    std::fprintf(stderr, "shardtcp-echo: %s\n", created.error().c_str());
    return 1;
  }
  EchoOptions eo;
  if (!parse_echo_options(rest, &eo)) return 2;
  shardtcp::Stack& stack = **created;

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGUSR1, on_go);

  const int rc = eo.listen ? run_server(stack, eo) : run_client(stack, eo);
  if (!eo.quiet) {
    std::printf("counters:\n%s", stack.counters().dump().c_str());
    print_port_stats();
  }
  std::fflush(stdout);
  return rc;
}
