#!/bin/busybox sh
# shellcheck shell=dash
# /init of the guest scripts/vm.sh boots: mounts what DPDK needs, binds every
# virtio-net NIC to uio_pci_generic (the cloud kernel has no VFIO no-IOMMU mode),
# reserves hugepages, then either runs the command from the kernel command line
# (stvm.cmd=BASE64) and prints "stvm: command exited N", or (stvm.agent=TTY) runs a
# shell on that serial port for a test driver. Powers the guest off at the end.
/bin/busybox --install -s /bin
export PATH=/stvm/bin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/hugepages /dev/pts
mount -t hugetlbfs nodev /dev/hugepages
mount -t tmpfs tmp /tmp

say() { echo "stvm: $*"; }
finish() {
  sync
  poweroff -f
}

arg() {  # arg NAME: the value of NAME= on the kernel command line
  tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -n 1
}

for m in $(cat /lib/modules/order); do
  insmod "/lib/modules/$m.ko" || say "insmod $m failed"
done

# virtio-net: 1af4:1000 (transitional) and 1af4:1041 (modern). new_id binds every
# matching device that no driver holds (nothing else here drives virtio).
NIC=
for dev in /sys/bus/pci/devices/*; do
  case "$(cat "$dev/vendor"):$(cat "$dev/device")" in
    0x1af4:0x1000 | 0x1af4:0x1041) NIC="$NIC ${dev##*/}" ;;
  esac
done
NIC=${NIC# }
echo "1af4 1000" >/sys/bus/pci/drivers/uio_pci_generic/new_id 2>/dev/null
echo "1af4 1041" >/sys/bus/pci/drivers/uio_pci_generic/new_id 2>/dev/null
for n in $NIC; do
  [ -e "/sys/bus/pci/drivers/uio_pci_generic/$n" ] || say "NIC $n not bound to uio_pci_generic"
done

echo "${STVM_HUGEPAGES:-192}" >/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
queues=$(arg stvm.queues)
# One lcore per queue: engines run on lcores 0..N-1.
lcores=0-$((${queues:-1} - 1))
[ "${queues:-1}" -gt 1 ] || lcores=0
EAL="-l $lcores --in-memory"
for n in $NIC; do EAL="$EAL -a $n"; done
export EAL NIC
say "NIC(s) $NIC, $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) hugepages, EAL $EAL"

agent=$(arg stvm.agent)
if [ -n "$agent" ]; then
  # The driver writes shell commands; the shell's output goes back the same way. The
  # shell reads a pipe, not the terminal: no prompt, no echo, no line editing.
  stty -F "/dev/$agent" raw -echo 2>/dev/null
  mkfifo /tmp/agent.in
  cat "/dev/$agent" >/tmp/agent.in &
  reader=$!
  say "agent on $agent"
  (cd /tmp && sh </tmp/agent.in >"/dev/$agent" 2>&1)
  kill $reader
  finish
fi

cmd=$(arg stvm.cmd | base64 -d)
say "running: $cmd"
cd /tmp || say "no /tmp"
sh -c "$cmd"
say "command exited $?"
finish
