/* perf: netperf-style TCP workloads written once against the sockets API and built
 * twice: shardtcp-perf (<sockets.h>, the stack) and kernel-perf (-DAPP_KERNEL_SOCKETS, the
 * kernel's sockets), so that both sides run the same code.
 *
 *   shardtcp-perf [EAL options] -- --ip ADDR/PREFIX [stack options] [perf options]
 *   kernel-perf [perf options]
 *
 * perf options:
 *   --role server|client         (default client)
 *   --workload TCP_STREAM|TCP_RR|TCP_CRR|CONNS
 *   --server ADDR --port N       (client: where to connect; server: port to listen on)
 *   --seconds S                  client: measuring time (default 10);
 *                                server: exit after S seconds (0: until SIGINT/SIGTERM)
 *   --concurrency N              TCP_RR / TCP_CRR: connections at once (default 16)
 *   --conns N                    CONNS: connections opened and held (default 1000)
 *   --ports K                    CONNS / TCP_CRR: the server listens on ports N..N+K-1
 *                                and the client spreads its connections over them (each
 *                                port gives another 64 512 tuples; default 1). TCP_CRR
 *                                needs it above 64 512 connections a second: a closed
 *                                tuple waits in TIME_WAIT and is reusable after a second
 *                                (Linux's tcp_tw_reuse, on both pairs)
 *   --hold S                     CONNS: seconds the connections are held idle (default 1)
 *   --size N                     TCP_RR / TCP_CRR request and response bytes (default 64)
 *   --write N                    TCP_STREAM write size (default 65536)
 *   --recv inplace|copy          TCP_STREAM server: how it reads. inplace (the stack's
 *                                default): shardtcp_recv_inplace, the zero-copy read,
 *                                verifying the bytes where they arrived; copy: recv()
 *                                into a buffer, then verify there. The kernel's sockets
 *                                have only copy
 *   --app-cpu N                  pin the application's thread to CPU N after start-up
 *                                (shardtcp: that thread runs the engine inline, unless
 *                                SHARDTCP_SOCKETS_DRIVER=thread gave it a driver thread)
 *   --counters A,B,...           at the end, print these stack counters on stderr
 *                                ("tcp_layer.time_wait_evicted", shardtcp_counter's
 *                                names), to read what a run did without a debugger
 *   --quiet                      no progress line on stderr
 *   --exit-on-signal             client: after printing the result, wait for SIGTERM or
 *                                SIGINT (without polling the port) before shutting the
 *                                stack down. The pair harness stops the server first:
 *                                DPDK 22.11's memif PMD unmaps its shared regions from
 *                                the interrupt thread when the peer disconnects, with no
 *                                guard against a burst in progress on the data thread,
 *                                so a side that is still polling when the other exits
 *                                can crash in rte_eth_rx_burst (seen: SIGSEGV in
 *                                librte_net_memif, about one pair run in twenty on a
 *                                loaded machine). A side that waits without polling
 *                                is safe.
 *
 * Every workload checks its data: TCP_STREAM sends a known pattern the server
 * verifies byte by byte, TCP_RR / TCP_CRR compare each response with its request (the
 * server echoes). The result is one JSON object on stdout at the end (both roles).
 * Exit status 0 when the run completed without errors.
 *
 * Handles are never used as array indexes: each connection has its own struct, so the
 * program does not care how large a handle is.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include "app_sockets.h" /* last: the stack's or the kernel's sockets */

#define PATTERN_PERIOD 251 /* prime: a shifted or dropped byte never lines up again */
#define MAX_SIZE 65536

enum workload { W_STREAM, W_RR, W_CRR, W_CONNS };
static const char* const workload_names[] = {"TCP_STREAM", "TCP_RR", "TCP_CRR", "CONNS"};

struct options {
  int server;
  enum workload workload;
  const char* address;
  int port;
  double seconds;
  int concurrency;
  int conns;
  int size;
  int write_size;
  int quiet;
  const char* counters; /* --counters: names printed at the end */
  int exit_on_signal;
  int app_cpu;
  int ports;
  double hold;
  int recv_inplace; /* --recv inplace */
};

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static unsigned char g_pattern[MAX_SIZE + PATTERN_PERIOD];

/* Sleeps (no polling) until SIGTERM or SIGINT has been received, or returns at once if
 * one already was. */
static void wait_for_stop_signal(void) {
  sigset_t stop, old;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, &old);
  while (!g_stop) sigsuspend(&old);
  sigprocmask(SIG_SETMASK, &old, NULL);
}

/* ---- small helpers */

