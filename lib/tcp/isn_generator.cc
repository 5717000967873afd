#include "tcp/isn_generator.h"

#include <sys/random.h>

#include <cstring>
#include <random>

namespace shardtcp {

namespace {

inline std::uint64_t rotl(std::uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

inline void sipround(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2, std::uint64_t& v3) {
  v0 += v1;
  v1 = rotl(v1, 13);
  v1 ^= v0;
  v0 = rotl(v0, 32);
  v2 += v3;
  v3 = rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = rotl(v1, 17);
  v1 ^= v2;
  v2 = rotl(v2, 32);
}

inline std::uint64_t load_le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

SipKey SipKey::random() {
  SipKey k;
  std::uint64_t buf[2];
  if (getrandom(buf, sizeof(buf), 0) == static_cast<ssize_t>(sizeof(buf))) {
    k.k0 = buf[0];
    k.k1 = buf[1];
  } else {
    std::random_device rd;  // fallback; getrandom only fails on ancient kernels
    k.k0 = (std::uint64_t{rd()} << 32) | rd();
    k.k1 = (std::uint64_t{rd()} << 32) | rd();
  }
  return k;
}

template <int C, int D>
std::uint64_t siphash(const SipKey& key, const void* data, std::size_t len) {
  const auto* in = static_cast<const std::uint8_t*>(data);
  std::uint64_t v0 = 0x736f6d6570736575ULL ^ key.k0;
  std::uint64_t v1 = 0x646f72616e646f6dULL ^ key.k1;
  std::uint64_t v2 = 0x6c7967656e657261ULL ^ key.k0;
  std::uint64_t v3 = 0x7465646279746573ULL ^ key.k1;
  const std::size_t whole = len & ~std::size_t{7};
  for (std::size_t i = 0; i < whole; i += 8) {
    const std::uint64_t m = load_le64(in + i);
    v3 ^= m;
    for (int r = 0; r < C; ++r) sipround(v0, v1, v2, v3);
    v0 ^= m;
  }
  std::uint64_t b = static_cast<std::uint64_t>(len) << 56;
  for (std::size_t i = 0; i < (len & 7); ++i) b |= std::uint64_t{in[whole + i]} << (8 * i);
  v3 ^= b;
  for (int r = 0; r < C; ++r) sipround(v0, v1, v2, v3);
  v0 ^= b;
  v2 ^= 0xff;
  for (int r = 0; r < D; ++r) sipround(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

template std::uint64_t siphash<2, 4>(const SipKey&, const void*, std::size_t);
template std::uint64_t siphash<1, 3>(const SipKey&, const void*, std::size_t);

std::size_t serialize_tuple(const TcpTuple& t, std::uint8_t* out) {
  std::size_t n = 0;
  out[n++] = static_cast<std::uint8_t>(t.local.addr.family());
  const std::size_t alen = t.local.addr.is_v6() ? 16 : 4;
  std::memcpy(out + n, t.local.addr.bytes(), alen);
  n += alen;
  std::memcpy(out + n, t.remote.addr.bytes(), alen);
  n += alen;
  out[n++] = static_cast<std::uint8_t>(t.local.port >> 8);
  out[n++] = static_cast<std::uint8_t>(t.local.port);
  out[n++] = static_cast<std::uint8_t>(t.remote.port >> 8);
  out[n++] = static_cast<std::uint8_t>(t.remote.port);
  return n;
}

std::uint64_t hash_tuple(const SipKey& key, const TcpTuple& t) {
  if (t.local.addr.is_v4()) {
    // Every table lookup hashes a tuple: IPv4's fits two whole SipHash blocks built
    // in registers (addresses; ports and family), with no byte-wise tail.
    std::uint32_t la, ra;
    std::memcpy(&la, t.local.addr.bytes(), 4);
    std::memcpy(&ra, t.remote.addr.bytes(), 4);
    const std::uint64_t words[2] = {
        la | (std::uint64_t{ra} << 32),
        t.local.port | (std::uint64_t{t.remote.port} << 16) |
            (std::uint64_t{static_cast<std::uint8_t>(IpFamily::kV4)} << 32)};
    return siphash13(key, words, sizeof words);
  }
  std::uint8_t buf[kTupleBytesMax];
  return siphash13(key, buf, serialize_tuple(t, buf));
}

SeqNum IsnGenerator::generate(const TcpTuple& t, Instant now) const {
  std::uint8_t buf[kTupleBytesMax];
  const std::uint32_t f = static_cast<std::uint32_t>(siphash24(key_, buf, serialize_tuple(t, buf)));
  return SeqNum(clock_term(now) + f);
}

}  // namespace shardtcp
