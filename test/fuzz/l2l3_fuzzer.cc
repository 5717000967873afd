// libFuzzer entry points for the L2/L3 input path (Ethernet, ARP, IPv4, reassembly,
// ICMP). Build: CC=clang CXX=clang++ meson setup build-fuzz -Dfuzz=true
// Run:   build-fuzz/test/fuzz/l2l3_fuzzer -max_len=4096 CORPUS_DIR
#include <cstdint>
#include <cstdlib>

#include "l2l3_harness.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!shardtcp::fuzz::l2l3_init()) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  shardtcp::fuzz::l2l3_run_one(data, size);
  return 0;
}
