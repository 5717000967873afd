#include "netns.h"

#include <sched.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace shardtcp::testing {

std::string enter_private_netns() {
  static bool entered = false;
  if (entered) return {};
  if (geteuid() != 0) return "not running as root";
  if (unshare(CLONE_NEWNET) != 0)
    return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  if (run_command("ip link set lo up") != 0) return "could not bring up loopback in the namespace";
  entered = true;
  return {};
}

bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::strcmp(ci, "true") == 0;
}

int run_command(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc == -1) return -1;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string command_output(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  pclose(p);
  return out;
}

}  // namespace shardtcp::testing

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

namespace shardtcp::testing {

BackgroundCommand::BackgroundCommand(const std::string& cmd) {
  char tmpl[] = "/tmp/shardtcp-bg-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return;
  out_path_ = tmpl;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fd);
}

BackgroundCommand::~BackgroundCommand() {
  if (pid_ > 0 && status_ == -1) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (!out_path_.empty()) unlink(out_path_.c_str());
}

bool BackgroundCommand::finished() {
  if (pid_ <= 0) return true;
  if (status_ != -1) return true;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return true;
  }
  return false;
}

std::string BackgroundCommand::output() const {
  std::ifstream in(out_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace shardtcp::testing
