"""A guest booted by scripts/vm.sh, driven through the shell its init runs on the
second serial port (--agent), and the host kernel's side of its NIC.

The guest's shell reads commands from a pipe (not a terminal: no prompts, no echo);
each command is followed by a marker carrying its status. Apps run in the background
with their output in /tmp/NAME.log inside the guest.
"""
import os
import re
import socket
import subprocess
import time

GUEST_V4, HOST_V4 = "198.19.160.2", "198.19.160.1"
GUEST_V6, HOST_V6 = "2001:db8:16::2", "2001:db8:16::1"
GUEST_MAC = "52:54:00:16:00:02"
TAP = "stvm0"


class GuestError(Exception):
    pass


class Guest:
    def __init__(self, root, build, work, queues=1, rss=True, offloads="on", vhost_user=None,
                 timeout=600):
        self.root, self.work = root, work
        self.ns = "stvm-%d-%d" % (os.getpid(), queues)
        self.console = os.path.join(work, "console.log")
        self.sock_path = os.path.join(work, "agent.sock")
        self.vm_log = open(os.path.join(work, "vm.log"), "w")
        self.seq = 0
        self.buf = b""
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.proc = subprocess.Popen(
            [os.path.join(root, "scripts/vm.sh"), "run", "--build", build, "--netns", self.ns,
             "--agent", self.sock_path, "--console", self.console, "--queues", str(queues),
             "--offloads", offloads, "--timeout", str(timeout)] + ([] if rss else ["--no-rss"])
            + (["--vhost-user", vhost_user] if vhost_user else []),
            stdout=self.vm_log, stderr=subprocess.STDOUT)
        self.sock = None
        try:
            self._connect(120)
        except Exception:
            self.close()
            raise

    # ------------------------------------------------------------ the agent
    def _connect(self, timeout):
        end = time.monotonic() + timeout
        while self.sock is None:
            if self.proc.poll() is not None:
                raise GuestError("scripts/vm.sh exited %d before the guest's agent answered"
                                 % self.proc.returncode)
            if time.monotonic() > end:
                raise GuestError("no agent socket after %d s" % timeout)
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.sock_path)
                self.sock = s
            except OSError:
                time.sleep(0.2)
        # The guest boots while we wait: repeat a harmless probe until its shell answers.
        while True:
            if time.monotonic() > end:
                raise GuestError("the guest's shell did not answer within %d s" % timeout)
            self.sock.sendall(b"echo @@hello\n")
            if self._read_until(re.compile(rb"@@hello\n"), 2.0) is not None:
                break
        self.sh("true", 30)  # drain further probes' answers
        self.buf = b""

    def _read_until(self, pattern, timeout):
        end = time.monotonic() + timeout
        while True:
            m = pattern.search(self.buf)
            if m:
                out, self.buf = self.buf[:m.start()], self.buf[m.end():]
                return out, m
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not data:
                raise GuestError("the guest's agent closed its port")
            self.buf += data

    def sh(self, command, timeout=60):
        """Runs a shell command line in the guest; returns (status, output)."""
        self.seq += 1
        marker = "@@rc%d=" % self.seq
        self.sock.sendall(("%s\necho \"%s$?\"\n" % (command, marker)).encode())
        pattern = re.compile(re.escape(marker.encode()) + rb"(\d+)\n")
        # The guest's serial port often holds output back until more input arrives (seen
        # under TCG, 8250 UART): an empty line every 50 ms nudges it.
        end = time.monotonic() + timeout
        got = None
        while got is None and time.monotonic() < end:
            got = self._read_until(pattern, min(0.05, max(0.0, end - time.monotonic())))
            if got is None:
                self.sock.sendall(b"\n")
        if got is None:
            raise GuestError("guest command timed out after %d s: %s" % (timeout, command))
        out, m = got
        return int(m.group(1)), out.decode(errors="replace")

    # ------------------------------------------------------------ apps in the guest
    def start_app(self, name, command):
        """Starts `command` (with $EAL available) in the background as NAME."""
        rc, out = self.sh("%s >/tmp/%s.log 2>&1 </dev/null & echo $! >/tmp/%s.pid"
                          % (command, name, name))
        if rc != 0:
            raise GuestError("could not start %s: %s" % (name, out))

    def app_log(self, name):
        return self.sh("cat /tmp/%s.log" % name)[1]

    def wait_app_line(self, name, pattern, timeout=120):
        """Waits for a line matching the regex `pattern` in NAME's output."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.sh("grep -q -E -- '%s' /tmp/%s.log" % (pattern, name))[0] == 0:
                return True
            if self.sh("kill -0 $(cat /tmp/%s.pid) 2>/dev/null" % name)[0] != 0:
                return False
            time.sleep(0.1)
        return False

    def wait_app(self, name, timeout=300):
        """Waits for NAME to exit; returns its status."""
        return self.sh("wait $(cat /tmp/%s.pid)" % name, timeout)[0]

    def stop_app(self, name, timeout=60):
        self.sh("kill -TERM $(cat /tmp/%s.pid) 2>/dev/null" % name)
        return self.wait_app(name, timeout)

    # ------------------------------------------------------------ the host's side
    def host(self, *argv, timeout=120):
        """Runs argv in the host's namespace; returns (status, output)."""
        try:
            p = subprocess.run(["ip", "netns", "exec", self.ns, *argv], capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, "timed out after %d s" % timeout
        return p.returncode, p.stdout + p.stderr

    def host_bg(self, *argv):
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *argv],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def console_text(self):
        try:
            with open(self.console, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        # The guest powers off when its shell exits; the exit may need nudging like any
        # other command (see sh()).
        end = time.monotonic() + 30
        if self.sock is not None:
            try:
                self.sock.sendall(b"exit\n")
                while self.proc.poll() is None and time.monotonic() < end:
                    time.sleep(0.05)
                    self.sock.sendall(b"\n")
            except OSError:
                pass
            self.sock.close()
            self.sock = None
        try:
            self.proc.wait(max(1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(30)
        for pid in subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True,
                                  text=True).stdout.split():
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
        subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL)
        self.vm_log.close()


def counters(log):
    """The `name value` counter lines an app prints at exit, as a dict."""
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^([a-z_0-9]+\.[A-Za-z_0-9]+) (\d+)$", log, re.M)}
