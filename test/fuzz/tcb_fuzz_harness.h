// The TCB fuzz harness body, shared by the libFuzzer target (fuzz_tcb.cc, built with
// -Dfuzz=true and clang) and by a plain unit test over seeds and seeded mutations
// (test/tcp/layer_tcb_fuzz_seed_test.cc), so it runs on every build.
//
// Pure: two TCBs on HeapBufferOps and a virtual clock, no EAL. They complete a real
// handshake; then the input is a list of records that inject arbitrary segments into
// the server (sequence and acknowledgment numbers relative to its own windows, so they
// land near the interesting edges), deliver what the two TCBs sent each other, advance
// the clock by input-chosen amounts and run timers, and make application calls (send,
// recv, shutdown, close, abort, options). After every call the harness checks the
// TCBs' invariants; at the end it aborts both and checks that every payload block and
// send chunk went back to the allocator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shardtcp::fuzz {

struct TcbFuzzResult {
  bool ok = true;
  std::string failure;            // which invariant broke
  std::uint64_t segments = 0;     // fuzzed segments injected
  std::uint64_t delivered = 0;    // segments moved between the two TCBs
  std::uint32_t final_state = 0;  // server TcpState at the end (before the abort)
};

TcbFuzzResult tcb_fuzz_run_one(const std::uint8_t* data, std::size_t size);

}  // namespace shardtcp::fuzz
