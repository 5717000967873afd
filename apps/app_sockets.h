/* The sockets an app built twice uses (apps/perf, apps/httpd): the stack's <sockets.h>,
 * or, compiled with -DAPP_KERNEL_SOCKETS, the kernel's own, so that one source measures
 * both stacks. Include it after every other header (<sockets.h> renames the manual's
 * calls for what follows). Gives APP_SIDE ("shardtcp" or "kernel"), app_init(argc,
 * argv) (the stack's EAL and options; nothing for the kernel) and app_fini(). */
#ifndef SHARDTCP_APP_SOCKETS_H
#define SHARDTCP_APP_SOCKETS_H

#ifdef APP_KERNEL_SOCKETS
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#define closesocket close
#define ioctlsocket ioctl
#define APP_SIDE "kernel"
static inline int app_init(int argc, char** argv) {
  (void)argc;
  (void)argv;
  return 0;
}
static inline void app_fini(void) {}
#else
#include <sockets.h>
#define APP_SIDE "shardtcp"
static inline int app_init(int argc, char** argv) {
  return shardtcp_init(argc, argv);
}
static inline void app_fini(void) {
  shardtcp_fini();
}
#endif

#endif /* SHARDTCP_APP_SOCKETS_H */
