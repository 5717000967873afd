# The two benchmark pairs, sourced by scripts/bench.sh and test/perf/perf_smoke_test.sh.
#
#   kernel pair: kernel-perf server in namespace ${PAIR_NS}s (198.18.0.1) and client in
#                ${PAIR_NS}c (198.18.0.2), joined by a veth pair, default offloads; the
#                client's namespace is tuned as a performance-minded user would
#                (tcp_tw_reuse=1, a wide ephemeral port range); the app sets TCP_NODELAY.
#   stack pair:  shardtcp-perf server (198.18.1.1) and client (198.18.1.2), one stack
#                each, connected by DPDK net_memif (shared-memory rings between the two
#                processes); with PAIR_STACK_WIRE=virtio by virtio-net instead: the
#                client's port is net_virtio_user (the driver a guest runs), the server's
#                net_vhost (the vhost-user backend a hypervisor's switch runs), MTU 1500,
#                with the checksum, TSO and LRO offloads virtio negotiates (pair_stack_ports).
# Server on core 0, client on core 1 in both pairs, one process per core. A sockets-API
# program on the stack runs to completion: its own thread, on the EAL lcore, runs the
# engine inline (lib/api/sockets_runtime.h, DriveMode::kInline), so each side is one
# thread on one core, as each kernel-perf process is. With SHARDTCP_SOCKETS_DRIVER=thread
# in the environment (the bench's "TCP_RR ordinary thread" row) the application thread
# calls through the request rings to a driver thread the library runs off its CPU: each
# core then runs one process's application and the other's driver.
# PAIR_STACK_APP_CPU=other moves each application thread to the other core (--app-cpu),
# kept from the driver-thread layout for comparison.
#
# Set before sourcing: PERF_BIN (folder holding shardtcp-perf and kernel-perf),
# PAIR_NS (a short unique name), PAIR_DIR (a scratch folder). Needs root.

# shellcheck source=veth_pair.sh
source "$(dirname "${BASH_SOURCE[0]}")/veth_pair.sh"

PAIR_SERVER_CPU=${PAIR_SERVER_CPU:-0}
PAIR_CLIENT_CPU=${PAIR_CLIENT_CPU:-1}
PAIR_EAL_MEM=()
PAIR_STACK_APP_CPU=${PAIR_STACK_APP_CPU:-lcore}
PAIR_STACK_WIRE=${PAIR_STACK_WIRE:-memif}

pair_eal_memory() {
  # Hugepages when there are enough free ones (about 4x faster), else plain memory.
  local free
  free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
  if [ "$free" -ge 256 ] && mountpoint -q /dev/hugepages 2>/dev/null; then
    PAIR_EAL_MEM=(--in-memory)
  else
    PAIR_EAL_MEM=(--no-huge --no-shconf -m 512)
  fi
}

# pair_stack_ports SOCK: the EAL arguments of the server's and the client's port
# (PAIR_SERVER_PORT, PAIR_CLIENT_PORT) for the wire PAIR_STACK_WIRE names, SOCK the
# UNIX socket their control channel meets on, and stack options both stacks take for
# that wire (PAIR_WIRE_ARGS).
#   memif:  net_memif, server and client roles; no offloads (the PMD offers none).
#   virtio: net_vhost (tso=1: the vhost-user backend offers HOST_TSO4/6 and GUEST_TSO4/6,
#           which its default leaves out; checksum features it offers anyway) against
#           net_virtio_user, which then negotiates TX checksum and TSO and RX checksum
#           and LRO (GUEST_TSO). mrg_rxbuf=1 lets a 64 KiB LRO frame span 2 KiB RX
#           buffers; in_order=1 lets both ends complete descriptors in ring order.
#           virtio_user hands its memory to the backend as file descriptors, at most 8
#           regions in vhost-user: --single-file-segments gives it one file per memseg
#           list instead of one per page (with --in-memory and --no-huge alike: both
#           are memfd-backed in DPDK 22.11). The two processes' distinct --file-prefix
#           values keep their hugepage files apart. The server's log says "Tx csum will
#           be done in SW" and "link down": both are before a client connects (no
#           virtio features yet); net_vhost decides again when one does.
pair_stack_ports() {
  local sock=$1
  PAIR_WIRE_ARGS=()
  case "$PAIR_STACK_WIRE" in
    memif)
      PAIR_SERVER_PORT=(--vdev="net_memif0,role=server,socket=$sock")
      PAIR_CLIENT_PORT=(--vdev="net_memif0,role=client,socket=$sock") ;;
    virtio)
      # MTU 1500 named rather than left to the PMDs, as a guest's NIC has it.
      PAIR_WIRE_ARGS=(--mtu 1500)
      PAIR_SERVER_PORT=(--vdev="net_vhost0,iface=$sock,queues=1,tso=1")
      PAIR_CLIENT_PORT=(--single-file-segments
        --vdev="net_virtio_user0,path=$sock,queues=1,mrg_rxbuf=1,in_order=1") ;;
    *) echo "pairs: unknown PAIR_STACK_WIRE '$PAIR_STACK_WIRE' (memif|virtio)" >&2; return 1 ;;
  esac
}

kernel_pair_up() {
  kernel_pair_down
  veth_pair_up "${PAIR_NS}s" "${PAIR_NS}c" "${PAIR_NS}v" 198.18.0.1 198.18.0.2
  ip netns exec "${PAIR_NS}c" sysctl -qw net.ipv4.tcp_tw_reuse=1
  ip netns exec "${PAIR_NS}c" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
  ip netns exec "${PAIR_NS}s" sysctl -qw net.core.somaxconn=4096
}

kernel_pair_down() {
  ip netns del "${PAIR_NS}s" 2>/dev/null || true
  ip netns del "${PAIR_NS}c" 2>/dev/null || true
}

