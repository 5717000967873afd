// Bringing the stack up from the environment, and what fork() leaves to a child.
#include "preload/preload_state.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "common/fast_tls.h"
#include "preload/signals.h"
#include "sockets.h"

namespace shardtcp::preload {
namespace {

SHARDTCP_FAST_TLS thread_local int tl_inside = 0;
SHARDTCP_FAST_TLS thread_local bool tl_engine = false;
std::atomic<bool> g_up{false};
std::atomic<bool> g_child{false};
std::once_flag g_once;

[[noreturn]] void config_error(const std::string& why) {
  std::fprintf(stderr, "libshardtcp-preload: %s\n", why.c_str());
  std::fflush(stderr);
  std::exit(2);
}

// Whitespace-separated words; '#' starts a comment to the end of its line (for files).
std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream ws(line);
    std::string w;
    while (ws >> w) out.push_back(w);
  }
  return out;
}

std::vector<std::string> configuration() {
  const char* args = std::getenv("SHARDTCP_ARGS");
  const char* conf = std::getenv("SHARDTCP_CONF");
  if (args != nullptr && conf != nullptr)
    config_error("set SHARDTCP_ARGS or SHARDTCP_CONF, not both");
  std::string text;
  if (args != nullptr) {
    text = args;
  } else if (conf != nullptr) {
    std::ifstream in(conf);
    if (!in) config_error(std::string("SHARDTCP_CONF=") + conf + ": " + std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  } else {
    config_error(
        "no configuration: set SHARDTCP_ARGS (or SHARDTCP_CONF, a file) to the apps' "
        "command line, e.g. '--no-pci -l 0 --vdev=net_tap0,iface=tap0 -- --ip "
        "198.18.0.2/24'");
  }
  std::vector<std::string> w = words(text);
  bool dashes = false;
  for (const std::string& s : w) dashes = dashes || s == "--";
  if (!dashes)
    config_error("the configuration needs '[EAL options] -- [stack options]' (no '--' in it)");
  return w;
}

// A child exiting through exit() would run the library's static destructors, which
// stop the port and free mbufs of the stack it shares with its parent (hugepage
// memory is shared across fork): it leaves through _exit() after flushing stdio.
void child_exit(int status, void*) {
  std::fflush(nullptr);
  _exit(status);
}

// Leaves the stack to another process: stack descriptors become placeholders here and
// the process leaves through _exit().
void give_up_stack() {
  g_child.store(true);
  g_up.store(false);
  tl_engine = false;
  on_exit(&child_exit, nullptr);
}

// SHARDTCP_FORK=child: the first child fork()ed from the engine thread takes the stack
// over and its parent gives it up (nginx's master opens the listeners, its one worker
// serves them). The child's copy of the stack is the parent's state at the fork
// (anonymous memory is copied; hugepage memory is shared, and the parent no longer
// touches it), and the port's descriptors are inherited. Default (parent): the parent
// keeps the stack and every child gives it up.
std::atomic<bool> g_handover{false};  // SHARDTCP_FORK=child, until a child took it
bool g_this_fork_hands = false;       // set by prepare_fork for the fork under way

void prepare_fork() {
  g_this_fork_hands = g_handover.load() && g_up.load() && tl_engine;
}

void in_parent() {
  if (g_this_fork_hands) give_up_stack();
}

// DPDK's TAP port reads a queue only after SIGIO told it a frame arrived, and the
// kernel sends SIGIO to the descriptor's owner: the process that brought the port up.
// The new owner makes itself the owner of every TUN/TAP descriptor and raises SIGIO
// once for frames that arrived before.
void own_tap_descriptors() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return;
  const pid_t parent = getppid();
  bool any = false;
  while (dirent* ent = readdir(d)) {
    const int fd = std::atoi(ent->d_name);
    if (fd <= 0 && std::strcmp(ent->d_name, "0") != 0) continue;
    char link[64];
    char path[32];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0) continue;
    link[n] = '\0';
    if (std::strcmp(link, "/dev/net/tun") != 0) continue;
    if (fcntl(fd, F_GETOWN) == parent && fcntl(fd, F_SETOWN, getpid()) == 0) any = true;
  }
  closedir(d);
  if (any) raise(SIGIO);
}

void in_child() {
  if (!g_up.load()) return;
  if (g_this_fork_hands) {
    g_handover.store(false);  // the new owner's own children give it up
    Inside in;                // the library's own descriptor calls: the C library's
    own_tap_descriptors();
    return;
  }
  give_up_stack();
}

void bring_up() {
  std::vector<std::string> w = configuration();
  const char* fork_mode = std::getenv("SHARDTCP_FORK");
  const std::string fm = fork_mode != nullptr ? fork_mode : "parent";
  if (fm != "parent" && fm != "child")
    config_error("SHARDTCP_FORK=" + fm + ": want parent (default) or child");
  const bool handover = fm == "child";
  std::vector<char*> argv;
  std::string prog = "libshardtcp-preload";
  argv.push_back(prog.data());
  for (std::string& s : w) argv.push_back(s.data());
  argv.push_back(nullptr);
  int rc = 0;
  {
    Inside in;
    rc = shardtcp_init(static_cast<int>(argv.size() - 1), argv.data());
  }
  if (rc != 0)
    config_error(std::string("the stack did not come up (") + std::strerror(errno) +
                 "); its configuration was: " +
                 (std::getenv("SHARDTCP_ARGS") != nullptr ? std::getenv("SHARDTCP_ARGS")
                                                          : std::getenv("SHARDTCP_CONF")));
  // Blocking stack calls end with EINTR when a program's handler runs meanwhile.
  shardtcp_set_interrupt_check(&blocking_interrupts);
  tl_engine = true;
  g_handover.store(handover);
  pthread_atfork(&prepare_fork, &in_parent, &in_child);
  g_up.store(true, std::memory_order_release);
  std::fprintf(stderr, "ready\n");
  std::fflush(stderr);
}

}  // namespace

bool inside() {
  return tl_inside > 0;
}
Inside::Inside() {
  ++tl_inside;
}
Inside::~Inside() {
  --tl_inside;
}

bool ensure_stack() {
  if (g_up.load(std::memory_order_acquire)) return true;
  if (g_child.load()) {
    errno = ENETDOWN;
    return false;
  }
  std::call_once(g_once, bring_up);
  return g_up.load(std::memory_order_acquire);
}

bool stack_up() {
  return g_up.load(std::memory_order_acquire);
}
bool forked_child() {
  return g_child.load(std::memory_order_relaxed);
}
bool engine_thread() {
  return tl_engine;
}

}  // namespace shardtcp::preload
