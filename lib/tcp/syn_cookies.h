// SYN cookies, as Linux does them (net/ipv4/syncookies.c): when the SYN queue is
// full a listener answers with an ISN that encodes what it must remember, and keeps
// no state until the final ACK proves the peer received the SYN-ACK.
//
//   cookie = H0(tuple) + client_isn + (count << 24)
//            + ((H1(tuple, count, client_isn) + mss_index) & 0xffffff)
//
// count is a minute counter from the injected `now`; H0/H1 are SipHash-2-4 with a
// secret key. Unlike Linux, H1 also covers the client's ISN, so an ACK whose
// sequence number is off by a few cannot decode to a neighbouring MSS index. On validation the
// 8-bit count must be at most kMaxAge-1 minutes old and the low 24 bits must leave a valid MSS
// index after subtracting H1: a forger without the key succeeds with probability 4 / 2^24 per
// guess. When the peer offered timestamps, the options a SYN-ACK negotiated that do not fit in the
// ISN (the peer's window scale, SACK) ride in the low 6 bits of our TSval and come back in the
// ACK's TSecr. Without timestamps the connection runs without window scaling and SACK, as on Linux.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "common/time.h"
#include "tcp/isn_generator.h"
#include "wire/seq_num.h"

namespace shardtcp {

// What the listener learned from the SYN and must get back from the cookie.
// Field-compatible with Tcb's CookieOptions (tcb.h).
struct SynCookieOptions {
  std::uint16_t mss = 536;                   // from the MSS table (<= the peer's MSS)
  std::optional<std::uint8_t> window_scale;  // the peer's shift, when both offered it
  bool sack = false;
  bool timestamps = false;
  friend bool operator==(const SynCookieOptions&, const SynCookieOptions&) = default;
};

// The SYN's offer, as the listener accepted it.
struct SynCookieRequest {
  std::uint16_t peer_mss = 536;                   // the SYN's MSS option (536 if absent)
  std::optional<std::uint8_t> peer_window_scale;  // the SYN's WS option, if we scale too
  bool sack = false;                              // SACK-permitted, if we do SACK
  bool timestamps = false;                        // the SYN carried TS and we use it
  std::uint32_t ts_now = 0;                       // our timestamp clock now (TSval base)
};

struct SynCookie {
  SeqNum isn;                          // our ISN for the SYN-ACK
  std::optional<std::uint32_t> tsval;  // our TSval for the SYN-ACK when timestamps are on
  std::uint16_t mss = 536;             // the MSS the cookie will decode to
};

class SynCookies {
 public:
  static constexpr std::int64_t kPeriodNs = 60'000'000'000;  // one count per minute
  static constexpr std::uint32_t kMaxAge = 2;                // counts accepted: now, now-1
  static constexpr std::uint32_t kTsOptBits = 6;             // low TSval bits carrying options
  static constexpr std::uint32_t kTsOptMask = (1u << kTsOptBits) - 1;
  static constexpr std::uint8_t kTsNoWindowScale = 0x0f;
  static constexpr std::array<std::uint16_t, 4> kMssTableV4 = {536, 1300, 1440, 1460};
  static constexpr std::array<std::uint16_t, 4> kMssTableV6 = {1220, 1340, 1440, 1460};

  explicit SynCookies(const SipKey& key) : key_(key) {}

  // `t` is from the listener's side (local = listener address). `client_isn` is the
  // SYN's sequence number.
  SynCookie encode(const TcpTuple& t, SeqNum client_isn, const SynCookieRequest& req,
                   Instant now) const;
  // `cookie_isn` = the ACK's ack - 1, `client_isn` = the ACK's seq - 1, `tsecr` the
  // ACK's TSecr when it carried timestamps. nullopt: not a cookie of ours (forged,
  // expired, or for another tuple).
  std::optional<SynCookieOptions> validate(const TcpTuple& t, SeqNum cookie_isn, SeqNum client_isn,
                                           Instant now, std::optional<std::uint32_t> tsecr) const;

  static std::uint32_t count_at(Instant now) {
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(now.ns) / kPeriodNs);
  }

 private:
  std::uint32_t h(const TcpTuple& t, std::uint32_t count, std::uint8_t which,
                  SeqNum client_isn) const;
  SipKey key_;
};

}  // namespace shardtcp
