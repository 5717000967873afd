// The TCP layer of one engine: the pure TCBs (tcb.h) wired to mbufs, the IP layer,
// a timer wheel and the application. It is the IpStack's TransportHandler for
// protocol 6 and offers the native C++ API (also exported as include/shardtcp/tcp.h).
//
//   IpStack ip(ip_cfg);
//   TcpLayer tcp(ip, TcpEnv{&engine, pool, &clock, 0});   // or TcpLayer(ip, engine)
//   ip.set_transport(6, &tcp);
//   StackHandler handler(ip, &tcp, nullptr);             // runs tcp.on_timers each loop
//   TcpConnId l = tcp.listen({IpAddr{}, 80}, 128, cb);
//   TcpConnId c = tcp.connect({server, 80}, cb);          // completion: kConnected event
//   ... tcp.accept(l), tcp.send(c, p, n), tcp.recv(c, buf, n), tcp.close(c)
//
// One instance per engine, used only from that engine's thread: no locks. Connection
// slots, the 4-tuple and listener tables, the TIME_WAIT table and the timer wheel are
// sized at construction. Per packet nothing allocates from the heap; opening a
// connection constructs its Tcb in the slot (the Tcb sizes its buffer rings then).
//
// Errors are negative errno values (the sockets layer returns -1 and sets errno).
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/counters.h"
#include "common/reserved_array.h"
#include "common/time.h"
#include "engine/packet_handler.h"
#include "engine/timer_wheel.h"
#include "ip/ip_stack.h"
#include "ip/token_bucket.h"
#include "ip/transport_handler.h"
#include "tcp/connection_table.h"
#include "tcp/isn_generator.h"
#include "tcp/mbuf_buffer_ops.h"
#include "tcp/port_allocator.h"
#include "tcp/recent_v4_flow.h"
#include "tcp/rx_coalescer.h"
#include "tcp/syn_cookies.h"
#include "tcp/tcb.h"
#include "tcp/tcb_counters.h"
#include "tcp/tcp_config.h"
#include "tcp/tcp_emitter.h"
#include "tcp/tcp_info.h"
#include "tcp/tcp_layer_counters.h"
#include "tcp/time_wait_table.h"