# Waits until the server printed "ready" (or died). 0 when ready.
pair_wait_ready() {
  local out=$1 pid=$2 i
  for i in $(seq 300); do
    grep -q '^ready' "$out" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Stops a server with SIGTERM (it prints its JSON and exits), SIGKILL if it hangs.
# Its exit status lands in PAIR_SERVER_STATUS (137: it hung and was killed).
PAIR_SERVER_STATUS=0
pair_stop_server() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  PAIR_SERVER_STATUS=0
  wait "$pid" 2>/dev/null || PAIR_SERVER_STATUS=$?
}

# run_pair kernel|shardtcp WORKLOAD SECONDS [perf client options...]
# Optional arrays set by the caller: PAIR_SERVER_ARGS (perf options for the server of
# both pairs, e.g. --ports K), PAIR_STACK_ARGS (stack options for both stacks, e.g.
# --max-connections N); PAIR_CLIENT_TIMEOUT: seconds the client may take beyond
# SECONDS (default 60).
# Prints the client's JSON line on stdout; the server's JSON line goes to
# $PAIR_DIR/server.json, its exit status to $PAIR_DIR/server.status, logs to
# $PAIR_DIR/{server,client}.err. Returns the client's exit status (or 90 when the
# server did not come up).
run_pair() {
  local side=$1 workload=$2 seconds=$3
  shift 3
  local sout="$PAIR_DIR/server.out" serr="$PAIR_DIR/server.err" cerr="$PAIR_DIR/client.err"
  local cout="$PAIR_DIR/client.out" spid rc=0
  local limit=$((${seconds%.*} + ${PAIR_CLIENT_TIMEOUT:-60}))
  local server_args=(${PAIR_SERVER_ARGS[@]+"${PAIR_SERVER_ARGS[@]}"})
  local stack_args=(${PAIR_STACK_ARGS[@]+"${PAIR_STACK_ARGS[@]}"})
  : >"$sout"
  : >"$cout"
  if [ "$side" = kernel ]; then
    ip netns exec "${PAIR_NS}s" taskset -c "$PAIR_SERVER_CPU" "$PERF_BIN/kernel-perf" \
      --role server --workload "$workload" --port 5201 "${server_args[@]}" >"$sout" 2>"$serr" &
    spid=$!
    if ! pair_wait_ready "$sout" "$spid"; then
      pair_stop_server "$spid"
      return 90
    fi
    ip netns exec "${PAIR_NS}c" taskset -c "$PAIR_CLIENT_CPU" timeout "$limit" \
      "$PERF_BIN/kernel-perf" --role client --workload "$workload" --server 198.18.0.1 \
      --port 5201 --seconds "$seconds" "$@" >"$cout" 2>"$cerr" || rc=$?
    pair_stop_server "$spid"
  else
    local sock="$PAIR_DIR/$PAIR_STACK_WIRE.sock" s_app=() c_app=()
    if [ "$PAIR_STACK_APP_CPU" = other ]; then
      s_app=(--app-cpu "$PAIR_CLIENT_CPU")
      c_app=(--app-cpu "$PAIR_SERVER_CPU")
    fi
    pair_stack_ports "$sock" || return 2
    stack_args+=(${PAIR_WIRE_ARGS[@]+"${PAIR_WIRE_ARGS[@]}"})
    rm -f "$sock"
    "$PERF_BIN/shardtcp-perf" -l "$PAIR_SERVER_CPU" --no-pci "${PAIR_EAL_MEM[@]}" \
      --file-prefix "${PAIR_NS}s" "${PAIR_SERVER_PORT[@]}" -- \
      --ip 198.18.1.1/24 "${stack_args[@]}" --role server --workload "$workload" --port 5201 \
      "${server_args[@]}" "${s_app[@]}" >"$sout" 2>"$serr" &
    spid=$!
    if ! pair_wait_ready "$sout" "$spid"; then
      pair_stop_server "$spid"
      return 90
    fi
    # The client waits (without polling) after its result until the server has gone:
    # memif's PMD crashes a side that polls while its peer disconnects
    # (apps/perf/perf.c, --exit-on-signal).
    timeout "$limit" "$PERF_BIN/shardtcp-perf" -l "$PAIR_CLIENT_CPU" --no-pci \
      "${PAIR_EAL_MEM[@]}" --file-prefix "${PAIR_NS}c" \
      "${PAIR_CLIENT_PORT[@]}" -- --ip 198.18.1.2/24 "${stack_args[@]}" \
      --role client --workload "$workload" --server 198.18.1.1 --port 5201 \
      --seconds "$seconds" --exit-on-signal "${c_app[@]}" "$@" >"$cout" 2>"$cerr" &
    local cpid=$!
    # Nothing runs beside the pair while it measures: both sides poll on both CPUs, so
    # every process started here (a grep and a sleep each 50 ms) took a scheduler slice
    # from one of them and stalled every connection for 1-3.5 ms (TCP_CRR's p99: 2 ms
    # before, the stalls were the 1.2% of connections that were slow, 16 at a time).
    # (+1 s: the client's start-up, before its measuring time begins)
    sleep "$((${seconds%.*} + 1))"
    while kill -0 "$cpid" 2>/dev/null && ! grep -q '^{' "$cout"; do sleep 0.05; done
    pair_stop_server "$spid"
    kill -TERM "$cpid" 2>/dev/null || true
    wait "$cpid" || rc=$?
  fi
  echo "$PAIR_SERVER_STATUS" >"$PAIR_DIR/server.status"
  grep '^{' "$sout" >"$PAIR_DIR/server.json" || true
  grep '^{' "$cout" || true
  return "$rc"
}
