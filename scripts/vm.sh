#!/usr/bin/env bash
# Runs shardtcp inside a QEMU guest on a virtio-net NIC.
#
#   scripts/vm.sh run [options] [-- COMMAND...]
#       boots a guest whose NIC is backed by a TAP in a network namespace this script
#       creates (the host kernel's side: 198.19.160.1/24 and 2001:db8:16::1/64), binds
#       the NIC for DPDK (uio_pci_generic), reserves hugepages, runs COMMAND in the
#       guest (a shell command line; "$EAL" holds the EAL options for the NIC, "$NIC"
#       its PCI address) and exits with its status. The guest's console comes back on
#       stdout. Without COMMAND: shardtcp-host on 198.19.160.2/24 pings the host.
#   scripts/vm.sh image [--build DIR]
#       builds (or reuses) the initramfs and prints its path.
#   scripts/vm.sh test [--build DIR]
#       builds what the vm suite needs and runs it (meson test --suite vm); ends with
#       one line "N passed, N failed".
#
# Options of run:
#   --build DIR     the build whose apps go into the guest (default: build, the GCC build)
#   --queues N      queue pairs on the NIC (N > 1: multi-queue with RSS; default 1)
#   --smp N         guest vCPUs (default: max(2, queues))
#   --netns NAME    put the TAP in this existing namespace instead of one made here
#   --tap NAME      the TAP's name inside the namespace (default stvm0)
#   --agent SOCK    no COMMAND: the guest runs a shell on its second serial port,
#                   connected to the unix socket SOCK (QEMU listens there), until the
#                   shell exits (test/vm/vm_test.py drives the guest that way)
#   --console FILE  the guest's console goes to FILE (default: a temporary file, shown)
#   --timeout SEC   kill the guest after SEC seconds (default 300)
#   --offloads on|off  the NIC's checksum and segmentation features (default on)
#   --no-rss        multi-queue without the device's RSS (the TAP spreads flows)
#   --vhost-user SOCK  the NIC's backend is a vhost-user server listening on SOCK (a
#                   host-side stack on net_vhost) instead of a TAP; guest memory is
#                   shared with it (memfd)
#
# QEMU uses KVM only where a probe guest booted with it within 20 s (the result is
# kept in BUILD/vm/accel): KVM hangs at boot on the project's machines, which then run
# under TCG. SHARDTCP_VM_ACCEL=kvm|tcg skips the probe.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "vm: $*" >&2; exit 1; }

# ------------------------------------------------------------------ packages
vm_packages=(qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio)
install_packages() {
  local missing=() p
  for p in "${vm_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}) and not root: install them first"
  echo "vm: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; } ||
    die "could not install ${missing[*]}"
}

# The newest cloud kernel installed (its modules must be there too).
kernel_version() {
  local v d
  v=$(for d in /lib/modules/*-cloud-amd64; do [ -f "/boot/vmlinuz-${d##*/}" ] && echo "${d##*/}"; done |
    sort -V | tail -n 1)
  [ -n "$v" ] || die "no linux-image-cloud-amd64 kernel (with its modules) installed"
  echo "$v"
}

# ------------------------------------------------------------------ the initramfs
# What goes in: busybox, the apps of the build with their shared libraries (ldd),
# DPDK's PMD plugins the guest needs (EAL loads every plugin in its driver folder:
# only these are there, with their own libraries), the kernel modules for
# uio_pci_generic, and test/vm/guest_init.sh as /init.
guest_apps=(shardtcp-host shardtcp-echo echo-client echo-server)
guest_plugins=(bus_pci bus_vdev mempool_ring net_virtio net_ring)
guest_modules=(uio uio_pci_generic)

