#!/usr/bin/env bash
# The manual's connect() example (apps/echo-client.c: verbatim inside a loop) built as
# an outside C program: installed into a scratch DESTDIR, compiled with
# `cc -std=c11 -Wall -Werror` against the installed <sockets.h> and shardtcp.pc, then run
# in a private network namespace on a TAP against a Linux kernel echo server:
#   * open port:   prints "Echo client connected" and the echo;
#   * closed port: prints the perror line with the refused-connection text.
# Needs root (namespaces, TAP): skipped (77) otherwise, failed under CI=true.
set -euo pipefail
build=$1
src=$2
skip() {
  if [ "${CI:-}" = "true" ]; then echo "FAIL (CI): $1"; exit 1; fi
  echo "SKIP: $1"; exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

tmp=$(mktemp -d)
ns="sockex$$"
tap="sockex0"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns" || skip "cannot create a network namespace"
ip netns exec "$ns" ip link set lo up

# Install and build the outside program with nothing but pkg-config.
meson install -C "$build" --no-rebuild --destdir "$tmp/root" --quiet >/dev/null
pc=$(dirname "$(find "$tmp/root" -name shardtcp.pc | head -1)")
mkdir -p "$tmp/pc"
sed "s|^prefix=|prefix=$tmp/root|" "$pc/shardtcp.pc" > "$tmp/pc/shardtcp.pc"
export PKG_CONFIG_PATH="$tmp/pc"
flags=$(pkg-config --cflags --libs shardtcp)
cc -std=c11 -Wall -Werror "$src/apps/echo-client.c" -o "$tmp/echo-client" $flags
libdir=$(dirname "$(find "$tmp/root" -name 'libshardtcp.so' | head -1)")
echo "built echo-client with: cc -std=c11 -Wall -Werror ... $flags"

# A kernel echo server on 7007 in the namespace (7009 stays closed).
cat > "$tmp/echo.py" <<'PY'
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7007))
s.listen(8)
while True:
    c, _ = s.accept()
    while True:
        d = c.recv(4096)
        if not d:
            break
        c.sendall(d)
    c.close()
PY
ip netns exec "$ns" python3 "$tmp/echo.py" &
pids+=($!)

# Runs the client in the namespace; configures the kernel side of its TAP once it appears.
run_client() {
  local port=$1 attempts=$2 out=$3
  ip netns exec "$ns" env LD_LIBRARY_PATH="$libdir" "$tmp/echo-client" \
    -l 0 --no-pci --no-huge --no-shconf -m 256 --file-prefix="sockex$$_$port" \
    --vdev=net_tap0,iface=$tap -- --ip 198.18.0.2/24 \
    --server 198.18.0.1 --port "$port" --attempts "$attempts" --message "manual example" \
    > "$out" 2>&1 &
  local cpid=$!
  for _ in $(seq 1 100); do
    ip netns exec "$ns" ip link show "$tap" >/dev/null 2>&1 && break
    sleep 0.1
  done
  ip netns exec "$ns" ip addr add 198.18.0.1/24 dev "$tap" 2>/dev/null || true
  ip netns exec "$ns" ip link set "$tap" up
  local rc=0
  timeout 60 tail --pid=$cpid -f /dev/null || { kill $cpid; rc=124; }
  wait $cpid || rc=$?
  return $rc
}

status=0
rc=0; run_client 7007 3 "$tmp/open.out" || rc=$?
echo "--- open port (exit $rc):"; grep -v '^EAL\|^TELEMETRY\|^shardtcp:\|^USER1\|^TAP' "$tmp/open.out" || true
grep -qx "Echo client connected" "$tmp/open.out" || { echo "FAIL: no 'Echo client connected'"; status=1; }
grep -qx "Echo: manual example" "$tmp/open.out" || { echo "FAIL: no echo"; status=1; }
[ "$rc" = 0 ] || { echo "FAIL: client exit $rc"; status=1; }

rc=0; run_client 7009 1 "$tmp/closed.out" || rc=$?
echo "--- closed port (exit $rc):"; grep -v '^EAL\|^TELEMETRY\|^shardtcp:\|^USER1\|^TAP' "$tmp/closed.out" || true
grep -qx "Echo client connection failed: Connection refused" "$tmp/closed.out" ||
  { echo "FAIL: no refused-connection perror line"; status=1; }
[ "$rc" = 1 ] || { echo "FAIL: client exit $rc (want 1)"; status=1; }
exit $status
