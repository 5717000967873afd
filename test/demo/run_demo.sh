#!/usr/bin/env bash
# The README's first command as a test: scripts/demo.sh without its benchmark tail and
# with 8 MiB per echo connection, on the build the suite made.
#   run_demo.sh [--under-load]
# --under-load runs it next to one CPU-bound process per core for its whole length:
# the demo waits for conditions, not for time, so a busy machine must not break it.
# Needs root and network namespaces: skips (exit 77) with a message outside CI, fails
# under CI=true.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

if [ "$(id -u)" -ne 0 ] || ! ip netns add "shardtcp-probe-$$" 2>/dev/null; then
  echo "demo test: needs root and network namespaces"
  [ "${CI:-}" = true ] && exit 1
  exit 77
fi
ip netns del "shardtcp-probe-$$"

load=()
stop_load() {
  for p in "${load[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  load=()
}
trap stop_load EXIT
if [ "${1:-}" = --under-load ]; then
  for _ in $(seq "$(nproc)"); do
    (while :; do :; done) &
    load+=($!)
  done
  echo "demo test: running next to ${#load[@]} CPU-bound processes"
fi

start=$SECONDS
SHARDTCP_DEMO_KEEP=0 bash "$root/scripts/demo.sh" --no-setup --no-bench --bytes 8m
rc=$?
stop_load
echo "demo test: scripts/demo.sh exited $rc after $((SECONDS - start)) s"
exit $rc
