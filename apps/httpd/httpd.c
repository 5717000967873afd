/* httpd: a small HTTP/1.1 responder on the sockets API, so that a client nobody here
 * wrote (wrk, curl) can measure the stack. Every GET/HEAD gets the same 438-byte body.
 * Keep-alive by default; "Connection: close" (or HTTP/1.0 without keep-alive) closes
 * after the response. Pipelined requests are answered in order.
 *
 *   shardtcp-httpd [EAL options] -- --ip ADDR/PREFIX [stack options] [--port N] [--seconds S]
 *   kernel-httpd [--port N] [--seconds S]      (same source, kernel sockets)
 *   --app-cpu N pins the application's thread to CPU N after start-up (on the stack
 *   that thread runs the engine inline: one thread, one core).
 *
 * Prints "ready" once listening; at exit (SIGINT/SIGTERM or --seconds) one JSON line
 * with the requests served.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app_sockets.h" /* last: the stack's or the kernel's sockets */

#define BODY_LEN 438
#define REQ_BUF 8192

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static char g_body[BODY_LEN + 1];
static char g_response[512 + BODY_LEN];
static int g_response_len, g_header_len;

struct conn {
  int s;
  int used;
  char buf[REQ_BUF];
  struct conn *prev, *next;
};

struct stats {
  long accepted, requests, closed_by_request, errors, bad_requests;
};

static const char* arg_value(int argc, char** argv, const char* name, const char* fallback) {
  int i;
  for (i = 1; i + 1 < argc; ++i)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

static void make_response(void) {
  static const char head[] = "<!DOCTYPE html>\n<html><head><title>shardtcp</title></head><body>\n";
  static const char tail[] = "\n</body></html>\n";
  int i, n = 0;
  n += snprintf(g_body + n, sizeof g_body - (size_t)n, "%s", head);
  for (i = n; i < BODY_LEN - (int)strlen(tail); ++i) g_body[i] = (char)('a' + i % 26);
  memcpy(g_body + i, tail, strlen(tail));
  g_body[BODY_LEN] = '\0';
  g_header_len = snprintf(g_response, sizeof g_response,
                          "HTTP/1.1 200 OK\r\nServer: shardtcp-httpd\r\nContent-Type: text/html\r\n"
                          "Content-Length: %d\r\n\r\n",
                          BODY_LEN);
  memcpy(g_response + g_header_len, g_body, BODY_LEN);
  g_response_len = g_header_len + BODY_LEN;
}

static int send_all(int s, const char* p, int len) {
  int off = 0;
  while (off < len) {
    int n = send(s, p + off, len - off, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return -1;
    }
    off += n;
  }
  return 0;
}

/* Case-insensitive search for a header line "name: value" inside the head. */
static int header_has(const char* head, int len, const char* name, const char* value) {
  const char *p = head, *end = head + len;
  const size_t nl = strlen(name), vl = strlen(value);
  while (p < end) {
    const char* eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL) eol = end;
    if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char* v = p + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) ++v;
      for (; v + vl <= eol; ++v)
        if (strncasecmp(v, value, vl) == 0) return 1;
    }
    p = eol + 1;
  }
  return 0;
}

/* Answers every complete request in the buffer. 0 keep, -1 close. */
static int serve(struct conn* c, struct stats* st) {
  for (;;) {
    char* end = c->used >= 4 ? memmem(c->buf, (size_t)c->used, "\r\n\r\n", 4) : NULL;
    int head_len, keep, is_head;
    if (end == NULL) {
      if (c->used == REQ_BUF) { /* a head larger than the buffer */
        st->bad_requests++;
        return -1;
      }
      return 0;
    }
    head_len = (int)(end - c->buf) + 4;
    is_head = strncmp(c->buf, "HEAD ", 5) == 0;
    if (strncmp(c->buf, "GET ", 4) != 0 && !is_head) {
      static const char bad[] =
          "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      st->bad_requests++;
      send_all(c->s, bad, (int)sizeof bad - 1);
      return -1;
    }
    keep = !header_has(c->buf, head_len, "Connection", "close");
    {
      /* HTTP/1.0 closes unless it asked for keep-alive. */
      const char* eol = memchr(c->buf, '\r', (size_t)head_len);
      if (eol != NULL && eol - c->buf >= 8 && strncmp(eol - 8, "HTTP/1.0", 8) == 0 &&
          !header_has(c->buf, head_len, "Connection", "keep-alive"))
        keep = 0;
    }
    if (!keep) {
      /* The same response plus "Connection: close". */
      char resp[sizeof g_response + 32];
      int n = g_header_len - 2;
      memcpy(resp, g_response, (size_t)n);
      n += sprintf(resp + n, "Connection: close\r\n\r\n");
      if (!is_head) {
        memcpy(resp + n, g_body, BODY_LEN);
        n += BODY_LEN;
      }
      if (send_all(c->s, resp, n) != 0) st->errors++;
      st->requests++;
      st->closed_by_request++;
      return -1;
    }
    if (send_all(c->s, g_response, is_head ? g_header_len : g_response_len) != 0) {
      st->errors++;
      return -1;
    }
    st->requests++;
    memmove(c->buf, c->buf + head_len, (size_t)(c->used - head_len));
    c->used -= head_len;
  }
}

