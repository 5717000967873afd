// Signals during the mixed waits. poll(), select() and epoll_wait() return EINTR when a
// signal handler ran while they waited; programs rely on it (nginx's SIGTERM handler
// only sets a flag that its loop reads after epoll_wait() returns). The waits here spend
// most of their time outside the kernel (running the engines, zero-timeout kernel
// calls), where a signal interrupts no system call, so the library installs the
// program's handlers behind a trampoline that counts deliveries; a wait that sees the
// count move returns EINTR.
#pragma once

#include <cstdint>

namespace shardtcp::preload {

// Signal handlers run so far (the trampoline's count).
std::uint32_t signals_delivered();

}  // namespace shardtcp::preload
