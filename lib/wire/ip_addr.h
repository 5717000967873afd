// Family-tagged IP addresses and endpoints, so IPv6 fits without rewriting callers.
// Bytes are kept in network order; an IPv4 address uses the first four bytes.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace shardtcp {

enum class IpFamily : std::uint8_t { kNone = 0, kV4 = 4, kV6 = 6 };

class IpAddr {
 public:
  constexpr IpAddr() = default;

  // From a network-order IPv4 value (as in struct in_addr / rte_ipv4_hdr).
  static IpAddr v4_be(std::uint32_t be) {
    IpAddr a;
    a.family_ = IpFamily::kV4;
    std::memcpy(a.bytes_.data(), &be, 4);
    return a;
  }
  // From host-order a.b.c.d packed as 0xAABBCCDD.
  static IpAddr v4(std::uint32_t host) {
    IpAddr a;
    a.family_ = IpFamily::kV4;
    a.bytes_[0] = static_cast<std::uint8_t>(host >> 24);
    a.bytes_[1] = static_cast<std::uint8_t>(host >> 16);
    a.bytes_[2] = static_cast<std::uint8_t>(host >> 8);
    a.bytes_[3] = static_cast<std::uint8_t>(host);
    return a;
  }
  static IpAddr v6(const std::uint8_t (&b)[16]) {
    IpAddr a;
    a.family_ = IpFamily::kV6;
    std::memcpy(a.bytes_.data(), b, 16);
    return a;
  }
  static IpAddr v6(const std::uint8_t* b) {
    IpAddr a;
    a.family_ = IpFamily::kV6;
    std::memcpy(a.bytes_.data(), b, 16);
    return a;
  }
  // Parses dotted-quad or RFC 4291 text. nullopt on bad input.
  static std::optional<IpAddr> parse(std::string_view text);

  IpFamily family() const { return family_; }
  bool is_v4() const { return family_ == IpFamily::kV4; }
  bool is_v6() const { return family_ == IpFamily::kV6; }
  bool is_none() const { return family_ == IpFamily::kNone; }
  const std::uint8_t* bytes() const { return bytes_.data(); }
  std::size_t size() const { return is_v4() ? 4 : is_v6() ? 16 : 0; }

  std::uint32_t v4_be() const {
    std::uint32_t be;
    std::memcpy(&be, bytes_.data(), 4);
    return be;
  }
  std::uint32_t v4_host() const {
    return (std::uint32_t{bytes_[0]} << 24) | (std::uint32_t{bytes_[1]} << 16) |
           (std::uint32_t{bytes_[2]} << 8) | bytes_[3];
  }

  bool is_unspecified() const;  // 0.0.0.0 or ::
  bool is_multicast() const;    // 224/4 or ff00::/8
  bool is_broadcast() const;    // 255.255.255.255 (subnet broadcast needs the route table)
  bool is_loopback() const;

  // Keeps the first `prefix_len` bits, zeroes the rest.
  IpAddr masked(unsigned prefix_len) const;
  // Whether this address lies in prefix/prefix_len: the first prefix_len bits equal
  // (same family; the prefix's host bits are not looked at).
  bool in_prefix(const IpAddr& prefix, unsigned prefix_len) const;

  std::string to_string() const;

  // Two 8-byte words and the family, not the defaulted member-wise compare: that one
  // calls memcmp for the 16 bytes, and every received segment compares addresses
  // (local-address checks, the connection table).
  friend bool operator==(const IpAddr& a, const IpAddr& b) {
    std::uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a.bytes_.data(), 8);
    std::memcpy(&a1, a.bytes_.data() + 8, 8);
    std::memcpy(&b0, b.bytes_.data(), 8);
    std::memcpy(&b1, b.bytes_.data() + 8, 8);
    return a.family_ == b.family_ && ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }

 private:
  IpFamily family_ = IpFamily::kNone;
  std::array<std::uint8_t, 16> bytes_{};
};

// A (address, port) pair; port in host order.
struct Endpoint {
  IpAddr addr;
  std::uint16_t port = 0;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

}  // namespace shardtcp
