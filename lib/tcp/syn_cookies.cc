#include "tcp/syn_cookies.h"

#include <algorithm>
#include <cstring>

namespace shardtcp {

namespace {

constexpr std::uint32_t kCookieBits = 24;
constexpr std::uint32_t kCookieMask = (1u << kCookieBits) - 1;

const std::array<std::uint16_t, 4>& table_for(const TcpTuple& t) {
  return t.local.addr.is_v6() ? SynCookies::kMssTableV6 : SynCookies::kMssTableV4;
}

}  // namespace

std::uint32_t SynCookies::h(const TcpTuple& t, std::uint32_t count, std::uint8_t which,
                            SeqNum client_isn) const {
  std::uint8_t buf[kTupleBytesMax + 9];
  std::size_t n = serialize_tuple(t, buf);
  std::memcpy(buf + n, &count, 4);
  n += 4;
  const std::uint32_t isn = client_isn.raw();
  std::memcpy(buf + n, &isn, 4);
  n += 4;
  buf[n++] = which;
  return static_cast<std::uint32_t>(siphash24(key_, buf, n));
}

SynCookie SynCookies::encode(const TcpTuple& t, SeqNum client_isn, const SynCookieRequest& req,
                             Instant now) const {
  const auto& table = table_for(t);
  // Largest table entry not above the peer's MSS; the smallest entry otherwise.
  std::uint32_t idx = table.size() - 1;
  while (idx > 0 && req.peer_mss < table[idx]) --idx;
  const std::uint32_t count = count_at(now);
  SynCookie c;
  c.mss = table[idx];
  c.isn = client_isn + h(t, 0, 0, SeqNum(0)) + (count << kCookieBits) +
          ((h(t, count, 1, client_isn) + idx) & kCookieMask);
  if (req.timestamps) {
    std::uint32_t opts = req.peer_window_scale ? (*req.peer_window_scale & 0x0f) : kTsNoWindowScale;
    if (req.sack) opts |= 1u << 4;
    // Replace the low bits of our clock; step back one unit if that would put the
    // TSval in the future (a peer must never see our clock jump forward).
    std::uint32_t ts = (req.ts_now & ~kTsOptMask) | opts;
    if (static_cast<std::int32_t>(ts - req.ts_now) > 0) ts -= kTsOptMask + 1;
    c.tsval = ts;
  }
  return c;
}

std::optional<SynCookieOptions> SynCookies::validate(const TcpTuple& t, SeqNum cookie_isn,
                                                     SeqNum client_isn, Instant now,
                                                     std::optional<std::uint32_t> tsecr) const {
  const std::uint32_t c = cookie_isn.raw() - h(t, 0, 0, SeqNum(0)) - client_isn.raw();
  const std::uint32_t count = count_at(now);
  const std::uint32_t age = (count - (c >> kCookieBits)) & (0xffffffffu >> kCookieBits);
  if (age >= kMaxAge) return std::nullopt;
  const std::uint32_t idx = (c - h(t, count - age, 1, client_isn)) & kCookieMask;
  const auto& table = table_for(t);
  if (idx >= table.size()) return std::nullopt;
  SynCookieOptions o;
  o.mss = table[idx];
  if (tsecr) {
    o.timestamps = true;
    const std::uint32_t ws = *tsecr & 0x0f;
    if (ws != kTsNoWindowScale) o.window_scale = static_cast<std::uint8_t>(std::min(ws, 14u));
    o.sack = (*tsecr & (1u << 4)) != 0;
  }
  return o;
}

}  // namespace shardtcp
