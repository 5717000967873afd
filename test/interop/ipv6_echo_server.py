#!/usr/bin/env python3
"""Linux's IPv6 echo server for test/interop/ipv6_interop_test.cc.

  ipv6_echo_server.py ADDR PORT [CONNS] [TIMEOUT]
      listens on [ADDR]:PORT (IPv6 only), prints "listening", echoes CONNS connections
      (default 1) one after the other until each one's EOF, then exits; gives up after
      TIMEOUT seconds (default 30) of waiting.
"""
import socket
import sys


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    conns = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 30
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    ls.bind((addr, port))
    ls.listen(8)
    ls.settimeout(timeout)
    print("listening", flush=True)
    for _ in range(conns):
        conn, peer = ls.accept()
        conn.settimeout(timeout)
        total = 0
        while True:
            data = conn.recv(256 * 1024)
            if not data:
                break
            conn.sendall(data)
            total += len(data)
        conn.close()
        print("echoed %d bytes for [%s]:%d" % (total, peer[0], peer[1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
