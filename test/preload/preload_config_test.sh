#!/usr/bin/env bash
# libshardtcp-preload.so's configuration errors: a program that opens an AF_INET socket
# with no or a wrong configuration stops with a message on stderr and status 2 (never
# a silent fall-back to the kernel); one that only uses other families never brings
# the stack up and runs as without the library. Needs root (the EAL): skipped (77)
# otherwise, failed under CI=true.
set -uo pipefail
lib=$1
skip() {
  if [ "${CI:-}" = "true" ]; then echo "FAIL (CI): $1"; exit 1; fi
  echo "SKIP: $1"; exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root"
fails=0
# Debian's interpreter itself: a wrapper (pyenv's shims) would start several processes,
# each loading the library.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
inet='import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM); print("reached")'
unix='import socket; a, b = socket.socketpair(); a.send(b"x"); print(b.recv(1).decode())'
# expect NAME WANT_STATUS WANT_TEXT ENV... -- PYTHON_CODE
expect() {
  local name=$1 want=$2 text=$3
  shift 3
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  out=$(env -u SHARDTCP_ARGS -u SHARDTCP_CONF "${envs[@]}" LD_PRELOAD="$lib" "$py" -c "$1" 2>&1)
  status=$?
  if [ "$status" = "$want" ] && grep -q -- "$text" <<<"$out"; then
    echo "ok   $name (status $status, '$text')"
  else
    echo "FAIL $name: status $status (want $want), output:"
    echo "$out" | tail -5
    fails=$((fails + 1))
  fi
}
expect "no configuration" 2 "no configuration: set SHARDTCP_ARGS" -- "$inet"
expect "no -- in it" 2 "no '--' in it" SHARDTCP_ARGS="--no-pci --ip 198.18.31.2/24" -- "$inet"
expect "both set" 2 "not both" SHARDTCP_ARGS="--no-pci -- --ip 198.18.31.2/24" \
  SHARDTCP_CONF=/dev/null -- "$inet"
expect "missing file" 2 "SHARDTCP_CONF=/nonexistent/pl.conf" SHARDTCP_CONF=/nonexistent/pl.conf -- "$inet"
expect "bad stack option" 2 "the stack did not come up" \
  SHARDTCP_ARGS="--no-pci -l 0 --no-huge --no-shconf -m 128 --file-prefix plcfg$$ --vdev=net_null0 -- --ip not-an-address" \
  -- "$inet"
expect "bad SHARDTCP_FORK" 2 "SHARDTCP_FORK=sideways: want parent (default) or child" \
  SHARDTCP_FORK=sideways SHARDTCP_ARGS="--no-pci -- --ip 198.18.31.2/24" -- "$inet"
expect "other families only" 0 "^x$" -- "$unix"
# A good configuration from a file (comments allowed): the stack comes up, "ready".
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
printf '# the stack on a null port\n--no-pci -l 0 --no-huge --no-shconf -m 128\n--file-prefix plcfg%s --vdev=net_null0\n-- --ip 198.18.31.2/24\n' $$ >"$conf"
expect "configuration file" 0 "^ready$" SHARDTCP_CONF="$conf" -- "$inet"
expect "program runs on" 0 "^reached$" SHARDTCP_CONF="$conf" -- "$inet"
[ "$fails" = 0 ] || { echo "$fails failed"; exit 1; }
echo "all configuration cases passed"
