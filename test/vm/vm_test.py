#!/usr/bin/env python3
"""The vm suite: shardtcp in a QEMU guest (scripts/vm.sh) on its virtio-net NIC, the
host kernel as the peer over the TAP behind that NIC.

  vm_test.py --root SRC --build BUILD SCENARIO
    basic          one queue, the device's offloads: ping both ways, ARP and NDP, TCP
                   echo both ways over IPv4 and IPv6 (SHARDTCP_VM_BYTES each way,
                   default 16 MiB), UDP echo both ways, apps/echo-client.c; the
                   checksum offloads the device negotiated are in use
    rss            two queues with the device's RSS, two engines: every received frame
                   of a flow on its owner's queue (steering.flow_steered_out stays 0),
                   connections opened from both sides on both engines complete
    plain-device   two queues, neither RSS nor offloads: two engines steer in software
                   (counted) and complete every connection; then one engine's TCP and
                   UDP echo as in basic, without checksum offloads
    vhost-user     the NIC's backend is a host-side stack on net_vhost (vhost-user,
                   shared guest memory): the guest's stack echoes SHARDTCP_VM_BYTES
                   each way through it over IPv4 and IPv6, stack to stack

Each check prints a gtest-style line ("[       OK ] Vm.Name (N ms)" or "[  FAILED  ]"),
which scripts/summarize_tests.py counts. A failure shows the app's output and the
guest's console. Needs root and QEMU: without them it skips (77) with a message, and
fails under CI=true.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from guest import (GUEST_MAC, GUEST_V4, GUEST_V6, HOST_V4, HOST_V6, TAP, Guest, GuestError,
                   counters)
from host_stack import GUEST_VHOST_V4, GUEST_VHOST_V6, HOST_STACK_V4, HOST_STACK_V6, HostStack

STACK_IPS = "--ip %s/24 --ip %s/64" % (GUEST_V4, GUEST_V6)


class Checks:
    """Runs named checks, prints gtest-style results, remembers failures."""

    def __init__(self, guest, suite):
        self.guest, self.suite = guest, suite
        self.failed = []
        self.passed = 0

    def check(self, name, ok, detail=""):
        line = "%s.%s" % (self.suite, name)
        ms = int((time.monotonic() - self.t0) * 1000)
        if ok:
            self.passed += 1
            print("[       OK ] %s (%d ms)" % (line, ms), flush=True)
        else:
            self.failed.append(name)
            print("%s\n[  FAILED  ] %s (%d ms)" % (detail.rstrip(), line, ms), flush=True)
        self.t0 = time.monotonic()
        return ok

    def start(self):
        self.t0 = time.monotonic()


def peer(root, name):
    return os.path.join(root, "test/interop", name)


def wait_host(g, what, argv, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rc, out = g.host(*argv, timeout=timeout)
        if rc == 0:
            return True, out
        time.sleep(0.3)
    return False, "%s: not within %d s; last: %s" % (what, timeout, out)


def start_kernel_server(g, script, port):
    proc = g.host_bg("python3", script, "server", "--port", str(port), "--timeout", "300")
    kind = "--udp" if "udp" in script else "--tcp"
    ok, _ = wait_host(g, "kernel server", ["sh", "-c", "ss -H -l -n %s 'sport = :%d' | grep -q ."
                                           % (kind, port)], 30)
    if not ok:
        proc.kill()
        raise GuestError("the kernel's echo server on port %d did not listen" % port)
    return proc


def start_echo_server(g, c, options):
    """shardtcp-echo --listen 7 on both addresses in the guest, as "echo"; its output
    once it is ready, None (a failed check) when it is not."""
    g.start_app("echo", "shardtcp-echo $EAL -- %s %s --listen 7" % (STACK_IPS, options))
    up = g.wait_app_line("echo", "^ready", 180)
    log = g.app_log("echo")
    c.check("EchoServerReady", up, log)
    return log if up else None


def run_basic(g, c, root, nbytes, offloads, full=True):
    """The checks against the kernel on a 1-engine stack. full=False: only the echo
    traffic (TCP and UDP both ways, IPv4 and IPv6), for a second device."""
    rc, out = g.sh("ls /sys/bus/pci/drivers/uio_pci_generic/ | grep -c '^0000:'")
    c.check("NicBoundToUio", rc == 0 and int(out.strip() or 0) >= 1, out)

    # ---- the stack as server: ARP, NDP, ping from the kernel, kernel clients.
    log = start_echo_server(g, c, "")
    if log is None:
        return
    # The TCP/UDP checksum offloads and TSO the virtio device negotiated with DPDK's
    # PMD: both ways with the device's offloads on, none with them off (every echo
    # below then runs through them).
    port = next((l for l in log.splitlines() if "queue pair(s)" in l), "")
    print(port, flush=True)
    want = "1" if offloads == "on" else "0"
    c.check("ChecksumOffloads" + offloads.capitalize(),
            re.search(r"rx cksum ipv4=\d l4=%s, lro=\d, tx cksum ipv4=\d l4=%s, tso=%s" %
                      (want, want, want), port) is not None, log)
    if full:
        rc, out = g.host("ping", "-n", "-c", "3", "-i", "0.2", "-w", "30", GUEST_V4)
        c.check("KernelPingsStackV4", rc == 0, out)
        rc, out = g.host("ip", "neigh", "show", GUEST_V4, "dev", TAP)
        c.check("ArpResolvesStack", GUEST_MAC in out, "ip neigh: " + out)
    # The stack's IPv6 address answers once its duplicate address detection is done.
    ok, out = wait_host(g, "ping -6", ["ping", "-6", "-n", "-c", "1", "-W", "1", GUEST_V6], 60)
    if full:
        rc, out = g.host("ping", "-6", "-n", "-c", "3", "-i", "0.2", "-w", "30", GUEST_V6)
        c.check("KernelPingsStackV6", ok and rc == 0, out)
        rc, out = g.host("ip", "-6", "neigh", "show", GUEST_V6, "dev", TAP)
        c.check("NdpResolvesStack", GUEST_MAC in out, "ip -6 neigh: " + out)
    tcp_peer = peer(root, "tcp_echo_peer.py")
    for fam, addr in (("V4", GUEST_V4), ("V6", GUEST_V6)):
        rc, out = g.host("python3", tcp_peer, "client", "--host", addr, "--port", "7", "--bytes",
                         str(nbytes), "--timeout", "240", timeout=300)
        print(out.strip(), flush=True)
        c.check("KernelClientTcpEcho" + fam, rc == 0, out)
    rc = g.stop_app("echo")
    log = g.app_log("echo")
    m = re.search(r"tcp echo server: (\d+) connections \((\d+) completed, (\d+) failed", log)
    c.check("EchoServerExitsClean", rc == 0 and m is not None and m.group(2) == "2"
            and m.group(3) == "0", log)

    # ---- UDP: kernel client against the stack, the stack against a kernel server.
    g.start_app("uecho", "shardtcp-echo $EAL -- %s --listen 7 --udp" % STACK_IPS)
    if g.wait_app_line("uecho", "^ready", 180):
        wait_host(g, "ping -6", ["ping", "-6", "-n", "-c", "1", "-W", "1", GUEST_V6], 60)
    udp_peer = peer(root, "udp_echo_peer.py")
    for fam, addr in (("V4", GUEST_V4), ("V6", GUEST_V6)):
        rc, out = g.host("python3", udp_peer, "client", "--host", addr, "--port", "7", "--count",
                         "500", "--size", "1200", "--timeout", "60", timeout=90)
        print(out.strip(), flush=True)
        c.check("KernelClientUdpEcho" + fam, rc == 0, out + g.app_log("uecho"))
    g.stop_app("uecho")

    # ---- the stack pings the kernel (ARP and NDP from the stack's side).
    pings = (("V4", "--ip %s/24" % GUEST_V4, HOST_V4, "arp"),
             ("V6", "--ip %s/64" % GUEST_V6, HOST_V6, "ndp"))
    for fam, ip, target, table in pings if full else ():
        g.start_app("ping", "shardtcp-host $EAL -- %s --ping %s --count 3 --interval-ms 200 "
                    "--ping-delay-ms 200" % (ip, target))
        rc = g.wait_app("ping", 180)
        log = g.app_log("ping")
        cnt = counters(log)
        c.check("StackPingsKernel" + fam, rc == 0 and "3 received" in log
                and cnt.get(table + ".resolved", 0) >= 1, log)

    # ---- the stack as client against kernel echo servers.
    servers = [start_kernel_server(g, tcp_peer, 7007), start_kernel_server(g, udp_peer, 7008)]
    try:
        for fam, ip, target in (("V4", "--ip %s/24" % GUEST_V4, "%s:7007" % HOST_V4),
                                ("V6", "--ip %s/64" % GUEST_V6, "[%s]:7007" % HOST_V6)):
            g.start_app("client", "shardtcp-echo $EAL -- %s --connect %s --bytes %d --timeout 240"
                        % (ip, target, nbytes))
            rc = g.wait_app("client", 300)
            log = g.app_log("client")
            print("\n".join(l for l in log.splitlines() if "verified" in l), flush=True)
            c.check("StackClientTcpEcho" + fam, rc == 0 and "echoed and verified" in log, log)
        g.start_app("uclient", "shardtcp-echo $EAL -- --ip %s/24 --udp --connect %s:7008 "
                    "--bytes 1m --datagram 1200 --timeout 120 --quiet" % (GUEST_V4, HOST_V4))
        rc = g.wait_app("uclient", 180)
        c.check("StackClientUdpEchoV4", rc == 0, g.app_log("uclient"))
        if not full:
            return
        g.start_app("cclient", "echo-client $EAL -- --ip %s/24 --server %s --port 7007 "
                    "--attempts 20 --message 'hello from a virtio guest'" % (GUEST_V4, HOST_V4))
        rc = g.wait_app("cclient", 180)
        log = g.app_log("cclient")
        c.check("EchoClientExample", rc == 0 and "hello from a virtio guest" in log, log)
    finally:
        for s in servers:
            s.kill()
            s.wait()


def steering(log):
    cnt = counters(log)
    return {k: cnt.get("steering." + k, -1) for k in ("flow_steered_out", "steered_out", "steer_drops")}


def run_rss(g, c, root, rss):
    """Two engines on a 2-queue NIC. With the device's RSS (rss=True) the stack programs
    our key and RETA and no received frame needs steering; without it (rss=False) the
    stack steers in software, counted, and every connection still completes."""
    log = start_echo_server(g, c, "--engines 2")
    if log is None:
        return
    programmed = "(ours programmed: 1)" in log
    c.check("RssProgrammed" if rss else "RssNotOffered", programmed == rss,
            "\n".join(l for l in log.splitlines() if "port 0" in l or "RSS" in l))
    ok, out = wait_host(g, "ping -6", ["ping", "-6", "-n", "-c", "1", "-W", "1", GUEST_V6], 60)
    c.check("StackAnswersV6", ok, out)
    tcp_peer = peer(root, "tcp_echo_peer.py")
    for fam, addr in (("V4", GUEST_V4), ("V6", GUEST_V6)):
        rc, out = g.host("python3", tcp_peer, "client", "--host", addr, "--port", "7", "--conns",
                         "16", "--bytes", "262144", "--timeout", "120", timeout=180)
        print(out.strip(), flush=True)
        c.check("KernelClients16Conns" + fam, rc == 0, out)
    rc = g.stop_app("echo")
    log = g.app_log("echo")
    m = re.search(r"accepted per engine: (\d+) (\d+)", log)
    per_engine = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    st = steering(log)
    print("server: accepted per engine %s, steering %s" % (per_engine, st), flush=True)
    c.check("BothEnginesAccepted", rc == 0 and sum(per_engine) == 32 and min(per_engine) > 0, log)
    if rss:
        c.check("ServerFlowFramesOnOwnerQueue", st["flow_steered_out"] == 0 and st["steer_drops"] == 0,
                "steering counters %s" % st)
    else:
        c.check("ServerSteersInSoftware", st["flow_steered_out"] > 0 and st["steer_drops"] == 0,
                "steering counters %s" % st)

    server = start_kernel_server(g, tcp_peer, 7007)
    try:
        for fam, ip, target in (("V4", "--ip %s/24" % GUEST_V4, "%s:7007" % HOST_V4),
                                ("V6", "--ip %s/64" % GUEST_V6, "[%s]:7007" % HOST_V6)):
            g.start_app("client", "shardtcp-echo $EAL -- %s --engines 2 --connect %s --conns 8 "
                        "--bytes 262144 --timeout 120" % (ip, target))
            rc = g.wait_app("client", 240)
            log = g.app_log("client")
            st = steering(log)
            print("\n".join(l for l in log.splitlines() if "verified" in l), flush=True)
            print("client %s: steering %s" % (fam, st), flush=True)
            c.check("StackClients8Conns" + fam, rc == 0 and "echoed and verified" in log, log)
            if rss:
                c.check("ClientFlowFramesOnOwnerQueue" + fam,
                        st["flow_steered_out"] == 0 and st["steer_drops"] == 0,
                        "steering counters %s" % st)
    finally:
        server.kill()
        server.wait()


def run_vhost_user(g, c, host_stack, nbytes):
    """The guest's stack against a host-side stack whose net_vhost port is the guest
    NIC's vhost-user backend: both ends shardtcp, virtio in between."""
    for fam, ip, target in (("V4", "--ip %s/24" % GUEST_VHOST_V4, "%s:7" % HOST_STACK_V4),
                            ("V6", "--ip %s/64" % GUEST_VHOST_V6, "[%s]:7" % HOST_STACK_V6)):
        g.start_app("client", "shardtcp-echo $EAL -- %s --connect %s --bytes %d "
                    "--timeout 120" % (ip, target, nbytes))
        rc = g.wait_app("client", 240)
        log = g.app_log("client")
        print("\n".join(l for l in log.splitlines() if "verified" in l), flush=True)
        c.check("GuestStackToHostStackTcpEcho" + fam, rc == 0 and "echoed and verified" in log,
                log + "\n---- the host stack ----\n" + host_stack.output()[-3000:])
    rc, log = host_stack.stop()
    m = re.search(r"tcp echo server: (\d+) connections \((\d+) completed, (\d+) failed", log)
    print(m.group(0) if m else "host stack: no summary", flush=True)
    c.check("HostStackServedBothFamilies", rc == 0 and m is not None and m.group(2) == "2"
            and m.group(3) == "0", log[-3000:])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--build", required=True)
    p.add_argument("scenario", choices=["basic", "rss", "plain-device", "vhost-user"])
    args = p.parse_args()
    ci = os.environ.get("CI") == "true"

    def skip(why):
        print("vm test: " + why, flush=True)
        return 1 if ci else 77

    if os.geteuid() != 0:
        return skip("needs root (network namespace, TAP, QEMU)")
    if not shutil.which("qemu-system-x86_64"):
        # scripts/vm.sh installs QEMU and the guest kernel itself when it can.
        rc = subprocess.run([os.path.join(args.root, "scripts/vm.sh"), "image", "--build",
                             args.build]).returncode
        if rc != 0 or not shutil.which("qemu-system-x86_64"):
            return skip("QEMU is not installed and could not be")

    nbytes = int(subprocess.run(["numfmt", "--from=iec",
                                 os.environ.get("SHARDTCP_VM_BYTES", "16M").upper()],
                                capture_output=True, text=True, check=True).stdout)
    # meson's timeout sends SIGTERM: clean up (guest, namespace) as on any failure.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("vm test: terminated"))
    work = tempfile.mkdtemp(prefix="stvm-test.")
    suite = "Vm" + args.scenario.title().replace("-", "")
    g = host_stack = None
    failed = False
    try:
        t = time.monotonic()
        plain = args.scenario == "plain-device"
        if args.scenario == "vhost-user":
            host_stack = HostStack(args.build, work)
        queues = 2 if args.scenario in ("rss", "plain-device") else 1
        g = Guest(args.root, args.build, work, queues=queues, rss=not plain, offloads="off" if plain else "on",
                  vhost_user=host_stack.sock if host_stack else None)
        print("vm test: guest up in %.1f s" % (time.monotonic() - t), flush=True)
        c = Checks(g, suite)
        c.start()
        if args.scenario == "basic":
            run_basic(g, c, args.root, nbytes, "on")
        elif args.scenario == "rss":
            run_rss(g, c, args.root, rss=True)
        elif args.scenario == "vhost-user":
            run_vhost_user(g, c, host_stack, nbytes)
            host_stack = None  # stopped by the checks
        else:
            # A device offering neither RSS nor offloads: two engines steer in software,
            # then one engine's traffic without checksum offloads.
            run_rss(g, c, args.root, rss=False)
            run_basic(g, c, args.root, nbytes, "off", full=False)
        failed = bool(c.failed)
        print("vm test: %d checks passed, %d failed%s" % (
            c.passed, len(c.failed), (": " + ", ".join(c.failed)) if c.failed else ""))
    except (GuestError, RuntimeError, OSError, subprocess.SubprocessError) as e:
        print("vm test: %s" % e, flush=True)
        print("[  FAILED  ] %s.Guest (0 ms)" % suite, flush=True)
        failed = True
    finally:
        if g is not None:
            if failed:
                print("---- the guest's console (last 80 lines) ----")
                print("\n".join(g.console_text().splitlines()[-80:]))
            g.close()
        if host_stack is not None:
            rc, log = host_stack.stop()
            if failed:
                print("---- the host stack (exit %s) ----\n%s" % (rc, log[-3000:]))
        if failed:
            try:
                with open(os.path.join(work, "vm.log")) as f:
                    print("---- scripts/vm.sh ----\n" + f.read()[-4000:])
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
