// IPv6 header (RFC 8200): a length-checked view over rte_ipv6_hdr's layout, an
// emitter, and the extension-header walk a host does on receipt (§4): hop-by-hop
// (first only), routing, fragment and destination options are understood; options
// are processed by their action bits (§4.2); anything else is the upper-layer
// protocol, which the caller accepts or answers with a parameter problem.
#pragma once

#include <rte_byteorder.h>
#include <rte_ip.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "wire/ip_addr.h"

namespace shardtcp {

inline constexpr std::uint8_t kIpProtoHopByHop = 0;
inline constexpr std::uint8_t kIpProtoRouting = 43;
inline constexpr std::uint8_t kIpProtoFragment = 44;
inline constexpr std::uint8_t kIpProtoIcmpv6 = 58;
inline constexpr std::uint8_t kIpProtoNoNext = 59;
inline constexpr std::uint8_t kIpProtoDestOptions = 60;

enum class Ipv6Error : std::uint8_t {
  kNone,
  kTruncated,   // fewer than 40 bytes
  kBadVersion,  // version != 6
  kBadLength,   // payload length runs past the bytes received (jumbograms unsupported)
};

class Ipv6View {
 public:
  static constexpr std::size_t kHeaderLen = sizeof(rte_ipv6_hdr);  // 40

  // `contiguous` bytes are readable at `data`, `total` exist from `data` on.
  static std::optional<Ipv6View> parse(const std::uint8_t* data, std::size_t contiguous,
                                       std::size_t total, Ipv6Error* why = nullptr);

  std::uint8_t version() const { return data_[0] >> 4; }
  std::uint8_t traffic_class() const {
    return static_cast<std::uint8_t>(((data_[0] & 0x0f) << 4) | (data_[1] >> 4));
  }
  std::uint32_t flow_label() const {
    return (std::uint32_t{data_[1] & 0x0fu} << 16) | (std::uint32_t{data_[2]} << 8) | data_[3];
  }
  std::uint16_t payload_length() const {
    return static_cast<std::uint16_t>((data_[4] << 8) | data_[5]);
  }
  std::uint8_t next_header() const { return data_[6]; }
  std::uint8_t hop_limit() const { return data_[7]; }
  IpAddr src() const { return IpAddr::v6(data_ + 8); }
  IpAddr dst() const { return IpAddr::v6(data_ + 24); }
  const std::uint8_t* data() const { return data_; }

 private:
  explicit Ipv6View(const std::uint8_t* d) : data_(d) {}
  const std::uint8_t* data_;
};

struct Ipv6Header {
  IpAddr src;
  IpAddr dst;
  std::uint8_t next_header = 0;
  std::uint8_t hop_limit = 64;
  std::uint8_t traffic_class = 0;
  std::uint32_t flow_label = 0;
  std::uint16_t payload_len = 0;  // bytes after the fixed header (extensions included)
};

// Writes the 40-byte fixed header. Returns 40, or 0 if `cap` is too small or an
// address is not IPv6.
std::size_t emit_ipv6(std::uint8_t* buf, std::size_t cap, const Ipv6Header& h);

// Writes an 8-byte fragment header (RFC 8200 §4.5). Returns 8 or 0.
std::size_t emit_ipv6_fragment_header(std::uint8_t* buf, std::size_t cap, std::uint8_t next_header,
                                      std::uint32_t offset_bytes, bool more, std::uint32_t id);

// Outcome of walking the extension headers of a received packet.
enum class Ipv6ExtResult : std::uint8_t {
  kOk,                // upper_proto / l4_offset are valid (or a fragment was found)
  kTruncated,         // a header runs past the packet: drop
  kDiscard,           // an option with action 01 (or 11 to multicast): drop silently
  kParameterProblem,  // drop and send ICMPv6 parameter problem (problem_code/pointer)
  kTooManyHeaders,    // more than kMaxExtensionHeaders: drop
};

struct Ipv6ExtInfo {
  std::uint8_t upper_proto = 0;       // first header that is not an extension header
  std::uint32_t l4_offset = 0;        // from the start of the IPv6 header
  std::uint32_t next_header_pos = 6;  // offset of the field that named upper_proto
  std::uint8_t header_count = 0;
  bool fragment = false;          // a fragment header with offset or M set (reassemble first)
  std::uint32_t frag_offset = 0;  // bytes
  bool more_fragments = false;
  std::uint32_t frag_id = 0;
  std::uint32_t frag_header_pos = 0;  // offset of the fragment header
  std::uint8_t problem_code = 0;      // ICMPv6 parameter problem code (0, 1 or 2)
  std::uint32_t problem_pointer = 0;  // offset of the offending byte
};

inline constexpr std::uint8_t kMaxExtensionHeaders = 8;

// Walks from the fixed header at `pkt` (`len` bytes of header chain readable; the
// IPv6 payload length must already be validated). `dst_multicast` selects the action
// of option type 11. Stops at the first fragment header of a real fragment (the rest
// is walked again after reassembly) and at the first non-extension header.
Ipv6ExtResult walk_ipv6_extensions(const std::uint8_t* pkt, std::size_t len, bool dst_multicast,
                                   Ipv6ExtInfo* out);

}  // namespace shardtcp
