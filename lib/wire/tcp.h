// TCP wire codec (RFC 9293 header, RFC 7323/2018/2883 options): a length-checked view
// over the rte_tcp_hdr layout, an option parser that survives any byte string, the
// decoder into the core's TcpSegment, the emitter (options in Linux's order, so our
// SYNs look like Linux's to middleboxes and to the captures we test against), and the
// L4 checksums over the IPv4/IPv6 pseudo-header (full, verify, and the
// pseudo-header-only value that TX checksum offload wants in the checksum field).
#pragma once

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "tcp/tcp_segment.h"
#include "wire/ip_addr.h"

namespace shardtcp {

// Why a received TCP segment was dropped; one named counter each (kTcpWireDropNames).
enum class TcpWireDrop : std::uint8_t {
  kNone,
  kTruncated,      // fewer than 20 bytes
  kBadDataOffset,  // data offset < 5 words or past the end of the segment
  kBadChecksum,    // pseudo-header checksum does not verify
  kCount,
};
inline constexpr const char* kTcpWireDropNames[] = {
    "tcp_rx_ok", "tcp_rx_truncated", "tcp_rx_bad_data_offset", "tcp_rx_bad_checksum"};
static_assert(std::size(kTcpWireDropNames) == static_cast<std::size_t>(TcpWireDrop::kCount));

// Option malformations. They do not drop the segment (as in Linux): the bad option
// is ignored, or parsing stops where the option list stops making sense, and the
// caller counts the event (kTcpOptionStatusNames).
enum class TcpOptionStatus : std::uint8_t {
  kOk,
  kBadLength,  // a known kind with the wrong length (e.g. MSS of 3 bytes): ignored
  kTruncated,  // length < 2 or running past the header: parsing stops there
  kCount,
};
inline constexpr const char* kTcpOptionStatusNames[] = {"tcp_opt_ok", "tcp_opt_bad_length",
                                                        "tcp_opt_truncated"};
static_assert(std::size(kTcpOptionStatusNames) ==
              static_cast<std::size_t>(TcpOptionStatus::kCount));

namespace tcp_option {
inline constexpr std::uint8_t kEol = 0;
inline constexpr std::uint8_t kNop = 1;
inline constexpr std::uint8_t kMss = 2;
inline constexpr std::uint8_t kWindowScale = 3;
inline constexpr std::uint8_t kSackPermitted = 4;
inline constexpr std::uint8_t kSack = 5;
inline constexpr std::uint8_t kTimestamps = 8;
inline constexpr std::uint8_t kMaxWindowScale = 14;  // RFC 7323 §2.3
}  // namespace tcp_option

// Parses `len` option bytes into `out` (which is reset first). Never reads past len.
// Window scale above 14 is clamped to 14 (RFC 7323 §2.3).
TcpOptionStatus parse_tcp_options(const std::uint8_t* p, std::size_t len, TcpOptions& out);

// A big-endian field at `p`, at any alignment: the header's and the options' loads.
inline std::uint16_t load_be16(const std::uint8_t* p) {
  rte_be16_t v;
  std::memcpy(&v, p, sizeof(v));
  return rte_be_to_cpu_16(v);
}
inline std::uint32_t load_be32(const std::uint8_t* p) {
  rte_be32_t v;
  std::memcpy(&v, p, sizeof(v));
  return rte_be_to_cpu_32(v);
}

class TcpView {
 public:
  static constexpr std::size_t kMinHeaderLen = sizeof(rte_tcp_hdr);  // 20
  static constexpr std::size_t kMaxHeaderLen = 60;

  // `len` is the L4 length (IP payload length, without link padding).
  static std::optional<TcpView> parse(const std::uint8_t* data, std::size_t len,
                                      TcpWireDrop* why = nullptr);

  std::uint16_t src_port() const { return be16(offsetof(rte_tcp_hdr, src_port)); }
  std::uint16_t dst_port() const { return be16(offsetof(rte_tcp_hdr, dst_port)); }
  SeqNum seq() const { return SeqNum(be32(offsetof(rte_tcp_hdr, sent_seq))); }
  SeqNum ack() const { return SeqNum(be32(offsetof(rte_tcp_hdr, recv_ack))); }
  std::size_t header_len() const {
    return static_cast<std::size_t>(data_[offsetof(rte_tcp_hdr, data_off)] >> 4) * 4;
  }
  std::uint8_t flags() const { return data_[offsetof(rte_tcp_hdr, tcp_flags)]; }
  std::uint16_t window() const { return be16(offsetof(rte_tcp_hdr, rx_win)); }
  std::uint16_t checksum() const { return be16(offsetof(rte_tcp_hdr, cksum)); }
  std::uint16_t urgent() const { return be16(offsetof(rte_tcp_hdr, tcp_urp)); }

  const std::uint8_t* data() const { return data_; }
  std::size_t len() const { return len_; }
  const std::uint8_t* options() const { return data_ + kMinHeaderLen; }
  std::size_t options_len() const { return header_len() - kMinHeaderLen; }
  const std::uint8_t* payload() const { return data_ + header_len(); }
  std::size_t payload_len() const { return len_ - header_len(); }

