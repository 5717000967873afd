// ARP for IPv4 over Ethernet (RFC 826): a length-checked view using rte_arp_hdr's
// layout, the ArpPacket value type parsed from it once, and an emitter.
#pragma once

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "wire/ip_addr.h"

namespace shardtcp {

// Why a received ARP message was rejected; one drop counter each.
enum class ArpError : std::uint8_t { kNone, kTruncated, kBadHardware, kBadProtocol, kBadOpcode };

enum class ArpOp : std::uint16_t { kRequest = RTE_ARP_OP_REQUEST, kReply = RTE_ARP_OP_REPLY };

struct ArpPacket {
  ArpOp op = ArpOp::kRequest;
  rte_ether_addr sha{};  // sender hardware address
  IpAddr spa;            // sender protocol address (IPv4)
  rte_ether_addr tha{};  // target hardware address (zero in requests)
  IpAddr tpa;            // target protocol address (IPv4)

  // A gratuitous ARP announces the sender's own binding (RFC 5227 §3).
  bool is_gratuitous() const { return spa == tpa; }
};

class ArpView {
 public:
  static constexpr std::size_t kLen = sizeof(rte_arp_hdr);  // 28

  // Accepts only Ethernet/IPv4 ARP with request or reply opcodes; trailing bytes
  // (Ethernet padding) are ignored.
  static std::optional<ArpView> parse(const std::uint8_t* data, std::size_t len,
                                      ArpError* why = nullptr);

  std::uint16_t opcode() const { return be16(offsetof(rte_arp_hdr, arp_opcode)); }
  ArpPacket packet() const;

 private:
  explicit ArpView(const std::uint8_t* d) : data_(d) {}
  std::uint16_t be16(std::size_t off) const {
    rte_be16_t v;
    std::memcpy(&v, data_ + off, sizeof(v));
    return rte_be_to_cpu_16(v);
  }
  const std::uint8_t* data_;
};

// Writes the 28-byte ARP message; returns bytes written or 0 if `cap` is too small
// or an address is not IPv4.
std::size_t emit_arp(std::uint8_t* buf, std::size_t cap, const ArpPacket& p);

}  // namespace shardtcp
