// The Transmission Control Block: one TCP connection's state machine, sender and
// receiver, and timers (RFC 9293 with RFC 5681/6582/6675/6298/7323/5961/2018/2883).
//
// Pure: segments and time come in, segments and events go out through TcpOutput. It
// never reads a clock, never calls DPDK and never allocates after construction, so
// every timer path is driven deterministically by tests with a virtual clock.
//
// Wiring: the engine calls on_segment()/on_timer() and, after application calls
// (send/recv/shutdown_write), flush(); then transmits out.segments (payload bytes come
// from send_buffer() by stream offset), dispatches out.events, and re-arms its timer
// wheel at next_deadline().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "common/counters.h"
#include "common/time.h"
#include "tcp/congestion_control.h"
#include "tcp/ecn.h"
#include "tcp/prr.h"
#include "tcp/rack.h"
#include "tcp/rtt_estimator.h"
#include "tcp/sack_scoreboard.h"
#include "tcp/tcb_counters.h"
#include "tcp/tcp_buffer.h"
#include "tcp/tcp_config.h"
#include "tcp/tcp_events.h"
#include "tcp/tcp_receiver.h"
#include "tcp/tcp_segment.h"
#include "tcp/tcp_state.h"
#include "tcp/tlp.h"
#include "wire/ip_addr.h"
#include "wire/seq_num.h"

namespace shardtcp {

// Options a SYN cookie encoded (what the listener negotiated without keeping state).
struct CookieOptions {
  std::uint16_t mss = 536;
  std::optional<std::uint8_t> window_scale;  // peer's shift, when both offered it
  bool sack = false;
  bool timestamps = false;
};

class Tcb {
 public:
  // `stats` may be null. `ops` and `stats` must outlive the TCB.
  Tcb(const TcpConfig& cfg, BufferOps& ops, CounterGroup* stats = nullptr);
  ~Tcb();
  Tcb(const Tcb&) = delete;
  Tcb& operator=(const Tcb&) = delete;

  // ---- opening ----
  // Active open: sends SYN (MSS from cfg.mtu, window scale, SACK-permitted, timestamps).
  void open_active(const Endpoint& local, const Endpoint& remote, SeqNum iss, Instant now,
                   TcpOutput& out);
  // Puts the TCB in LISTEN; a SYN then moves it to SYN_RECEIVED (a listener normally
  // uses accept_syn on a fresh TCB instead).
  void listen(const Endpoint& local);
  // Passive open from a listener's validated SYN: SYN_RECEIVED + SYN-ACK.
  void accept_syn(const TcpSegment& syn, const Endpoint& local, const Endpoint& remote, SeqNum iss,
                  Instant now, TcpOutput& out);
  // Passive open from an ACK that completed a SYN-cookie handshake: ESTABLISHED at once
  // (the ACK itself, with any data, is processed too). `iss` is the cookie ISN
  // (ack.ack - 1), `irs` the peer's ISN (ack.seq - 1).
  void open_from_cookie(const TcpSegment& ack, const Endpoint& local, const Endpoint& remote,
                        SeqNum iss, SeqNum irs, const CookieOptions& opts, Instant now,
                        TcpOutput& out);

  // ---- input ----
  void on_segment(const TcpSegment& seg, Instant now, TcpOutput& out);
  void on_timer(Instant now, TcpOutput& out);
  // Earliest instant on_timer has work; Instant::never() when none.
  Instant next_deadline() const;
  // ICMP destination unreachable for this connection. `hard` for port or protocol
  // unreachable: in SYN_SENT it refuses the connect (ECONNREFUSED, RFC 1122 §4.2.3.9,
  // as Linux and FreeBSD do). Otherwise a soft error: a connect or retransmission that
  // then times out reports EHOSTUNREACH.
  void on_icmp_unreachable(bool hard, Instant now, TcpOutput& out);
  // ICMP fragmentation needed / packet too big: lower the MSS and resend.
  void on_frag_needed(std::uint32_t mtu, Instant now, TcpOutput& out);