namespace shardtcp {

class Engine;
class FlowOwnership;

// A connection or listener of one TcpLayer: slot in the low 20 bits, generation in
// the high 12, so a closed-and-reused slot does not answer to an old id. 0 is never
// valid.
struct TcpConnId {
  static constexpr std::uint32_t kSlotBits = 20;
  static constexpr std::uint32_t kSlotMask = (1u << kSlotBits) - 1;
  std::uint32_t value = 0;
  std::uint32_t slot() const { return value & kSlotMask; }
  std::uint32_t generation() const { return value >> kSlotBits; }
  bool valid() const { return value != 0; }
  friend bool operator==(TcpConnId, TcpConnId) = default;
};

// What the per-connection callback hears (TargetTCP's asynchronous socket events).
enum class TcpSocketEvent : std::uint8_t {
  kConnected,   // an active open completed
  kAcceptable,  // on a listener: a connection waits in the accept queue
  kReadable,    // bytes (or EOF) to read
  kWritable,    // send space freed after a short send
  kAcked,       // `value` bytes of ours were acknowledged
  kPeerFin,     // the peer will send no more (recv returns 0 after the data)
  kClosed,      // the connection is gone (after close(): the id is now stale)
  kError,       // `value` is an errno: ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH
};

// Called on the engine's thread, from inside packet processing, timers or an API
// call. It may call any TcpLayer method, close() of this connection included.
struct TcpCallback {
  void (*fn)(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value) = nullptr;
  void* user = nullptr;
  explicit operator bool() const { return fn != nullptr; }
};

// Where calls made outside on_l4 send and allocate. An Engine provides all of them.
using TcpEnv = EngineServices;

struct TcpLayerConfig {
  std::uint32_t max_connections = 4096;  // slots for connections and listeners (< 2^20)
  // TIME_WAIT records (--time-wait-max); memory is used only as records are made.
  std::uint32_t time_wait_capacity = 262144;
  // connect() may take a tuple whose TIME_WAIT record used timestamps and is at least
  // a second old (Linux's tcp_tw_reuse=1): the peer's PAWS rejects the old
  // incarnation's duplicates, and the new ISN lies above the old SND.NXT. Without it a
  // client opening connections at 20k/s to one server endpoint runs out of ports
  // after three seconds (every tuple in TIME_WAIT for 60 s).
  bool time_wait_reuse = true;
  std::uint32_t syn_queue = 256;  // half-open connections per listener before SYN cookies
  // A SYN that cannot have a half-open child of its own (SYN queue or backlog taken by
  // half-open ones, mbuf pool low) is answered with a cookie; off: it is dropped.
  bool syn_cookies = true;
  // RSTs answering segments that belong to no connection (a closed port, a stale or
  // forged ACK): at most this many per second after a burst, as BSD's bandwidth limit
  // on closed-port RSTs, so an ACK flood does not become an RST flood.
  double rst_per_second = 1000;
  double rst_burst = 2000;
  // Mbufs of the pool that send storage never takes (headers, ACKs, received frames);
  // connect() and accept of a new connection are refused (ENOBUFS) below it.
  unsigned mbuf_reserve = 256;
  // Mbufs with a larger data room for the send storage of large writes
  // (MbufBufferOps); null: every chunk is one of the engine's pool. Outlives the layer.
  rte_mempool* send_chunk_pool = nullptr;
  TcpConfig defaults;  // per-connection defaults (options change them per connection)
  PortAllocator::Config ports;
  bool tx_cksum_offload = false;  // PortInfo::tx_l4_cksum
  // Payloads above TcpEmitterConfig::copy_threshold go out attached to the send
  // buffer's chunks (indirect mbufs) instead of copied into every frame; the stack
  // clears it on a port without PortInfo::tx_zero_copy.
  bool zero_copy_tx = true;
  // PortInfo::tx_tso (the device also sending chains): new data leaves in frames of up
  // to kTsoMaxPayload bytes that the device cuts into MSS-sized segments.
  bool tso = false;
  static constexpr std::uint32_t kTsoMaxPayload = 65535 - 60 - 20;  // 16-bit IP length
  std::optional<SipKey> key;  // secrets for ISNs, cookies, hashes; random if unset
};

class TcpLayer final : public TransportHandler {
 public:
  static constexpr std::uint8_t kProtocol = 6;

  TcpLayer(IpStack& ip, const TcpEnv& env, const TcpLayerConfig& config = {});
  // Takes the engine's FrameSink, pool and clock.
  TcpLayer(IpStack& ip, Engine& engine, const TcpLayerConfig& config = {});
  ~TcpLayer() override;  // frees every connection (no segments are sent)
  TcpLayer(const TcpLayer&) = delete;
  TcpLayer& operator=(const TcpLayer&) = delete;

