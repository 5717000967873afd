/* <sockets.h>: the TargetTCP-style sockets API of shardtcp (see SOCKETS-API.md).
 *
 * The library exports prefixed C symbols (shardtcp_socket, shardtcp_connect, ...) so
 * that DPDK's own use of the kernel's sockets is never captured. This header maps the
 * manual's names onto them with object-like macros (as lwIP's compat switch does): a
 * translation unit that includes <sockets.h> uses the stack, one that includes only
 * <sys/socket.h> uses the kernel.
 *
 * Include it LAST: the macros rename `socket`, `bind`, `connect`, `send`, `select`, ...
 * in everything that follows (a later header declaring or using one of those names,
 * e.g. C++'s std::bind, would be renamed too). Define SHARDTCP_NO_COMPAT before
 * including it to get only the prefixed names.
 *
 * Types and constants (sockaddr_in, sockaddr_in6, timeval, AF_*, SOCK_*, SO_*, MSG_*,
 * FIONBIO, FIONREAD, htons ...) are the system's own, except fd_set: a handle encodes
 * its engine, slot and generation and is usually far above glibc's FD_SETSIZE, so
 * select() takes a set of handles of its own (a count and an array, as Winsock's
 * fd_set is). With the compat names, fd_set, FD_SETSIZE, FD_ZERO, FD_SET, FD_CLR and
 * FD_ISSET mean that set; select()'s first argument is accepted and ignored.
 *
 * Errors: -1 and errno (standard <errno.h> values); before shardtcp_init() every call
 * fails with ENETDOWN.
 */
#ifndef SHARDTCP_SOCKETS_H
#define SHARDTCP_SOCKETS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the set of handles select() takes (see above) */
#define SHARDTCP_FD_SETSIZE 1024
typedef struct shardtcp_fd_set {
  unsigned int count; /* handles in use at the front of `handles` */
  int handles[SHARDTCP_FD_SETSIZE];
} shardtcp_fd_set;

static inline void shardtcp_fd_zero(shardtcp_fd_set* set) {
  set->count = 0;
}
static inline int shardtcp_fd_isset(int s, const shardtcp_fd_set* set) {
  unsigned int i;
  for (i = 0; i < set->count; ++i)
    if (set->handles[i] == s) return 1;
  return 0;
}
/* Adds `s` once; a full set ignores it (as Winsock's FD_SET does). */
static inline void shardtcp_fd_add(int s, shardtcp_fd_set* set) {
  if (!shardtcp_fd_isset(s, set) && set->count < SHARDTCP_FD_SETSIZE)
    set->handles[set->count++] = s;
}
static inline void shardtcp_fd_clr(int s, shardtcp_fd_set* set) {
  unsigned int i;
  for (i = 0; i < set->count; ++i) {
    if (set->handles[i] == s) {
      set->handles[i] = set->handles[--set->count];
      return;
    }
  }
}

/* Stack-specific socket option (level SOL_SOCKET, value a struct timeval): how long a
 * TCP connect() waits for an answer to its SYN before failing with ETIMEDOUT. Set it
 * before connect(). */
#define SHARDTCP_SO_CONNECT_TIMEOUT 0x5354

/* ---- start-up */
/* Brings the stack up: EAL arguments, then "--", then the stack options the apps take
 * (--ip ADDR/PREFIX, --gw, --route, --mtu, --pcap, --impair, --engines N). 0, or -1
 * with errno (EINVAL bad arguments, EALREADY already initialised).
 *
 * Who runs the engines (run to completion):
 *  - By default the thread that called shardtcp_init() runs them all itself: its
 *    calls go straight to the engines, and a blocking call (connect, accept, recv,
 *    recvfrom, send on a full buffer, select, closesocket with SO_LINGER, ping) keeps
 *    every engine running from inside the call (packets, timers, transmission) until
 *    it can return, so all its other sockets keep being served meanwhile. A program
 *    that waits elsewhere (sleep, a file, its own loop) calls shardtcp_poll() often.
 *  - With one EAL worker lcore per engine (-l 0-N), each engine runs on its lcore.
 *  - SHARDTCP_SOCKETS_DRIVER=thread in the environment: a driver thread runs them;
 *    =inline or =lcores forces the others.
 *  - SHARDTCP_SOCKETS_DRIVER=threads: one application thread per core, each with its
 *    shard (see shardtcp_thread_engine() below).
 * Calls from other threads are posted to the owning engine's lock-free ring and wait
 * for it (with the default mode: until the initialising thread next runs the engines).
 * Such a waiter spins briefly, then sleeps; it is woken once per change it waits for
 * (data arrived, a connection to accept, a third of the send buffer free again), not
 * on every acknowledgement.
 * Event callbacks (shardtcp_set_event_callback) run inside the engine; they may call
 * the API, but there a blocking call acts as a non-blocking one (EWOULDBLOCK,
 * EINPROGRESS) rather than wait inside another wait. */
