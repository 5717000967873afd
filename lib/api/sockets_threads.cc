// One application thread per core (DriveMode::kPerThread): the calls with which a
// thread takes an engine to run and gives it back.
#include "api/sockets_internal.h"
#include "sockets.h"

using namespace shardtcp;
using namespace shardtcp::sockets;

extern "C" {

int shardtcp_engine_count(void) {
  Stack* stack = runtime().stack.load(std::memory_order_acquire);
  if (stack == nullptr) return fail_with(ENETDOWN);
  return stack->engine_count();
}

int shardtcp_thread_engine(int engine) {
  if (engine < 0 || engine >= static_cast<int>(HandleTable::kMaxEngines)) return fail_with(EINVAL);
  const int r = claim_engine(static_cast<std::uint16_t>(engine));
  return r < 0 ? fail_with(-r) : 0;
}

int shardtcp_thread_release(void) {
  if (!attached()) return fail_with(ENETDOWN);
  const int r = release_engine();
  return r < 0 ? fail_with(-r) : 0;
}

}  // extern "C"