  // ---- opening (socket(), bind(), listen(), connect(), accept())
  // A fresh socket: options may be set on it before connect/listen. Invalid id
  // with *error = -ENOBUFS when every slot is taken.
  TcpConnId open(const TcpCallback& cb = {}, int* error = nullptr);
  // EINVAL already bound/connected, EADDRNOTAVAIL not our address, EADDRINUSE.
  int bind(TcpConnId id, const Endpoint& local);
  // Turns a bound socket into a listener. EINVAL if not bound or connected.
  int listen(TcpConnId id, std::uint32_t backlog);
  // Non-blocking connect: sends the SYN; kConnected or kError (then kClosed) follow.
  // ENETUNREACH, EADDRINUSE (tuple taken), ENOBUFS, EISCONN, EALREADY, EINVAL.
  // With a FlowOwnership set (several engines): the ephemeral port is one whose reply
  // tuple this engine owns (EADDRNOTAVAIL when none is free here), and a socket bound
  // to a port whose tuple another engine owns gets kNotOwner (nothing sent, the socket
  // unchanged); *owner_engine then names the engine to ask instead.
  static constexpr int kNotOwner = -EXDEV;
  int connect(TcpConnId id, const Endpoint& remote, std::uint16_t* owner_engine = nullptr);
  // One-call forms of the above.
  TcpConnId listen(const Endpoint& local, std::uint32_t backlog, const TcpCallback& cb = {},
                   int* error = nullptr);
  TcpConnId connect(const Endpoint& remote, const TcpCallback& cb = {}, int* error = nullptr,
                    const std::optional<Endpoint>& local = std::nullopt);
  // The oldest established connection of a listener; invalid with *error = -EAGAIN
  // when none. The new connection's callback is the listener's until set_callback.
  TcpConnId accept(TcpConnId listener, int* error = nullptr, Endpoint* peer = nullptr);
  // True when a listener's accept queue holds a connection (false for anything else).
  bool has_pending_accept(TcpConnId listener);

  // ---- data
  // Bytes queued (maybe fewer than len); EAGAIN when none fit, ENOTCONN before the
  // handshake, EPIPE after shutdown_write, a pending error first. `more` (MSG_MORE):
  // more bytes follow, so a partial segment waits for them as with TCP_CORK.
  long send(TcpConnId id, const void* data, std::size_t len, bool more = false);
  // Bytes read; 0 at end of stream; EAGAIN when nothing is there yet; a pending error
  // (ECONNRESET ...) first.
  long recv(TcpConnId id, void* buf, std::size_t len, bool peek = false);
  // The zero-copy read: recv() with `reader(arg, data, n)` called on up to `len` bytes
  // where they arrived, once per contiguous run, on this engine's thread, instead of a
  // copy. The runs are valid only during the call, and the reader must not call into
  // this layer (the receive queue is being walked). A null reader discards the bytes
  // (MSG_TRUNC on a stream socket). Results and errors as recv()'s.
  using InPlaceReader = void (*)(void* arg, const std::uint8_t* data, std::uint32_t n);
  long recv_in_place(TcpConnId id, std::size_t len, bool peek, InPlaceReader reader, void* arg);
  long readable_bytes(TcpConnId id) const;
  long writable_bytes(TcpConnId id) const;

  // ---- closing
  int shutdown_write(TcpConnId id);
  // SHUT_RD: what is queued and whatever arrives later is acknowledged and discarded
  // (as BSD does), so the peer is never stalled by a window nobody reads.
  int shutdown_read(TcpConnId id);
  // Releases the id: FIN (or RST with unread data / linger-0) and the connection
  // finishes on its own. A listener drops its unaccepted connections with RST.
  int close(TcpConnId id);
  // RST and release at once.
  int abort(TcpConnId id);

  // ---- options (before connect/listen where noted)
  int set_callback(TcpConnId id, const TcpCallback& cb);
  int set_nodelay(TcpConnId id, bool on);
  int set_keepalive(TcpConnId id, bool on, Duration idle = std::chrono::hours(2),
                    Duration interval = std::chrono::seconds(75), std::uint32_t count = 9);
  int set_send_buffer(TcpConnId id, std::uint32_t bytes);  // grows only before connect
  int set_recv_buffer(TcpConnId id, std::uint32_t bytes);
  int set_linger_zero(TcpConnId id, bool on);
  int set_congestion(TcpConnId id, CongestionAlgorithm algo);  // before connect
  int set_connect_timeout(TcpConnId id, Duration d);
  int set_min_rto(TcpConnId id, Duration d);
  int set_reuse_addr(TcpConnId id, bool on);  // before bind
  int set_cork(TcpConnId id, bool on);        // TCP_CORK; off sends what it held
  // TCP_MAXSEG, 88..32767, before connect/listen: bounds the MSS announced and used.
  int set_max_segment(TcpConnId id, std::uint32_t mss);
  int set_user_timeout(TcpConnId id, Duration d);  // TCP_USER_TIMEOUT; 0 off
  // TCP_NOTSENT_LOWAT: writable (send() accepts bytes, kWritable) only while fewer
  // bytes wait unsent; UINT32_MAX off.
  int set_notsent_lowat(TcpConnId id, std::uint32_t bytes);
  // ECN (RFC 3168), before connect/listen: a listener's mode is its connections'.
  int set_ecn(TcpConnId id, EcnMode mode);