  // ---- receive bursts (the receive side of GRO) ----
  // Between begin_ack_batch() and end_ack_batch() an ACK that may wait is held: the one
  // in-order data calls for (every second full segment), the one that completes our
  // handshake (SYN-ACK received), and the one for the peer's FIN in ESTABLISHED. A burst
  // of this connection's segments then draws one ACK, and the application, which runs
  // before it is sent (send_held_ack), can carry it on its request, its answer or its
  // own FIN instead: a connect-request-close exchange then needs three segments fewer.
  // ACKs that must go at once (out-of-order data, a duplicate, a filled gap, a window
  // update) are never held: a sender counting duplicate ACKs still sees each. The
  // delayed-ACK timer still bounds the wait should send_held_ack() never come.
  void begin_ack_batch() { ack_batching_ = true; }
  // Ends the batch; true when an ACK is still owed (send it with send_held_ack).
  bool end_ack_batch();
  bool ack_held() const { return ack_batched_; }
  void send_held_ack(Instant now, TcpOutput& out);

  // ---- application ----
  // Queues bytes; returns how many were accepted (bounded by the send buffer). Call
  // flush() afterwards to transmit.
  std::uint32_t send(const std::uint8_t* data, std::uint32_t len);
  // Reads in-order bytes; `peek` leaves them queued. Call flush() afterwards so a
  // grown window is advertised.
  std::uint32_t recv(std::uint8_t* buf, std::uint32_t len, bool peek = false);
  // recv() without the copy: `visit(data, n)` sees up to `len` in-order bytes where
  // they arrived (TcpReceiver::read_in_place); they are consumed unless `peek`.
  template <typename Visit>
  std::uint32_t recv_in_place(std::uint32_t len, bool peek, Visit&& visit) {
    const std::uint32_t n = rx_.read_in_place(len, peek, visit);
    if (!peek) app_freed_ += n;
    return n;
  }
  std::uint32_t readable_bytes() const { return rx_.readable(); }
  std::uint32_t writable_bytes() const;
  bool peer_closed() const { return peer_fin_; }  // read returns 0 after the data
  // Transmits what windows allow, and window updates after reads.
  void flush(Instant now, TcpOutput& out);
  // SHUT_WR: FIN after the queued data.
  void shutdown_write(Instant now, TcpOutput& out);
  // close(): RST if unread data or linger-0, else FIN; the TCB then lives on its own
  // (FIN_WAIT_2 timeout applies) until it reports kClosed.
  void close(Instant now, TcpOutput& out);
  // Sends RST (when synchronized) and goes to CLOSED.
  void abort(Instant now, TcpOutput& out);

  // ---- options ----
  void set_nodelay(bool on) {
    cfg_.modify([on](TcpConfig& c) { c.nodelay = on; });
  }
  // TCP_CORK; call flush() after turning it off so held bytes go.
  void set_cork(bool on) {
    cfg_.modify([on](TcpConfig& c) { c.cork = on; });
  }
  // MSG_MORE: the bytes of the send() call just made are followed by more; hold a
  // partial segment as TCP_CORK does until a send() without it.
  void set_more(bool on) { more_ = on; }
  void set_notsent_lowat(std::uint32_t bytes) {
    cfg_.modify([bytes](TcpConfig& c) { c.notsent_lowat = bytes; });
  }
  // Path MTU of the route (and address family), before open: sets the advertised MSS.
  void set_route_mtu(std::uint32_t mtu, bool ipv6) {
    cfg_.modify([&](TcpConfig& c) {
      c.mtu = mtu;
      c.ipv6 = ipv6;
    });
  }
  void set_keepalive(bool on, Duration idle, Duration interval, std::uint32_t count, Instant now);
  // Buffer sizes can grow back only up to the size at construction (storage is
  // reserved then); shrinking works any time.
  void set_send_buffer(std::uint32_t bytes);
  void set_recv_buffer(std::uint32_t bytes);
  void set_linger_zero(bool on) {
    cfg_.modify([on](TcpConfig& c) { c.linger_zero = on; });
  }
  // Only before the connection opens.
  bool set_congestion(CongestionAlgorithm algo);
  void set_user_timeout(Duration d) {
    cfg_.modify([d](TcpConfig& c) { c.user_timeout = d; });
  }
  void set_connect_timeout(Duration d) {
    cfg_.modify([d](TcpConfig& c) { c.connect_timeout = d; });
  }
  void set_min_rto(Duration d);

