// Our own rte_log types, so `--log-level=shardtcp.*:debug` selects the stack's
// messages without DPDK's. Registered lazily on first use (safe before EAL init).
#pragma once

#include <rte_log.h>

namespace shardtcp {

enum class LogArea { kPort, kEngine, kStack };

// The rte_log type id of an area ("shardtcp.port", "shardtcp.engine", "shardtcp.stack").
int logtype(LogArea area);

}  // namespace shardtcp

// SHARDTCP_LOG(kPort, INFO, "port %u: %s\n", id, what)
#define SHARDTCP_LOG(area, level, ...) \
  rte_log(RTE_LOG_##level, ::shardtcp::logtype(::shardtcp::LogArea::area), "shardtcp: " __VA_ARGS__)