  // ---- introspection
  // SO_ERROR: the pending error (positive errno, 0 none), cleared; -EBADF stale id.
  int pending_error(TcpConnId id);
  int local_endpoint(TcpConnId id, Endpoint* out) const;
  int remote_endpoint(TcpConnId id, Endpoint* out) const;  // ENOTCONN without a peer
  // kClosed for a stale id; kListen for listeners.
  TcpState state(TcpConnId id) const;
  bool is_listener(TcpConnId id) const;
  bool is_open(TcpConnId id) const { return find(id) != nullptr; }
  const Tcb* tcb(TcpConnId id) const;
  // TCP_INFO: what `ss -ti` shows of a connection. EBADF stale id, ENOTCONN before a
  // connection exists (a listener or fresh socket reports its state only).
  int info(TcpConnId id, TcpInfo* out) const;

  // ---- engine side
  void on_l4(rte_mbuf* m, const L3Meta& meta, PacketContext& ctx) override;
  // The next segment of an open IPv4 receive run (software GRO) joins it straight from
  // IP's fast path: no L3Meta, no decode.
  bool offer_ipv4(rte_mbuf* m, const rte_ipv4_hdr& ip, std::uint16_t l4_len,
                  L4Checksum l4) override;
  void on_icmp_error(const IcmpErrorInfo& err, PacketContext& ctx) override;
  // Runs due connection timers and expires TIME_WAIT records; every loop iteration.
  void on_timers(PacketContext& ctx);
  // Around each RX burst (ShardHandler): the segments one connection receives in a
  // burst draw one ACK (Tcb::begin_ack_batch) and at most one kReadable, kWritable and
  // kAcked each, delivered by end_burst() -- the receive side of GRO, and one wake-up
  // of the socket layer per burst instead of one per segment.
  // The ACKs a burst still owes are held over the application's turn that follows it
  // and sent by flush_held_acks() at the start of the engine's next iteration, unless
  // a segment of the application's carried them meanwhile (Tcb::begin_ack_batch).
  void begin_burst() { in_burst_ = true; }
  void end_burst(PacketContext& ctx);
  // Sends the held ACKs; the number of connections that had one held. Inline: it runs
  // every engine iteration, and most find none.
  unsigned flush_held_acks(PacketContext& ctx) {
    return held_ack_count_ == 0 ? 0 : send_held_acks(ctx);
  }

  std::size_t slots_in_use() const { return in_use_; }
  std::size_t half_open() const { return half_open_; }
  std::size_t capacity() const { return slots_.capacity(); }
  std::size_t connections() const { return conn_table_.size(); }
  std::size_t time_wait_records() const { return time_wait_.size(); }
  const CounterGroup& counters() const { return counters_; }          // "tcp_layer"
  const CounterGroup& tcb_counters() const { return tcb_counters_; }  // "tcp"
  const CounterGroup& slot_gauges() const { return slot_gauges_; }    // "tcp_slots"
  std::uint64_t counter(TcpLayerCounter c) const { return counters_.get(c); }
  std::uint64_t counter(TcpCounter c) const { return tcb_counters_.get(c); }
  const MbufBufferOps& buffer_ops() const { return ops_; }
  const TcpEmitter& emitter() const { return emitter_; }