static const char* arg_value(int argc, char** argv, const char* name, const char* fallback) {
  int i;
  for (i = 1; i + 1 < argc; ++i)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

static int arg_flag(int argc, char** argv, const char* name) {
  int i;
  for (i = 1; i < argc; ++i)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Resident set size of this process, in KiB. */
static long rss_kib(void) {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == NULL) return 0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return resident * 4;
}

/* One of the stack's counters ("pool.in_use": packet buffers in use, "engine.iterations":
 * engine loop iterations); -1 where there is none (the kernel). */
static long long stack_counter(const char* name) {
#ifdef APP_KERNEL_SOCKETS
  (void)name;
  return -1;
#else
  return shardtcp_counter(name);
#endif
}

/* --counters: each named counter on stderr, "perf: NAME = VALUE" (-1: none). */
static void print_counters(const char* list) {
  char name[128];
  while (list != NULL && *list != '\0') {
    const char* end = strchr(list, ',');
    size_t n = end != NULL ? (size_t)(end - list) : strlen(list);
    if (n > 0 && n < sizeof name) {
      memcpy(name, list, n);
      name[n] = '\0';
      fprintf(stderr, "perf: %s = %lld\n", name, stack_counter(name));
    }
    list = end != NULL ? end + 1 : NULL;
  }
}

static long stack_mbufs_in_use(void) {
  return (long)stack_counter("pool.in_use");
}

/* TCP_STREAM on the stack: which offloads the port negotiated and whether they were
 * used (segments that arrived as LRO/scattered chains, frames handed to the device for
 * TSO), so a result says what its figure ran on. Fields of the JSON object; nothing
 * on the kernel, whose offloads are ethtool's business. */
static void print_stream_offload_fields(const struct options* o) {
  static const char* const gauges[] = {"rx_l4_cksum", "rx_lro", "tx_l4_cksum", "tx_tso"};
  static const char* const counters[] = {"rx_segments", "rx_chained", "tx_tso_frames",
                                         "tx_tso_bytes"};
  char name[64];
  size_t i;
  if (o->workload != W_STREAM || stack_counter("tcp_layer.rx_segments") < 0) return;
  printf(", \"port_offloads\": {");
  for (i = 0; i < sizeof gauges / sizeof gauges[0]; ++i) {
    snprintf(name, sizeof name, "port_offloads.%s", gauges[i]);
    printf("%s\"%s\": %lld", i == 0 ? "" : ", ", gauges[i], stack_counter(name));
  }
  printf("}, \"tcp_layer\": {");
  for (i = 0; i < sizeof counters / sizeof counters[0]; ++i) {
    snprintf(name, sizeof name, "tcp_layer.%s", counters[i]);
    printf("%s\"%s\": %lld", i == 0 ? "" : ", ", counters[i], stack_counter(name));
  }
  printf("}");
}

/* CPU seconds (user + system) this process has used. */
static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void set_nodelay(int s) {
  int one = 1;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void set_nonblocking(int s, int on) {
  ioctlsocket(s, FIONBIO, &on);
}

static int is_would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

/* Sends all of buf (blocking socket). 0, or -1 on error. */
static int send_all(int s, const unsigned char* buf, int len) {
  int off = 0;
  while (off < len) {
    int n = send(s, buf + off, len - off, 0);
    if (n < 0) {
      if (errno == EINTR || is_would_block(errno)) continue;
      return -1;
    }
    off += n;
  }
  return 0;
}

/* ---- latency samples (nanoseconds), sorted once at the end */

struct samples {
  int64_t* v;
  size_t n, cap;
};

static void samples_add(struct samples* s, int64_t ns) {
  if (s->n == s->cap) {
    size_t cap = s->cap != 0 ? s->cap * 2 : 65536;
    int64_t* v;
    if (cap > ((size_t)1 << 26)) return; /* 64 M samples is plenty */
    v = realloc(s->v, cap * sizeof *v);
    if (v == NULL) return;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = ns;
}

static int cmp_i64(const void* a, const void* b) {
  const int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return x < y ? -1 : x > y;
}

static double samples_pct_us(struct samples* s, double pct) {
  size_t i;
  if (s->n == 0) return 0;
  i = (size_t)(pct / 100.0 * (double)(s->n - 1) + 0.5);
  return (double)s->v[i] / 1000.0;
}

/* ---- progress line */

struct progress {
  double start, last;
  double last_count;
  int quiet;
};

static void progress_tick(struct progress* p, double count, const char* unit, double scale) {
  double t = now_s();
  if (p->quiet || t - p->last < 1.0) return;
  fprintf(stderr, "perf: %s %5.1fs %12.1f %s\n", APP_SIDE, t - p->start,
          (count - p->last_count) * scale / (t - p->last), unit);
  p->last = t;
  p->last_count = count;
}

/* ---- connection helpers */

static int parse_server(const struct options* o, struct sockaddr_in* addr) {
  bzero(addr, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_port = htons((unsigned short)o->port);
  if (o->address == NULL || inet_pton(AF_INET, o->address, &addr->sin_addr) != 1) {
    fprintf(stderr, "perf: --server ADDR (IPv4) is required for the client\n");
    return -1;
  }
  return 0;
}

static int connect_blocking(const struct sockaddr_in* addr) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return -1;
  set_nodelay(s);
  if (connect(s, addr, sizeof *addr) != 0) {
    int err = errno;
    closesocket(s);
    errno = err;
    return -1;
  }
  return s;
}

/* ================================================================ client */

struct result {
  double value; /* in `unit` */
  const char* unit;
  double seconds;
  double transactions;
  double bytes;
  double p50_us, p99_us;
  long errors, verify_errors;
  long rss_before_kib, rss_after_kib;
  long mbufs_before, mbufs_after;
  int conns_held;
  double idle_seconds, idle_cpu_s, idle_iterations;
};

static int client_stream(const struct options* o, const struct sockaddr_in* addr,
                         struct result* r) {
  struct progress p;
  double start, deadline, end;
  uint64_t sent = 0;
  unsigned char sink[256];
  int s = connect_blocking(addr);
  if (s < 0) {
    perror("perf: connect");
    return -1;
  }
  start = now_s();
  deadline = start + o->seconds;
  p.start = p.last = start;
  p.last_count = 0;
  p.quiet = o->quiet;
  while (!g_stop) {
    int n = send(s, g_pattern + sent % PATTERN_PERIOD, o->write_size, 0);
    if (n < 0) {
      if (errno == EINTR || is_would_block(errno)) continue;
      perror("perf: send");
      r->errors++;
      break;
    }
    sent += (uint64_t)n;
    /* The clock is read every 64 KiB write: about every 25 us at 20 Gbit/s. */
    if (now_s() >= deadline) break;
    progress_tick(&p, (double)sent, "Gbit/s", 8e-9);
  }
  /* End of stream; the server closes once it has verified everything: the time to
   * that close counts, so data still in buffers is not counted as delivered early. */
  shutdown(s, SHUT_WR);
  for (;;) {
    int n = recv(s, sink, sizeof sink, 0);
    if (n > 0) continue;
    if (n < 0 && (errno == EINTR || is_would_block(errno))) continue;
    if (n < 0) r->errors++;
    break;
  }
  end = now_s();
  closesocket(s);
  r->seconds = end - start;
  r->bytes = (double)sent;
  r->unit = "Gbit/s";
  r->value = r->bytes * 8e-9 / r->seconds;
  return 0;
}

/* One request/response slot of TCP_RR / TCP_CRR. */
enum slot_state { S_IDLE, S_CONNECTING, S_WAITING };
struct slot {
  int s;
  enum slot_state state;
  int got;
  uint64_t seq;
  int64_t sent_ns;
  unsigned char req[MAX_SIZE];
  unsigned char resp[MAX_SIZE];
};

static void fill_request(struct slot* sl, int size, uint64_t seq) {
  int i;
  sl->seq = seq;
  for (i = 0; i < size; ++i) sl->req[i] = (unsigned char)((seq * 7 + (uint64_t)i) % 253);
}

/* Starts a slot's transaction: its request goes out. Its latency counts from here,
 * or for TCP_CRR (`from_connect`) from the connect that slot_connect() timed. */
static int slot_send(struct slot* sl, int size, uint64_t seq, int from_connect) {
  fill_request(sl, size, seq);
  sl->got = 0;
  if (!from_connect) sl->sent_ns = now_ns();
  sl->state = S_WAITING;
  return send_all(sl->s, sl->req, size);
}

/* Non-blocking connect of a CRR slot to the server's port number `port`. 0 started (or
 * done), -1 failed. */
static int slot_connect(struct slot* sl, const struct sockaddr_in* server, int port) {
  struct sockaddr_in to = *server;
  to.sin_port = htons((unsigned short)port);
  sl->s = socket(AF_INET, SOCK_STREAM, 0);
  if (sl->s < 0) return -1;
  set_nodelay(sl->s);
  set_nonblocking(sl->s, 1);
  sl->sent_ns = now_ns(); /* CRR latency counts from the connect */
  if (connect(sl->s, &to, sizeof to) == 0) {
    sl->state = S_IDLE;
  } else if (errno == EINPROGRESS || errno == EALREADY) {
    sl->state = S_CONNECTING;
  } else {
    int err = errno;
    closesocket(sl->s);
    sl->s = -1;
    errno = err;
    return -1;
  }
  return 0;
}

static int client_rr(const struct options* o, const struct sockaddr_in* addr, int crr,
                     struct result* r) {
  const int n = o->concurrency;
  struct slot* slots = calloc((size_t)n, sizeof *slots);
  struct samples lat = {NULL, 0, 0};
  struct progress p;
  uint64_t seq = 0, done = 0;
  uint64_t connects = 0; /* TCP_CRR: round robin over the server's ports */
  double start, deadline;
  int i, active;
  if (slots == NULL) return -1;
  for (i = 0; i < n; ++i) slots[i].s = -1;
  if (!crr) {
    for (i = 0; i < n; ++i) {
      slots[i].s = connect_blocking(addr);
      if (slots[i].s < 0) {
        perror("perf: connect");
        r->errors++;
        goto out;
      }
    }
  }
  start = now_s();
  deadline = start + o->seconds;
  p.start = p.last = start;
  p.last_count = 0;
  p.quiet = o->quiet;
  for (i = 0; i < n; ++i) {
    if (crr) {
      if (slot_connect(&slots[i], addr, o->port + (int)(connects++ % (uint64_t)o->ports)) != 0) {
        perror("perf: connect");
        r->errors++;
        goto out;
      }
    }
    if (slots[i].state == S_IDLE && slot_send(&slots[i], o->size, seq++, crr) != 0) {
      perror("perf: send");
      r->errors++;
      goto out;
    }
  }
  active = n;
  while (active > 0 && !g_stop) {
    fd_set rd, wr;
    struct timeval tv;
    int maxfd = 0, ready;
    const int stopping = now_s() >= deadline;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    for (i = 0; i < n; ++i) {
      struct slot* sl = &slots[i];
      if (sl->s < 0) continue;
      if (sl->state == S_CONNECTING)
        FD_SET(sl->s, &wr);
      else
        FD_SET(sl->s, &rd);
      if (sl->s > maxfd) maxfd = sl->s;
    }
    tv.tv_sec = 0;
    tv.tv_usec = 100000;
    ready = select(maxfd + 1, &rd, &wr, NULL, &tv);
    if (ready < 0) {
      if (errno == EINTR) continue;
      perror("perf: select");
      r->errors++;
      break;
    }
    for (i = 0; i < n; ++i) {
      struct slot* sl = &slots[i];
      if (sl->s < 0) continue;
      if (sl->state == S_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (!FD_ISSET(sl->s, &wr)) continue;
        getsockopt(sl->s, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          fprintf(stderr, "perf: connect: %s\n", strerror(err));
          r->errors++;
          closesocket(sl->s);
          sl->s = -1;
          --active;
          continue;
        }
        set_nonblocking(sl->s, 0);
        if (slot_send(sl, o->size, seq++, crr) != 0) {
          perror("perf: send");
          r->errors++;
          closesocket(sl->s);
          sl->s = -1;
          --active;
        }
        continue;
      }
      if (!FD_ISSET(sl->s, &rd)) continue;
      {
        int m = recv(sl->s, sl->resp + sl->got, o->size - sl->got, 0);
        if (m < 0 && (errno == EINTR || is_would_block(errno))) continue;
        if (m <= 0) {
          fprintf(stderr, "perf: recv: %s\n", m == 0 ? "connection closed" : strerror(errno));
          r->errors++;
          closesocket(sl->s);
          sl->s = -1;
          --active;
          continue;
        }
        sl->got += m;
        if (sl->got < o->size) continue;
      }
      /* A whole response: check it, count it, start the next transaction. */
      if (memcmp(sl->resp, sl->req, (size_t)o->size) != 0) r->verify_errors++;
      samples_add(&lat, now_ns() - sl->sent_ns);
      ++done;
      if (crr) {
        closesocket(sl->s);
        sl->s = -1;
        if (stopping) {
          --active;
          continue;
        }
        if (slot_connect(sl, addr, o->port + (int)(connects++ % (uint64_t)o->ports)) != 0) {
          perror("perf: connect");
          r->errors++;
          --active;
          continue;
        }
        if (sl->state == S_IDLE && slot_send(sl, o->size, seq++, crr) != 0) {
          perror("perf: send");
          r->errors++;
          closesocket(sl->s);
          sl->s = -1;
          --active;
        }
      } else if (stopping) {
        closesocket(sl->s);
        sl->s = -1;
        --active;
      } else if (slot_send(sl, o->size, seq++, 0) != 0) {
        perror("perf: send");
        r->errors++;
        closesocket(sl->s);
        sl->s = -1;
        --active;
      }
    }
    progress_tick(&p, (double)done, crr ? "conn/s" : "trans/s", 1.0);
  }
  r->seconds = now_s() - start;
out:
  for (i = 0; i < n; ++i)
    if (slots[i].s >= 0) closesocket(slots[i].s);
  if (lat.n > 0) qsort(lat.v, lat.n, sizeof *lat.v, cmp_i64);
  r->transactions = (double)done;
  r->bytes = (double)done * 2.0 * o->size;
  r->unit = crr ? "conn/s" : "trans/s";
  r->value = r->seconds > 0 ? r->transactions / r->seconds : 0;
  r->p50_us = samples_pct_us(&lat, 50);
  r->p99_us = samples_pct_us(&lat, 99);
  free(lat.v);
  free(slots);
  return 0;
}

struct conn_list {
  int* s;
  int n;
};

/* Holds the open connections idle for `seconds` while the stack keeps running (an empty
 * readiness wait: the stack's engine polls inside it, the kernel's process sleeps), and
 * measures what being idle costs: CPU time and, for the stack, engine iterations (their
 * rate stays flat in the connection count when no timer or scan touches idle ones). */
static void hold_idle(double seconds, struct result* r) {
  const int set = app_poll_create();
  const double start = now_s(), cpu0 = cpu_s();
  const long long it0 = stack_counter("engine.iterations");
  app_event ev[1];
  while (now_s() - start < seconds && !g_stop) {
    int ms = (int)((seconds - (now_s() - start)) * 1000.0) + 1;
    if (set < 0 || app_poll_wait(set, ev, 1, ms > 100 ? 100 : ms) < 0) {
      struct timespec ts = {0, 10000000};
      nanosleep(&ts, NULL);
    }
  }
  r->idle_seconds = now_s() - start;
  r->idle_cpu_s = cpu_s() - cpu0;
  r->idle_iterations = it0 >= 0 ? (double)(stack_counter("engine.iterations") - it0) : -1;
  if (set >= 0) app_poll_close(set);
}

static int client_conns(const struct options* o, const struct sockaddr_in* addr, struct result* r) {
  struct conn_list held;
  struct sockaddr_in to = *addr;
  int i;
  held.s = calloc((size_t)o->conns, sizeof *held.s);
  held.n = 0;
  if (held.s == NULL) return -1;
  r->rss_before_kib = rss_kib();
  r->mbufs_before = stack_mbufs_in_use();
  const double start = now_s();
  for (i = 0; i < o->conns && !g_stop; ++i) {
    to.sin_port = htons((unsigned short)(o->port + i % o->ports));
    int s = connect_blocking(&to);
    if (s < 0) {
      fprintf(stderr, "perf: connect #%d: %s\n", i, strerror(errno));
      r->errors++;
      break;
    }
    held.s[held.n++] = s;
    if (!o->quiet && (i + 1) % 100000 == 0) fprintf(stderr, "perf: %d connections\n", i + 1);
  }
  r->seconds = now_s() - start;
  /* Hold them: idle connections are what the memory figure is about. */
  hold_idle(o->hold, r);
  r->rss_after_kib = rss_kib();
  r->mbufs_after = stack_mbufs_in_use();
  r->conns_held = held.n;
  /* Each one still works: one byte each way (the server echoes); a connection the
   * server never took fails after 5 s instead of hanging the run. */
  for (i = 0; i < held.n; ++i) {
    struct timeval limit = {5, 0};
    setsockopt(held.s[i], SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  }
  for (i = 0; i < held.n; ++i) {
    unsigned char b = (unsigned char)i, back = 0;
    int n = -2;
    if (send_all(held.s[i], &b, 1) != 0 || (n = recv(held.s[i], &back, 1, 0)) != 1 || back != b) {
      const int timed_out = n < 0 && is_would_block(errno);
      if (r->verify_errors++ == 0)
        fprintf(stderr, "perf: connection #%d did not echo (recv %d: %s)\n", i, n,
                n < 0 ? strerror(errno) : "");
      if (timed_out) { /* the server is stuck: the rest would wait 5 s each */
        r->verify_errors += held.n - i - 1;
        fprintf(stderr, "perf: %d connection(s) left unchecked\n", held.n - i - 1);
        break;
      }
    }
  }
  for (i = 0; i < held.n; ++i) closesocket(held.s[i]);
  free(held.s);
  r->transactions = held.n;
  r->unit = "conns";
  r->value = held.n;
  return 0;
}

static void print_client_json(const struct options* o, const struct result* r) {
  printf(
      "{\"side\": \"%s\", \"role\": \"client\", \"workload\": \"%s\", \"value\": %.6g, "
      "\"unit\": \"%s\", \"seconds\": %.3f, \"transactions\": %.0f, \"bytes\": %.0f, "
      "\"concurrency\": %d, \"size\": %d, \"p50_us\": %.2f, \"p99_us\": %.2f, "
      "\"errors\": %ld, \"verify_errors\": %ld",
      APP_SIDE, workload_names[o->workload], r->value, r->unit, r->seconds, r->transactions,
      r->bytes, o->workload == W_STREAM ? 1 : o->concurrency, o->size, r->p50_us, r->p99_us,
      r->errors, r->verify_errors);
  if (o->workload == W_CONNS) {
    const double per = r->conns_held > 0
                           ? (double)(r->rss_after_kib - r->rss_before_kib) * 1024.0 / r->conns_held
                           : 0;
    printf(
        ", \"conns_held\": %d, \"rss_before_kib\": %ld, \"rss_after_kib\": %ld, "
        "\"rss_bytes_per_conn\": %.0f, \"mbufs_in_use_before\": %ld, \"mbufs_in_use_after\": %ld, "
        "\"mbuf_bytes\": %lld, \"establish_per_s\": %.1f, \"idle_seconds\": %.3f, "
        "\"idle_cpu_per_s\": %.3f, \"idle_iterations_per_s\": %.0f",
        r->conns_held, r->rss_before_kib, r->rss_after_kib, per, r->mbufs_before, r->mbufs_after,
        stack_counter("pool.element_size"), r->seconds > 0 ? r->conns_held / r->seconds : 0,
        r->idle_seconds, r->idle_seconds > 0 ? r->idle_cpu_s / r->idle_seconds : 0,
        r->idle_iterations >= 0 && r->idle_seconds > 0 ? r->idle_iterations / r->idle_seconds : -1);
  }
  print_stream_offload_fields(o);
  printf("}\n");
  fflush(stdout);
}

static int run_client(const struct options* o) {
  struct sockaddr_in addr;
  struct result r;
  int rc;
  memset(&r, 0, sizeof r);
  if (parse_server(o, &addr) != 0) return 2;
  switch (o->workload) {
    case W_STREAM:
      rc = client_stream(o, &addr, &r);
      break;
    case W_RR:
      rc = client_rr(o, &addr, 0, &r);
      break;
    case W_CRR:
      rc = client_rr(o, &addr, 1, &r);
      break;
    default:
      rc = client_conns(o, &addr, &r);
      break;
  }
  if (rc != 0) return 1;
  print_client_json(o, &r);
  return r.errors == 0 && r.verify_errors == 0 && r.transactions + r.bytes > 0 ? 0 : 1;
}

/* ================================================================ server */

struct conn {
  int s;
  int listener;      /* a listening socket: its readiness means connections to accept */
  uint64_t received; /* TCP_STREAM: offset into the pattern */
  struct conn *prev, *next;
};

struct server_stats {
  long accepted, closed, max_open, errors;
  uint64_t bytes, verify_errors;
  long rss_listen_kib, rss_at_max_kib;
  long mbufs_listen, mbufs_at_max;
};

static int server_listen(int port) {
  struct sockaddr_in addr;
  int one = 1;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  if (l < 0) return -1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bzero(&addr, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(l, &addr, sizeof addr) != 0 || listen(l, 1024) != 0) {
    int err = errno;
    closesocket(l);
    errno = err;
    return -1;
  }
  set_nonblocking(l, 1);
  return l;
}

#ifndef APP_KERNEL_SOCKETS
/* TCP_STREAM's in-place read: each run of bytes checked against the pattern where it
 * lies. */
struct stream_check {
  uint64_t offset; /* into the pattern */
  uint64_t errors;
};
static void check_run(const void* data, int n, void* user) {
  struct stream_check* k = user;
  if (memcmp(data, g_pattern + k->offset % PATTERN_PERIOD, (size_t)n) != 0) k->errors++;
  k->offset += (uint64_t)n;
}
#endif

/* Reads what is there; STREAM verifies and sinks it, the others echo it.
 * Returns 0 to keep the connection, -1 to close it. */
static int server_read(const struct options* o, struct conn* c, unsigned char* buf,
                       struct server_stats* st) {
  int n;
#ifndef APP_KERNEL_SOCKETS
  if (o->workload == W_STREAM && o->recv_inplace) {
    struct stream_check k = {c->received, 0};
    n = shardtcp_recv_inplace(c->s, MAX_SIZE, 0, check_run, &k);
    if (n > 0) {
      st->bytes += (uint64_t)n;
      st->verify_errors += k.errors;
      c->received += (uint64_t)n;
      return 0;
    }
  } else
#endif
    n = recv(c->s, buf, MAX_SIZE, 0);
  if (n < 0 && (errno == EINTR || is_would_block(errno))) return 0;
  if (n < 0) {
    st->errors++;
    return -1;
  }
  if (n == 0) return -1;
  st->bytes += (uint64_t)n;
  if (o->workload == W_STREAM) {
    if (memcmp(buf, g_pattern + c->received % PATTERN_PERIOD, (size_t)n) != 0) st->verify_errors++;
    c->received += (uint64_t)n;
    return 0;
  }
  if (send_all(c->s, buf, n) != 0) {
    st->errors++;
    return -1;
  }
  return 0;
}

static int run_server(const struct options* o) {
  struct server_stats st;
  struct conn* conns = NULL;
  long open_now = 0;
  unsigned char* buf = malloc(MAX_SIZE);
  const double end = o->seconds > 0 ? now_s() + o->seconds : 0;
  double last_sample = 0;
  int ready_set = app_poll_create();
  struct conn* listeners = calloc((size_t)o->ports, sizeof *listeners);
  long* accepted_on = calloc((size_t)o->ports, sizeof *accepted_on); /* per listener */
  long accepted_min_port;
  int p;
  memset(&st, 0, sizeof st);
  if (buf == NULL || listeners == NULL || accepted_on == NULL || ready_set < 0) {
    perror("perf: set-up");
    return 1;
  }
  /* Readiness of the listeners and every connection (epoll-style: a wait costs what is
   * ready, however many connections are open). */
  for (p = 0; p < o->ports; ++p) {
    listeners[p].listener = 1;
    listeners[p].s = server_listen(o->port + p);
    if (listeners[p].s < 0 || app_poll_add(ready_set, listeners[p].s, &listeners[p]) != 0) {
      fprintf(stderr, "perf: listen on port %d: %s\n", o->port + p, strerror(errno));
      return 1;
    }
  }
  st.rss_listen_kib = rss_kib();
  st.mbufs_listen = stack_mbufs_in_use();
  printf("ready\n");
  fflush(stdout);
  while (!g_stop && (end == 0 || now_s() < end)) {
    app_event events[256];
    int i, n = app_poll_wait(ready_set, events, 256, 100);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("perf: poll wait");
      st.errors++;
      break;
    }
    for (i = 0; i < n; ++i) {
      struct conn* c = (struct conn*)app_event_data(&events[i]);
      if (c->listener) {
        const int listener = c->s;
        const long listener_index = c - listeners;
        for (;;) {
          struct sockaddr_in peer;
          socklen_t len = sizeof peer;
          int s = accept(listener, &peer, &len);
          if (s < 0) break;
          set_nonblocking(s, 0);
          set_nodelay(s);
          c = calloc(1, sizeof *c);
          if (c == NULL || app_poll_add(ready_set, s, c) != 0) {
            free(c);
            closesocket(s);
            st.errors++;
            continue;
          }
          c->s = s;
          c->next = conns;
          if (conns != NULL) conns->prev = c;
          conns = c;
          st.accepted++;
          accepted_on[listener_index]++;
          if (++open_now > st.max_open) st.max_open = open_now;
        }
        continue;
      }
      if (server_read(o, c, buf, &st) != 0) {
        app_poll_del(ready_set, c->s);
        closesocket(c->s);
        if (c->prev != NULL)
          c->prev->next = c->next;
        else
          conns = c->next;
        if (c->next != NULL) c->next->prev = c->prev;
        free(c);
        --open_now;
        st.closed++;
      }
    }
    /* CONNS: memory with the most connections open (sampled, /proc is not free). */
    if (o->workload == W_CONNS && open_now == st.max_open && now_s() - last_sample > 0.2) {
      last_sample = now_s();
      st.rss_at_max_kib = rss_kib();
      st.mbufs_at_max = stack_mbufs_in_use();
    }
  }
  app_poll_close(ready_set);
  while (conns != NULL) {
    struct conn* c = conns;
    conns = c->next;
    closesocket(c->s);
    free(c);
  }
  accepted_min_port = accepted_on[0];
  for (p = 0; p < o->ports; ++p) {
    closesocket(listeners[p].s);
    if (accepted_on[p] < accepted_min_port) accepted_min_port = accepted_on[p];
  }
  free(listeners);
  free(accepted_on);
  printf(
      "{\"side\": \"%s\", \"role\": \"server\", \"workload\": \"%s\", \"accepted\": %ld, "
      "\"accepted_min_port\": %ld, \"closed\": %ld, \"max_open\": %ld, \"bytes\": %llu, "
      "\"errors\": %ld, "
      "\"verify_errors\": %llu, \"rss_listen_kib\": %ld, \"rss_at_max_kib\": %ld, "
      "\"mbufs_in_use_listen\": %ld, \"mbufs_in_use_at_max\": %ld",
      APP_SIDE, workload_names[o->workload], st.accepted, accepted_min_port, st.closed, st.max_open,
      (unsigned long long)st.bytes, st.errors, (unsigned long long)st.verify_errors,
      st.rss_listen_kib, st.rss_at_max_kib, st.mbufs_listen, st.mbufs_at_max);
  print_stream_offload_fields(o);
  printf("}\n");
  fflush(stdout);
  free(buf);
  return st.errors == 0 && st.verify_errors == 0 ? 0 : 1;
}

/* ================================================================ main */

static int parse_options(int argc, char** argv, struct options* o) {
  const char* role = arg_value(argc, argv, "--role", "client");
  const char* w = arg_value(argc, argv, "--workload", "TCP_STREAM");
  int i;
  memset(o, 0, sizeof *o);
  o->server = strcmp(role, "server") == 0;
  if (!o->server && strcmp(role, "client") != 0) return -1;
  o->workload = (enum workload) - 1;
  for (i = 0; i < 4; ++i)
    if (strcasecmp(w, workload_names[i]) == 0) o->workload = (enum workload)i;
  if ((int)o->workload < 0) return -1;
  o->address = arg_value(argc, argv, "--server", NULL);
  o->port = atoi(arg_value(argc, argv, "--port", "5201"));
  o->seconds = atof(arg_value(argc, argv, "--seconds", o->server ? "0" : "10"));
  o->concurrency = atoi(arg_value(argc, argv, "--concurrency", "16"));
  o->conns = atoi(arg_value(argc, argv, "--conns", "1000"));
  o->size = atoi(arg_value(argc, argv, "--size", "64"));
  o->write_size = atoi(arg_value(argc, argv, "--write", "65536"));
  o->quiet = arg_flag(argc, argv, "--quiet");
  o->counters = arg_value(argc, argv, "--counters", NULL);
  o->exit_on_signal = arg_flag(argc, argv, "--exit-on-signal");
  o->app_cpu = atoi(arg_value(argc, argv, "--app-cpu", "-1"));
  o->ports = atoi(arg_value(argc, argv, "--ports", "1"));
  o->hold = atof(arg_value(argc, argv, "--hold", "1"));
  {
#ifdef APP_KERNEL_SOCKETS
    const char* how = arg_value(argc, argv, "--recv", "copy");
#else
    const char* how = arg_value(argc, argv, "--recv", "inplace");
#endif
    o->recv_inplace = strcmp(how, "inplace") == 0;
    if (!o->recv_inplace && strcmp(how, "copy") != 0) return -1;
#ifdef APP_KERNEL_SOCKETS
    if (o->recv_inplace) return -1; /* the kernel's sockets have no in-place read */
#endif
  }
  if (o->ports <= 0 || o->port + o->ports - 1 > 65535 || o->hold < 0) return -1;
  if (o->port <= 0 || o->port > 65535 || o->concurrency <= 0 || o->conns <= 0 || o->size <= 0 ||
      o->size > MAX_SIZE || o->write_size <= 0 || o->write_size > MAX_SIZE)
    return -1;
  return 0;
}

int main(int argc, char** argv) {
  struct options o;
  struct sigaction sa;
  int i, rc;
  if (parse_options(argc, argv, &o) != 0) {
    fprintf(stderr,
            "usage: %s [EAL options -- stack options] --role server|client "
            "--workload TCP_STREAM|TCP_RR|TCP_CRR|CONNS [--server ADDR] [--port N] "
            "[--seconds S] [--concurrency N] [--conns N] [--ports K] [--hold S] [--size N] "
            "[--write N] [--recv inplace|copy] [--app-cpu N] "
            "[--counters A,B,...] [--quiet] [--exit-on-signal]\n",
            argv[0]);
    return 2;
  }
  for (i = 0; i < (int)sizeof g_pattern; ++i) g_pattern[i] = (unsigned char)(i % PATTERN_PERIOD);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  {
    /* CONNS holds as many descriptors as connections (the kernel's side): take the
     * hard limit. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
      nofile.rlim_cur = nofile.rlim_max;
      setrlimit(RLIMIT_NOFILE, &nofile);
    }
  }
  if (app_init(argc, argv) != 0) {
    perror("perf: shardtcp_init");
    return 1;
  }
  if (o.app_cpu >= 0) {
    /* This thread only: threads the stack started keep their own affinity. */
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.app_cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) perror("perf: --app-cpu");
  }
  rc = o.server ? run_server(&o) : run_client(&o);
  print_counters(o.counters);
  if (!o.server && o.exit_on_signal) wait_for_stop_signal();
  app_fini();
  return rc;
}
