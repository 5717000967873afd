#!/usr/bin/env python3
"""The kernel side of the hostile tests: an attacker and a legitimate client.

Runs in the test's private network namespace, next to the stack's TAP. Attack traffic
uses spoofed sources from 198.18.64.0/18 (inside the namespace; nothing leaves it).

  hostile_peer.py synflood --dst A --port P --seconds S [--burst N]
  hostile_peer.py ackflood --dst A --seconds S          (TCP ACKs + UDP to closed ports)
  hostile_peer.py junk --dst A --iface IF --seconds S   (malformed frames on the link)
  hostile_peer.py connects --dst A --port P --count N --rate R
  hostile_peer.py hold --dst A --port P --count N --hold S
  hostile_peer.py bulk --dst A --port P --bytes B

Each prints one result line the test parses ("key=value ...") and exits 0 unless it
could not run at all.
"""
import argparse
import os
import random
import resource
import select
import socket
import struct
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def spoofed_source(rng):
    # 198.18.64.0/18: in the test range, off the TAP's /24, so replies go nowhere.
    return "198.18.%d.%d" % (64 + rng.randrange(64), 1 + rng.randrange(254))


def ipv4_tcp(src, dst, sport, dport, seq, ack, flags, options=b"", window=64240):
    off = (20 + len(options)) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, window, 0, 0) + options
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp


SYN, ACK, RST = 0x02, 0x10, 0x04
# MSS 1460, SACK permitted, timestamps, NOP, window scale 7: what Linux sends.
SYN_OPTIONS = (b"\x02\x04\x05\xb4" + b"\x04\x02" + b"\x08\x0a" + b"\0" * 8 + b"\x01" +
               b"\x03\x03\x07")


def raw_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_IP, socket.IP_HDRINCL, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    return s


def blast(packets, dst, seconds, burst=None):
    """Sends the packets round-robin for `seconds` (or `burst` of them once)."""
    s = raw_socket()
    sent = dropped = 0
    end = time.monotonic() + seconds
    i = 0
    while (burst is not None and sent + dropped < burst) or (burst is None and time.monotonic() < end):
        for _ in range(64):
            try:
                s.sendto(packets[i], (dst, 0))
                sent += 1
            except (BlockingIOError, OSError):
                dropped += 1  # the TAP's queue is full: the stack is behind
            i = (i + 1) % len(packets)
            if burst is not None and sent + dropped >= burst:
                break
    return sent, dropped


def cmd_synflood(a):
    rng = random.Random(a.seed)
    pkts = []
    for _ in range(4096):
        opts = SYN_OPTIONS[:8] + struct.pack("!I", rng.getrandbits(32)) + SYN_OPTIONS[12:]
        pkts.append(ipv4_tcp(spoofed_source(rng), a.dst, 1024 + rng.randrange(60000), a.port,
                             rng.getrandbits(32), 0, SYN, opts))
    t0 = time.monotonic()
    sent, dropped = blast(pkts, a.dst, a.seconds, a.burst)
    el = time.monotonic() - t0
    print("synflood sent=%d dropped=%d seconds=%.2f pps=%.0f" % (sent, dropped, el, sent / max(el, 1e-9)))


def cmd_ackflood(a):
    rng = random.Random(a.seed)
    # A third each from the kernel's own address, from spoofed sources off the link, and
    # from spoofed sources on it (the stack's answers to those wait for ARP that never
    # comes).
    def source(i):
        return (a.src, spoofed_source(rng), "198.18.0.%d" % (10 + rng.randrange(240)))[i % 3]
    pkts = [ipv4_tcp(source(i), a.dst, 1024 + rng.randrange(60000), rng.randrange(1, 65536),
                     rng.getrandbits(32), rng.getrandbits(32), ACK)
            for i in range(4096)]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setblocking(False)
    payload = b"x" * 512
    raw = raw_socket()
    sent = udp = 0
    end = time.monotonic() + a.seconds
    i = 0
    while time.monotonic() < end:
        for _ in range(32):
            try:
                raw.sendto(pkts[i], (a.dst, 0))
                sent += 1
            except OSError:
                pass
            i = (i + 1) % len(pkts)
        try:
            u.sendto(payload, (a.dst, 9 + rng.randrange(1000)))
            udp += 1
        except OSError:
            pass
    print("ackflood acks=%d udp=%d" % (sent, udp))


