#include "shardtcp/stack_options.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace shardtcp {

namespace {

// TcpConnId keeps the slot in 20 bits.
constexpr std::uint32_t kMaxConnectionSlots = (1u << 20) - 1;
constexpr std::uint64_t kMinDefaultSlots = 4096;
constexpr std::uint64_t kMaxDefaultSlots = 4u << 20;
constexpr std::uint32_t kMaxTimeWaitRecords = 1u << 24;
constexpr std::uint32_t kMinMbufs = 1023;  // below this the queues' descriptors alone run out
constexpr std::uint32_t kMaxMbufs = (1u << 24) - 1;

// Built with reserve + append, not `"'" + std::string(s) + "'"`: GCC 12 at -O3 reports
// a false -Wrestrict in that operator+ chain (GCC bug 105329).
std::string quoted(std::string_view s) {
  std::string q;
  q.reserve(s.size() + 2);
  q.push_back('\'');
  q.append(s);
  q.push_back('\'');
  return q;
}

template <typename T>
std::optional<T> parse_uint(std::string_view s) {
  T v{};
  if (s.empty()) return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_probability(std::string_view s) {
  // from_chars for double is in libstdc++ 11+; check it consumed everything.
  double v = 0;
  if (s.empty()) return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) || v < 0 || v > 1) {
    return std::nullopt;
  }
  return v;
}

Result<std::pair<IpAddr, std::uint8_t>> parse_prefix(std::string_view text, std::string_view what) {
  using R = Result<std::pair<IpAddr, std::uint8_t>>;
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return R::failure(std::string(what) + ": " + quoted(text) +
                      " needs a prefix length (ADDR/PREFIX)");
  }
  auto addr = IpAddr::parse(text.substr(0, slash));
  if (!addr) {
    return R::failure(std::string(what) + ": " + quoted(text.substr(0, slash)) +
                      " is not an IPv4 or IPv6 address");
  }
  const auto len = parse_uint<unsigned>(text.substr(slash + 1));
  const unsigned max = addr->is_v4() ? 32 : 128;
  if (!len || *len > max) {
    return R::failure(std::string(what) + ": prefix length " + quoted(text.substr(slash + 1)) +
                      " must be 0.." + std::to_string(max));
  }
  return std::pair{*addr, static_cast<std::uint8_t>(*len)};
}

}  // namespace

Result<InterfaceAddress> parse_interface_address(std::string_view text) {
  auto p = parse_prefix(text, "--ip");
  if (!p) return p.status();
  if (p->first.is_unspecified() || p->first.is_multicast()) {
    return Result<InterfaceAddress>::failure("--ip: " + quoted(text) +
                                             " cannot be an interface address");
  }
  return InterfaceAddress{p->first, p->second};
}

Result<RouteOption> parse_route(std::string_view text) {
  using R = Result<RouteOption>;
  const auto comma = text.find(',');
  if (comma == std::string_view::npos) {
    return R::failure("--route: " + quoted(text) + " must be NET/PREFIX,GATEWAY");
  }
  auto p = parse_prefix(text.substr(0, comma), "--route");
  if (!p) return p.status();
  auto gw = IpAddr::parse(text.substr(comma + 1));
  if (!gw) {
    return R::failure("--route: gateway " + quoted(text.substr(comma + 1)) + " is not an address");
  }
  if (gw->family() != p->first.family()) {
    return R::failure("--route: " + quoted(text) + " mixes IPv4 and IPv6");
  }
  return RouteOption{p->first.masked(p->second), p->second, *gw};
}