  // ---- introspection ----
  TcpState state() const { return state_; }
  const Endpoint& local() const { return local_; }
  const Endpoint& remote() const { return remote_; }
  const TcpConfig& config() const { return *cfg_; }
  SeqNum iss() const { return iss_; }
  SeqNum irs() const { return irs_; }
  SeqNum snd_una() const { return snd_una_; }
  SeqNum snd_nxt() const { return snd_nxt_; }
  SeqNum snd_max() const { return snd_max_; }
  SeqNum rcv_nxt() const { return rx_.rcv_nxt(); }
  std::uint32_t snd_wnd() const { return snd_wnd_; }  // scaled, in bytes
  std::uint32_t rcv_wnd() const;                      // currently advertised, bytes
  std::uint32_t mss() const { return mss_; }          // send MSS (peer's, path-limited)
  std::uint32_t advertised_mss() const { return adv_mss_; }
  std::uint32_t notsent_bytes() const { return data_end_len(); }  // queued, never sent
  std::uint64_t retransmitted_segments() const { return retrans_segs_; }
  std::uint32_t consecutive_timeouts() const { return consecutive_rto_; }
  std::uint8_t snd_wscale() const { return snd_wscale_; }
  std::uint8_t rcv_wscale() const { return rcv_wscale_; }
  bool sack_enabled() const { return sack_ok_; }
  bool timestamps_enabled() const { return ts_ok_; }
  bool ecn_enabled() const { return ecn_.enabled(); }
  std::uint32_t cwnd() const { return cc_.cwnd(); }
  std::uint32_t ssthresh() const { return cc_.ssthresh(); }
  bool in_recovery() const { return in_recovery_; }
  const RttEstimator& rtt() const { return rtt_; }
  const SendBuffer& send_buffer() const { return sndbuf_; }
  std::uint32_t bytes_in_flight() const;
  int soft_error() const { return soft_error_; }

  // The RST a closed port answers `seg` with (RFC 9293 §3.10.7.1); nullopt for a RST.
  static std::optional<TcpSegment> make_reset_for(const TcpSegment& seg);

 private:
  enum class Origin : std::uint8_t { kNone, kActive, kPassive };

  // kWritable for a send() that was short, once there is room again.
  void report_writable(TcpOutput& out);

  void set_state(TcpState s);
  void reset_connection_state(const Endpoint& local, const Endpoint& remote, SeqNum iss,
                              Instant now);
  void negotiate_syn_options(const TcpOptions& o, Instant now, std::uint32_t tsval_seen);

  // Header prediction (tcb_fast_path.cc): the next in-order data segment of a stream's
  // receive side, taken in a few dozen instructions. False, having changed nothing,
  // for any segment the general path must judge.
  bool receive_predicted(const TcpSegment& seg, Instant now, TcpOutput& out);
  // Everything else: RFC 9293 §3.10.7 by state.
  void on_segment_general(const TcpSegment& seg, Instant now, TcpOutput& out);

