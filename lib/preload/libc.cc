// dlsym(RTLD_NEXT) for every call the library intercepts.
#include "preload/libc.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace shardtcp::preload {
namespace {

template <class F>
void resolve(F*& slot, const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  if (p == nullptr) {
    std::fprintf(stderr, "libshardtcp-preload: the C library has no %s\n", name);
    std::abort();
  }
  slot = reinterpret_cast<F*>(p);
}

Libc load() {
  Libc l{};
#define SHARDTCP_RESOLVE(n) resolve(l.n, #n)
  SHARDTCP_RESOLVE(socket);
  SHARDTCP_RESOLVE(bind);
  SHARDTCP_RESOLVE(listen);
  SHARDTCP_RESOLVE(accept);
  SHARDTCP_RESOLVE(accept4);
  SHARDTCP_RESOLVE(connect);
  SHARDTCP_RESOLVE(read);
  SHARDTCP_RESOLVE(write);
  SHARDTCP_RESOLVE(readv);
  SHARDTCP_RESOLVE(writev);
  SHARDTCP_RESOLVE(send);
  SHARDTCP_RESOLVE(recv);
  SHARDTCP_RESOLVE(sendto);
  SHARDTCP_RESOLVE(recvfrom);
  SHARDTCP_RESOLVE(sendmsg);
  SHARDTCP_RESOLVE(recvmsg);
  SHARDTCP_RESOLVE(close);
  SHARDTCP_RESOLVE(shutdown);
  SHARDTCP_RESOLVE(getsockopt);
  SHARDTCP_RESOLVE(setsockopt);
  SHARDTCP_RESOLVE(getsockname);
  SHARDTCP_RESOLVE(getpeername);
  SHARDTCP_RESOLVE(fcntl);
  SHARDTCP_RESOLVE(ioctl);
  SHARDTCP_RESOLVE(poll);
  SHARDTCP_RESOLVE(ppoll);
  SHARDTCP_RESOLVE(select);
  SHARDTCP_RESOLVE(pselect);
  SHARDTCP_RESOLVE(epoll_create);
  SHARDTCP_RESOLVE(epoll_create1);
  SHARDTCP_RESOLVE(epoll_ctl);
  SHARDTCP_RESOLVE(epoll_wait);
  SHARDTCP_RESOLVE(epoll_pwait);
  SHARDTCP_RESOLVE(dup);
  SHARDTCP_RESOLVE(dup2);
  SHARDTCP_RESOLVE(dup3);
  SHARDTCP_RESOLVE(sendfile);
#undef SHARDTCP_RESOLVE
  return l;
}

}  // namespace

const Libc& libc() {
  static const Libc l = load();
  return l;
}

}  // namespace shardtcp::preload
