"""A shardtcp stack on the host whose port is net_vhost: the vhost-user backend of the
guest's virtio-net NIC (scripts/vm.sh --vhost-user SOCK), so that the stack in the guest
talks to this one through virtio, with no kernel in between."""
import os
import subprocess
import time

HOST_STACK_V4, GUEST_VHOST_V4 = "198.19.161.1", "198.19.161.2"
HOST_STACK_V6, GUEST_VHOST_V6 = "2001:db8:17::1", "2001:db8:17::2"


def free_hugepages():
    try:
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


class HostStack:
    """shardtcp-echo --listen 7 on net_vhost at `sock`, started before the guest (QEMU
    connects to the listening socket at start)."""

    def __init__(self, build, work):
        self.sock = os.path.join(work, "vhost.sock")
        self.log_path = os.path.join(work, "host-stack.log")
        eal = ["--no-pci", "-l", "0", "--file-prefix", "stvmvh%d" % os.getpid(),
               "--vdev", "net_vhost0,iface=%s" % self.sock]
        eal += ["--in-memory"] if free_hugepages() > 64 else ["--no-huge", "--no-shconf", "-m", "512"]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [os.path.join(build, "apps/shardtcp-echo"), *eal, "--",
             "--ip", HOST_STACK_V4 + "/24", "--ip", HOST_STACK_V6 + "/64", "--listen", "7"],
            stdout=self.log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 60
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("the host stack made no vhost-user socket:\n" + self.output())
            time.sleep(0.1)

    def output(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        """Stops the stack (SIGTERM); returns (exit status, its output)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode, self.output()