int shardtcp_init(int argc, char** argv);
/* One round of every engine (receive, timers, transmit) from the thread that runs them
 * inline; the frames handled. Elsewhere (another thread, a callback, a driver thread or
 * lcores running the engines) it does nothing and returns 0. */
int shardtcp_poll(void);
/* Closes every socket, stops the driver thread and releases the stack (if
 * shardtcp_init built it). Afterwards calls fail with ENETDOWN again. With one thread
 * per core, call it after those threads have released their engines. */
int shardtcp_fini(void);

/* ---- one application thread per core (SHARDTCP_SOCKETS_DRIVER=threads)
 * Start one thread per engine (with `-l 0-N` and `--engines N+1`, typically one per
 * lcore) and have thread k call shardtcp_thread_engine(k): from then on it runs engine
 * k as the default mode's thread runs them all. Its calls on engine k's sockets run
 * inline, and its blocking calls keep engine k running. The TCP sockets it creates
 * live on engine k (UDP sockets live on engine 0, where datagrams arrive), and
 * connect() picks a local port whose tuple engine k owns. A listening socket listens
 * on every engine, and accept() on thread k returns only the connections engine k owns
 * (the SO_REUSEPORT model: each engine's thread serves its share of the port; readiness
 * of the listener in select()/epoll means some engine has one). listen() and calls on
 * another engine's socket are posted to that engine and wait until its thread next
 * runs it, so every engine needs its thread running (in calls, or shardtcp_poll())
 * and calls from threads that run no engine are served the same way.
 * shardtcp_engine_count(): the number of engines, or -1/ENETDOWN.
 * shardtcp_thread_engine(k): 0, or -1 with errno EINVAL (no engine k, or not this mode),
 * EBUSY (another thread runs it), EALREADY (this thread runs one), ENETDOWN.
 * shardtcp_thread_release(): gives the engine back (before the thread ends); -1/EINVAL
 * if the thread runs none. */
int shardtcp_engine_count(void);
int shardtcp_thread_engine(int engine);
int shardtcp_thread_release(void);

/* ---- readiness of many sockets (an epoll-style extension; select() sets hold 1024)
 * A set watches sockets for the events asked (SHARDTCP_EPOLLIN: data, end of stream or,
 * on a listener, a connection to accept; SHARDTCP_EPOLLOUT: room to send or a finished
 * connect; SHARDTCP_EPOLLRDHUP: the receive side is shut: the peer's FIN,
 * shutdown(SHUT_RD), or the connection reset or gone), level-triggered: a socket is
 * reported by every wait while it stays ready. Whether asked or not, a pending error is
 * reported as SHARDTCP_EPOLLERR and a hang-up (both directions shut, or the connection
 * reset, refused, timed out or fully closed) as SHARDTCP_EPOLLHUP, as Linux's epoll
 * does; the values are Linux's EPOLL* ones. The engines queue a watched socket
 * when its readiness changes, so a wait costs what is ready, not what is watched. A
 * socket belongs to one set at a time; closing it removes it. Waiting blocks as the
 * other blocking calls do (run to completion: the engines keep running inside it). */
#define SHARDTCP_EPOLLIN 0x001u
#define SHARDTCP_EPOLLOUT 0x004u
#define SHARDTCP_EPOLLERR 0x008u
#define SHARDTCP_EPOLLHUP 0x010u
#define SHARDTCP_EPOLLRDHUP 0x2000u
#define SHARDTCP_EPOLL_CTL_ADD 1
#define SHARDTCP_EPOLL_CTL_DEL 2
#define SHARDTCP_EPOLL_CTL_MOD 3
typedef struct shardtcp_epoll_event {
  unsigned int events; /* asked (ctl) or ready (wait) */
  void* data;          /* the caller's, given back with the socket's events */
} shardtcp_epoll_event;
/* A new set's id (> 0), or -1: EMFILE (1024 sets open), ENETDOWN. */
int shardtcp_epoll_create(void);
/* ADD (EEXIST if the socket is in a set), MOD or DEL (ENOENT if not in this one) socket
 * `s`; `ev` may be NULL for DEL. EBADF bad set, ENOTSOCK bad socket, EFAULT, EINVAL op. */