def mac_of(ip):
    """The stack's MAC, as the kernel resolved it (ping once first)."""
    os.system("ping -c 1 -W 1 %s >/dev/null 2>&1" % ip)
    with open("/proc/net/arp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if p[0] == ip and p[3] != "00:00:00:00:00:00":
                return bytes.fromhex(p[3].replace(":", "")), p[5]
    raise SystemExit("no ARP entry for %s" % ip)


def fix_tcp_checksum(b, src, dst):
    tcp = bytes(b[20:22]) + bytes(b[22:36]) + b"\0\0" + bytes(b[38:])
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    b[36:38] = struct.pack("!H", checksum(pseudo + tcp))


def junk_frames(rng, dst, src, port, n):
    """Malformed IPv4/TCP in every way a parser meets: truncated, bad lengths and
    checksums, bad header lengths and data offsets, fragments, nonsense options on SYNs."""
    out = []
    for i in range(n):
        kind = i % 9
        good = ipv4_tcp(src, dst, 1024 + rng.randrange(60000), port, rng.getrandbits(32),
                        rng.getrandbits(32), SYN if kind == 8 else rng.randrange(256))
        b = bytearray(good)
        if kind == 0:
            b = b[:rng.randrange(1, 20)]                       # shorter than an IP header
        elif kind == 1:
            b[10] ^= 0xFF                                      # IP checksum wrong
        elif kind == 2:
            b[0] = 0x40 | rng.randrange(0, 5)                  # IHL below 5
        elif kind == 3:
            struct.pack_into("!H", b, 2, len(b) + 200)         # total length past the frame
        elif kind == 4:
            b[32] = rng.randrange(0, 5) << 4                   # TCP data offset below 5
            fix_tcp_checksum(b, src, dst)                      # ... under a valid checksum
        elif kind == 5:
            b[33] ^= 0x01                                      # TCP checksum wrong (flags changed)
        elif kind == 6:
            struct.pack_into("!H", b, 6, 0x2000 | rng.randrange(1, 100))  # a stray fragment
            b[10:12] = b"\0\0"
            b[10:12] = struct.pack("!H", checksum(bytes(b[:20])))
        elif kind == 7:
            b = bytearray(bytes(b) + bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 40))))
        else:
            # A SYN with a valid checksum and garbage options (data offset 15).
            opts = bytes(rng.getrandbits(8) for _ in range(40))
            b = bytearray(ipv4_tcp(src, dst, 1024 + rng.randrange(60000), port,
                                   rng.getrandbits(32), 0, SYN, opts))
        out.append(bytes(b))
    return out


def cmd_junk(a):
    rng = random.Random(a.seed)
    mac, iface = mac_of(a.dst)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    my_mac = s.getsockname()[4]
    frames = [mac + my_mac + b"\x08\x00" + f for f in junk_frames(rng, a.dst, a.src, a.port, 900)]
    sent = 0
    syns = 0
    end = time.monotonic() + a.seconds
    i = 0
    while time.monotonic() < end:
        try:
            s.send(frames[i])
            sent += 1
            syns += 1 if i % 9 == 8 else 0
        except OSError:
            pass
        i = (i + 1) % len(frames)
        if i == 0:
            time.sleep(0.01)
    print("junk sent=%d syns=%d" % (sent, syns))


def exchange(sock, timeout):
    """Sends 4 bytes and reads their echo; True if they came back."""
    sock.settimeout(timeout)
    sock.sendall(b"ping")
    got = b""
    while len(got) < 4:
        d = sock.recv(4 - len(got))
        if not d:
            return False
        got += d
    return got == b"ping"


def cmd_connects(a):
    ok = failed = 0
    lat = []
    errors = {}
    period = 1.0 / a.rate
    start = time.monotonic()
    for k in range(a.count):
        due = start + k * period
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        t0 = time.monotonic()
        try:
            s = socket.create_connection((a.dst, a.port), timeout=a.timeout)
            lat.append(time.monotonic() - t0)
            if exchange(s, a.timeout):
                ok += 1
            else:
                failed += 1
                errors["no echo"] = errors.get("no echo", 0) + 1
            s.close()
        except OSError as e:
            failed += 1
            name = type(e).__name__
            errors[name] = errors.get(name, 0) + 1
    lat.sort()

    def pct(p):
        return 1000 * lat[min(len(lat) - 1, int(p * len(lat)))] if lat else -1

    print("connects ok=%d failed=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%s" %
          (ok, failed, pct(0.5), pct(0.99), 1000 * lat[-1] if lat else -1,
           ",".join("%s:%d" % kv for kv in errors.items()) or "none"))


