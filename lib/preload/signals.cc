// sigaction() and signal(): the program's handler is kept here and a trampoline that
// counts the delivery, then calls it, is what the kernel holds. sigaction()'s old
// action reports the program's own handler, so the substitution is invisible.
#include "preload/signals.h"

#include <dlfcn.h>
#include <signal.h>

#include <atomic>
#include <cerrno>

#include "preload/preload_state.h"

namespace shardtcp::preload {
namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);

std::atomic<std::uint32_t> g_delivered{0};
// Of those, the ones whose handler was installed without SA_RESTART.
std::atomic<std::uint32_t> g_interrupting{0};
// The program's handlers, by signal number (written under sigaction's own ordering:
// a program installs handlers from one thread, as POSIX leaves it racy otherwise).
struct Saved {
  std::atomic<void*> handler{nullptr};
  std::atomic<bool> siginfo{false};
  std::atomic<bool> restart{false};  // SA_RESTART: the kernel restarts blocking calls
};
Saved g_saved[NSIG];

SigactionFn real_sigaction() {
  static SigactionFn fn = reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction"));
  return fn;
}

void trampoline(int sig, siginfo_t* info, void* uc) {
  g_delivered.fetch_add(1, std::memory_order_relaxed);
  if (!g_saved[sig].restart.load(std::memory_order_relaxed))
    g_interrupting.fetch_add(1, std::memory_order_relaxed);
  void* h = g_saved[sig].handler.load(std::memory_order_acquire);
  if (h == nullptr) return;
  if (g_saved[sig].siginfo.load(std::memory_order_acquire))
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(h)(sig, info, uc);
  else
    reinterpret_cast<void (*)(int)>(h)(sig);
}

bool is_function(const struct sigaction* a) {
  if (a->sa_flags & SA_SIGINFO) return true;
  return a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

}  // namespace

std::uint32_t signals_delivered() {
  return g_delivered.load(std::memory_order_relaxed);
}

unsigned blocking_interrupts(int timed) {
  return timed != 0 ? g_delivered.load(std::memory_order_relaxed)
                    : g_interrupting.load(std::memory_order_relaxed);
}

}  // namespace shardtcp::preload

using namespace shardtcp::preload;

extern "C" {

int sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  SigactionFn real = real_sigaction();
  if (inside() || sig <= 0 || sig >= NSIG) return real(sig, act, old);
  Saved& s = g_saved[sig];
  void* const prev = s.handler.load(std::memory_order_acquire);
  const bool prev_info = s.siginfo.load(std::memory_order_acquire);
  const bool prev_restart = s.restart.load(std::memory_order_acquire);
  struct sigaction mine {};
  const struct sigaction* use = act;
  if (act != nullptr && is_function(act)) {
    mine = *act;
    mine.sa_flags |= SA_SIGINFO;
    mine.sa_sigaction = &trampoline;
    use = &mine;
    const bool info = (act->sa_flags & SA_SIGINFO) != 0;
    s.siginfo.store(info, std::memory_order_release);
    s.restart.store((act->sa_flags & SA_RESTART) != 0, std::memory_order_release);
    s.handler.store(info ? reinterpret_cast<void*>(act->sa_sigaction)
                         : reinterpret_cast<void*>(act->sa_handler),
                    std::memory_order_release);
  }
  struct sigaction was {};
  const int r = real(sig, use, &was);
  if (r != 0) {
    s.handler.store(prev);
    s.siginfo.store(prev_info);
    s.restart.store(prev_restart);
    return r;
  }
  if (old != nullptr) {
    *old = was;
    if ((was.sa_flags & SA_SIGINFO) && was.sa_sigaction == &trampoline) {
      // What the program installed, as it installed it.
      if (prev_info) {
        old->sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(prev);
      } else {
        old->sa_flags &= ~SA_SIGINFO;
        old->sa_handler = reinterpret_cast<void (*)(int)>(prev);
      }
    }
  }
  return 0;
}

// glibc's signal() calls its internal sigaction, which this library cannot see: the
// same BSD semantics (SA_RESTART, the signal blocked in its handler) through ours.
sighandler_t signal(int sig, sighandler_t handler) noexcept {
  struct sigaction a {};
  struct sigaction o {};
  a.sa_handler = handler;
  sigemptyset(&a.sa_mask);
  a.sa_flags = SA_RESTART;
  if (sigaction(sig, &a, &o) != 0) return SIG_ERR;
  return o.sa_handler;
}

}  // extern "C"
