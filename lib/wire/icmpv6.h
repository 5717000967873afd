// ICMPv6 (RFC 4443) and the Neighbor Discovery messages (RFC 4861): a length-checked
// view, the quote an error carries (the offending IPv6 packet, extension headers
// walked to its L4 header), NDP message and option parsing, and emitters. Checksums
// cover the IPv6 pseudo-header, so emitters leave the field 0 and
// set_icmpv6_checksum fills it once the message is complete.
#pragma once

#include <rte_ether.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "wire/icmp.h"
#include "wire/ip_addr.h"

namespace shardtcp {

inline constexpr std::uint8_t kIcmp6DestUnreachable = 1;
inline constexpr std::uint8_t kIcmp6PacketTooBig = 2;
inline constexpr std::uint8_t kIcmp6TimeExceeded = 3;
inline constexpr std::uint8_t kIcmp6ParameterProblem = 4;
inline constexpr std::uint8_t kIcmp6EchoRequest = 128;
inline constexpr std::uint8_t kIcmp6EchoReply = 129;
inline constexpr std::uint8_t kIcmp6RouterSolicit = 133;
inline constexpr std::uint8_t kIcmp6RouterAdvert = 134;
inline constexpr std::uint8_t kIcmp6NeighborSolicit = 135;
inline constexpr std::uint8_t kIcmp6NeighborAdvert = 136;
inline constexpr std::uint8_t kIcmp6Redirect = 137;

// Destination unreachable codes (RFC 4443 §3.1).
inline constexpr std::uint8_t kIcmp6CodeNoRoute = 0;
inline constexpr std::uint8_t kIcmp6CodeAdminProhibited = 1;
inline constexpr std::uint8_t kIcmp6CodeBeyondScope = 2;
inline constexpr std::uint8_t kIcmp6CodeAddressUnreachable = 3;
inline constexpr std::uint8_t kIcmp6CodePortUnreachable = 4;
// Parameter problem codes (§3.4).
inline constexpr std::uint8_t kIcmp6CodeErroneousField = 0;
inline constexpr std::uint8_t kIcmp6CodeUnknownNextHeader = 1;
inline constexpr std::uint8_t kIcmp6CodeUnknownOption = 2;

// ND option types (RFC 4861 §4.6).
inline constexpr std::uint8_t kNdOptSourceLinkAddr = 1;
inline constexpr std::uint8_t kNdOptTargetLinkAddr = 2;
inline constexpr std::uint8_t kNdOptPrefixInfo = 3;
inline constexpr std::uint8_t kNdOptMtu = 5;

// Minimum IPv6 MTU (RFC 8200 §5): errors are cut to fit in it.
inline constexpr std::size_t kIpv6MinMtu = 1280;

class Icmpv6View {
 public:
  static constexpr std::size_t kHeaderLen = 8;
  static std::optional<Icmpv6View> parse(const std::uint8_t* data, std::size_t len) {
    if (data == nullptr || len < kHeaderLen) return std::nullopt;
    return Icmpv6View(data, len);
  }
  std::uint8_t type() const { return data_[0]; }
  std::uint8_t code() const { return data_[1]; }
  std::uint16_t checksum() const { return be16(2); }
  std::uint16_t ident() const { return be16(4); }
  std::uint16_t seq() const { return be16(6); }
  // Packet too big: MTU; parameter problem: pointer.
  std::uint32_t word1() const {
    return (std::uint32_t{data_[4]} << 24) | (std::uint32_t{data_[5]} << 16) |
           (std::uint32_t{data_[6]} << 8) | data_[7];
  }
  bool is_error() const { return type() < 128; }
  const std::uint8_t* data() const { return data_; }
  std::size_t len() const { return len_; }
  const std::uint8_t* payload() const { return data_ + kHeaderLen; }
  std::size_t payload_len() const { return len_ - kHeaderLen; }