  // ---- sharding (several engines)
  // The stack's ownership function (outlives this layer; null: one engine owns all).
  // Used by connect() to pick owned ports, and to count segments that reach an engine
  // which does not own them (a steering or RSS bug: should stay 0). Counted in debug
  // builds only (NDEBUG unset); release builds skip the second hash per segment.
  void set_flow_ownership(const FlowOwnership* ownership) { ownership_ = ownership; }
  const FlowOwnership* flow_ownership() const { return ownership_; }
  std::uint64_t segments_not_owned() const { return segments_not_owned_; }

 private:
  static constexpr std::uint32_t kNone = UINT32_MAX;
  enum class Kind : std::uint8_t { kFree, kSocket, kListener, kConnection };

  struct Slot {
    Kind kind = Kind::kFree;
    std::uint32_t generation = 1;
    TcpConfig cfg;
    std::optional<Tcb> tcb;
    Timer timer;
    TcpCallback cb;
    Endpoint local;  // bound/actual local endpoint
    Endpoint remote;
    IpAddr bound_addr;       // the address bind() took (may be the wildcard)
    bool bound = false;      // holds a PortAllocator bind reference
    bool ephemeral = false;  // holds a PortAllocator connect reference
    bool reuse_addr = false;
    bool in_table = false;   // in conn_table_ (connections) / listeners_ (listeners)
    bool app_owned = false;  // the application holds the id
    bool finished = false;   // the TCB reached CLOSED or TIME_WAIT: only data remains
    bool shut_wr = false;    // shutdown_write() was called
    bool shut_rd = false;    // shutdown_read(): input is discarded
    int error = 0;           // pending error (positive errno)
    std::uint32_t busy = 0;  // event dispatch depth: freeing waits until 0
    bool free_pending = false;
    // Listener.
    std::uint32_t backlog = 0;
    std::uint32_t syn_count = 0;  // children in SYN_RECEIVED
    std::uint32_t accept_count = 0;
    std::uint32_t accept_head = kNone, accept_tail = kNone;
    // When the listener last answered a SYN with a cookie: ACKs are checked as cookies
    // only within a cookie's lifetime of it (Linux's tcp_synq_no_recent_overflow).
    std::optional<Instant> last_cookie;
    // Child of a listener, until accepted.
    std::uint32_t parent = kNone;
    std::uint32_t parent_generation = 0;
    std::uint32_t next = kNone;  // accept queue link
    bool queued = false;         // in the parent's accept queue
    bool half_open = false;      // counted in the parent's syn_count
    // Receive bursts: the burst this connection joined, and the level-like events held
    // for its end (kDeferred* bits; readable and acked byte counts add up).
    std::uint32_t burst_epoch = 0;
    // The connection's prebuilt Ethernet and IPv4 headers (IpStack::output_via);
    // invalid until its first segment to a confirmed neighbour.
    Ipv4OutputPath path;
    std::uint8_t deferred = 0;
    std::uint32_t deferred_readable = 0;
    std::uint32_t deferred_acked = 0;
  };
  static constexpr std::uint8_t kDeferredReadable = 1, kDeferredWritable = 2, kDeferredAcked = 4;
  struct BurstMember {
    std::uint32_t slot;
    std::uint32_t generation;
  };
  // Connections batched per burst; more than this in one burst are processed as before.
  static constexpr std::size_t kMaxBurstMembers = 256;

  Slot* find(TcpConnId id);
  template <typename Take>
  long read_with(TcpConnId id, std::size_t len, bool peek, bool no_destination, Take&& take);
  const Slot* find(TcpConnId id) const;
  TcpConnId id_of(std::uint32_t slot) const;
  std::uint32_t slot_index(const Slot& s) const {
    return static_cast<std::uint32_t>(&s - slots_.data());
  }
  PacketContext make_context() const;
  TcpOutput& begin_output();
  void end_output() { --out_depth_; }

