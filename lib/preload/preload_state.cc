// Bringing the stack up from the environment, and what fork() leaves to a child.
#include "preload/preload_state.h"

#include <pthread.h>
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

#include "sockets.h"

namespace shardtcp::preload {
namespace {

thread_local int tl_inside = 0;
thread_local bool tl_engine = false;
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

void in_child() {
  if (!g_up.load()) return;
  g_child.store(true);
  g_up.store(false);
  tl_engine = false;
  on_exit(&child_exit, nullptr);
}

void bring_up() {
  std::vector<std::string> w = configuration();
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
  tl_engine = true;
  pthread_atfork(nullptr, nullptr, &in_child);
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