  // Fills every field of `seg`; the payload points into the viewed bytes (handle
  // left null for the caller to set to its mbuf).
  TcpOptionStatus to_segment(TcpSegment& seg) const;

 private:
  TcpView(const std::uint8_t* d, std::size_t len) : data_(d), len_(len) {}
  std::uint16_t be16(std::size_t off) const { return load_be16(data_ + off); }
  std::uint32_t be32(std::size_t off) const { return load_be32(data_ + off); }
  const std::uint8_t* data_;
  std::size_t len_;
};

// The receive path in one call: length checks, checksum (unless the port already
// verified it: verify_checksum = false), options. Returns kNone and fills `out`, or
// the drop reason. `option_status` reports option malformations for counting.
TcpWireDrop decode_tcp(const IpAddr& src, const IpAddr& dst, const std::uint8_t* l4,
                       std::size_t len, bool verify_checksum, TcpSegment& out,
                       TcpOptionStatus* option_status = nullptr);

// The header layouts of nearly every segment of a stream: 20 bytes, or 32 whose
// options are exactly NOP NOP timestamps (RFC 7323 Appendix A's layout, Linux's and
// ours after the handshake), known in one compare instead of parse_tcp_options' loop.
// Inline for the receive path, with decode_common_tcp_header; decode_tcp takes the rest.
inline bool is_common_tcp_header(const std::uint8_t* l4, std::size_t len) {
  constexpr rte_be32_t kNopNopTimestamps = RTE_BE32(0x0101080a);  // NOP, NOP, kind 8, length 10
  if (len < TcpView::kMinHeaderLen) return false;
  const std::uint8_t data_off = l4[offsetof(rte_tcp_hdr, data_off)] >> 4;
  if (data_off == TcpView::kMinHeaderLen / 4) return true;
  rte_be32_t first;
  std::memcpy(&first, l4 + TcpView::kMinHeaderLen, sizeof(first));
  return data_off == (TcpView::kMinHeaderLen + 12) / 4 && len >= TcpView::kMinHeaderLen + 12 &&
         first == kNopNopTimestamps;
}

// decode_common_tcp_header into a segment that holds its result already but for the
// fields two segments of a stream differ in, which it rewrites: header fields,
// timestamps, payload bytes (payload.handle cleared). For a receive path that keeps one
// TcpSegment and refills it: built afresh, a segment is zeroed first (112 bytes, a rep
// stos a segment). `seg` must be default-constructed and only ever refilled by this.
inline void refill_common_tcp_header(const std::uint8_t* l4, std::size_t len, TcpSegment& seg) {
  auto be16 = [l4](std::size_t off) { return load_be16(l4 + off); };
  auto be32 = [l4](std::size_t off) { return load_be32(l4 + off); };
  const std::size_t hlen = static_cast<std::size_t>(l4[offsetof(rte_tcp_hdr, data_off)] >> 4) * 4;
  constexpr std::size_t kTsval = TcpView::kMinHeaderLen + 4, kTsecr = TcpView::kMinHeaderLen + 8;
  seg.src_port = be16(offsetof(rte_tcp_hdr, src_port));
  seg.dst_port = be16(offsetof(rte_tcp_hdr, dst_port));
  seg.seq = SeqNum(be32(offsetof(rte_tcp_hdr, sent_seq)));
  seg.ack = SeqNum(be32(offsetof(rte_tcp_hdr, recv_ack)));
  seg.flags = l4[offsetof(rte_tcp_hdr, tcp_flags)];
  seg.window = be16(offsetof(rte_tcp_hdr, rx_win));
  seg.urgent = be16(offsetof(rte_tcp_hdr, tcp_urp));
  if (hlen == TcpView::kMinHeaderLen)
    seg.options.timestamps.reset();
  else
    seg.options.timestamps = TcpTimestamps{be32(kTsval), be32(kTsecr)};
  seg.payload.data = l4 + hlen;
  seg.payload.len = static_cast<std::uint32_t>(len - hlen);
  seg.payload.handle = nullptr;
}

// decode_tcp of a header is_common_tcp_header accepted, the checksum aside (the caller
// verifies it unless the device did). ip_ecn and payload.handle are the caller's. The
// receive path refills one segment instead (refill_common_tcp_header).
inline TcpSegment decode_common_tcp_header(const std::uint8_t* l4, std::size_t len) {
  TcpSegment seg;
  refill_common_tcp_header(l4, len, seg);
  return seg;
}

// Header plus options that emit_tcp_header writes for `seg` (20..60, multiple of 4).
// SACK blocks beyond what fits in 40 option bytes are not emitted (3 with TS, else 4).
std::size_t tcp_header_len(const TcpSegment& seg);
// Writes header and options for `seg` in Linux's layout: MSS, SACK-permitted + TS
// (or NOP NOP TS / NOP NOP SACK-permitted), NOP WS, NOP NOP SACK blocks. The
// checksum field is written as 0; the payload is not copied. Returns the header
// length, or 0 if `cap` is too small.
std::size_t emit_tcp_header(std::uint8_t* buf, std::size_t cap, const TcpSegment& seg);
// Number of SACK blocks emit_tcp_header will fit for these options.
std::size_t tcp_sack_blocks_that_fit(const TcpOptions& o);

// ---- L4 checksums over the pseudo-header (TCP and UDP share them) ----
// As with DPDK's helpers, values are returned in the byte order of the wire: store
// them into the checksum field unchanged (set_tcp_checksum / set_udp_checksum).
// Complemented checksum to store in the L4 header of `len` bytes at `l4` (its
// checksum field must be 0). For UDP a result of 0 is returned as 0xffff (RFC 768).
std::uint16_t l4_checksum(const IpAddr& src, const IpAddr& dst, std::uint8_t proto, const void* l4,
                          std::size_t len);
// True when the stored checksum verifies.
bool l4_checksum_ok(const IpAddr& src, const IpAddr& dst, std::uint8_t proto, const void* l4,
                    std::size_t len);
// Complemented L4 checksum over `len` bytes of an mbuf chain from `off` (the L4 header
// first): with the checksum field 0 it is the value to store; over a received segment
// it is 0 when the stored checksum verifies (0xffff when the chain is shorter). Not
// folded to 0xffff for UDP. Any protocol with this pseudo-header (ICMPv6 too).
// Every checksum over a chain is summed as raw_cksum_mbuf sums it, never through DPDK
// 22.11's rte_raw_cksum_mbuf and the rte_ipv4/6_udptcp_cksum_mbuf(_verify) built on
// it, which are wrong after a segment of odd length.
std::uint16_t l4_checksum_mbuf(const rte_mbuf* m, std::uint32_t len, const IpAddr& src,
                               const IpAddr& dst, std::uint8_t proto, std::uint32_t off = 0);
// Non-complemented pseudo-header sum for TX checksum offload
// (RTE_MBUF_F_TX_TCP_CKSUM / _UDP_CKSUM): store it in the checksum field and let the
// device finish. With TSO (RTE_MBUF_F_TX_TCP_SEG in ol_flags) the length is left out,
// as drivers expect.
std::uint16_t l4_pseudo_header_checksum(const IpAddr& src, const IpAddr& dst, std::uint8_t proto,
                                        std::size_t len, std::uint64_t ol_flags = 0);
// The same from a finished IP header in front of the L4 header (thin wrappers over
// rte_ipv4_udptcp_cksum / rte_ipv6_udptcp_cksum / rte_ipv4_phdr_cksum /
// rte_ipv6_phdr_cksum; lengths come from the IP header).
std::uint16_t l4_checksum_ipv4(const rte_ipv4_hdr* ip, const void* l4);
std::uint16_t l4_checksum_ipv6(const rte_ipv6_hdr* ip, const void* l4);
bool l4_checksum_ok_ipv4(const rte_ipv4_hdr* ip, const void* l4);
// The same from an IPv4 header's address fields as they are (network order) and an L4
// length the caller knows.
bool l4_checksum_ok_v4(rte_be32_t src, rte_be32_t dst, std::uint8_t proto, const void* l4,
                       std::size_t len);
bool l4_checksum_ok_ipv6(const rte_ipv6_hdr* ip, const void* l4);
std::uint16_t l4_pseudo_header_checksum_ipv4(const rte_ipv4_hdr* ip, std::uint64_t ol_flags);
std::uint16_t l4_pseudo_header_checksum_ipv6(const rte_ipv6_hdr* ip, std::uint64_t ol_flags);
// Over an mbuf chain whose L4 header starts `l4_off` bytes into the packet, lengths
// from the IP header (IPv6: no extension headers), summed as l4_checksum_mbuf sums (in
// place of DPDK's rte_ipv4/6_udptcp_cksum_mbuf and their _verify). The checksum to
// store (the field zeroed first; UDP's 0 as 0xffff), 0 when the chain is shorter than
// the IP header says; and whether the stored one verifies (false when shorter).
std::uint16_t l4_checksum_ipv4_mbuf(const rte_mbuf* m, const rte_ipv4_hdr* ip,
                                    std::uint16_t l4_off);
std::uint16_t l4_checksum_ipv6_mbuf(const rte_mbuf* m, const rte_ipv6_hdr* ip,
                                    std::uint16_t l4_off);
bool l4_checksum_ok_ipv4_mbuf(const rte_mbuf* m, const rte_ipv4_hdr* ip, std::uint16_t l4_off);
bool l4_checksum_ok_ipv6_mbuf(const rte_mbuf* m, const rte_ipv6_hdr* ip, std::uint16_t l4_off);

// Stores a checksum value (as returned above, wire order) into a TCP header.
inline void set_tcp_checksum(std::uint8_t* tcp_hdr, std::uint16_t cksum) {
  std::memcpy(tcp_hdr + offsetof(rte_tcp_hdr, cksum), &cksum, sizeof(cksum));
}

}  // namespace shardtcp