int main(int argc, char** argv) {
  const int port = atoi(arg_value(argc, argv, "--port", "80"));
  const double seconds = atof(arg_value(argc, argv, "--seconds", "0"));
  struct stats st;
  struct conn* conns = NULL;
  struct sockaddr_in addr;
  struct sigaction sa;
  struct timespec t0, t;
  int listener, one = 1, ready_set = -1;

  memset(&st, 0, sizeof st);
  make_response();
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (app_init(argc, argv) != 0) {
    perror("httpd: shardtcp_init");
    return 1;
  }
  if (atoi(arg_value(argc, argv, "--app-cpu", "-1")) >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(atoi(arg_value(argc, argv, "--app-cpu", "-1")), &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) perror("httpd: --app-cpu");
  }
  listener = socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0) {
    perror("httpd: socket");
    return 1;
  }
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bzero(&addr, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(listener, &addr, sizeof addr) != 0 || listen(listener, 1024) != 0) {
    perror("httpd: bind/listen");
    return 1;
  }
  ioctlsocket(listener, FIONBIO, &one);
  printf("ready\n");
  fflush(stdout);
  /* The listener and every connection in one readiness set (epoll-style: a wait costs
   * what is ready, however many connections are open). The listener's data is the set
   * itself. */
  ready_set = app_poll_create();
  if (ready_set < 0 || app_poll_add(ready_set, listener, &ready_set) != 0) {
    perror("httpd: poll set");
    return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!g_stop) {
    app_event events[256];
    int i, n;
    if (seconds > 0) {
      clock_gettime(CLOCK_MONOTONIC, &t);
      if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 >= seconds)
        break;
    }
    n = app_poll_wait(ready_set, events, 256, 100);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("httpd: poll wait");
      break;
    }
    for (i = 0; i < n; ++i) {
      struct conn* c = (struct conn*)app_event_data(&events[i]);
      int drop = 0;
      if ((void*)c == (void*)&ready_set) {
        for (;;) {
          struct sockaddr_in peer;
          socklen_t len = sizeof peer;
          int zero = 0;
          int s = accept(listener, &peer, &len);
          if (s < 0) break;
          ioctlsocket(s, FIONBIO, &zero);
          setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          c = calloc(1, sizeof *c);
          if (c == NULL || app_poll_add(ready_set, s, c) != 0) {
            free(c);
            closesocket(s);
            continue;
          }
          c->s = s;
          c->next = conns;
          if (conns != NULL) conns->prev = c;
          conns = c;
          st.accepted++;
        }
        continue;
      }
      {
        int m = recv(c->s, c->buf + c->used, REQ_BUF - c->used, 0);
        if (m > 0) {
          c->used += m;
          drop = serve(c, &st) != 0;
        } else if (m == 0 || !(errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
          drop = 1;
        }
      }
      if (drop) {
        app_poll_del(ready_set, c->s);
        closesocket(c->s);
        if (c->prev != NULL)
          c->prev->next = c->next;
        else
          conns = c->next;
        if (c->next != NULL) c->next->prev = c->prev;
        free(c);
      }
    }
  }
  app_poll_close(ready_set);
  while (conns != NULL) {
    struct conn* c = conns;
    conns = c->next;
    closesocket(c->s);
    free(c);
  }
  closesocket(listener);
  printf(
      "{\"side\": \"%s\", \"accepted\": %ld, \"requests\": %ld, \"closed_by_request\": %ld, "
      "\"bad_requests\": %ld, \"errors\": %ld}\n",
      APP_SIDE, st.accepted, st.requests, st.closed_by_request, st.bad_requests, st.errors);
  fflush(stdout);
  app_fini();
  return st.errors == 0 ? 0 : 1;
}