int shardtcp_epoll_ctl(int ep, int op, int s, const shardtcp_epoll_event* ev);
/* Up to `maxevents` ready sockets into `events`, waiting up to `timeout_ms` for one
 * (-1: no limit, 0: none). The count, or -1: EBADF, EFAULT, EINVAL (maxevents <= 0). */
int shardtcp_epoll_wait(int ep, shardtcp_epoll_event* events, int maxevents, int timeout_ms);
/* Closes the set; its sockets stay open. */
int shardtcp_epoll_close(int ep);
/* What socket `s` is ready for now, as the SHARDTCP_EPOLL* bits a set watching it for
 * everything would report (poll()-style, one socket, no wait, engines not run); -1
 * with errno ENOTSOCK or ENETDOWN. */
int shardtcp_socket_events(int s);

/* ---- interrupting blocking calls (for a runtime that knows about signals, as the
 * preload library does). `fn` returns a count that moves whenever a blocking call should
 * give up, typically the signal handlers run so far; `timed` is 1 when the call has a
 * timeout (SO_RCVTIMEO / SO_SNDTIMEO), which Linux interrupts even for a handler
 * installed with SA_RESTART, else 0. A blocking connect, accept, send, sendto, recv or
 * recvfrom that is about to wait again after the count moved since it began ends with
 * -1/EINTR; a send or MSG_WAITALL recv that already moved bytes returns their count,
 * and an interrupted connect goes on in the background (EALREADY, then EISCONN), as on
 * Linux. NULL removes it. One per process; returns 0. */
typedef unsigned int (*shardtcp_interrupt_fn)(int timed);
int shardtcp_set_interrupt_check(shardtcp_interrupt_fn fn);

/* ---- the manual's calls */
int shardtcp_socket(int family, int type, int protocol);
int shardtcp_bind(int s, const void* addr, socklen_t addrlen);
int shardtcp_listen(int s, int backlog);
int shardtcp_accept(int s, void* addr, socklen_t* addrlen);
int shardtcp_connect(int s, const void* addr, socklen_t addrlen);
int shardtcp_send(int s, const void* buf, int len, int flags);
int shardtcp_recv(int s, void* buf, int len, int flags);
/* Zero-copy receive on a stream socket: recv() without the copy. `fn(data, n, user)`
 * is called on the received bytes where they lie, once per contiguous run, up to `len`
 * bytes in all; then they are consumed (MSG_PEEK: left queued). `data` is valid only
 * during the call, and `fn` must not call into the stack. Flags, blocking, results
 * and errors as recv()'s; also EOPNOTSUPP (not a stream socket) and EFAULT (no fn).
 * recv(s, NULL, len, MSG_TRUNC) on a stream socket discards up to `len` bytes. */
typedef void (*shardtcp_reader_fn)(const void* data, int n, void* user);
int shardtcp_recv_inplace(int s, int len, int flags, shardtcp_reader_fn fn, void* user);
int shardtcp_sendto(int s, const void* buf, int len, int flags, const void* to, socklen_t tolen);
int shardtcp_recvfrom(int s, void* buf, int len, int flags, void* from, socklen_t* fromlen);
int shardtcp_closesocket(int s);
int shardtcp_shutdown(int s, int how);
/* Waits until a handle of `rd` is readable, of `wr` writable or of `ex` has an error,
 * or `timeout` passes (NULL: no limit); rewrites each set to the ready handles and
 * returns their total. `nfds` is ignored (handles are not small integers). A handle
 * in a set that is not a socket: -1/ENOTSOCK. */
int shardtcp_select(int nfds, shardtcp_fd_set* rd, shardtcp_fd_set* wr, shardtcp_fd_set* ex,
                    struct timeval* timeout);
