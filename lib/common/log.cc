#include "common/log.h"

namespace shardtcp {

namespace {

int register_type(const char* name) {
  int t = rte_log_register_type_and_pick_level(name, RTE_LOG_INFO);
  // Registration only fails when DPDK's table of log types is full; fall back to the
  // user type so messages are never lost.
  return t < 0 ? RTE_LOGTYPE_USER1 : t;
}

}  // namespace

int logtype(LogArea area) {
  // Function-local statics: thread-safe one-time registration, no global constructor.
  switch (area) {
    case LogArea::kPort: {
      static const int t = register_type("shardtcp.port");
      return t;
    }
    case LogArea::kEngine: {
      static const int t = register_type("shardtcp.engine");
      return t;
    }
    case LogArea::kStack:
      break;
  }
  static const int t = register_type("shardtcp.stack");
  return t;
}

}  // namespace shardtcp
