// Signals during the mixed waits. poll(), select() and epoll_wait() return EINTR when a
// signal handler ran while they waited; programs rely on it (nginx's SIGTERM handler
// only sets a flag that its loop reads after epoll_wait() returns). The waits here spend
// most of their time outside the kernel (running the engines, zero-timeout kernel
// calls), where a signal interrupts no system call, so the library installs the
// program's handlers behind a trampoline that counts deliveries; a wait that sees the
// count move returns EINTR. Blocking stack calls (recv, accept, connect, send on
// blocking sockets) end with EINTR the same way, unless the handler asked for
// SA_RESTART (then they go on, as the kernel restarts them).
#pragma once

#include <cstdint>

namespace shardtcp::preload {

// Signal handlers run so far (the trampoline's count).
std::uint32_t signals_delivered();

// The interrupt check of blocking stack calls (shardtcp_set_interrupt_check): the
// handlers run so far that interrupt such a call on Linux, those installed without
// SA_RESTART, or every one for a call with a timeout (`timed`), as signal(7) says.
unsigned blocking_interrupts(int timed);

}  // namespace shardtcp::preload
