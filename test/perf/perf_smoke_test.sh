#!/usr/bin/env bash
# CI smoke run of apps/perf: every workload for about a second on both pairs (the
# kernel pair over veth, the stack pair over memif; bench/pairs.sh), and TCP_STREAM on
# the stack pair over virtio-net, asserting that transactions completed and that the
# data arrived byte-exact - never timings.
#   perf_smoke_test.sh SOURCE_ROOT PERF_BIN_DIR
# Needs root and network namespaces: skips (77) outside CI without them, fails under CI=true.
set -uo pipefail
src=$1
PERF_BIN=$2
skip_or_fail() {
  if [ "${CI:-}" = true ]; then
    echo "FAIL: $1 (CI=true: interop tests may not skip)"
    exit 1
  fi
  echo "SKIP: $1"
  exit 77
}
[ "$(id -u)" -eq 0 ] || skip_or_fail "needs root"
ip netns add "pfsmoke$$" 2>/dev/null || skip_or_fail "cannot create network namespaces"
ip netns del "pfsmoke$$"

PAIR_NS="ps$$"
PAIR_DIR=$(mktemp -d /tmp/shardtcp-perf-smoke.XXXXXX)
# shellcheck source=../../bench/pairs.sh
source "$src/bench/pairs.sh"
trap 'kernel_pair_down; rm -rf "$PAIR_DIR"' EXIT
pair_eal_memory
kernel_pair_up

failures=0
check() { # side workload client_json server_json_file
  python3 - "$@" <<'PY'
import json, sys
side, w, cline, sfile = sys.argv[1:5]
problems = []
try:
    c = json.loads(cline)
except ValueError:
    print(f"{side} {w}: no client result"); sys.exit(1)
try:
    s = json.loads(open(sfile).read().strip().splitlines()[-1])
except (ValueError, IndexError):
    print(f"{side} {w}: no server result"); sys.exit(1)
if c["errors"] or c["verify_errors"]:
    problems.append(f"client errors {c['errors']}, verify errors {c['verify_errors']}")
if s["errors"] or s["verify_errors"]:
    problems.append(f"server errors {s['errors']}, verify errors {s['verify_errors']}")
if w == "TCP_STREAM":
    if c["bytes"] <= 0: problems.append("no bytes sent")
    if s["bytes"] != c["bytes"]: problems.append(f"server received {s['bytes']} of {c['bytes']} bytes")
    if "port_offloads" in c:
        for role, r in (("client", c), ("server", s)):
            print(f"{side} {w}: {role} port offloads {r.get('port_offloads')}, tcp_layer {r.get('tcp_layer')}")
    if side.endswith("virtio"):
        off = c.get("port_offloads", {})
        if off.get("tx_l4_cksum") != 1 or off.get("tx_tso") != 1:
            problems.append(f"the virtio client runs without TX checksum offload or TSO: {off}")
elif w in ("TCP_RR", "TCP_CRR"):
    if c["transactions"] <= 0: problems.append("no transactions")
    if s["bytes"] != c["transactions"] * c["size"]:
        problems.append(f"server echoed {s['bytes']} bytes for {c['transactions']} transactions")
    if w == "TCP_CRR" and s["accepted"] != c["transactions"]:
        problems.append(f"server accepted {s['accepted']} connections for {c['transactions']} transactions")
    # TCP_CRR runs with --ports 4: the client's connects go round robin over them.
    if w == "TCP_CRR" and s["accepted_min_port"] * 4 < s["accepted"] - 8:
        problems.append(f"a server port took {s['accepted_min_port']} of {s['accepted']} connections")
else:
    if c["conns_held"] != c["value"] or c["conns_held"] <= 0: problems.append("connections not held")
    if s["accepted"] != c["conns_held"] or s["bytes"] != c["conns_held"]:
        problems.append(f"server accepted {s['accepted']} and echoed {s['bytes']} for {c['conns_held']}")
print(f"{side} {w}: {c['value']:.4g} {c['unit']}" + ("" if not problems else "  FAILED: " + "; ".join(problems)))
sys.exit(1 if problems else 0)
PY
}

# smoke LABEL SIDE WORKLOAD [perf client options...]: one run of about a second, checked.
smoke() {
  local label=$1 side=$2 w=$3 line rc server_status
  shift 3
  line=$(run_pair "$side" "$w" 1 --quiet "$@")
  rc=$?
  server_status=$(cat "$PAIR_DIR/server.status" 2>/dev/null || echo missing)
  if ! check "$label" "$w" "$line" "$PAIR_DIR/server.json" || [ "$rc" -ne 0 ] ||
    [ "$server_status" != 0 ]; then
    failures=$((failures + 1))
    echo "  client exit $rc, server exit $server_status; logs:"
    tail -n 5 "$PAIR_DIR/server.err" "$PAIR_DIR/client.err" | sed 's/^/  /'
  fi
}

for side in kernel shardtcp; do
  for w in TCP_STREAM TCP_RR TCP_CRR CONNS; do
    PAIR_SERVER_ARGS=()
    case "$w" in
      TCP_RR) smoke "$side" "$side" "$w" --concurrency 4 ;;
      TCP_CRR)
        PAIR_SERVER_ARGS=(--ports 4)
        smoke "$side" "$side" "$w" --concurrency 4 --ports 4 ;;
      CONNS) smoke "$side" "$side" "$w" --conns 100 --seconds 0.2 ;;
      *) smoke "$side" "$side" "$w" ;;
    esac
  done
done
# The stack pair over virtio-net (the bench's "TCP_STREAM virtio" row: net_virtio_user
# client, net_vhost server): the stream arrives byte-exact, and the offloads each side
# negotiated are printed (the client's TX checksum and TSO are checked: they are what
# the row is about, and DPDK 22.11's virtio always offers them against tso=1).
PAIR_STACK_WIRE=virtio
PAIR_SERVER_ARGS=()
smoke "shardtcp-virtio" shardtcp TCP_STREAM
PAIR_STACK_WIRE=memif
echo "$failures failure(s)"
[ "$failures" -eq 0 ]