 private:
  Icmpv6View(const std::uint8_t* d, std::size_t l) : data_(d), len_(l) {}
  std::uint16_t be16(std::size_t o) const {
    return static_cast<std::uint16_t>((data_[o] << 8) | data_[o + 1]);
  }
  const std::uint8_t* data_;
  std::size_t len_;
};

bool icmpv6_checksum_ok(const IpAddr& src, const IpAddr& dst, const std::uint8_t* msg,
                        std::size_t len);
void set_icmpv6_checksum(const IpAddr& src, const IpAddr& dst, std::uint8_t* msg, std::size_t len);

// Parses the quote of an ICMPv6 error: an IPv6 header, its extension headers, and at
// least 8 bytes of its L4 header (the same IcmpQuote as IPv4).
std::optional<IcmpQuote> parse_icmpv6_quote(const std::uint8_t* data, std::size_t len);

struct NdPrefix {
  IpAddr prefix;
  std::uint8_t prefix_len = 0;
  bool on_link = false;
  bool autonomous = false;
  std::uint32_t valid_lifetime = 0;  // seconds; 0xffffffff = infinity
  std::uint32_t preferred_lifetime = 0;
};

struct NdOptions {
  std::optional<rte_ether_addr> source_link;
  std::optional<rte_ether_addr> target_link;
  std::optional<std::uint32_t> mtu;
  std::array<NdPrefix, 4> prefixes{};
  std::uint8_t prefix_count = 0;
};

// Walks ND options; false if one has length 0 or runs past `len` (RFC 4861: drop).
bool parse_nd_options(const std::uint8_t* opts, std::size_t len, NdOptions* out);

struct NdSolicit {  // neighbour solicitation
  IpAddr target;
  NdOptions options;
};
struct NdAdvert {  // neighbour advertisement
  IpAddr target;
  bool router = false, solicited = false, override_flag = false;
  NdOptions options;
};
struct RouterAdvert {
  std::uint8_t cur_hop_limit = 0;
  bool managed = false, other = false;
  std::uint16_t router_lifetime = 0;  // seconds; 0: not a default router
  std::uint32_t reachable_time = 0;   // ms; 0: unspecified
  std::uint32_t retrans_timer = 0;    // ms
  NdOptions options;
};

// Each takes the whole ICMPv6 message (header included) and checks the RFC 4861
// validity rules that do not need the IP header (code 0, lengths, target not
// multicast, options well formed). Hop limit 255 and the source are checked by the
// caller.
std::optional<NdSolicit> parse_neighbor_solicit(const std::uint8_t* msg, std::size_t len);
std::optional<NdAdvert> parse_neighbor_advert(const std::uint8_t* msg, std::size_t len);
std::optional<RouterAdvert> parse_router_advert(const std::uint8_t* msg, std::size_t len);

// Emitters write the message with checksum 0 and return its length (0: too small).
// NS with an optional source link-layer option (omitted for DAD, RFC 4862 §5.4.2).
std::size_t emit_neighbor_solicit(std::uint8_t* buf, std::size_t cap, const IpAddr& target,
                                  const rte_ether_addr* source_link);
std::size_t emit_neighbor_advert(std::uint8_t* buf, std::size_t cap, const IpAddr& target,
                                 bool router, bool solicited, bool override_flag,
                                 const rte_ether_addr* target_link);
std::size_t emit_router_solicit(std::uint8_t* buf, std::size_t cap,
                                const rte_ether_addr* source_link);
std::size_t emit_icmpv6_echo_header(std::uint8_t* buf, std::size_t cap, std::uint8_t type,
                                    std::uint16_t ident, std::uint16_t seq);
// An error (type < 128) with `word1` (MTU, pointer) quoting `quote`.
std::size_t emit_icmpv6_error(std::uint8_t* buf, std::size_t cap, std::uint8_t type,
                              std::uint8_t code, std::uint32_t word1, const std::uint8_t* quote,
                              std::size_t quote_len);

// Addresses derived by rule (RFC 4291 §2.5.1, §2.7.1; RFC 2464 §4, §7).
IpAddr ipv6_link_local_from_mac(const rte_ether_addr& mac);  // fe80::/64 + modified EUI-64
IpAddr ipv6_solicited_node(const IpAddr& a);                 // ff02::1:ffXX:XXXX
IpAddr ipv6_all_nodes();                                     // ff02::1
IpAddr ipv6_all_routers();                                   // ff02::2
rte_ether_addr ipv6_multicast_mac(const IpAddr& group);      // 33:33 + low 32 bits
inline bool ipv6_is_link_local(const IpAddr& a) {
  return a.is_v6() && a.bytes()[0] == 0xfe && (a.bytes()[1] & 0xc0) == 0x80;
}

}  // namespace shardtcp
