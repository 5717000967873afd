#!/usr/bin/env python3
"""Linux's side of the TCP echo interop tests (kernel sockets as the peer).

  server --port P [--timeout S]
      echoes every connection until EOF, then closes; prints "listening" when ready.
  client --host A --port P --bytes N [--conns K] [--ss] [--timeout S]
      sends N pseudo-random bytes on each of K connections, half-closes, reads the echo
      to EOF and compares SHA-256 digests of what went out and what came back. With
      --ss, prints `ss -tine` for the connection (between SS_BEGIN and SS_END) once the
      first MiB has come back, while it is still open. Exits 0 when every digest matches.
  refused --host A --port P
      connects once and prints the errno name it got (ECONNREFUSED expected).
"""
import argparse
import errno
import hashlib
import random
import socket
import subprocess
import sys
import threading
import time

CHUNK = 256 * 1024


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def dual_stack_socket(kind):
    """A `::` socket without IPV6_V6ONLY: IPv4 and IPv6 peers alike."""
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    return s


def serve(args):
    ls = dual_stack_socket(socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::", args.port))
    ls.listen(64)
    ls.settimeout(args.timeout)
    print("listening", flush=True)

    def echo(conn, peer):
        total = 0
        try:
            conn.settimeout(args.timeout)
            while True:
                data = conn.recv(CHUNK)
                if not data:
                    break
                conn.sendall(data)
                total += len(data)
        except OSError as e:
            print("echo %s: %s after %d bytes" % (peer, e, total), flush=True)
        finally:
            conn.close()
        print("echoed %d bytes for %s:%d" % (total, peer[0], peer[1]), flush=True)

    while True:
        try:
            conn, peer = ls.accept()
        except socket.timeout:
            return 0
        threading.Thread(target=echo, args=(conn, peer), daemon=True).start()


def run_client(args, k, results):
    rng = random.Random(1000 + k)
    s = socket.create_connection((args.host, args.port), timeout=args.timeout)
    sent_hash = hashlib.sha256()
    err = []

    def sender():
        try:
            left = args.bytes
            while left > 0:
                n = min(CHUNK, left)
                block = rng.randbytes(n)
                sent_hash.update(block)
                s.sendall(block)
                left -= n
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append("send: %s" % e)

    t = threading.Thread(target=sender)
    t0 = time.monotonic()
    t.start()
    recv_hash = hashlib.sha256()
    got = 0
    ss_done = not args.ss
    try:
        while True:
            data = s.recv(CHUNK)
            if not data:
                break
            recv_hash.update(data)
            got += len(data)
            if not ss_done and got >= min(1 << 20, args.bytes):
                ss_done = True
                lp = s.getsockname()[1]
                # -e: iproute2 6.1's ss prints "ts" and "sack" only with it on this kernel.
                out = subprocess.run(["ss", "-tine", "sport", "= :%d" % lp],
                                     capture_output=True, text=True).stdout
                # The same facts from TCP_INFO itself (tcpi_options, tcpi_*_wscale).
                ti = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
                print("SS_BEGIN\n%sSS_END\ntcp_info: options=0x%x snd_wscale=%d rcv_wscale=%d"
                      % (out, ti[5], ti[6] & 0xf, ti[6] >> 4), flush=True)
    except OSError as e:
        err.append("recv: %s" % e)
    t.join()
    dt = time.monotonic() - t0
    s.close()
    ok = not err and got == args.bytes and recv_hash.digest() == sent_hash.digest()
    print("conn %d: sent %d, received %d bytes in %.3f s (%.1f Mbit/s each way), sha256 %s %s%s"
          % (k, args.bytes, got, dt, args.bytes * 8 / dt / 1e6 if dt > 0 else 0,
             sent_hash.hexdigest()[:16], "match" if ok else "MISMATCH",
             (" " + "; ".join(err)) if err else ""), flush=True)
    results[k] = ok


def client(args):
    results = [False] * args.conns
    threads = [threading.Thread(target=run_client, args=(args, k, results))
               for k in range(args.conns)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    total = args.bytes * args.conns
    print("kernel client: %d conns x %d bytes in %.3f s: %.1f Mbit/s each way, %s"
          % (args.conns, args.bytes, dt, total * 8 / dt / 1e6 if dt > 0 else 0,
             "all verified" if all(results) else "FAILED"), flush=True)
    return 0 if all(results) else 1


def refused(args):
    s = socket.socket(family_of(args.host), socket.SOCK_STREAM)
    s.settimeout(args.timeout)
    try:
        s.connect((args.host, args.port))
        print("connected", flush=True)
        return 1
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e)), flush=True)
        return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "client", "refused"])
    p.add_argument("--host", default="198.18.0.2")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bytes", type=int, default=1 << 20)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--ss", action="store_true")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    return {"server": serve, "client": client, "refused": refused}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
