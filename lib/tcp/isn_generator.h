// Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport, remoteip,
// remoteport, secretkey), M a clock ticking every 4 microseconds (taken from the
// injected `now`), F a keyed pseudo-random function.
//
// F is SipHash-2-4 (Aumasson & Bernstein), written here: a PRF built for short
// inputs with a 128-bit key, so an off-path attacker who sees our ISNs for his own
// tuples learns nothing about the ISNs of other tuples (RFC 6528 §3 asks for a
// cryptographic hash). rte_jhash with a random seed is faster but is not a PRF: its
// seed can be recovered from outputs, which is exactly the attack RFC 6528 defends
// against. At ~20 ns per SYN the cost is irrelevant.
//
// This header also holds the two things every per-tuple TCP component shares: the
// 4-tuple value type `TcpTuple` and the keyed hash over it (SYN cookies, TIME_WAIT
// and the connection table reuse them; the tables use the faster SipHash-1-3).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/time.h"
#include "wire/ip_addr.h"
#include "wire/seq_num.h"

namespace shardtcp {

// A connection's identity, seen from this host: our endpoint and the peer's.
struct TcpTuple {
  Endpoint local;
  Endpoint remote;
  friend bool operator==(const TcpTuple&, const TcpTuple&) = default;
};

// 128-bit key for SipHash.
struct SipKey {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
  // A fresh key from the kernel's CSPRNG (getrandom); setup time only.
  static SipKey random();
};

// SipHash-c-d over a byte string. Rounds are template parameters so the ISN and
// cookies use the conservative 2-4 and hash tables the faster 1-3.
template <int C, int D>
std::uint64_t siphash(const SipKey& key, const void* data, std::size_t len);

inline std::uint64_t siphash24(const SipKey& key, const void* data, std::size_t len) {
  return siphash<2, 4>(key, data, len);
}
inline std::uint64_t siphash13(const SipKey& key, const void* data, std::size_t len) {
  return siphash<1, 3>(key, data, len);
}

// Serializes a tuple canonically (family, addresses, ports) into `out` (at least
// kTupleBytesMax); returns the number of bytes. Extra `salt` bytes let callers
// derive independent hash functions from one key.
inline constexpr std::size_t kTupleBytesMax = 1 + 16 + 16 + 2 + 2;
std::size_t serialize_tuple(const TcpTuple& t, std::uint8_t* out);

// SipHash-1-3 of the 12 bytes `head` then `tail`, each little-endian (equal to
// siphash13 over those bytes, with no byte loop): IPv4 tuples' hash.
std::uint64_t siphash13_12bytes(const SipKey& key, std::uint64_t head, std::uint32_t tail);

// Keyed hash of a tuple, SipHash-1-3: for hash tables on the packet path.
std::uint64_t hash_tuple(const SipKey& key, const TcpTuple& t);

class IsnGenerator {
 public:
  explicit IsnGenerator(const SipKey& key) : key_(key) {}
  // ISN for a new connection on `t` at `now`.
  SeqNum generate(const TcpTuple& t, Instant now) const;
  // The M term alone: a 32-bit counter of 4 µs ticks since the clock's epoch.
  static std::uint32_t clock_term(Instant now) {
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(now.ns) / 4000u);
  }

 private:
  SipKey key_;
};

}  // namespace shardtcp
