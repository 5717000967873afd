#!/usr/bin/env bash
# Installs what shardtcp needs on Debian 12 and reserves hugepages where it can.
# Idempotent: skips apt when every package is already present.
set -euo pipefail

PACKAGES=(
  build-essential pkgconf meson ninja-build ccache
  dpdk dpdk-dev libdpdk-dev libnuma-dev libpcap-dev
  libboost-dev googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format valgrind
  iproute2 ethtool iperf3 curl netcat-openbsd iputils-ping arping tshark python3 python3-scapy
  procps
  python3-matplotlib wrk nginx-light linux-perf
  # The preload suite's unmodified programs (curl, nginx-light, iperf3, wrk above too).
  redis-server redis-tools
  # The vm suite's guests (scripts/vm.sh, which also installs them when run alone).
  qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages (${missing[*]}) and not root: install them first" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer before installing.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Hugepages: DPDK runs ~4x faster with them; tests fall back to --no-huge without.
if [ "$(id -u)" -eq 0 ]; then
  want=${SHARDTCP_HUGEPAGES:-1024}
  hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
  if [ -w "$hp" ] && [ "$(cat "$hp")" -lt "$want" ]; then
    echo "$want" > "$hp" 2>/dev/null || true
  fi
  mkdir -p /dev/hugepages
  mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true
fi
echo "setup: hugepages reserved: $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 2>/dev/null || echo 0)"
