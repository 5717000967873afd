// shardtcp-host: brings the stack up on a port and keeps it answering ARP and ping
// until SIGINT/SIGTERM; optionally pings a host itself. Prints "ready" once the port
// is up and the addresses are configured, one line per IPv6 address when duplicate
// address detection has decided about it ("ipv6 address fe80::1/64 usable" or
// "... duplicate"), and the stack's counters when it stops.
//
//   shardtcp-host [EAL options] -- [stack options] [--ping ADDR] [--count N]
//                 [--interval-ms MS] [--ping-delay-ms MS] [--size BYTES]
//                 [--wait-signal] [--duration SEC] [--quiet]
//
// --wait-signal: the pings start only once SIGUSR1 arrives (plus --ping-delay-ms), so
// a script can start them when the peer is really configured instead of guessing.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

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

struct HostOptions {
  std::string ping;
  unsigned count = 5;
  unsigned interval_ms = 200;
  unsigned size = 56;
  unsigned ping_delay_ms = 300;  // let the peer come up and ARP settle first
  double duration_s = 0;         // 0: until a signal (or until the pings are done)
  bool wait_signal = false;      // pings start at SIGUSR1
  bool quiet = false;
};

bool parse_host_options(const std::vector<std::string>& args, HostOptions* o) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> const std::string* {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "shardtcp-host: %s needs a value\n", name);
        return nullptr;
      }
      return &args[++i];
    };
    const std::string* v = nullptr;
    if (a == "--ping") {
      if (!(v = value("--ping"))) return false;
      o->ping = *v;
    } else if (a == "--count") {
      if (!(v = value("--count"))) return false;
      o->count = static_cast<unsigned>(std::strtoul(v->c_str(), nullptr, 10));
    } else if (a == "--interval-ms") {
      if (!(v = value("--interval-ms"))) return false;
      o->interval_ms = static_cast<unsigned>(std::strtoul(v->c_str(), nullptr, 10));
    } else if (a == "--ping-delay-ms") {
      if (!(v = value("--ping-delay-ms"))) return false;
      o->ping_delay_ms = static_cast<unsigned>(std::strtoul(v->c_str(), nullptr, 10));
    } else if (a == "--size") {
      if (!(v = value("--size"))) return false;
      o->size = static_cast<unsigned>(std::strtoul(v->c_str(), nullptr, 10));
    } else if (a == "--duration") {
      if (!(v = value("--duration"))) return false;
      o->duration_s = std::strtod(v->c_str(), nullptr);
    } else if (a == "--quiet") {
      o->quiet = true;
    } else if (a == "--wait-signal") {
      o->wait_signal = true;
    } else {
      std::fprintf(stderr, "shardtcp-host: unknown option '%s'\n", a.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> rest;
  auto created = shardtcp::Stack::create(argc, argv, &rest);
  if (!created) {
    std::fprintf(stderr, "shardtcp-host: %s\n", created.error().c_str());
    return 1;
  }
  HostOptions ho;
  if (!parse_host_options(rest, &ho)) return 2;
  shardtcp::Stack& stack = **created;

  std::optional<shardtcp::IpAddr> target;
  if (!ho.ping.empty()) {
    target = shardtcp::IpAddr::parse(ho.ping);
    if (!target) {  // IPv4 or IPv6: the ping API covers both
      std::fprintf(stderr, "shardtcp-host: bad --ping address '%s'\n", ho.ping.c_str());
      return 2;
    }
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGUSR1, on_go);

  unsigned replies = 0, sent = 0;
  stack.ip().set_ping_handler([&](const shardtcp::PingReply& r) {
    ++replies;
    std::printf("%zu bytes from %s: icmp_seq=%u ttl=%u time=%.3f ms\n", r.payload_len + 8,
                r.from.to_string().c_str(), r.seq, r.ttl,
                r.has_rtt ? static_cast<double>(r.rtt.count()) / 1e6 : 0.0);
    std::fflush(stdout);
  });

  // IPv6 addresses whose duplicate address detection has not been reported yet.
  std::vector<shardtcp::InterfaceAddress> dad_unreported;
  for (const auto& a : stack.ip().routes().addresses())
    if (a.addr.is_v6()) dad_unreported.push_back(a);
  auto report_dad = [&] {
    for (auto it = dad_unreported.begin(); it != dad_unreported.end();) {
      if (stack.ip().dad_pending(it->addr)) {
        ++it;
        continue;
      }
      std::printf("ipv6 address %s/%u %s\n", it->addr.to_string().c_str(),
                  static_cast<unsigned>(it->prefix_len),
                  stack.ip().dad_failed(it->addr) ? "duplicate (DAD failed): not used" : "usable");
      std::fflush(stdout);
      it = dad_unreported.erase(it);
    }
  };

  std::printf("ready\n");
  std::fflush(stdout);

  shardtcp::Clock& clock = stack.clock();
  const shardtcp::Instant start = clock.now();
  shardtcp::Instant next_ping = ho.wait_signal
                                    ? shardtcp::Instant::never()
                                    : start + std::chrono::milliseconds(ho.ping_delay_ms);
  const shardtcp::Instant end =
      ho.duration_s > 0
          ? start + std::chrono::nanoseconds(static_cast<std::int64_t>(ho.duration_s * 1e9))
          : shardtcp::Instant::never();
  shardtcp::Instant pings_done = shardtcp::Instant::never();
  while (!g_stop) {
    stack.poll_once();
    if (!dad_unreported.empty()) report_dad();
    const shardtcp::Instant now = clock.now();
    if (now >= end) break;
    if (g_go && ho.wait_signal && next_ping == shardtcp::Instant::never()) {
      next_ping = now + std::chrono::milliseconds(ho.ping_delay_ms);
    }
    if (target && sent < ho.count && now >= next_ping) {
      shardtcp::PacketContext ctx = stack.context();
      stack.ip().ping(*target, 0x5354, static_cast<std::uint16_t>(sent + 1), ho.size, ctx);
      ++sent;
      next_ping = now + std::chrono::milliseconds(ho.interval_ms);
      if (sent == ho.count) pings_done = now + std::chrono::seconds(1);
    }
    if (target && (replies == ho.count || now >= pings_done) && ho.duration_s == 0) break;
  }
  if (target) {
    std::printf(
        "--- %s ping statistics ---\n%u packets transmitted, %u received, %u%% packet loss\n",
        target->to_string().c_str(), sent, replies, sent ? 100 * (sent - replies) / sent : 0);
  }
  if (!ho.quiet) std::printf("counters:\n%s", stack.counters().dump().c_str());
  std::fflush(stdout);
  return target && replies == 0 ? 1 : 0;
}