# copy_path STAGE PATH: PATH into STAGE at the same place; a symbolic link stays a
# link (to a copy of its target).
copy_path() {
  local stage=$1 path=$2 target
  [ -e "$stage$path" ] || [ -L "$stage$path" ] && return 0
  mkdir -p "$stage$(dirname "$path")"
  if [ -L "$path" ]; then
    target=$(readlink "$path")
    ln -s "$target" "$stage$path"
    case "$target" in
      /*) copy_path "$stage" "$target" ;;
      *) copy_path "$stage" "$(dirname "$path")/$target" ;;
    esac
  else
    cp "$path" "$stage$path"
  fi
}

build_image() {  # build_image BUILD_DIR -> prints the initramfs path
  local build=$1 kver pmd_dir out stage f lib m p d
  kver=$(kernel_version)
  pmd_dir=$(pkg-config --variable=pmd_dir libdpdk 2>/dev/null || true)
  if [ ! -d "$pmd_dir" ]; then
    for d in /usr/lib/x86_64-linux-gnu/dpdk/pmds-*; do pmd_dir=$d; done
  fi
  [ -d "$pmd_dir" ] || die "no DPDK plugin folder (is dpdk installed?)"
  for f in "${guest_apps[@]}"; do
    [ -x "$build/apps/$f" ] || die "$build/apps/$f is missing: build it first (scripts/build.sh debug apps/$f)"
  done
  out=$build/vm/initramfs.cpio
  # Rebuilt when an app, the init script or this script is newer than the image.
  if [ -f "$out" ]; then
    local stale=0
    for f in "${guest_apps[@]/#/$build/apps/}" "$root/test/vm/guest_init.sh" "$0"; do
      [ "$f" -nt "$out" ] && stale=1
    done
    if [ $stale -eq 0 ]; then echo "$out"; return 0; fi
  fi
  stage=$(mktemp -d /tmp/stvm-image.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$stage'" RETURN
  # Merged /usr as on the host: /lib and /lib64 lead into /usr, so a library reached
  # through either path is one file (one inode) for the dynamic loader.
  mkdir -p "$stage"/{bin,proc,sys,dev,tmp,run,var,stvm/bin,usr/lib/modules,usr/lib64}
  ln -s usr/lib "$stage/lib"
  ln -s usr/lib64 "$stage/lib64"
  ln -s ../run "$stage/var/run"
  cp /bin/busybox "$stage/bin/busybox"
  cp "$root/test/vm/guest_init.sh" "$stage/init"
  chmod 755 "$stage/init"
  local objs=()
  for f in "${guest_apps[@]}"; do
    cp "$build/apps/$f" "$stage/stvm/bin/"
    objs+=("$build/apps/$f")
  done
  # The plugins and every shared library the apps and plugins load, at the paths and
  # through the links the host has: the apps link some plugins (bus_pci) directly,
  # and EAL loading a second copy from its driver folder would register it twice.
  for p in "${guest_plugins[@]}"; do
    f=$pmd_dir/librte_$p.so
    [ -e "$f" ] || die "DPDK plugin $f missing"
    copy_path "$stage" "$f"
    objs+=("$f")
  done
  for lib in $(ldd "${objs[@]}" 2>/dev/null | awk '/=> \// {print $3} /^\t\/[^ ]*ld-linux/ {print $1}' | sort -u); do
    copy_path "$stage" "$lib"
  done
  # Without debug information the image is a fifth of the size: the guest (TCG)
  # unpacks it faster.
  find "$stage/stvm/bin" "$stage/usr/lib" "$stage$build" -type f ! -name '*.ko' \
    -exec strip --strip-debug {} + 2>/dev/null || true
  for m in "${guest_modules[@]}"; do
    f=$(modinfo -k "$kver" -n "$m" 2>/dev/null) || die "kernel module $m not found for $kver"
    case "$f" in
      *.ko.xz) xz -dc "$f" >"$stage/usr/lib/modules/$m.ko" ;;
      *) cp "$f" "$stage/usr/lib/modules/$m.ko" ;;
    esac
  done
  echo "${guest_modules[*]}" >"$stage/usr/lib/modules/order"
  mkdir -p "$(dirname "$out")"
  # Uncompressed: the guest (under TCG) unpacks it faster than it would inflate it.
  (cd "$stage" && find . | cpio -o -H newc --quiet) >"$out.tmp"
  mv "$out.tmp" "$out"
  echo "$out"
}

# ------------------------------------------------------------------ accelerator
# pick_accel BUILD KVER IMAGE: kvm when a guest boots to its init with it, else tcg.
pick_accel() {
  local build=$1 kver=$2 image=$3 cache=$1/vm/accel log
  if [ -n "${SHARDTCP_VM_ACCEL:-}" ]; then echo "$SHARDTCP_VM_ACCEL"; return; fi
  if [ -f "$cache" ]; then cat "$cache"; return; fi
  local accel=tcg
  if [ -w /dev/kvm ]; then
    log=$(mktemp /tmp/stvm-kvm-probe.XXXXXX)
    timeout --signal=KILL 20 qemu-system-x86_64 -accel kvm -cpu host -m 512 -nodefaults \
      -no-user-config -display none -vga none -no-reboot -kernel "/boot/vmlinuz-$kver" \
      -initrd "$image" -append "console=ttyS0 panic=-1 quiet stvm.cmd=$(echo true | base64 -w0)" \
      -chardev "file,id=con,path=$log" -serial chardev:con >/dev/null 2>&1 || true
    grep -q '^stvm: command exited 0' "$log" && accel=kvm
    rm -f "$log"
    echo "vm: KVM probe: using $accel" >&2
  fi
  echo "$accel" >"$cache"
  echo "$accel"
}

# ------------------------------------------------------------------ run
run_vm() {
  local build=$root/build queues=1 smp='' netns='' tap=stvm0 agent='' console='' timeout=300 offloads=on rss=on vhost=''
  while [ $# -gt 0 ]; do
    case "$1" in
      --build) build=$(cd "$2" && pwd); shift 2 ;;
      --queues) queues=$2; shift 2 ;;
      --smp) smp=$2; shift 2 ;;
      --netns) netns=$2; shift 2 ;;
      --tap) tap=$2; shift 2 ;;
      --agent) agent=$2; shift 2 ;;
      --console) console=$2; shift 2 ;;
      --timeout) timeout=$2; shift 2 ;;
      --offloads) offloads=$2; shift 2 ;;
      --no-rss) rss=off; shift ;;
      --vhost-user) vhost=$2; shift 2 ;;
      --) shift; break ;;
      *) die "run: unknown option $1 (see the head of scripts/vm.sh)" ;;
    esac
  done
  [ "$(id -u)" -eq 0 ] || die "run as root (network namespace, TAP)"
  [ -n "$smp" ] || smp=$((queues > 2 ? queues : 2))
  local command=("$@")
  if [ ${#command[@]} -eq 0 ] && [ -z "$agent" ]; then
    # shellcheck disable=SC2016  # $EAL expands in the guest
    command=('shardtcp-host $EAL -- --ip 198.19.160.2/24 --ping 198.19.160.1 --count 3 --interval-ms 200 --ping-delay-ms 500')
  fi
  install_packages
  local kver image
  kver=$(kernel_version)
  image=$(build_image "$build")

  local own_ns=0 work
  work=$(mktemp -d /tmp/stvm-run.XXXXXX)
  [ -n "$console" ] || console=$work/console.log
  : >"$console"
  if [ -z "$netns" ]; then
    netns=stvm-$$
    ip netns add "$netns" || die "could not create network namespace $netns"
    own_ns=1
  fi
  local qemu_pid='' tail_pid=''
  # shellcheck disable=SC2317  # called by the trap
  cleanup_run() {
    [ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null || true
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
      kill "$qemu_pid" 2>/dev/null || true
      wait "$qemu_pid" 2>/dev/null || true
    fi
    [ "$own_ns" -eq 0 ] || ip netns del "$netns" 2>/dev/null || true
    rm -rf "$work"
  }
  trap cleanup_run EXIT

  # The guest's kernel command line carries the command (base64: any characters).
  local append="console=ttyS0 panic=-1 quiet loglevel=3 stvm.queues=$queues"
  if [ -n "$agent" ]; then
    append+=" stvm.agent=ttyS1"
  else
    append+=" stvm.cmd=$(printf '%s ' "${command[@]}" | base64 -w0)"
  fi
  local accel
  accel=$(pick_accel "$build" "$kver" "$image")
  local nic=virtio-net-pci,netdev=n0,mac=52:54:00:16:00:02
  local netdev=tap,id=n0,ifname=$tap,script=no,downscript=no memory=()
  if [ -n "$vhost" ]; then
    [ -S "$vhost" ] || die "no vhost-user server listening on $vhost"
    netdev="vhost-user,id=n0,chardev=vhost"
    memory=(-chardev "socket,id=vhost,path=$vhost"
      -object "memory-backend-memfd,id=mem,size=1024M,share=on" -machine "memory-backend=mem")
  fi
  if [ "$queues" -gt 1 ]; then
    netdev+=",queues=$queues"
    nic+=",mq=on,vectors=$((2 * queues + 2)),rss=$rss"
  fi
  if [ "$offloads" = off ]; then
    nic+=",csum=off,guest_csum=off,gso=off,host_tso4=off,host_tso6=off,guest_tso4=off,guest_tso6=off,host_ecn=off,guest_ecn=off,host_ufo=off,guest_ufo=off,mrg_rxbuf=off"
  fi
  local cpu=max
  [ "$accel" != kvm ] || cpu=host
  local qemu=(qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -smp "$smp" -m 1024
    -nodefaults -no-user-config -display none -vga none -no-reboot
    -kernel "/boot/vmlinuz-$kver" -initrd "$image" -append "$append"
    "${memory[@]}" -netdev "$netdev" -device "$nic"
    -chardev "file,id=con,path=$console" -serial chardev:con)
  if [ -n "$agent" ]; then
    rm -f "$agent"
    qemu+=(-chardev "socket,id=agent,path=$agent,server=on,wait=off" -serial chardev:agent)
  fi
  ip netns exec "$netns" timeout --signal=KILL "$timeout" "${qemu[@]}" &
  qemu_pid=$!
  if [ -z "$vhost" ]; then
    configure_host_side "$netns" "$tap" || die "could not configure $tap in $netns"
  fi
  if [ -z "$agent" ]; then
    tail -n +1 -f "$console" &
    tail_pid=$!
  fi
  local rc=0
  wait "$qemu_pid" || rc=$?
  qemu_pid=
  [ -z "$tail_pid" ] || { sleep 0.2; kill "$tail_pid" 2>/dev/null || true; wait "$tail_pid" 2>/dev/null || true; tail_pid=; }
  [ $rc -eq 0 ] || { echo "vm: QEMU exited with status $rc (137: killed after ${timeout} s)" >&2; [ -z "$agent" ] || tail -n 60 "$console" >&2; exit 1; }
  [ -n "$agent" ] && exit 0
  # The guest's init prints the command's status last.
  local status
  status=$(sed -n 's/^stvm: command exited \([0-9]*\).*/\1/p' "$console" | tail -n 1)
  [ -n "$status" ] || { echo "vm: the guest ended without running the command (its console is above)" >&2; exit 1; }
  exit "$status"
}