Result<ImpairmentConfig> parse_impairment(std::string_view text) {
  using R = Result<ImpairmentConfig>;
  ImpairmentConfig c;
  bool reorder_p_given = false;
  if (text.empty()) return R::failure("--impair: empty (e.g. drop=0.01,reorder=8)");
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      return R::failure("--impair: " + quoted(item) + " must be KEY=VALUE");
    }
    const std::string_view key = item.substr(0, eq);
    const std::string_view val = item.substr(eq + 1);
    auto prob = [&](double& out) -> Status {
      auto v = parse_probability(val);
      if (!v)
        return Status::error("--impair: " + std::string(key) + "=" + std::string(val) +
                             " must be a probability between 0 and 1");
      out = *v;
      return Status::ok();
    };
    Status s = Status::ok();
    if (key == "drop") {
      s = prob(c.drop);
    } else if (key == "dup") {
      s = prob(c.duplicate);
    } else if (key == "corrupt") {
      s = prob(c.corrupt);
    } else if (key == "ce") {
      s = prob(c.ce_mark);
    } else if (key == "reorder_p") {
      s = prob(c.reorder);
      reorder_p_given = true;
    } else if (key == "delay_p") {
      s = prob(c.delay_probability);
    } else if (key == "reorder") {
      auto n = parse_uint<std::uint32_t>(val);
      if (!n || *n > 64)
        return R::failure("--impair: reorder=" + std::string(val) +
                          " must be a window of 0..64 frames");
      c.reorder_window = *n;
    } else if (key == "delay") {
      auto us = parse_uint<std::uint64_t>(val);
      if (!us || *us > 10'000'000)
        return R::failure("--impair: delay=" + std::string(val) +
                          " must be microseconds, 0..10000000");
      c.delay = std::chrono::microseconds(*us);
    } else if (key == "seed") {
      auto seed = parse_uint<std::uint64_t>(val);
      if (!seed)
        return R::failure("--impair: seed=" + std::string(val) + " must be an unsigned integer");
      c.seed = *seed;
    } else if (key == "dir") {
      if (val == "rx") {
        c.direction = ImpairmentConfig::Direction::kRx;
      } else if (val == "tx") {
        c.direction = ImpairmentConfig::Direction::kTx;
      } else if (val == "both") {
        c.direction = ImpairmentConfig::Direction::kBoth;
      } else {
        return R::failure("--impair: dir=" + std::string(val) + " must be rx, tx or both");
      }
    } else {
      return R::failure(
          "--impair: unknown key " + quoted(key) +
          " (known: drop, dup, reorder, reorder_p, corrupt, ce, delay, delay_p, seed, dir)");
    }
    if (!s) return s;
  }
  if (c.reorder_window > 0 && !reorder_p_given) c.reorder = 0.1;
  return c;
}

// A counting option given once: "NAME must be a number from LO to HI" otherwise.
static Status set_count(std::optional<std::uint32_t>& out, std::string_view name,
                        std::string_view value, std::uint32_t lo, std::uint32_t hi) {
  if (out) return Status::error(std::string(name) + " given twice");
  const auto n = parse_uint<std::uint32_t>(value);
  if (!n || *n < lo || *n > hi) {
    return Status::error(std::string(name) + ": " + quoted(value) + " must be a number from " +
                         std::to_string(lo) + " to " + std::to_string(hi));
  }
  out = *n;
  return Status::ok();
}

Result<PortRange> parse_port_range(std::string_view text) {
  using R = Result<PortRange>;
  const auto dash = text.find('-');
  const auto bad = [&] {
    return R::failure("--local-ports: " + quoted(text) +
                      " must be FIRST-LAST with 1 <= FIRST <= LAST <= 65535");
  };
  if (dash == std::string_view::npos) return bad();
  const auto first = parse_uint<unsigned>(text.substr(0, dash));
  const auto last = parse_uint<unsigned>(text.substr(dash + 1));
  if (!first || !last || *first < 1 || *first > *last || *last > 65535) return bad();
  return PortRange{static_cast<std::uint16_t>(*first), static_cast<std::uint16_t>(*last)};
}

