// libFuzzer entry point for the pure TCP core (tcb_fuzz_harness.h): a real handshake,
// then arbitrary segments, timers and application calls; aborts on a broken invariant
// or a leaked buffer. Build: CC=clang CXX=clang++ meson setup build-fuzz -Dfuzz=true
// Run:   build-fuzz/test/fuzz/fuzz_tcb -max_len=8192 CORPUS_DIR
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "tcb_fuzz_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const shardtcp::fuzz::TcbFuzzResult r = shardtcp::fuzz::tcb_fuzz_run_one(data, size);
  if (!r.ok) {
    std::fprintf(stderr, "tcb fuzz: %s\n", r.failure.c_str());
    std::abort();
  }
  return 0;
}