# The TAP's kernel side, once QEMU has made it: addresses without DAD (the guest's
# stack runs its own).
configure_host_side() {  # configure_host_side NETNS TAP
  local ns=$1 tap=$2 end=$((SECONDS + 30))
  until ip netns exec "$ns" ip link show dev "$tap" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.05
  done
  ip netns exec "$ns" ip link set lo up &&
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$tap.accept_dad=0" &&
    ip netns exec "$ns" ip addr add 198.19.160.1/24 dev "$tap" &&
    ip netns exec "$ns" ip -6 addr add 2001:db8:16::1/64 dev "$tap" nodad &&
    ip netns exec "$ns" ip link set "$tap" up
}

# ------------------------------------------------------------------ test
run_tests() {
  local build=$root/build
  while [ $# -gt 0 ]; do
    case "$1" in
      --build) build=$(cd "$2" && pwd); shift 2 ;;
      *) die "test: unknown option $1 (--build DIR)" ;;
    esac
  done
  install_packages
  [ -f "$build/build.ninja" ] || "$root/scripts/build.sh" debug --configure-only
  # Regenerates the build files first when a meson.build changed (the suite's tests
  # and their targets come from them).
  ninja -C "$build" build.ninja >/dev/null || die "regenerating $build failed"
  local targets
  mapfile -t targets < <(python3 "$root/scripts/suite_targets.py" "$build" vm | grep .)
  [ ${#targets[@]} -gt 0 ] || die "$build has no vm tests (configured with -Dtests=false?)"
  ninja -C "$build" -j "${SHARDTCP_JOBS:-$(nproc)}" "${targets[@]}" >/dev/null ||
    die "building the vm suite's targets failed"
  local rc=0 results
  results=$(mktemp -d)
  meson test -C "$build" --no-rebuild --suite vm --print-errorlogs --num-processes 1 \
    --logbase testlog-vm || rc=1
  mkdir -p "$results/vm"
  cp "$build/meson-logs/testlog-vm.json" "$results/vm/testlog.json" 2>/dev/null || true
  python3 "$root/scripts/summarize_tests.py" "$results"
  rm -rf "$results"
  return $rc
}

case "${1:-}" in
  run) shift; run_vm "$@" ;;
  image)
    shift
    build=$root/build
    [ "${1:-}" != --build ] || build=$(cd "$2" && pwd)
    install_packages
    build_image "$build" ;;
  test) shift; run_tests "$@" ;;
  *) echo "usage: scripts/vm.sh run [options] [-- COMMAND...] | image [--build DIR] | test [--build DIR]" >&2
     exit 2 ;;
esac