  std::uint32_t alloc_slot(Kind kind);
  bool slot_available() const;
  void release_slot(std::uint32_t slot);  // frees now or when dispatch unwinds
  void maybe_release(std::uint32_t slot);
  // Leaves the tables, drops port references (but the bind's with keep_bind) and the timer.
  // `tuple_hash`: hash_tuple of the slot's tuple when the caller already has it.
  void detach(Slot& s, bool keep_bind = false,
              std::optional<std::uint64_t> tuple_hash = std::nullopt);
  void destroy_tcb(Slot& s);
  void unlink_from_parent(Slot& s);

  // After every Tcb call: transmit, re-arm the timer, dispatch events.
  void process(std::uint32_t slot, TcpOutput& out, PacketContext& ctx);
  // process()'s general case: segments out, timer, the events' callbacks.
  void dispatch(std::uint32_t slot, TcpOutput& out, PacketContext& ctx);
  OutputResult transmit(Slot& s, TcpOutput& out, PacketContext& ctx);
  void arm(Slot& s);
  void fire(std::uint32_t slot, TcpSocketEvent ev, std::uint32_t value = 0);
  // A level-like event: held while the slot's burst lasts, fired otherwise.
  void fire_or_defer(std::uint32_t slot, TcpSocketEvent ev, std::uint32_t value);
  void defer(Slot& s, TcpSocketEvent ev, std::uint32_t value);  // held for end_burst
  // process()'s shortcut: in the slot's burst, with nothing to send and only level
  // events, holds them all and returns true; else changes nothing.
  bool defer_all(Slot& s, const TcpOutput& out);
  void fire_deferred(std::uint32_t slot);
  void join_burst(std::uint32_t slot);
  unsigned send_held_acks(PacketContext& ctx);
  bool on_time_wait(Slot& s, const TimeWaitInfo& info, Instant now);

  // Receive path.
  // Appends a single-buffer segment to its flow's open run when it continues it (true);
  // false changes nothing, and the segment goes to segment_arrived, which inputs the
  // run before it. For segments IP's fast path did not offer (offer_ipv4): IPv6 ones.
  bool join_run(rte_mbuf* m, const L3Meta& meta);
  // join_run's and offer_ipv4's last step: the segment at `l4` (`len` bytes, checksum
  // verified, in `m` alone) appended to `r` if it continues it.
  bool append_to_run(RxCoalescer::Run& r, rte_mbuf* m, const std::uint8_t* l4, std::uint32_t len,
                     std::uint8_t tos);
  void segment_arrived(rte_mbuf* m, const L3Meta& meta, PacketContext& ctx);
  void chain_input(rte_mbuf* m, const L3Meta& meta, PacketContext& ctx);
  // Software GRO (rx_coalescer.h): a run opened with `seg` (can_open; decoded from
  // `l4`), which holds its mbuf now; the oldest run is flushed when all are open.
  void open_run(const TcpSegment& seg, const L3Meta& meta, const std::uint8_t* l4,
                PacketContext& ctx);
  // The same for a segment decoded from an mbuf chain (chain_input), its payload in
  // pieces, one per buffer: true when a run holds them now.
  bool coalesce_pieces(const TcpSegment& seg, const L3Meta& meta, const std::uint8_t* l4,
                       PacketContext& ctx);
  // Inputs the run's merged segment and gives up the run's mbufs.
  void flush_run(RxCoalescer::Run& r, PacketContext& ctx);
  // The run of `seg`'s flow, if one is open, before `seg` is input on its own.
  void flush_flow_of(const TcpSegment& seg, const L3Meta& meta, PacketContext& ctx) {
    if (!gro_.any_open()) return;
    if (RxCoalescer::Run* r =
            gro_.run_of(meta.src, meta.dst, RxCoalescer::ports_of(seg.src_port, seg.dst_port)))
      flush_run(*r, ctx);
  }
  // Gives `seg` to its connection, or to unconnected_input. `offer_refs`: the caller
  // offers its references to the payload's buffers (TcpOutput::offer_payload_refs) to a
  // connection; true when it kept them, and the caller must not give them up.
  // `out_of_order` (a merged run, flush_run): set, and `seg` not input, when its
  // connection's RCV.NXT is not where it starts.
  bool segment_input(const TcpSegment& seg, const IpAddr& src, const IpAddr& dst,
                     PacketContext& ctx, bool offer_refs = false, bool* out_of_order = nullptr);
  void unconnected_input(const TcpSegment& seg, const TcpTuple& t,
                         std::optional<std::uint64_t> tuple_hash, PacketContext& ctx);
  void listener_input(Slot& l, const TcpSegment& seg, const TcpTuple& t,
                      std::optional<SeqNum> reuse_isn, PacketContext& ctx);
  void send_syn_cookie(Slot& l, const TcpSegment& syn, const TcpTuple& t, PacketContext& ctx);
  void cookie_ack(Slot& l, const TcpSegment& ack, const TcpTuple& t, PacketContext& ctx);
  // RST for a segment that has no connection; rate-limited (TcpLayerConfig::rst_per_second).
  void send_reset_for(const TcpSegment& seg, const TcpTuple& t, PacketContext& ctx);
  bool cookies_recent(const Slot& l, Instant now) const;
  // connect() may reuse this TIME_WAIT tuple now (TcpLayerConfig::time_wait_reuse).
  bool time_wait_reusable(const TimeWaitState& tw, Instant now) const;
  std::uint32_t new_child(Slot& l, const TcpTuple& t);
  void complete_child(std::uint32_t slot);  // kAccepted: to the accept queue

