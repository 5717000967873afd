#!/usr/bin/env python3
"""Linux's side of the UDP echo interop tests (kernel sockets as the peer).

  server --port P [--timeout S]
      echoes every datagram to its sender; prints "listening" when ready; exits after
      S seconds without traffic.
  client --host A --port P --count N [--size B] [--window W]
      sends N datagrams of B bytes (a 4-byte sequence number, then pseudo-random bytes),
      at most W unanswered, resending those not echoed within 200 ms; checks that each
      echo equals what was sent. Exits 0 when all N came back intact.
"""
import argparse
import random
import socket
import struct
import sys
import time


def serve(args):
    # `::` without IPV6_V6ONLY: IPv4 and IPv6 peers alike.
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", args.port))
    s.settimeout(args.timeout)
    print("listening", flush=True)
    n = 0
    while True:
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            print("udp server: echoed %d datagrams" % n, flush=True)
            return 0
        s.sendto(data, peer)
        n += 1


def client(args):
    rng = random.Random(7)
    payloads = [struct.pack("!I", i) + rng.randbytes(args.size - 4) for i in range(args.count)]
    s = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((args.host, args.port))
    s.settimeout(0.05)
    done = [False] * args.count
    sent_at = [0.0] * args.count
    base = nxt = 0
    resent = bad = 0
    t0 = time.monotonic()
    deadline = t0 + args.timeout
    while base < args.count and time.monotonic() < deadline:
        now = time.monotonic()
        while nxt < args.count and nxt < base + args.window:
            s.send(payloads[nxt])
            sent_at[nxt] = now
            nxt += 1
        for i in range(base, nxt):
            if not done[i] and now - sent_at[i] > 0.2:
                s.send(payloads[i])
                sent_at[i] = now
                resent += 1
        try:
            data = s.recv(65535)
        except socket.timeout:
            continue
        except ConnectionRefusedError:
            print("udp client: ECONNREFUSED", flush=True)
            return 1
        if len(data) < 4:
            bad += 1
            continue
        (i,) = struct.unpack("!I", data[:4])
        if i >= args.count or data != payloads[i]:
            bad += 1
            continue
        done[i] = True
        while base < args.count and done[base]:
            base += 1
    dt = time.monotonic() - t0
    ok = base == args.count and bad == 0
    print("kernel udp client: %d of %d datagrams of %d bytes echoed intact in %.3f s "
          "(%d resent, %d bad) %s" % (sum(done), args.count, args.size, dt, resent, bad,
                                       "all verified" if ok else "FAILED"), flush=True)
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("--host", default="198.18.0.2")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--window", type=int, default=32)
    p.add_argument("--timeout", type=float, default=30)
    args = p.parse_args()
    return {"server": serve, "client": client}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
