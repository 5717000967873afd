// Display-filter pieces shared by the tests that check captures with tshark.
#pragma once

#include <string>

namespace shardtcp::testing {

// The kernel's frames (source `kernel`, an IPv4 or IPv6 address) whose TCP checksum is
// 0xffff where tshark computes 0x0000. Linux writes that (skb_checksum_help's
// CSUM_MANGLED_0) when a software checksum comes out zero, about once in 65 536
// segments; RFC 1624 makes the two the same value, and the stack accepts both. tshark
// calls it bad: capture checks exempt these frames, and only the kernel's (the stack
// itself stores 0x0000).
inline std::string kernel_mangled_zero_checksum(const std::string& kernel) {
  const char* ip = kernel.find(':') != std::string::npos ? "ipv6" : "ip";
  return "(tcp.checksum.ffff && " + std::string(ip) + ".src == " + kernel + ")";
}

}  // namespace shardtcp::testing
