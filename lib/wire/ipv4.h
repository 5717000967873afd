// IPv4 header (RFC 791): a validated, length-checked view over rte_ipv4_hdr's layout
// and an emitter. Options are skipped (kept inside header_len()) but not interpreted.
#pragma once

#include <rte_byteorder.h>
#include <rte_ip.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "wire/ip_addr.h"

namespace shardtcp {

// Why a received IPv4 header was rejected; one drop counter each.
enum class Ipv4Error : std::uint8_t {
  kNone,
  kTruncated,    // fewer than 20 bytes, or fewer than IHL*4
  kBadVersion,   // version != 4
  kBadIhl,       // IHL < 5
  kBadLength,    // total length < IHL*4 or > bytes received
  kBadChecksum,  // header checksum does not verify
};

inline constexpr std::uint8_t kIpProtoIcmp = 1;
inline constexpr std::uint8_t kIpProtoTcp = 6;
inline constexpr std::uint8_t kIpProtoUdp = 17;

class Ipv4View {
 public:
  static constexpr std::size_t kMinHeaderLen = sizeof(rte_ipv4_hdr);  // 20

  // `len` is the number of bytes available from `data` (the rest of the frame).
  // With verify_checksum false the caller vouches for the header checksum (a port
  // that reported RTE_MBUF_F_RX_IP_CKSUM_GOOD).
  static std::optional<Ipv4View> parse(const std::uint8_t* data, std::size_t len,
                                       bool verify_checksum = true, Ipv4Error* why = nullptr) {
    return parse_split(data, len, len, verify_checksum, why);
  }
  // For a header in the first segment of a chain: `contiguous` bytes are readable
  // at `data`, `total` bytes exist in the whole packet from `data` on. payload()
  // then covers only the contiguous part; payload_len() is the datagram's.
  static std::optional<Ipv4View> parse_split(const std::uint8_t* data, std::size_t contiguous,
                                             std::size_t total, bool verify_checksum,
                                             Ipv4Error* why);

  std::uint8_t version() const { return data_[0] >> 4; }
  std::size_t header_len() const { return static_cast<std::size_t>(data_[0] & 0x0f) * 4; }
  std::uint8_t tos() const { return data_[offsetof(rte_ipv4_hdr, type_of_service)]; }
  std::uint16_t total_length() const { return be16(offsetof(rte_ipv4_hdr, total_length)); }
  std::uint16_t id() const { return be16(offsetof(rte_ipv4_hdr, packet_id)); }
  std::uint16_t frag_field() const { return be16(offsetof(rte_ipv4_hdr, fragment_offset)); }
  bool dont_fragment() const { return (frag_field() & RTE_IPV4_HDR_DF_FLAG) != 0; }
  bool more_fragments() const { return (frag_field() & RTE_IPV4_HDR_MF_FLAG) != 0; }
  // In bytes.
  std::uint32_t fragment_offset() const {
    return static_cast<std::uint32_t>(frag_field() & RTE_IPV4_HDR_OFFSET_MASK) *
           RTE_IPV4_HDR_OFFSET_UNITS;
  }
  bool is_fragment() const { return more_fragments() || fragment_offset() != 0; }
  std::uint8_t ttl() const { return data_[offsetof(rte_ipv4_hdr, time_to_live)]; }
  std::uint8_t protocol() const { return data_[offsetof(rte_ipv4_hdr, next_proto_id)]; }
  std::uint16_t checksum() const { return be16(offsetof(rte_ipv4_hdr, hdr_checksum)); }
  std::uint32_t src_be() const { return raw32(offsetof(rte_ipv4_hdr, src_addr)); }
  std::uint32_t dst_be() const { return raw32(offsetof(rte_ipv4_hdr, dst_addr)); }
  IpAddr src() const { return IpAddr::v4_be(src_be()); }
  IpAddr dst() const { return IpAddr::v4_be(dst_be()); }

  const std::uint8_t* data() const { return data_; }
  const std::uint8_t* payload() const { return data_ + header_len(); }
  // Datagram payload length per total_length (excludes Ethernet padding).
  std::size_t payload_len() const { return total_length() - header_len(); }
  // Payload bytes readable at payload() (may be less than payload_len() for chains).
  std::size_t contiguous_payload_len() const {
    return std::min<std::size_t>(payload_len(), contiguous_ - header_len());
  }

 private:
  Ipv4View(const std::uint8_t* d, std::size_t contiguous) : data_(d), contiguous_(contiguous) {}
  std::uint16_t be16(std::size_t off) const {
    rte_be16_t v;
    std::memcpy(&v, data_ + off, sizeof(v));
    return rte_be_to_cpu_16(v);
  }
  std::uint32_t raw32(std::size_t off) const {
    std::uint32_t v;
    std::memcpy(&v, data_ + off, sizeof(v));
    return v;
  }
  const std::uint8_t* data_;
  std::size_t contiguous_;
};

struct Ipv4Header {
  IpAddr src;
  IpAddr dst;
  std::uint8_t protocol = 0;
  std::uint8_t ttl = 64;
  std::uint8_t tos = 0;
  std::uint16_t id = 0;
  bool dont_fragment = false;
  bool more_fragments = false;
  std::uint32_t fragment_offset = 0;  // bytes, multiple of 8
  std::uint16_t payload_len = 0;
};

// Writes a 20-byte header (no options). With fill_checksum false the checksum field
// is left 0 for the device (RTE_MBUF_F_TX_IP_CKSUM). Returns 20, or 0 if `cap` is too
// small, an address is not IPv4, or the total length overflows 16 bits.
std::size_t emit_ipv4(std::uint8_t* buf, std::size_t cap, const Ipv4Header& h,
                      bool fill_checksum = true);

}  // namespace shardtcp
