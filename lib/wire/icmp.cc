#include "wire/icmp.h"

#include <rte_ip.h>

#include "wire/checksum.h"

namespace shardtcp {
namespace {

void put16(std::uint8_t* p, std::uint16_t host) {
  const rte_be16_t be = rte_cpu_to_be_16(host);
  std::memcpy(p, &be, sizeof(be));
}

void finish_checksum(std::uint8_t* buf, std::size_t len) {
  put16(buf + offsetof(rte_icmp_hdr, icmp_cksum), 0);
  const std::uint16_t c = internet_checksum(buf, len);
  // The computed value is already in network order as stored in memory.
  std::memcpy(buf + offsetof(rte_icmp_hdr, icmp_cksum), &c, sizeof(c));
}

}  // namespace

std::optional<IcmpQuote> parse_icmp_quote(const std::uint8_t* data, std::size_t len,
                                          IcmpQuoteError* why) {
  auto fail = [&](IcmpQuoteError e) {
    if (why) *why = e;
    return std::nullopt;
  };
  if (data == nullptr || len < sizeof(rte_ipv4_hdr)) return fail(IcmpQuoteError::kTruncated);
  if ((data[0] >> 4) != 4) return fail(IcmpQuoteError::kBadVersion);
  const std::size_t ihl = static_cast<std::size_t>(data[0] & 0x0f) * 4;
  if (ihl < sizeof(rte_ipv4_hdr)) return fail(IcmpQuoteError::kBadIhl);
  if (len < ihl + 8) return fail(IcmpQuoteError::kTruncated);
  IcmpQuote q;
  std::uint32_t a;
  std::memcpy(&a, data + offsetof(rte_ipv4_hdr, src_addr), 4);
  q.src = IpAddr::v4_be(a);
  std::memcpy(&a, data + offsetof(rte_ipv4_hdr, dst_addr), 4);
  q.dst = IpAddr::v4_be(a);
  q.protocol = data[offsetof(rte_ipv4_hdr, next_proto_id)];
  const std::uint8_t* l4 = data + ihl;
  q.src_port = static_cast<std::uint16_t>((l4[0] << 8) | l4[1]);
  q.dst_port = static_cast<std::uint16_t>((l4[2] << 8) | l4[3]);
  q.l4_word1 = (std::uint32_t{l4[4]} << 24) | (std::uint32_t{l4[5]} << 16) |
               (std::uint32_t{l4[6]} << 8) | l4[7];
  q.l4_bytes = len - ihl;
  if (why) *why = IcmpQuoteError::kNone;
  return q;
}

std::size_t emit_icmp_echo(std::uint8_t* buf, std::size_t cap, std::uint8_t type,
                           std::uint16_t ident, std::uint16_t seq, const std::uint8_t* payload,
                           std::size_t payload_len) {
  const std::size_t total = IcmpView::kHeaderLen + payload_len;
  if (buf == nullptr || cap < total || (payload_len > 0 && payload == nullptr)) return 0;
  buf[offsetof(rte_icmp_hdr, icmp_type)] = type;
  buf[offsetof(rte_icmp_hdr, icmp_code)] = 0;
  put16(buf + offsetof(rte_icmp_hdr, icmp_ident), ident);
  put16(buf + offsetof(rte_icmp_hdr, icmp_seq_nb), seq);
  if (payload_len > 0) std::memmove(buf + IcmpView::kHeaderLen, payload, payload_len);
  finish_checksum(buf, total);
  return total;
}

std::size_t emit_icmp_error(std::uint8_t* buf, std::size_t cap, std::uint8_t type,
                            std::uint8_t code, std::uint32_t rest, const std::uint8_t* quote,
                            std::size_t quote_len) {
  const std::size_t total = IcmpView::kHeaderLen + quote_len;
  if (buf == nullptr || cap < total || (quote_len > 0 && quote == nullptr)) return 0;
  buf[0] = type;
  buf[1] = code;
  put16(buf + 4, static_cast<std::uint16_t>(rest >> 16));
  put16(buf + 6, static_cast<std::uint16_t>(rest));
  if (quote_len > 0) std::memmove(buf + IcmpView::kHeaderLen, quote, quote_len);
  finish_checksum(buf, total);
  return total;
}

}  // namespace shardtcp