int shardtcp_setsockopt(int s, int level, int name, const void* val, socklen_t len);
int shardtcp_getsockopt(int s, int level, int name, void* val, socklen_t* len);
int shardtcp_getsockname(int s, void* addr, socklen_t* len);
int shardtcp_getpeername(int s, void* addr, socklen_t* len);
int shardtcp_ioctlsocket(int s, int request, void* arg);

/* ---- per-socket events (TargetTCP's asynchronous callback), for run-to-completion
 * code. The callback runs on the engine's thread, inside packet processing; it may
 * call any of the calls above on its own or other sockets (they run inline there and
 * never block). One callback per socket; NULL removes it. */
#define SHARDTCP_EV_DATA 1     /* data (or the end of the stream) to read */
#define SHARDTCP_EV_ACKED 2    /* `value` bytes of ours were acknowledged */
#define SHARDTCP_EV_OPENED 3   /* connect() completed (UDP: a peer was set) */
#define SHARDTCP_EV_ACCEPTED 4 /* listener: a connection waits for accept() */
#define SHARDTCP_EV_CLOSED 5   /* the connection is gone */
#define SHARDTCP_EV_PEER_FIN 6 /* the peer will send no more */
#define SHARDTCP_EV_ERROR 7    /* `value` is the errno (ECONNREFUSED, ECONNRESET, ...) */
#define SHARDTCP_EV_WRITABLE 8 /* send space freed after a short send */
typedef void (*shardtcp_event_fn)(int s, int event, int value, void* user);
int shardtcp_set_event_callback(int s, shardtcp_event_fn fn, void* user);

/* ---- the manual's extras */
/* Adds / deletes a route: network/prefix_len via gateway (network byte order; gateway
 * 0 = on-link). -1/errno: EINVAL, EEXIST, ESRCH (delete of an unknown route). */
int shardtcp_route_add(in_addr_t network, int prefix_len, in_addr_t gateway);
int shardtcp_route_delete(in_addr_t network, int prefix_len);
/* Sends `count` echo requests to `host` (network byte order) and waits up to
 * `timeout_ms` for the replies; returns the number of replies received. */
int shardtcp_ping(in_addr_t host, int count, int timeout_ms);
/* Writes a diagnostic dump of sockets, buffers and routes to `out` (a FILE*). It lists
 * every socket: with many thousands open, read single figures with shardtcp_counter. */
int shardtcp_dump(void* out);
/* One of the stack's counters, summed over its engines, by "group.name" as telemetry
 * and the dump name them ("engine.iterations", "tcp_layer.time_wait_evicted",
 * "tcp_slots.in_use"), plus the mbuf pool's "pool.in_use", "pool.size" and
 * "pool.element_size" (bytes per mbuf). Returns
 * the value, or -1 with errno ENOENT (no such counter), EFAULT (null name) or
 * ENETDOWN (no stack). Cheap enough to sample, not meant for every packet. */
long long shardtcp_counter(const char* name);
/* The text of an errno value (strerror's). */
const char* shardtcp_strerror(int err);

#ifdef __cplusplus
}
#endif

#ifndef SHARDTCP_NO_COMPAT
#define socket shardtcp_socket
#define bind shardtcp_bind
#define listen shardtcp_listen
#define accept shardtcp_accept
#define connect shardtcp_connect
#define send shardtcp_send
#define recv shardtcp_recv
#define sendto shardtcp_sendto
#define recvfrom shardtcp_recvfrom
#define closesocket shardtcp_closesocket
#define shutdown shardtcp_shutdown
#define select shardtcp_select
#define setsockopt shardtcp_setsockopt
#define getsockopt shardtcp_getsockopt
#define getsockname shardtcp_getsockname
#define getpeername shardtcp_getpeername
#define ioctlsocket shardtcp_ioctlsocket
#undef FD_SETSIZE
#undef FD_ZERO
#undef FD_SET
#undef FD_CLR
#undef FD_ISSET
#define fd_set shardtcp_fd_set
#define FD_SETSIZE SHARDTCP_FD_SETSIZE
#define FD_ZERO(set) shardtcp_fd_zero(set)
#define FD_SET(s, set) shardtcp_fd_add((s), (set))
#define FD_CLR(s, set) shardtcp_fd_clr((s), (set))
#define FD_ISSET(s, set) shardtcp_fd_isset((s), (set))
#endif

#endif /* SHARDTCP_SOCKETS_H */