def cmd_hold(a):
    """Opens `count` connections at once and classifies each: working (its bytes come
    back), refused (an error the client sees: refused, reset, timed out at connect), or
    silent (connected, but its bytes never come back and nothing says why)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (a.count + 256, a.count + 256))
    socks = []
    refused = 0
    for _ in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((a.dst, a.port))
        socks.append(s)
    # Wait for every connect to finish one way or the other (poll: select() stops at
    # descriptor 1024).
    by_fd = {s.fileno(): s for s in socks}
    poller = select.poll()
    for fd in by_fd:
        poller.register(fd, select.POLLOUT)
    pending = set(by_fd)
    deadline = time.monotonic() + a.timeout
    connected = []
    while pending and time.monotonic() < deadline:
        for fd, _ in poller.poll(200):
            if fd not in pending:
                continue
            pending.discard(fd)
            poller.unregister(fd)
            s = by_fd[fd]
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                connected.append(s)
            else:
                refused += 1
    refused += len(pending)  # never answered within the timeout: visible to the client
    for fd in pending:
        poller.unregister(fd)
    for s in connected:
        try:
            s.send(b"ping")
        except OSError:
            pass
        poller.register(s.fileno(), select.POLLIN)
    working = 0
    deadline = time.monotonic() + a.timeout
    waiting = {s.fileno(): b"" for s in connected}
    while waiting and time.monotonic() < deadline:
        for fd, _ in poller.poll(200):
            if fd not in waiting:
                continue
            try:
                d = by_fd[fd].recv(16)
            except OSError:
                d = None
            if not d:
                refused += 1  # reset or closed: the client hears it
                del waiting[fd]
                poller.unregister(fd)
                continue
            waiting[fd] += d
            if waiting[fd] == b"ping":
                working += 1
                del waiting[fd]
                poller.unregister(fd)
    silent = len(waiting)
    print("hold working=%d refused=%d silent=%d" % (working, refused, silent), flush=True)
    time.sleep(a.hold)
    for s in socks:
        s.close()
    print("hold closed", flush=True)


def cmd_bulk(a):
    """Echoes `bytes` of a pattern through the server; reports byte-exactness and the
    rate over each second."""
    time.sleep(a.delay)  # lets a flood started beside it get going
    s = socket.create_connection((a.dst, a.port), timeout=a.timeout)
    s.setblocking(False)
    rng = random.Random(a.seed)
    block = bytes(rng.getrandbits(8) for _ in range(65536))
    sent = received = mismatches = 0
    start = last = time.monotonic()
    last_received = 0
    rates = []
    deadline = start + a.timeout
    while received < a.bytes and time.monotonic() < deadline:
        r, w, _ = select.select([s], [s] if sent < a.bytes else [], [], 0.1)
        if w:
            off = sent % len(block)
            n = min(len(block) - off, a.bytes - sent)
            try:
                sent += s.send(block[off:off + n])
            except BlockingIOError:
                pass
        if r:
            d = s.recv(65536)
            if not d:
                break
            off = received % len(block)
            want = (block[off:] + block * (len(d) // len(block) + 1))[:len(d)]
            mismatches += sum(1 for x, y in zip(d, want) if x != y) if d != want else 0
            received += len(d)
        now = time.monotonic()
        if now - last >= 1.0:
            rates.append((received - last_received) / (now - last))
            last, last_received = now, received
    s.close()
    el = time.monotonic() - start
    print("bulk received=%d of=%d mismatches=%d seconds=%.2f rates_kBps=%s" %
          (received, a.bytes, mismatches, el, ",".join("%.0f" % (r / 1000) for r in rates)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["synflood", "ackflood", "junk", "connects", "hold", "bulk"])
    p.add_argument("--dst", required=True)
    p.add_argument("--src", default="198.18.0.1")
    p.add_argument("--port", type=int, default=7)
    p.add_argument("--seconds", type=float, default=3)
    p.add_argument("--burst", type=int)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--rate", type=float, default=20)
    p.add_argument("--timeout", type=float, default=5)
    p.add_argument("--hold", type=float, default=2)
    p.add_argument("--bytes", type=int, default=1 << 20)
    p.add_argument("--iface")
    p.add_argument("--delay", type=float, default=0)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    globals()["cmd_" + a.what](a)


if __name__ == "__main__":
    sys.exit(main())
