#!/usr/bin/env python3
"""Linux's side of the sharded TAP interop test: many short echo connections.

  server --port P [--timeout S]
      echoes every connection until EOF, then closes; prints "listening" when ready.
  client --host A --port P --conns N [--parallel K] [--timeout S]
      opens N connections, K at a time; each sends its own payload (length and bytes
      derived from its index), half-closes, reads the echo to EOF and compares it.
      Prints "ok N" and exits 0 when every echo matched; else prints the failures.
"""
import argparse
import socket
import sys
import threading


def payload(i):
    n = 100 + (i * 37) % 1900
    return bytes(((i * 131 + k * 7 + (k >> 8)) & 0xFF) for k in range(n))


def serve(args):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", args.port))
    ls.listen(1024)
    ls.settimeout(args.timeout)
    print("listening", flush=True)

    def echo(conn):
        try:
            conn.settimeout(args.timeout)
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
        except OSError as e:
            print("echo: %s" % e, flush=True)
        finally:
            conn.close()

    while True:
        try:
            conn, _ = ls.accept()
        except socket.timeout:
            return 0
        threading.Thread(target=echo, args=(conn,), daemon=True).start()


def client(args):
    failures = []
    lock = threading.Lock()
    next_index = [0]

    def worker():
        while True:
            with lock:
                i = next_index[0]
                if i >= args.conns:
                    return
                next_index[0] += 1
            want = payload(i)
            try:
                s = socket.create_connection((args.host, args.port), timeout=args.timeout)
                s.sendall(want)
                s.shutdown(socket.SHUT_WR)
                got = bytearray()
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    got += d
                s.close()
                if bytes(got) != want:
                    with lock:
                        failures.append("conn %d: %d bytes back of %d" % (i, len(got), len(want)))
            except OSError as e:
                with lock:
                    failures.append("conn %d: %s" % (i, e))

    threads = [threading.Thread(target=worker) for _ in range(args.parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        print("%d failures, first: %s" % (len(failures), failures[:5]), flush=True)
        return 1
    print("ok %d" % args.conns, flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("--host", default="198.18.0.2")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--conns", type=int, default=1000)
    p.add_argument("--parallel", type=int, default=20)
    p.add_argument("--timeout", type=float, default=30)
    args = p.parse_args()
    return serve(args) if args.mode == "server" else client(args)


if __name__ == "__main__":
    sys.exit(main())
