// UDP wire codec (RFC 768, RFC 8200 §8.1): a length-checked view over the
// rte_udp_hdr layout, checksum verification (a zero checksum means "none" on IPv4
// and is accepted; on IPv6 it is invalid and dropped), and the header emitter. The
// pseudo-header checksum helpers are shared with TCP (wire/tcp.h).
#pragma once

#include <rte_byteorder.h>
#include <rte_udp.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "wire/ip_addr.h"
#include "wire/tcp.h"

namespace shardtcp {

enum class UdpWireDrop : std::uint8_t {
  kNone,
  kTruncated,       // fewer than 8 bytes
  kBadLength,       // length field < 8 or > bytes received
  kBadChecksum,     // checksum does not verify
  kZeroChecksumV6,  // checksum 0 over IPv6 (RFC 8200 §8.1: must be dropped)
  kCount,
};
inline constexpr const char* kUdpWireDropNames[] = {"udp_rx_ok", "udp_rx_truncated",
                                                    "udp_rx_bad_length", "udp_rx_bad_checksum",
                                                    "udp_rx_zero_checksum_v6"};
static_assert(std::size(kUdpWireDropNames) == static_cast<std::size_t>(UdpWireDrop::kCount));

class UdpView {
 public:
  static constexpr std::size_t kHeaderLen = sizeof(rte_udp_hdr);  // 8

  // `len` is the L4 length available (IP payload length). Bytes past the UDP length
  // field are ignored.
  static std::optional<UdpView> parse(const std::uint8_t* data, std::size_t len,
                                      UdpWireDrop* why = nullptr);

  std::uint16_t src_port() const { return be16(offsetof(rte_udp_hdr, src_port)); }
  std::uint16_t dst_port() const { return be16(offsetof(rte_udp_hdr, dst_port)); }
  std::uint16_t length() const { return be16(offsetof(rte_udp_hdr, dgram_len)); }
  std::uint16_t checksum() const { return be16(offsetof(rte_udp_hdr, dgram_cksum)); }
  const std::uint8_t* data() const { return data_; }
  const std::uint8_t* payload() const { return data_ + kHeaderLen; }
  std::size_t payload_len() const { return length() - kHeaderLen; }

 private:
  explicit UdpView(const std::uint8_t* d) : data_(d) {}
  std::uint16_t be16(std::size_t off) const {
    rte_be16_t v;
    std::memcpy(&v, data_ + off, sizeof(v));
    return rte_be_to_cpu_16(v);
  }
  const std::uint8_t* data_;
};

// Checksum check for a parsed datagram (covers length() bytes).
UdpWireDrop verify_udp_checksum(const IpAddr& src, const IpAddr& dst, const UdpView& v);

// Receive path in one call: view, then checksum unless the port vouched for it.
std::optional<UdpView> decode_udp(const IpAddr& src, const IpAddr& dst, const std::uint8_t* l4,
                                  std::size_t len, bool verify_checksum, UdpWireDrop* why);

// Writes the 8-byte header for `payload_len` bytes of payload, checksum 0 (fill it
// with udp_finish_checksum, or leave the pseudo-header sum for offload). Returns 8,
// or 0 if `cap` < 8 or the datagram would exceed 65535 bytes.
std::size_t emit_udp_header(std::uint8_t* buf, std::size_t cap, std::uint16_t src_port,
                            std::uint16_t dst_port, std::size_t payload_len);

// Computes and stores the checksum of a complete datagram (header + payload,
// contiguous) whose checksum field is 0.
void udp_finish_checksum(const IpAddr& src, const IpAddr& dst, std::uint8_t* dgram,
                         std::size_t len);

// Stores a checksum value (wire order, as returned by l4_checksum) into a UDP header.
inline void set_udp_checksum(std::uint8_t* udp_hdr, std::uint16_t cksum) {
  std::memcpy(udp_hdr + offsetof(rte_udp_hdr, dgram_cksum), &cksum, sizeof(cksum));
}

}  // namespace shardtcp
