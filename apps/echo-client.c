/* echo-client: the TargetTCP manual's connect() example around a loop, written only
 * against <sockets.h>. Connects to an echo server, sends a message, prints the echo.
 *
 *   echo-client [EAL options] -- --ip ADDR/PREFIX [stack options]
 *               --server ADDR [--port N] [--message TEXT] [--attempts N]
 *
 * The stack options go to shardtcp_init(); the client picks its own out of argv.
 * Exit status: 0 when an echo came back intact, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sockets.h> /* last: it maps the manual's names onto the stack's */

static const char *arg_value(int argc, char **argv, const char *name, const char *fallback) {
  int i;
  for (i = 1; i + 1 < argc; ++i)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

/* A pause between attempts: select() with no sockets is a portable sleep (plain C11
 * has no nanosleep without POSIX feature macros). */
static void pause_ms(long ms) {
  struct timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000L;
  select(0, NULL, NULL, NULL, &tv);
}

int main(int argc, char **argv) {
  const char *server_text = arg_value(argc, argv, "--server", NULL);
  const char *message = arg_value(argc, argv, "--message", "hello from the echo client");
  const int ECHO_PORT = atoi(arg_value(argc, argv, "--port", "7"));
  const int attempts = atoi(arg_value(argc, argv, "--attempts", "3"));
  unsigned long Server;
  int attempt;
  int ok = 0;

  if (server_text == NULL) {
    fprintf(stderr, "usage: %s [EAL options] -- --ip ADDR/PREFIX --server ADDR [--port N]\n",
            argv[0]);
    return 2;
  }
  Server = inet_addr(server_text);
  if (shardtcp_init(argc, argv) != 0) {
    perror("shardtcp_init");
    return 1;
  }
  for (attempt = 0; attempt < attempts && !ok; ++attempt) {
    char reply[512];
    int len = (int)strlen(message);
    int got = 0;
    int sock;
    if (attempt > 0) pause_ms(500);
    sock = socket(AF_INET, SOCK_STREAM, 0);
    if (sock < 0) {
      perror("socket");
      break;
    }
    /* ---- the manual's example, verbatim ---- */
    struct sockaddr_in addr;
    bzero(&addr, sizeof(struct sockaddr_in));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(ECHO_PORT);
    addr.sin_addr.s_addr = Server;
    if (connect(sock, &addr, sizeof(struct sockaddr_in)))
    {
      perror("Echo client connection failed");
      closesocket(sock);
      continue;
    }
    printf("Echo client connected\n");
    /* ---- end of the manual's example ---- */
    if (len > (int)sizeof reply) len = (int)sizeof reply;
    if (send(sock, message, len, 0) != len) {
      perror("send");
    } else {
      while (got < len) {
        int n = recv(sock, reply + got, len - got, 0);
        if (n <= 0) {
          if (n < 0) perror("recv");
          break;
        }
        got += n;
      }
      if (got == len && memcmp(reply, message, (size_t)len) == 0) {
        printf("Echo: %.*s\n", len, reply);
        ok = 1;
      }
    }
    closesocket(sock);
  }
  fflush(stdout);
  shardtcp_fini();
  return ok ? 0 : 1;
}