  std::uint32_t ts_clock(Instant now, SeqNum iss) const;
  void refresh_gauges();
  int setopt_check(TcpConnId id, Slot** out, bool before_open);
  void discard_input(std::uint32_t slot);  // after shutdown_read
  void flush_slot(std::uint32_t slot);     // the TCB sends what it may now (an API call)

  IpStack& ip_;
  TcpEnv env_;
  TcpLayerConfig config_;
  SipKey key_;
  MbufBufferOps ops_;
  TcpEmitter emitter_;
  CounterGroup tcb_counters_;
  CounterGroup counters_{"tcp_layer", kTcpLayerCounterNames};
  CounterGroup slot_gauges_{"tcp_slots", kTcpSlotGaugeNames};
  // --max-connections slots reserved; constructed up to the most ever open at once.
  ReservedArray<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;  // constructed slots not in use
  std::size_t in_use_ = 0;
  std::size_t half_open_ = 0;  // slots held by children in SYN_RECEIVED
  ConnectionTable<Slot> conn_table_;
  RecentV4Flow recent_v4_;  // segment_input's memo of the last IPv4 connection found
  ListenerTable<Slot> listeners_;
  TimeWaitTable time_wait_;
  IsnGenerator isn_;
  SynCookies cookies_;
  PortAllocator ports_;
  TokenBucket rst_limit_;
  TimerWheel wheel_;
  const FlowOwnership* ownership_ = nullptr;
  std::uint64_t segments_not_owned_ = 0;
  std::array<TcpOutput, 4> outs_;  // one per nesting level of callbacks into the API
  // on_l4's segment for the common headers, refilled in place (refill_common_tcp_header)
  // rather than built per segment, which zeroes it first. Busy while segment_input
  // reads it: an on_l4 nested in a callback meanwhile builds a segment of its own.
  TcpSegment rx_segment_;
  bool rx_segment_busy_ = false;
  // The burst's runs of in-order segments (software GRO); none open outside a burst.
  // While one is flushed, segments (of nested calls) are input on their own.
  RxCoalescer gro_;
  bool gro_flushing_ = false;
  // No connection timer or TIME_WAIT record is due before this (on_timers).
  Instant timers_due_{};
  bool in_burst_ = false;
  std::uint32_t burst_epoch_ = 1;
  std::array<BurstMember, kMaxBurstMembers> burst_{};
  std::size_t burst_count_ = 0;
  std::array<BurstMember, kMaxBurstMembers> held_acks_{};
  std::size_t held_ack_count_ = 0;
  std::uint32_t out_depth_ = 0;
};

}  // namespace shardtcp
