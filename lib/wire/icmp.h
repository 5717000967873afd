// ICMPv4 (RFC 792): a length-checked view over rte_icmp_hdr's layout, the quote an
// ICMP error carries (the offending IPv4 header plus at least 8 bytes of its payload),
// and emitters for echo messages and errors.
#pragma once

#include <rte_byteorder.h>
#include <rte_icmp.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "wire/ip_addr.h"

namespace shardtcp {

inline constexpr std::uint8_t kIcmpEchoReply = RTE_IP_ICMP_ECHO_REPLY;  // 0
inline constexpr std::uint8_t kIcmpDestUnreachable = 3;
inline constexpr std::uint8_t kIcmpEchoRequest = RTE_IP_ICMP_ECHO_REQUEST;  // 8
inline constexpr std::uint8_t kIcmpTimeExceeded = 11;
inline constexpr std::uint8_t kIcmpParameterProblem = 12;

// Destination-unreachable codes we generate or act on.
inline constexpr std::uint8_t kIcmpCodeNetUnreachable = 0;
inline constexpr std::uint8_t kIcmpCodeHostUnreachable = 1;
inline constexpr std::uint8_t kIcmpCodeProtoUnreachable = 2;
inline constexpr std::uint8_t kIcmpCodePortUnreachable = 3;
inline constexpr std::uint8_t kIcmpCodeFragNeeded = 4;

class IcmpView {
 public:
  static constexpr std::size_t kHeaderLen = sizeof(rte_icmp_hdr);  // 8

  // The checksum is not verified here: it covers the whole message, which may span an
  // mbuf chain; see internet_checksum_ok / mbuf_checksum_ok.
  static std::optional<IcmpView> parse(const std::uint8_t* data, std::size_t len) {
    if (data == nullptr || len < kHeaderLen) return std::nullopt;
    return IcmpView(data, len);
  }

  std::uint8_t type() const { return data_[offsetof(rte_icmp_hdr, icmp_type)]; }
  std::uint8_t code() const { return data_[offsetof(rte_icmp_hdr, icmp_code)]; }
  std::uint16_t checksum() const { return be16(offsetof(rte_icmp_hdr, icmp_cksum)); }
  // Echo request/reply fields.
  std::uint16_t ident() const { return be16(offsetof(rte_icmp_hdr, icmp_ident)); }
  std::uint16_t seq() const { return be16(offsetof(rte_icmp_hdr, icmp_seq_nb)); }
  // Destination unreachable / fragmentation needed (RFC 1191): next-hop MTU.
  std::uint16_t next_hop_mtu() const { return be16(6); }
  bool is_error() const {
    const auto t = type();
    return t == kIcmpDestUnreachable || t == kIcmpTimeExceeded || t == kIcmpParameterProblem;
  }
  const std::uint8_t* data() const { return data_; }
  std::size_t len() const { return len_; }
  const std::uint8_t* payload() const { return data_ + kHeaderLen; }
  std::size_t payload_len() const { return len_ - kHeaderLen; }

 private:
  IcmpView(const std::uint8_t* d, std::size_t l) : data_(d), len_(l) {}
  std::uint16_t be16(std::size_t off) const {
    rte_be16_t v;
    std::memcpy(&v, data_ + off, sizeof(v));
    return rte_be_to_cpu_16(v);
  }
  const std::uint8_t* data_;
  std::size_t len_;
};

// What an ICMP error says about the packet it quotes.
struct IcmpQuote {
  IpAddr src;  // our address, when the quoted packet was ours
  IpAddr dst;
  std::uint8_t protocol = 0;
  std::uint16_t src_port = 0;  // host order; first 4 bytes of the quoted L4 header
  std::uint16_t dst_port = 0;
  std::uint32_t l4_word1 = 0;  // bytes 4..7 of the quoted L4 header (TCP seq), host order
  std::size_t l4_bytes = 0;    // quoted L4 bytes available (>= 8)
};

enum class IcmpQuoteError : std::uint8_t { kNone, kTruncated, kBadVersion, kBadIhl };

// Parses the quote in an error's payload: an IPv4 header (options allowed) followed
// by at least 8 bytes of its L4 header. The quoted checksum and total length are not
// checked (routers may have rewritten them).
std::optional<IcmpQuote> parse_icmp_quote(const std::uint8_t* data, std::size_t len,
                                          IcmpQuoteError* why = nullptr);

// Writes an echo request/reply header followed by `payload`, with checksum.
// Returns bytes written, 0 if `cap` is too small.
std::size_t emit_icmp_echo(std::uint8_t* buf, std::size_t cap, std::uint8_t type,
                           std::uint16_t ident, std::uint16_t seq, const std::uint8_t* payload,
                           std::size_t payload_len);

// Writes an error message (type/code, `rest` as the second header word in host
// order, e.g. next-hop MTU for frag-needed) quoting `quote`, with checksum.
std::size_t emit_icmp_error(std::uint8_t* buf, std::size_t cap, std::uint8_t type,
                            std::uint8_t code, std::uint32_t rest, const std::uint8_t* quote,
                            std::size_t quote_len);

}  // namespace shardtcp