  // RFC 9293 §3.10.7 segment arrival, per state group.
  void on_segment_listen(const TcpSegment& seg, Instant now, TcpOutput& out);
  void on_segment_syn_sent(const TcpSegment& seg, Instant now, TcpOutput& out);
  void on_segment_synchronized(const TcpSegment& seg, Instant now, TcpOutput& out);
  // The ACK checks (handshake completion, RFC 5961 §5.2); false: drop the segment.
  bool accept_ack(const TcpSegment& seg, Instant now, TcpOutput& out);
  bool process_ack(const TcpSegment& seg, Instant now, TcpOutput& out);  // false: drop
  void process_new_ack(const TcpSegment& seg, std::uint32_t acked, Instant now, TcpOutput& out);
  void process_dup_ack(Instant now, TcpOutput& out);
  // SACK loss recovery on each ACK: RACK detection, PRR's allowance, the TLP verdict.
  // `dsack`: the ACK's D-SACK block, if any.
  void sack_recovery_on_ack(const TcpSegment& seg, std::uint32_t delivered,
                            const std::optional<SackBlock>& dsack, Instant now);
  void enter_sack_recovery(Instant now);
  // RACK's loss detection (§6.2 step 5); enters recovery when it finds a loss.
  void rack_detect(Instant now);
  bool rack_tlp_on() const { return sack_ok_ && cfg_->rack_tlp; }
  void update_send_window(const TcpSegment& seg);
  void update_ts_recent(const TcpSegment& seg, Instant now);
  // ECN's part of an acceptable segment (tcp/ecn.h): the echo, and the reduction.
  void ecn_input(const TcpSegment& seg, Instant now);
  // Steps seven and eight (text, FIN) of a segment already trimmed to the window.
  void process_text(const TcpSegment& s, Instant now, TcpOutput& out);
  void process_fin(Instant now, TcpOutput& out);
  // `n` new in-order bytes are readable: the event, and the delayed-ACK rule's decision
  // (both the general path's text step and header prediction).
  // Inline: header prediction pays no call for it.
  void in_order_arrived(std::uint32_t n, Instant now, TcpOutput& out) {
    out.add_event(TcpEventKind::kReadable, n);
    unacked_bytes_ += n;
    // Every second full segment, or once at the end of a receive burst.
    if (unacked_bytes_ >= 2 * rcv_mss_) ack_soon(now);
    if (!ack_now_ && delack_at_ == Instant::never()) delack_at_ = now + cfg_->delayed_ack;
  }
  // An ACK that may wait for the end of the receive burst (and the application's turn
  // after it) when one is open; at once otherwise.
  void ack_soon(Instant now);

  // Output.
  void output(Instant now, TcpOutput& out);
  // The ACK decision alone: an ACK that is due, a window update after a read.
  void ack_output(Instant now, TcpOutput& out);
  bool send_new_data(Instant now, TcpOutput& out, std::uint32_t budget);
  // RFC 6675 NextSeg() with RACK's losses first, within PRR's allowance `budget`.
  bool send_next_seg(Instant now, TcpOutput& out, std::uint32_t budget);
  bool send_ack(Instant now, TcpOutput& out);
  SeqNum acceptable_seq() const;  // seq of a segment without data
  void send_challenge_ack(Instant now, TcpOutput& out);
  void send_syn(Instant now, TcpOutput& out, bool with_ack);
  void send_rst(Instant now, TcpOutput& out);
  // `tso_segsz`: the segment size when `len` spans several (a TSO frame), else 0.
  bool emit(Instant now, TcpOutput& out, SeqNum seq, std::uint32_t len, std::uint8_t flags,
            std::uint32_t tso_segsz = 0);
  bool retransmit_range(Instant now, TcpOutput& out, SeqNum seq, std::uint32_t len);
  std::uint16_t window_field();
  std::uint32_t window_field_for(std::uint32_t wnd) const;  // field value offering `wnd`
  std::uint32_t ts_now(Instant now) const;
  std::uint32_t data_end_len() const;  // bytes of data not yet covered by snd_nxt
  SeqNum data_end() const;             // sequence after the last queued byte
  bool fin_outstanding() const;        // FIN queued and sent, not yet acked
  bool fin_acked() const;
  std::uint32_t effective_mss(bool with_sack) const;
  std::uint32_t pipe() const;

  // Timers.
  void arm_rto(Instant now);
  void on_rto(Instant now, TcpOutput& out);
  void arm_tlp(Instant now);
  void on_tlp(Instant now, TcpOutput& out);
  void on_rack_timer(Instant now, TcpOutput& out);
  void on_persist(Instant now, TcpOutput& out);
  void on_keepalive(Instant now, TcpOutput& out);
  void arm_keepalive(Instant now);
  void enter_time_wait(Instant now, TcpOutput& out);
  void fail(int err, TcpOutput& out);
  void finish(TcpOutput& out);  // -> CLOSED + kClosed

  void count(TcpCounter c, std::uint64_t n = 1) {
    if (stats_) stats_->inc(c, n);
  }

  // Laid out for the receive path: what a segment's processing reads and writes (the
  // state, both sequence spaces, the negotiated options, the receiver's queue heads,
  // the timers it re-arms) sits in the first cache lines; the sender's storage,
  // congestion control and loss recovery follow, endpoints and rarer fields last.
  SharedTcpConfig cfg_;  // the engine's interned copy, copied on write by the setters
  CounterGroup* stats_;
  TcpState state_ = TcpState::kClosed;
  Origin origin_ = Origin::kNone;