Result<ParsedStackOptions> parse_stack_options(std::span<const std::string> args) {
  using R = Result<ParsedStackOptions>;
  ParsedStackOptions out;
  StackOptions& o = out.options;
  std::size_t i = 0;
  if (!args.empty() && args[0] == "--") i = 1;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {  // the rest is the application's, verbatim
      out.rest.insert(out.rest.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                      args.end());
      break;
    }
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (const auto eq = name.find('='); name.starts_with("--") && eq != std::string_view::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const bool known = name == "--ip" || name == "--gw" || name == "--route" || name == "--mtu" ||
                       name == "--pcap" || name == "--impair" || name == "--engines" ||
                       name == "--max-connections" || name == "--ecn" || name == "--local-ports" ||
                       name == "--time-wait-max" || name == "--mbufs" || name == "--zero-copy-tx";
    if (!known) {
      out.rest.push_back(arg);
      continue;
    }
    std::string_view value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return R::failure(std::string(name) + " needs a value");
    }
    if (value.empty()) return R::failure(std::string(name) + " needs a value");

    if (name == "--ip") {
      auto a = parse_interface_address(value);
      if (!a) return a.status();
      o.addresses.push_back(*a);
    } else if (name == "--gw") {
      auto gw = IpAddr::parse(value);
      if (!gw) return R::failure("--gw: " + quoted(value) + " is not an IPv4 or IPv6 address");
      auto& slot = gw->is_v4() ? o.gateway_v4 : o.gateway_v6;
      if (slot)
        return R::failure("--gw given twice for IPv" + std::string(gw->is_v4() ? "4" : "6"));
      slot = *gw;
    } else if (name == "--route") {
      auto r = parse_route(value);
      if (!r) return r.status();
      o.routes.push_back(*r);
    } else if (name == "--mtu") {
      if (o.mtu) return R::failure("--mtu given twice");
      auto mtu = parse_uint<unsigned>(value);
      if (!mtu || *mtu < 68 || *mtu > 9600) {
        return R::failure("--mtu: " + quoted(value) + " must be a number from 68 to 9600");
      }
      o.mtu = static_cast<std::uint16_t>(*mtu);
    } else if (name == "--pcap") {
      if (!o.pcap_path.empty()) return R::failure("--pcap given twice");
      o.pcap_path = std::string(value);
    } else if (name == "--engines") {
      if (o.engines) return R::failure("--engines given twice");
      auto n = parse_uint<unsigned>(value);
      if (!n || *n < 1 || *n > 64) {
        return R::failure("--engines: " + quoted(value) + " must be a number from 1 to 64");
      }
      o.engines = static_cast<std::uint16_t>(*n);
    } else if (name == "--max-connections") {
      if (Status st = set_count(o.max_connections, name, value, 1, kMaxConnectionSlots); !st)
        return st;
    } else if (name == "--ecn") {
      if (o.ecn) return R::failure("--ecn given twice");
      if (value == "off")
        o.ecn = EcnMode::kOff;
      else if (value == "passive")
        o.ecn = EcnMode::kPassive;
      else if (value == "on")
        o.ecn = EcnMode::kOn;
      else
        return R::failure("--ecn: " + quoted(value) + " must be off, passive or on");
    } else if (name == "--local-ports") {
      if (o.local_ports) return R::failure("--local-ports given twice");
      auto r = parse_port_range(value);
      if (!r) return r.status();
      o.local_ports = *r;
    } else if (name == "--time-wait-max") {
      if (Status st = set_count(o.time_wait_max, name, value, 1, kMaxTimeWaitRecords); !st)
        return st;
    } else if (name == "--zero-copy-tx") {
      if (o.zero_copy_tx) return R::failure("--zero-copy-tx given twice");
      if (value != "on" && value != "off")
        return R::failure("--zero-copy-tx: " + quoted(value) + " must be on or off");
      o.zero_copy_tx = value == "on";
    } else if (name == "--mbufs") {
      if (Status st = set_count(o.mbufs, name, value, kMinMbufs, kMaxMbufs); !st) return st;
    } else if (name == "--impair") {
      if (o.impair) return R::failure("--impair given twice");
      auto c = parse_impairment(value);
      if (!c) return c.status();
      o.impair = *c;
    }
  }
  return out;
}

std::uint32_t default_max_connections(std::uint16_t engines) {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  const std::uint64_t ram =
      pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page)
                            : 0;
  // Slots are reserved address space and cost memory only once used, so the limit is
  // what the machine could hold, not what is set aside: an eighth of it at 8 KiB per
  // connection (its TCB and some data in flight).
  const std::uint64_t total =
      std::clamp<std::uint64_t>(ram / 8 / (8 * 1024), kMinDefaultSlots, kMaxDefaultSlots);
  return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(
      total / std::max<std::uint16_t>(engines, 1), 1024, kMaxConnectionSlots));
}

Result<ParsedStackOptions> parse_stack_options(int argc, char* const* argv) {
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i) args.emplace_back(argv[i]);
  return parse_stack_options(args);
}

}  // namespace shardtcp
