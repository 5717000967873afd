/* The sockets an app built twice uses (apps/perf, apps/httpd): the stack's <sockets.h>,
 * or, compiled with -DAPP_KERNEL_SOCKETS, the kernel's own, so that one source measures
 * both stacks. Include it after every other header (<sockets.h> renames the manual's
 * calls for what follows). Gives APP_SIDE ("shardtcp" or "kernel"), app_init(argc,
 * argv) (the stack's EAL and options; nothing for the kernel) and app_fini(), and
 * epoll-style readiness of many sockets, level-triggered, for reading: app_poll_create,
 * app_poll_add(set, s, data), app_poll_del, app_poll_wait(set, events, max, timeout_ms),
 * app_event_data, app_poll_close (Linux's epoll, or the stack's shardtcp_epoll_*). */
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
#include <sys/epoll.h>
#define closesocket close
#define ioctlsocket ioctl
#define APP_SIDE "kernel"
typedef struct epoll_event app_event;
static inline int app_poll_create(void) {
  return epoll_create1(0);
}
static inline int app_poll_add(int set, int s, void* data) {
  struct epoll_event ev;
  ev.events = EPOLLIN;
  ev.data.ptr = data;
  return epoll_ctl(set, EPOLL_CTL_ADD, s, &ev);
}
static inline int app_poll_del(int set, int s) {
  return epoll_ctl(set, EPOLL_CTL_DEL, s, NULL);
}
static inline int app_poll_wait(int set, app_event* events, int max, int timeout_ms) {
  return epoll_wait(set, events, max, timeout_ms);
}
static inline void* app_event_data(const app_event* e) {
  return e->data.ptr;
}
static inline void app_poll_close(int set) {
  close(set);
}
static inline int app_init(int argc, char** argv) {
  (void)argc;
  (void)argv;
  return 0;
}
static inline void app_fini(void) {}
#else
#include <sockets.h>
#define APP_SIDE "shardtcp"
typedef shardtcp_epoll_event app_event;
static inline int app_poll_create(void) {
  return shardtcp_epoll_create();
}
static inline int app_poll_add(int set, int s, void* data) {
  shardtcp_epoll_event ev;
  ev.events = SHARDTCP_EPOLLIN;
  ev.data = data;
  return shardtcp_epoll_ctl(set, SHARDTCP_EPOLL_CTL_ADD, s, &ev);
}
static inline int app_poll_del(int set, int s) {
  return shardtcp_epoll_ctl(set, SHARDTCP_EPOLL_CTL_DEL, s, NULL);
}
static inline int app_poll_wait(int set, app_event* events, int max, int timeout_ms) {
  return shardtcp_epoll_wait(set, events, max, timeout_ms);
}
static inline void* app_event_data(const app_event* e) {
  return e->data;
}
static inline void app_poll_close(int set) {
  shardtcp_epoll_close(set);
}
static inline int app_init(int argc, char** argv) {
  return shardtcp_init(argc, argv);
}
static inline void app_fini(void) {
  shardtcp_fini();
}
#endif

#endif /* SHARDTCP_APP_SOCKETS_H */
