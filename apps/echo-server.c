/* echo-server: a select()-driven echo server written only against <sockets.h>, in
 * the TargetTCP manual's style. Serves until --duration seconds pass (0: forever).
 *
 *   echo-server [EAL options] -- --ip ADDR/PREFIX [stack options]
 *               [--port N] [--duration SEC]
 *
 * Prints "ready" once listening, and one line per connection served.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sockets.h> /* last: it maps the manual's names onto the stack's */

#define MAX_CLIENTS 64

static const char *arg_value(int argc, char **argv, const char *name, const char *fallback) {
  int i;
  for (i = 1; i + 1 < argc; ++i)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

int main(int argc, char **argv) {
  const int port = atoi(arg_value(argc, argv, "--port", "7"));
  const double duration = atof(arg_value(argc, argv, "--duration", "0"));
  int clients[MAX_CLIENTS];
  int n_clients = 0;
  int listener;
  int one = 1;
  struct sockaddr_in addr;
  time_t start = time(NULL);

  if (shardtcp_init(argc, argv) != 0) {
    perror("shardtcp_init");
    return 1;
  }
  listener = socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0) {
    perror("socket");
    return 1;
  }
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bzero(&addr, sizeof(struct sockaddr_in));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(listener, &addr, sizeof(struct sockaddr_in)) || listen(listener, 16)) {
    perror("Echo server bind/listen failed");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  while (duration <= 0 || difftime(time(NULL), start) < duration) {
    fd_set rd;
    struct timeval tv;
    int maxfd = listener;
    int i;
    FD_ZERO(&rd);
    FD_SET(listener, &rd);
    for (i = 0; i < n_clients; ++i) {
      FD_SET(clients[i], &rd);
      if (clients[i] > maxfd) maxfd = clients[i];
    }
    tv.tv_sec = 0;
    tv.tv_usec = 200000;
    if (select(maxfd + 1, &rd, NULL, NULL, &tv) < 0) {
      perror("select");
      break;
    }
    if (FD_ISSET(listener, &rd)) {
      struct sockaddr_in peer;
      socklen_t len = sizeof peer;
      int c;
      ioctlsocket(listener, FIONBIO, &one);
      c = accept(listener, &peer, &len);
      if (c >= 0) {
        if (n_clients < MAX_CLIENTS) {
          clients[n_clients++] = c;
          printf("connection from %s:%u\n", inet_ntoa(peer.sin_addr), ntohs(peer.sin_port));
          fflush(stdout);
        } else {
          closesocket(c);
        }
      }
    }
    for (i = 0; i < n_clients; ++i) {
      char buf[2048];
      int n;
      if (!FD_ISSET(clients[i], &rd)) continue;
      n = recv(clients[i], buf, sizeof buf, 0);
      if (n > 0) {
        if (send(clients[i], buf, n, 0) != n) perror("send");
        continue;
      }
      if (n < 0 && errno == EWOULDBLOCK) continue;
      closesocket(clients[i]);
      clients[i] = clients[--n_clients];
      --i;
    }
  }
  shardtcp_fini();
  return 0;
}