  // Send sequence space (RFC 9293 §3.3.1). snd_max_ is the highest ever sent; an RTO
  // pulls snd_nxt_ back to snd_una_ (go-back-N) while snd_max_ stays.
  SeqNum iss_;
  SeqNum snd_una_;
  SeqNum snd_nxt_;
  SeqNum snd_max_;
  SeqNum snd_wl1_;
  SeqNum snd_wl2_;
  std::uint32_t snd_wnd_ = 0;
  std::uint32_t max_snd_wnd_ = 0;
  SeqNum data_base_;                          // sequence of the send buffer's first held byte
  bool fin_queued_ = false;                   // shutdown_write()/close() asked for a FIN
  bool app_closed_ = false;                   // close(): no more reads either
  bool send_blocked_ = false;                 // send() was short: report kWritable when room frees
  bool more_ = false;                         // MSG_MORE on the last send()
  std::uint64_t retrans_segs_ = 0;            // TCP_INFO's total_retrans
  Instant unacked_since_ = Instant::never();  // oldest unacknowledged data's wait began

  // Receive sequence space.
  SeqNum irs_;
  SeqNum rcv_adv_;  // right edge of the window we advertised
  SeqNum last_ack_sent_;
  bool peer_fin_ = false;
  std::optional<SeqNum> ooo_fin_;    // FIN seen above a hole
  std::uint32_t unacked_bytes_ = 0;  // received since our last ACK (delayed-ACK rule)
  bool ack_now_ = false;
  bool ack_batching_ = false;    // inside a receive burst (begin_ack_batch)
  bool ack_batched_ = false;     // an ACK is due at the burst's end
  std::uint32_t app_freed_ = 0;  // bytes read since our last ACK: a window update may be due
  std::uint32_t rcv_mss_ = 536;

  // Negotiated options.
  std::uint32_t mss_ = 536;       // send MSS
  std::uint16_t adv_mss_ = 1460;  // what we announced
  std::uint8_t snd_wscale_ = 0;
  std::uint8_t rcv_wscale_ = 0;
  bool ws_ok_ = false;
  bool sack_ok_ = false;
  bool ts_ok_ = false;
  std::uint32_t ts_recent_ = 0;
  Instant ts_recent_age_;
  std::uint32_t ts_offset_ = 0;
  mutable std::uint32_t ts_last_ = 0;  // the highest TSval handed out (ts_now)
  mutable bool ts_sent_any_ = false;
  EcnState ecn_;

  TcpReceiver rx_;

  // Timers (Instant::never() when disarmed).
  Instant rto_at_ = Instant::never();
  Instant tlp_at_ = Instant::never();   // probe timeout (RFC 8985 §7.2)
  Instant rack_at_ = Instant::never();  // RACK reordering timer (§6.2)
  Instant persist_at_ = Instant::never();
  Instant delack_at_ = Instant::never();
  Instant keepalive_at_ = Instant::never();
  Instant fin_wait2_at_ = Instant::never();
  Instant time_wait_at_ = Instant::never();
  Instant connect_deadline_ = Instant::never();
  std::uint32_t persist_shift_ = 0;
  std::uint32_t keepalive_probes_ = 0;
  std::uint32_t syn_retransmits_ = 0;
  Instant opened_at_;

  SendBuffer sndbuf_;
  CongestionController cc_;  // by value: no allocation, no virtual call
  RttEstimator rtt_;
  SackScoreboard sb_;
  Rack rack_;
  Prr prr_;
  TailLossProbe tlp_;

  Endpoint local_;
  Endpoint remote_;

  // Loss recovery.
  bool in_recovery_ = false;
  SeqNum recover_;
  SeqNum high_rxt_;
  std::uint32_t dupacks_ = 0;
  bool rescue_sent_ = false;  // RFC 6675 NextSeg (4): once per recovery
  std::uint32_t consecutive_rto_ = 0;
  std::optional<SeqNum> rtt_seq_;  // Karn: the timed segment (no timestamps)
  Instant rtt_start_;
  Instant last_send_;

  int soft_error_ = 0;

  // RFC 5961 §7 challenge-ACK limiter.
  Instant challenge_window_start_;
  std::uint32_t challenge_count_ = 0;
};

}  // namespace shardtcp
