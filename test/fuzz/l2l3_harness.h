// The L2/L3 fuzz harness body, shared by the libFuzzer target (l2l3_fuzzer.cc, built
// with -Dfuzz=true and clang) and by a plain unit test that runs it over a seed
// corpus (test/ip, l2l3_fuzz_seed_test), so it is exercised on every build.
//
// Input format: byte 0 chooses how the frame is presented, the rest is the frame.
//   bit 0: split the frame into a chain of small segments (length from byte 1)
//   bit 1: mark the IPv4 header checksum as verified by the device
//   bit 2: after the frame, let 3 s of virtual time pass (timers, expiry)
#pragma once

#include <cstddef>
#include <cstdint>

namespace shardtcp {
class IpStack;
}

namespace shardtcp::fuzz {

// Brings up EAL (once per process), the mbuf pool and the stack under test.
bool l2l3_init();
void l2l3_run_one(const std::uint8_t* data, std::size_t size);
// Lets enough virtual time pass for every timer (ARP, reassembly) to fire.
void l2l3_drain();
unsigned l2l3_pool_avail();
unsigned l2l3_pool_size();
IpStack& l2l3_stack();

}  // namespace shardtcp::fuzz
