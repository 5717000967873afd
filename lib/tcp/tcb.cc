#include "tcp/tcb.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <span>

namespace shardtcp {

using namespace tcp_flags;

namespace {

constexpr std::uint32_t kTsOptionLen = 12;  // NOP NOP TS(10)
// An echoed timestamp implying an RTT beyond this is forged or stale: no sample.
constexpr std::int32_t kMaxTsRttMs = 600'000;
constexpr Duration kPawsIdle = std::chrono::hours(24 * 24);  // RFC 7323 §5.5

std::uint32_t sack_option_len(std::uint8_t blocks) {
  return blocks ? 4u + 8u * blocks : 0u;
}

// Drops what `s` holds below `left` (received already), its SYN included; returns the
// payload bytes dropped.
std::uint32_t trim_below(TcpSegment& s, SeqNum left) {
  if (!(s.seq < left)) return 0;
  std::uint32_t cut = static_cast<std::uint32_t>(left - s.seq);
  if (s.has(kSyn)) {
    s.flags &= static_cast<std::uint8_t>(~kSyn);
    s.seq += 1;
    --cut;
  }
  const std::uint32_t c = std::min(cut, s.payload.len);
  s.payload.advance(c);
  s.seq += c;
  return c;
}

// Drops what lies beyond the receive window's right edge; a FIN there goes with it.
void trim_above(TcpSegment& s, SeqNum right) {
  if (s.seq + s.payload.len <= right) return;
  s.payload.len = right > s.seq ? static_cast<std::uint32_t>(right - s.seq) : 0;
  s.flags &= static_cast<std::uint8_t>(~(kFin | kPsh));
}

}  // namespace

Tcb::Tcb(const TcpConfig& cfg, BufferOps& ops, CounterGroup* stats)
    : cfg_(ops.configs(), cfg),
      stats_(stats),
      rx_(ops, cfg.recv_buffer,
          cfg.recv_max_segments ? cfg.recv_max_segments
                                : std::clamp<std::uint32_t>(cfg.recv_buffer / 512, 64, 4096),
          cfg.ooo_max_segments ? cfg.ooo_max_segments
                               : std::clamp<std::uint32_t>(cfg.recv_buffer / 1024, 32, 2048)),
      sndbuf_(ops, cfg.send_buffer, ops.chunk_size()),
      cc_(cfg.congestion, 536),
      rtt_(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
      sb_(ops.blocks()),
      // One transmit-time record per segment in flight; as many as the send buffer
      // holds in 1 KiB segments (full-sized segments never run out).
      rack_(ops.blocks(), std::clamp<std::uint32_t>(cfg.send_buffer / 1024, 32, 2048)) {}

Tcb::~Tcb() = default;

// ---------------------------------------------------------------------------------
// State

void Tcb::set_state(TcpState s) {
  if (s == state_) return;
#ifdef SHARDTCP_TRACE_TCP
  std::fprintf(stderr, "tcb %u->%u: %s -> %s\n", local_.port, remote_.port, to_string(state_),
               to_string(s));
#endif
  count(TcpCounter::kStateChanges);
  state_ = s;
}

void Tcb::reset_connection_state(const Endpoint& local, const Endpoint& remote, SeqNum iss,
                                 Instant now) {
  local_ = local;
  remote_ = remote;
  iss_ = iss;
  snd_una_ = snd_nxt_ = snd_max_ = iss;
  snd_wl1_ = snd_wl2_ = SeqNum();
  data_base_ = iss + 1;
  recover_ = high_rxt_ = iss;
  rack_.reset(iss);
  tlp_.cancel();
  rescue_sent_ = false;
  std::uint32_t hdr = cfg_->ipv6 ? 60 : 40;
  std::uint32_t mss = cfg_->mtu > hdr + 64 ? cfg_->mtu - hdr : 64;
  if (cfg_->user_mss != 0) mss = std::min<std::uint32_t>(mss, cfg_->user_mss);
  adv_mss_ = static_cast<std::uint16_t>(std::min<std::uint32_t>(mss, 65495));
  rcv_wscale_ = 0;
  if (cfg_->window_scaling) {
    while (rcv_wscale_ < 14 && (cfg_->recv_buffer >> rcv_wscale_) > 65535) ++rcv_wscale_;
  }
  // A per-connection offset keeps our timestamp clock from leaking uptime (RFC 7323 §7.1).
  ts_offset_ = iss.raw() * 2654435761u;
  opened_at_ = now;
  syn_retransmits_ = 0;
  consecutive_rto_ = 0;
  unacked_since_ = Instant::never();
  soft_error_ = 0;
  challenge_window_start_ = now;
  challenge_count_ = 0;
  ecn_ = EcnState{};
  rx_.reset(SeqNum());
}

void Tcb::negotiate_syn_options(const TcpOptions& o, Instant now, std::uint32_t) {
  std::uint32_t peer_mss = o.mss ? *o.mss : (cfg_->ipv6 ? 1220u : 536u);
  mss_ = std::max<std::uint32_t>(std::min<std::uint32_t>(peer_mss, adv_mss_), 64);
  ws_ok_ = cfg_->window_scaling && o.window_scale.has_value();
  if (ws_ok_) {
    snd_wscale_ = std::min<std::uint8_t>(*o.window_scale, 14);
  } else {
    snd_wscale_ = 0;
    rcv_wscale_ = 0;
  }
  sack_ok_ = cfg_->sack && o.sack_permitted;
  ts_ok_ = cfg_->timestamps && o.timestamps.has_value();
  if (ts_ok_) {
    ts_recent_ = o.timestamps->value;
    ts_recent_age_ = now;
  }
  rcv_mss_ = adv_mss_ - (ts_ok_ ? kTsOptionLen : 0);
  // The window depends on the negotiated MSS: make the controller for it now (connection
  // setup, not the packet path).
  cc_.reset(cfg_->congestion, effective_mss(false));
}

// ---------------------------------------------------------------------------------
// Opening

void Tcb::open_active(const Endpoint& local, const Endpoint& remote, SeqNum iss, Instant now,
                      TcpOutput& out) {
  reset_connection_state(local, remote, iss, now);
  origin_ = Origin::kActive;
  set_state(TcpState::kSynSent);
  count(TcpCounter::kActiveOpens);
  connect_deadline_ =
      cfg_->connect_timeout.count() > 0 ? now + cfg_->connect_timeout : Instant::never();
  send_syn(now, out, false);
  arm_rto(now);
}

void Tcb::listen(const Endpoint& local) {
  local_ = local;
  origin_ = Origin::kPassive;
  set_state(TcpState::kListen);
}

void Tcb::accept_syn(const TcpSegment& syn, const Endpoint& local, const Endpoint& remote,
                     SeqNum iss, Instant now, TcpOutput& out) {
  reset_connection_state(local, remote, iss, now);
  origin_ = Origin::kPassive;
  irs_ = syn.seq;
  rx_.reset(irs_ + 1);
  negotiate_syn_options(syn.options, now, 0);
  if (ecn_.on_syn(cfg_->ecn, syn)) count(TcpCounter::kEcnNegotiated);
  snd_wnd_ = syn.window;  // never scaled in a SYN (RFC 7323 §2.2)
  max_snd_wnd_ = snd_wnd_;
  snd_wl1_ = syn.seq;
  set_state(TcpState::kSynReceived);
  count(TcpCounter::kPassiveOpens);
  send_syn(now, out, true);
  arm_rto(now);
}

void Tcb::open_from_cookie(const TcpSegment& ack, const Endpoint& local, const Endpoint& remote,
                           SeqNum iss, SeqNum irs, const CookieOptions& opts, Instant now,
                           TcpOutput& out) {
  reset_connection_state(local, remote, iss, now);
  origin_ = Origin::kPassive;
  irs_ = irs;
  rx_.reset(irs + 1);
  TcpOptions o;
  o.mss = opts.mss;
  o.window_scale = opts.window_scale;
  o.sack_permitted = opts.sack;
  if (opts.timestamps && ack.options.timestamps) o.timestamps = ack.options.timestamps;
  negotiate_syn_options(o, now, 0);
  // No ECN: the cookie SYN-ACK did not offer it (the cookie has no bit to remember
  // that the SYN asked), so the connection stays Not-ECT, which RFC 3168 allows.
  snd_nxt_ = snd_max_ = iss + 1;
  rcv_adv_ = rx_.rcv_nxt() + std::min<std::uint32_t>(rx_.free_space(), 65535);
  last_ack_sent_ = rx_.rcv_nxt();
  snd_wl1_ = irs;
  set_state(TcpState::kSynReceived);
  count(TcpCounter::kPassiveOpens);
  // The ACK completes the handshake exactly as it would from SYN_RECEIVED.
  on_segment(ack, now, out);
}

// ---------------------------------------------------------------------------------
// Application

std::uint32_t Tcb::writable_bytes() const {
  if (fin_queued_) return 0;
  switch (state_) {
    case TcpState::kSynSent:
    case TcpState::kSynReceived:
    case TcpState::kEstablished:
    case TcpState::kCloseWait:
      // TCP_NOTSENT_LOWAT: no more while enough waits unsent.
      return data_end_len() < cfg_->notsent_lowat ? sndbuf_.free_space() : 0;
    default:
      return 0;
  }
}

std::uint32_t Tcb::send(const std::uint8_t* data, std::uint32_t len) {
  if (writable_bytes() == 0) {
    if (len > 0) send_blocked_ = true;
    return 0;
  }
  std::uint32_t n = sndbuf_.append(data, len);
  if (n < len) send_blocked_ = true;
  return n;
}

std::uint32_t Tcb::recv(std::uint8_t* buf, std::uint32_t len, bool peek) {
  const std::uint32_t n = rx_.read(buf, len, peek);
  if (!peek) app_freed_ += n;
  return n;
}

void Tcb::flush(Instant now, TcpOutput& out) {
  output(now, out);
}

void Tcb::shutdown_write(Instant now, TcpOutput& out) {
  if (fin_queued_) return;
  switch (state_) {
    case TcpState::kClosed:
    case TcpState::kListen:
    case TcpState::kSynSent:
      finish(out);
      return;
    case TcpState::kSynReceived:
      fin_queued_ = true;  // FIN_WAIT_1 once the handshake completes
      return;
    case TcpState::kEstablished:
      fin_queued_ = true;
      set_state(TcpState::kFinWait1);
      break;
    case TcpState::kCloseWait:
      fin_queued_ = true;
      set_state(TcpState::kLastAck);
      break;
    default:
      return;
  }
  output(now, out);
}

void Tcb::close(Instant now, TcpOutput& out) {
  if (state_ == TcpState::kClosed) return;
  if (state_ == TcpState::kListen || state_ == TcpState::kSynSent) {
    finish(out);
    return;
  }
  app_closed_ = true;
  // Linger-0, or unread data that would be silently lost (RFC 2525 §2.17): reset.
  if (cfg_->linger_zero || rx_.readable() > 0) {
    abort(now, out);
    return;
  }
  shutdown_write(now, out);
  if (state_ == TcpState::kFinWait2 && fin_wait2_at_ == Instant::never())
    fin_wait2_at_ = now + cfg_->fin_wait2_timeout;
}

void Tcb::abort(Instant now, TcpOutput& out) {
  if (state_ == TcpState::kClosed) return;
  if (state_ != TcpState::kSynSent && state_ != TcpState::kListen && state_ != TcpState::kTimeWait)
    send_rst(now, out);
  finish(out);
}

void Tcb::set_keepalive(bool on, Duration idle, Duration interval, std::uint32_t n, Instant now) {
  cfg_.modify([&](TcpConfig& c) {
    c.keepalive = on;
    c.keepalive_idle = idle;
    c.keepalive_interval = interval;
    c.keepalive_count = n;
  });
  if (on)
    arm_keepalive(now);
  else
    keepalive_at_ = Instant::never();
}

void Tcb::set_send_buffer(std::uint32_t bytes) {
  cfg_.modify([bytes](TcpConfig& c) { c.send_buffer = bytes; });
  sndbuf_.set_capacity(bytes);
}

void Tcb::set_recv_buffer(std::uint32_t bytes) {
  cfg_.modify([bytes](TcpConfig& c) { c.recv_buffer = bytes; });
  rx_.set_capacity(bytes);
}

bool Tcb::set_congestion(CongestionAlgorithm algo) {
  if (state_ != TcpState::kClosed && state_ != TcpState::kListen) return false;
  cfg_.modify([algo](TcpConfig& c) { c.congestion = algo; });
  cc_.reset(algo, 536);
  return true;
}

void Tcb::set_min_rto(Duration d) {
  cfg_.modify([d](TcpConfig& c) { c.min_rto = d; });
  rtt_.set_min_rto(d);
}

std::uint32_t Tcb::rcv_wnd() const {
  std::int32_t w = rcv_adv_ - rx_.rcv_nxt();
  return w > 0 ? static_cast<std::uint32_t>(w) : 0;
}

std::uint32_t Tcb::bytes_in_flight() const {
  return static_cast<std::uint32_t>(snd_max_ - snd_una_);
}

// ---------------------------------------------------------------------------------
// ICMP

void Tcb::on_icmp_unreachable(bool hard, Instant, TcpOutput& out) {
  if (state_ == TcpState::kClosed) return;
  // Nobody listens (or no TCP runs) at the address we are connecting to: waiting for
  // the connect timeout would gain nothing (RFC 1122 §4.2.3.9 makes port and protocol
  // unreachable hard errors). Once synchronized the error stays soft (RFC 5461 §4): a
  // connection can outlive a transient one.
  if (hard && state_ == TcpState::kSynSent) {
    count(TcpCounter::kAttemptFails);
    fail(ECONNREFUSED, out);
    return;
  }
  // Soft: remembered, reported if we time out.
  soft_error_ = EHOSTUNREACH;
}

void Tcb::on_frag_needed(std::uint32_t mtu, Instant now, TcpOutput& out) {
  if (!is_synchronized(state_) && state_ != TcpState::kSynReceived) return;
  std::uint32_t hdr = cfg_->ipv6 ? 60 : 40;
  if (mtu <= hdr) return;
  std::uint32_t mss = std::max<std::uint32_t>(mtu - hdr, 88);
  if (mss >= mss_) return;
  mss_ = mss;
  cc_.set_mss(effective_mss(false));
  // Everything in flight was too big for the path: resend it at the new size.
  if (snd_max_ > snd_una_) {
    snd_nxt_ = snd_una_;
    rtt_seq_.reset();
    output(now, out);
  }
}

// ---------------------------------------------------------------------------------
// Segment arrival (RFC 9293 §3.10.7)

std::optional<TcpSegment> Tcb::make_reset_for(const TcpSegment& seg) {
  if (seg.has(kRst)) return std::nullopt;
  TcpSegment r;
  r.src_port = seg.dst_port;
  r.dst_port = seg.src_port;
  if (seg.has(kAck)) {
    r.seq = seg.ack;
    r.flags = kRst;
  } else {
    r.seq = SeqNum(0);
    r.ack = seg.seq + seg.seq_len();
    r.flags = kRst | kAck;
  }
  return r;
}

void Tcb::on_segment(const TcpSegment& seg, Instant now, TcpOutput& out) {
  count(TcpCounter::kInSegs);
  if (state_ == TcpState::kEstablished && cfg_->header_prediction &&
      receive_predicted(seg, now, out))
    return;
  on_segment_general(seg, now, out);
}

// Out of line: inlined, its frame (the RST it may build on the stack, the registers
// the state handlers keep) would be set up for every predicted segment too.
[[gnu::noinline]] void Tcb::on_segment_general(const TcpSegment& seg, Instant now, TcpOutput& out) {
  switch (state_) {
    case TcpState::kClosed:
      if (auto r = make_reset_for(seg)) {
        if (out.add_segment(OutSegment{*r, 0, 0})) count(TcpCounter::kResetsSent);
      }
      return;
    case TcpState::kListen:
      on_segment_listen(seg, now, out);
      return;
    case TcpState::kSynSent:
      on_segment_syn_sent(seg, now, out);
      return;
    default:
      on_segment_synchronized(seg, now, out);
      return;
  }
}

void Tcb::on_segment_listen(const TcpSegment& seg, Instant, TcpOutput& out) {
  // First check for RST (ignored), second for ACK (reset it). A SYN needs the peer's
  // address, which the listener has: it calls accept_syn() on a fresh TCB.
  if (seg.has(kRst)) return;
  if (seg.has(kAck)) {
    if (auto r = make_reset_for(seg)) {
      if (out.add_segment(OutSegment{*r, 0, 0})) count(TcpCounter::kResetsSent);
    }
  }
}

void Tcb::on_segment_syn_sent(const TcpSegment& seg, Instant now, TcpOutput& out) {
  bool ack_ok = false;
  // First check the ACK bit.
  if (seg.has(kAck)) {
    if (seg.ack <= iss_ || seg.ack > snd_max_) {
      count(TcpCounter::kDropBadSynSent);
      if (!seg.has(kRst)) {
        if (auto r = make_reset_for(seg)) {
          if (out.add_segment(OutSegment{*r, 0, 0})) count(TcpCounter::kResetsSent);
        }
      }
      return;
    }
    ack_ok = true;
  }
  // Second, the RST bit.
  if (seg.has(kRst)) {
    if (ack_ok) {
      count(TcpCounter::kResetsReceived);
      count(TcpCounter::kAttemptFails);
      fail(ECONNREFUSED, out);
    } else {
      count(TcpCounter::kDropBadSynSent);
    }
    return;
  }
  // Third (security) does not apply. Fourth, the SYN bit.
  if (!seg.has(kSyn)) {
    count(TcpCounter::kDropBadSynSent);
    return;
  }
  irs_ = seg.seq;
  rx_.reset(irs_ + 1);
  negotiate_syn_options(seg.options, now, 0);
  // Text on the SYN is taken within the window our SYN offered (unscaled, as in a SYN).
  rcv_adv_ = rx_.rcv_nxt() + std::min<std::uint32_t>(rx_.free_space(), 65535);
  TcpSegment text = seg;
  trim_below(text, rx_.rcv_nxt());
  trim_above(text, rcv_adv_);
  if (ack_ok) {
    snd_una_ = seg.ack;
    data_base_ = iss_ + 1;
    const bool asked = ecn_.syn_flags(cfg_->ecn, false, syn_retransmits_ == 0) != 0;
    if (ecn_.on_synack(asked, seg)) count(TcpCounter::kEcnNegotiated);
  }
  if (snd_una_ > iss_) {
    set_state(TcpState::kEstablished);
    snd_wnd_ = seg.window;  // unscaled in a SYN
    max_snd_wnd_ = snd_wnd_;
    snd_wl1_ = seg.seq;
    snd_wl2_ = seg.ack;
    if (ts_ok_ && seg.options.timestamps && seg.options.timestamps->echo != 0) {
      std::int32_t ms = static_cast<std::int32_t>(ts_now(now) - seg.options.timestamps->echo);
      if (ms >= 0 && ms < kMaxTsRttMs) rtt_.sample(std::chrono::milliseconds(ms));
    } else if (syn_retransmits_ == 0) {
      rtt_.sample(now - opened_at_);  // Karn: only an unretransmitted SYN is timed
    }
    rtt_.reset_backoff();
    rto_at_ = Instant::never();
    connect_deadline_ = Instant::never();
    out.add_event(TcpEventKind::kConnected);
    arm_keepalive(now);
    ack_soon(now);  // the application's first segment may carry it
    if (fin_queued_) set_state(TcpState::kFinWait1);
    // Data or a FIN on the SYN-ACK is processed as on any segment (RFC 9293 §3.10.7.3:
    // "continue processing at the sixth step"), and acknowledged by the ACK below.
    process_text(text, now, out);
    if (state_ == TcpState::kClosed) return;
    output(now, out);
  } else {
    // Simultaneous open (RFC 9293 §3.5 figure 7): answer with SYN-ACK. Data on the SYN
    // is queued now, so the SYN-ACK acknowledges it, and becomes readable once the
    // connection is established (§3.10.7.3).
    set_state(TcpState::kSynReceived);
    snd_wnd_ = seg.window;
    max_snd_wnd_ = snd_wnd_;
    snd_wl1_ = seg.seq;
    rx_.insert(text.seq, text.payload);
    send_syn(now, out, true);
    arm_rto(now);
  }
}

void Tcb::on_segment_synchronized(const TcpSegment& in, Instant now, TcpOutput& out) {
  if (state_ == TcpState::kSynReceived && in.has(kSyn) && !in.has(kRst) && in.seq == irs_) {
    if (!in.has(kAck)) {
      // A retransmitted SYN while the handshake is pending: our SYN-ACK was lost.
      send_syn(now, out, true);
      return;
    }
    // Simultaneous open: the peer's SYN-ACK repeats its SYN; its ACK completes ours.
    // Data its SYN carried is held already (our SYN-ACK acknowledged it): a repeat of
    // that is old, and without one the segment is still the ACK that completes ours.
    TcpSegment stripped = in;
    trim_below(stripped, rx_.rcv_nxt());
    if (stripped.seq < rx_.rcv_nxt()) stripped.seq = rx_.rcv_nxt();
    on_segment_synchronized(stripped, now, out);
    return;
  }
  const TcpSegment& seg = in;

  // RFC 7323 §5.3 PAWS, ahead of the sequence check.
  if (ts_ok_ && seg.options.timestamps && !seg.has(kRst)) {
    std::int32_t d = static_cast<std::int32_t>(seg.options.timestamps->value - ts_recent_);
    if (d < 0 && now - ts_recent_age_ < kPawsIdle) {
      count(TcpCounter::kPawsRejected);
      send_ack(now, out);
      return;
    }
  }

  // First: check the sequence number.
  const SeqNum rcv_nxt = rx_.rcv_nxt();
  const std::uint32_t wnd = rcv_wnd();
  const std::uint32_t len = seg.seq_len();
  bool acceptable;
  bool zero_window_data = false;
  if (len == 0) {
    acceptable = wnd == 0 ? seg.seq == rcv_nxt : seg.seq.in_window(rcv_nxt, wnd);
  } else if (wnd == 0) {
    // RFC 9293: with a zero window still process valid ACKs, URGs and RSTs.
    acceptable = zero_window_data = seg.seq == rcv_nxt;
  } else {
    acceptable = seg.seq.in_window(rcv_nxt, wnd) || (seg.seq + (len - 1)).in_window(rcv_nxt, wnd);
  }
  if (!acceptable) {
    count(TcpCounter::kDropOutOfWindow);
    if (seg.has(kRst)) return;
    if (sack_ok_ && seg.payload.len > 0 && seg.seq + seg.payload.len <= rcv_nxt) {
      SeqNum left = seg.seq + (seg.has(kSyn) ? 1u : 0u);
      rx_.note_duplicate(left, left + seg.payload.len);
    }
    if (state_ == TcpState::kTimeWait && seg.has(kFin)) time_wait_at_ = now + 2 * cfg_->msl;
    send_ack(now, out);
    return;
  }

  // Trim to the window: drop what we already have and what lies beyond the right edge.
  TcpSegment s = seg;
  const SeqNum dup_left = s.seq + (s.has(kSyn) ? 1u : 0u);
  if (const std::uint32_t c = trim_below(s, rcv_nxt); c > 0 && sack_ok_)
    rx_.note_duplicate(dup_left, dup_left + c);
  if (zero_window_data) {
    s.payload.len = 0;
    s.flags &= static_cast<std::uint8_t>(~(kFin | kPsh));
  } else {
    trim_above(s, rcv_nxt + wnd);
  }

  // Second: the RST bit (RFC 5961 §3: only an exact match resets).
  if (s.has(kRst)) {
    if (seg.seq == rcv_nxt) {
      count(TcpCounter::kResetsReceived);
      switch (state_) {
        case TcpState::kSynReceived:
          count(TcpCounter::kAttemptFails);
          if (origin_ == Origin::kActive)
            fail(ECONNREFUSED, out);
          else
            finish(out);  // a passive open just disappears (it was never accepted)
          return;
        case TcpState::kEstablished:
        case TcpState::kFinWait1:
        case TcpState::kFinWait2:
        case TcpState::kCloseWait:
          count(TcpCounter::kEstabResets);
          fail(ECONNRESET, out);
          return;
        default:
          finish(out);
          return;
      }
    }
    send_challenge_ack(now, out);
    return;
  }

  // The segment is acceptable: it counts as activity. (TS.Recent waits for the ACK
  // check: a segment dropped there must not change it.)
  arm_keepalive(now);

  // Third: security/compartment — not applicable.
  // Fourth: the SYN bit (RFC 5961 §4: challenge ACK, never reset on a SYN).
  if (s.has(kSyn)) {
    send_challenge_ack(now, out);
    return;
  }

  // Fifth: the ACK field. TS.Recent changes only once the ACK is believed too: a
  // segment acknowledging data never sent is answered and dropped (RFC 9293
  // §3.10.7.4), and a TSval it carried would make the next valid segment fail PAWS.
  if (!accept_ack(s, now, out)) return;
  update_ts_recent(seg, now);
  if (!process_ack(s, now, out)) return;
  if (state_ == TcpState::kClosed) return;
  ecn_input(seg, now);

  // Sixth: URG — urgent data is not supported; the pointer is ignored (RFC 6093).
  process_text(s, now, out);
  if (state_ == TcpState::kClosed) return;
  // A duplicate is reported at once, its D-SACK block first (RFC 2883 §4; RFC 5681
  // §4.2 asks the same for out-of-order data): the sender may be deciding whether it
  // retransmitted needlessly.
  if (sack_ok_ && rx_.has_dsack()) ack_now_ = true;
  output(now, out);
}

void Tcb::process_text(const TcpSegment& s, Instant now, TcpOutput& out) {
  // Seventh: segment text.
  if (s.payload.len > 0) {
    if (!accepts_data(state_)) {
      // After the peer's FIN nothing new can arrive; a peer doing so is broken.
      count(TcpCounter::kDropOutOfWindow);
    } else if (app_closed_) {
      // Nobody will read it: tell the peer its data is lost (as Linux does).
      count(TcpCounter::kDropAfterClose);
      abort(now, out);
      return;
    } else {
      TcpReceiver::InsertResult r = rx_.insert(s.seq, s.payload);
      if (r.dropped) {
        count(r.out_of_order ? TcpCounter::kOfoDrop : TcpCounter::kDropRecvQueueFull);
        ack_now_ = true;
      }
      if (r.out_of_order && !r.dropped && !r.duplicate) {
        count(TcpCounter::kOfoQueued);
        ack_now_ = true;  // RFC 5681 §4.2: immediate ACK for out-of-order data
      }
      if (r.duplicate) ack_now_ = true;
      if (r.advanced > 0) {
        if (r.filled_gap) ack_now_ = true;  // ... and for data that fills a gap
        in_order_arrived(r.advanced, now, out);
      }
    }
  }

  // Eighth: the FIN bit.
  if (s.has(kFin)) {
    SeqNum fin_seq = s.seq + s.payload.len;
    if (state_ == TcpState::kTimeWait) {
      time_wait_at_ = now + 2 * cfg_->msl;
      ack_now_ = true;
    } else if (fin_seq == rx_.rcv_nxt()) {
      process_fin(now, out);
    } else if (fin_seq > rx_.rcv_nxt()) {
      ooo_fin_ = fin_seq;  // processed when the hole before it fills
    }
  }
  if (ooo_fin_ && *ooo_fin_ == rx_.rcv_nxt() && !peer_fin_) process_fin(now, out);
}

bool Tcb::accept_ack(const TcpSegment& seg, Instant now, TcpOutput& out) {
  if (!seg.has(kAck)) {
    count(TcpCounter::kDropNoAck);
    return false;
  }
  if (state_ == TcpState::kSynReceived) {
    if (!(snd_una_ < seg.ack && seg.ack <= snd_max_)) {
      if (auto r = make_reset_for(seg)) {
        if (out.add_segment(OutSegment{*r, 0, 0})) count(TcpCounter::kResetsSent);
      }
      return false;
    }
    set_state(TcpState::kEstablished);
    rto_at_ = Instant::never();
    rtt_.reset_backoff();
    if (ts_ok_ && seg.options.timestamps && seg.options.timestamps->echo != 0) {
      std::int32_t ms = static_cast<std::int32_t>(ts_now(now) - seg.options.timestamps->echo);
      if (ms >= 0 && ms < kMaxTsRttMs) rtt_.sample(std::chrono::milliseconds(ms));
    } else if (syn_retransmits_ == 0) {
      rtt_.sample(now - opened_at_);
    }
    snd_una_ = iss_ + 1;
    snd_wnd_ = static_cast<std::uint32_t>(seg.window) << snd_wscale_;
    max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
    snd_wl1_ = seg.seq;
    snd_wl2_ = seg.ack;
    out.add_event(origin_ == Origin::kActive ? TcpEventKind::kConnected : TcpEventKind::kAccepted);
    // Data a simultaneous-open SYN carried was queued in SYN_RECEIVED.
    if (rx_.readable() > 0) out.add_event(TcpEventKind::kReadable, rx_.readable());
    arm_keepalive(now);
    if (fin_queued_) set_state(TcpState::kFinWait1);
  }

  // RFC 5961 §5.2: an ACK for data never sent, or older than the largest window the
  // peer could have seen, is not believed.
  if (seg.ack > snd_max_) {
    count(TcpCounter::kDropAckTooNew);
    send_challenge_ack(now, out);  // rate-limited: such ACKs may be forged (RFC 5961 §5.2)
    return false;
  }
  std::uint32_t max_wnd = std::max<std::uint32_t>(max_snd_wnd_, 1);
  if (seg.ack < snd_una_ - max_wnd) {
    count(TcpCounter::kDropAckTooOld);
    send_challenge_ack(now, out);
    return false;
  }

  return true;
}

bool Tcb::process_ack(const TcpSegment& seg, Instant now, TcpOutput& out) {
  // The receive side of a stream: nothing of ours outstanding, an ACK at SND.UNA
  // without SACK blocks. No scoreboard, RACK, TLP or recovery state can change; only
  // the window may.
  if (seg.ack == snd_una_ && snd_max_ == snd_una_ && seg.options.sack_count == 0 && !in_recovery_ &&
      state_ == TcpState::kEstablished) {
    update_send_window(seg);
    return true;
  }
  std::uint32_t newly_sacked = 0;
  std::optional<SackBlock> dsack;
  const SeqNum una_before = snd_una_;
  const std::uint32_t sacked_before = sb_.sacked_bytes();
  if (sack_ok_ && seg.ack >= snd_una_) {
    SackScoreboard::AckResult r =
        sb_.on_ack(seg.ack, snd_max_,
                   std::span<const SackBlock>(seg.options.sack.data(), seg.options.sack_count));
    if (r.dsack) count(TcpCounter::kDsackRecv);
    newly_sacked = r.newly_sacked;
    if (r.dsack) dsack = seg.options.sack[0];
  }

  std::uint32_t new_wnd = static_cast<std::uint32_t>(seg.window) << snd_wscale_;
  if (seg.ack > snd_una_) {
    process_new_ack(seg, static_cast<std::uint32_t>(seg.ack - snd_una_), now, out);
  } else if (seg.ack == snd_una_ && snd_max_ > snd_una_) {
    // With SACK a duplicate ACK is one that SACKs new data (RFC 6675 §2), whatever
    // its window or payload; without, the RFC 5681 §2 definition applies.
    bool dup =
        sack_ok_ ? newly_sacked > 0 : seg.payload.len == 0 && !seg.has(kFin) && new_wnd == snd_wnd_;
    if (dup) process_dup_ack(now, out);
  }
  update_send_window(seg);
  if (sack_ok_ && seg.ack >= una_before) {
    // RFC 6937 DeliveredData: the advance of SND.UNA plus the change in SACKed bytes.
    const std::int64_t delivered = std::int64_t{snd_una_ - una_before} +
                                   std::int64_t{sb_.sacked_bytes()} - std::int64_t{sacked_before};
    sack_recovery_on_ack(seg, static_cast<std::uint32_t>(std::max<std::int64_t>(delivered, 0)),
                         dsack, now);
  }

  switch (state_) {
    case TcpState::kFinWait1:
      if (fin_acked()) {
        set_state(TcpState::kFinWait2);
        rto_at_ = Instant::never();
        if (app_closed_) fin_wait2_at_ = now + cfg_->fin_wait2_timeout;
      }
      break;
    case TcpState::kClosing:
      if (fin_acked()) enter_time_wait(now, out);
      break;
    case TcpState::kLastAck:
      if (fin_acked()) {
        finish(out);
        return false;
      }
      break;
    default:
      break;
  }
  return true;
}

void Tcb::update_ts_recent(const TcpSegment& seg, Instant now) {
  // RFC 7323 §4.3: from an acceptable segment that covers the left edge of the window
  // (SEG.SEQ <= Last.ACK.sent), so out-of-order data cannot move it ahead.
  if (!ts_ok_ || !seg.options.timestamps || seg.seq > last_ack_sent_) return;
  const std::int32_t d = static_cast<std::int32_t>(seg.options.timestamps->value - ts_recent_);
  if (d >= 0 || now - ts_recent_age_ >= kPawsIdle) {
    ts_recent_ = seg.options.timestamps->value;
    ts_recent_age_ = now;
  }
}

void Tcb::process_new_ack(const TcpSegment& seg, std::uint32_t, Instant now, TcpOutput& out) {
  const SeqNum ack = seg.ack;
  const std::uint32_t flight_before = bytes_in_flight();
  std::uint32_t data_acked = 0;
  SeqNum data_end_seq = data_end();
  if (ack > data_base_) {
    SeqNum upto = ack < data_end_seq ? ack : data_end_seq;
    data_acked = static_cast<std::uint32_t>(upto - data_base_);
    sndbuf_.consume(data_acked);
    data_base_ = upto;
  }
  snd_una_ = ack;
  if (snd_nxt_ < snd_una_) snd_nxt_ = snd_una_;
  if (high_rxt_ < snd_una_) high_rxt_ = snd_una_;

  Duration rtt{0};
  if (ts_ok_ && seg.options.timestamps && seg.options.timestamps->echo != 0) {
    std::int32_t ms = static_cast<std::int32_t>(ts_now(now) - seg.options.timestamps->echo);
    if (ms >= 0 && ms < kMaxTsRttMs) {
      rtt = std::chrono::milliseconds(ms);
      rtt_.sample(rtt);
    }
  } else if (rtt_seq_ && ack > *rtt_seq_) {
    rtt = now - rtt_start_;
    rtt_.sample(rtt);
    rtt_seq_.reset();
  }
  rtt_.reset_backoff();
  consecutive_rto_ = 0;
  // Progress: what is still unacknowledged has waited from now.
  unacked_since_ = snd_una_ < snd_max_ ? now : Instant::never();

  if (in_recovery_) {
    if (ack >= recover_) {
      in_recovery_ = false;
      dupacks_ = 0;
      cc_.on_exit_recovery(now);
      rack_.on_recovery_end();
    } else if (!sack_ok_) {
      // RFC 6582 partial ACK: the next hole is lost too; resend it at once.
      dupacks_ = 0;
      retransmit_range(now, out, snd_una_, effective_mss(false));
    } else if (!rack_tlp_on()) {
      // A partial ACK with SACK: the segment now at SND.UNA was sent before the
      // retransmission just acknowledged, so it is lost too (the RFC 6582 inference);
      // without this, a hole with little SACKed above it would wait for the RTO.
      // RACK draws the same conclusion from transmit times, and knows when the ACK
      // may have been for a late original instead.
      rack_.mark_lost(snd_una_);
    }
  } else {
    dupacks_ = 0;
    cc_.on_ack(data_acked, flight_before, rtt, now);
    // RFC 6675: SACK information alone can show a loss (IsLost(SND.UNA)). With
    // RACK-TLP, RACK judges (after this, in sack_recovery_on_ack).
    if (sack_ok_ && !rack_tlp_on() && sb_.sacked_bytes() > 0 && snd_max_ > snd_una_ &&
        sb_.is_lost(snd_una_, effective_mss(false))) {
      enter_sack_recovery(now);
    }
  }

  if (snd_una_ == snd_max_) {
    rto_at_ = Instant::never();
  } else {
    rto_at_ = now + rtt_.rto();  // RFC 6298 §5.3
  }
  if (data_acked > 0) {
    out.add_event(TcpEventKind::kAcked, data_acked);
    report_writable(out);
  }
}

void Tcb::process_dup_ack(Instant now, TcpOutput& out) {
  ++dupacks_;
  if (in_recovery_) return;  // each dup ACK shrinks pipe(); output() sends what it allows
  const std::uint32_t smss = effective_mss(false);
  bool enter = false;
  if (rack_tlp_on()) {
    // RACK decides (sack_recovery_on_ack, next): with no reordering seen it declares
    // the loss at DupThresh as this would, and once reordering is seen it waits
    // reo_wnd instead of retransmitting every reordered segment.
    return;
  } else if (sack_ok_) {
    enter = dupacks_ >= SackScoreboard::kDupThresh || sb_.is_lost(snd_una_, smss);
  } else {
    // RFC 6582 §3.2 step 2: no new recovery before SND.UNA passes the last recovery point.
    enter = dupacks_ == SackScoreboard::kDupThresh && (snd_una_ > recover_ || recover_ == iss_);
  }
  if (!enter) return;  // limited transmit (RFC 3042) happens in output()
  if (sack_ok_) {
    // The fast retransmission goes out from output(), within PRR's first allowance.
    enter_sack_recovery(now);
    return;
  }
  count(TcpCounter::kFastRetrans);
  in_recovery_ = true;
  recover_ = snd_max_;
  high_rxt_ = snd_una_;
  count(TcpCounter::kRenoRecoveries);
  cc_.on_enter_recovery(bytes_in_flight(), now);
  std::uint32_t n = std::min<std::uint32_t>(smss, static_cast<std::uint32_t>(snd_max_ - snd_una_));
  if (retransmit_range(now, out, snd_una_, n)) high_rxt_ = snd_una_ + n;
}

void Tcb::enter_sack_recovery(Instant now) {
  in_recovery_ = true;
  recover_ = snd_max_;
  high_rxt_ = snd_una_;
  rescue_sent_ = false;
  count(TcpCounter::kSackRecoveries);
  count(TcpCounter::kFastRetrans);
  cc_.on_enter_recovery(bytes_in_flight(), now);
  prr_.start(bytes_in_flight());
  // RFC 6675 §5 (4.3): the first segment presumed lost is retransmitted first (RACK,
  // when on, has marked what it found lost already).
  if (!rack_tlp_on()) rack_.mark_lost(snd_una_);
  // Recovery repairs the tail now, and reacts to the loss once.
  tlp_.cancel();
  tlp_at_ = Instant::never();
}

void Tcb::sack_recovery_on_ack(const TcpSegment& seg, std::uint32_t delivered,
                               const std::optional<SackBlock>& dsack, Instant now) {
  rack_.on_ack(snd_una_, sb_.blocks(), now);
  if (dsack) rack_.on_dsack(snd_una_, snd_max_);
  if (rack_tlp_on()) {
    rack_detect(now);
    if (tlp_.repaired_loss(seg.ack, dsack, delivered == 0)) {
      // RFC 8985 §7.4: only the probe arrived, so the original was lost: one
      // congestion response, as a recovery would have made.
      count(TcpCounter::kTlpRecoveries);
      cc_.on_enter_recovery(tlp_.flight(), now);
      cc_.on_exit_recovery(now);
    }
  }
  if (in_recovery_) prr_.on_ack(delivered, pipe(), cc_.ssthresh(), effective_mss(false));
  arm_tlp(now);
}

void Tcb::rack_detect(Instant now) {
  const Duration reo = rack_.reo_wnd(in_recovery_, sb_.is_lost(snd_una_, effective_mss(false)),
                                     rack_.min_rtt(rtt_.min_rtt()), rtt_.srtt());
  const Rack::LossResult r = rack_.detect_loss(now, reo);
  if (r.newly_lost > 0) {
    count(TcpCounter::kRackLosses, r.newly_lost);
    // Not while go-back-N after an RTO is resending everything anyway.
    if (!in_recovery_ && snd_nxt_ == snd_max_) enter_sack_recovery(now);
  }
  rack_at_ = r.timeout > Duration{0} ? now + r.timeout : Instant::never();
}

void Tcb::update_send_window(const TcpSegment& seg) {
  // RFC 9293 §3.10.7.4: only a segment newer than the last update may change SND.WND.
  if (snd_wl1_ < seg.seq || (snd_wl1_ == seg.seq && snd_wl2_ <= seg.ack)) {
    snd_wnd_ = static_cast<std::uint32_t>(seg.window) << snd_wscale_;
    max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
    snd_wl1_ = seg.seq;
    snd_wl2_ = seg.ack;
    if (snd_wnd_ > 0) {
      persist_at_ = Instant::never();
      persist_shift_ = 0;
    }
  }
}

void Tcb::process_fin(Instant now, TcpOutput& out) {
  if (peer_fin_) return;
  rx_.advance_control(1);
  peer_fin_ = true;
  ooo_fin_.reset();
  out.add_event(TcpEventKind::kPeerFin);
  out.add_event(TcpEventKind::kReadable, 0);
  switch (state_) {
    case TcpState::kSynReceived:
    case TcpState::kEstablished:
      set_state(TcpState::kCloseWait);
      ack_soon(now);  // a server closing on end of file sends its FIN with this ACK
      break;
    case TcpState::kFinWait1:
      if (fin_acked()) {
        enter_time_wait(now, out);
      } else {
        set_state(TcpState::kClosing);
        ack_now_ = true;
      }
      break;
    case TcpState::kFinWait2:
      enter_time_wait(now, out);
      break;
    default:
      ack_now_ = true;
      break;
  }
}

void Tcb::ack_soon(Instant now) {
  if (!ack_batching_) {
    ack_now_ = true;
    return;
  }
  ack_batched_ = true;
  if (delack_at_ == Instant::never()) delack_at_ = now + cfg_->delayed_ack;
}

void Tcb::ecn_input(const TcpSegment& seg, Instant now) {
  const EcnState::Input e = ecn_.on_segment(seg, snd_una_, snd_max_, in_recovery_);
  if (e.ce) count(TcpCounter::kEcnCeReceived);
  if (e.ack_now) ack_now_ = true;
  if (e.ece) count(TcpCounter::kEcnEceReceived);
  if (e.reduce) {
    // The reduction of a fast retransmit, without the retransmission (RFC 3168
    // §6.1.2): the controller cuts its window and is at once out of recovery again.
    count(TcpCounter::kEcnReductions);
    cc_.on_enter_recovery(bytes_in_flight(), now);
    cc_.on_exit_recovery(now);
  }
}

// ---------------------------------------------------------------------------------
// Output

std::uint32_t Tcb::ts_now(Instant now) const {
  // Never decreasing (RFC 7323 section 5.4): a call made from an application callback
  // inside an engine iteration reads a fresher clock than the iteration's own `now`,
  // and a TSval that stepped back a millisecond would make the peer's PAWS check
  // drop the later segment as old.
  const std::uint32_t t = static_cast<std::uint32_t>(now.ns / 1'000'000) + ts_offset_;
  if (ts_sent_any_ && static_cast<std::int32_t>(t - ts_last_) < 0) return ts_last_;
  ts_last_ = t;
  ts_sent_any_ = true;
  return t;
}

SeqNum Tcb::data_end() const {
  return data_base_ + sndbuf_.size();
}

std::uint32_t Tcb::data_end_len() const {
  SeqNum end = data_end();
  return snd_nxt_ < end ? static_cast<std::uint32_t>(end - snd_nxt_) : 0;
}

bool Tcb::fin_outstanding() const {
  return fin_queued_ && snd_max_ == data_end() + 1 && snd_una_ <= data_end();
}

bool Tcb::fin_acked() const {
  return fin_queued_ && snd_una_ == data_end() + 1;
}

std::uint32_t Tcb::effective_mss(bool with_sack) const {
  std::uint32_t opt = ts_ok_ ? kTsOptionLen : 0;
  if (with_sack && sack_ok_) {
    std::array<SackBlock, 4> tmp;
    opt += sack_option_len(rx_.sack_blocks(tmp.data(), ts_ok_ ? 3 : 4));
  }
  return mss_ > opt + 16 ? mss_ - opt : 16;
}

std::uint32_t Tcb::pipe() const {
  if (rack_tlp_on()) return rack_.pipe();
  if (sack_ok_) {
    const std::uint32_t smss = effective_mss(false);
    std::uint32_t p = sb_.pipe(snd_una_, high_rxt_, snd_max_, smss);
    // A segment marked lost (at the start of recovery, by a partial ACK) and not yet
    // resent is not in the network either; take back what SetPipe() counted for it.
    rack_.for_each_lost([&](SeqNum seq, std::uint32_t len) {
      std::uint32_t counted = sb_.is_lost(seq, smss) ? 0 : len;
      if (seq < high_rxt_) counted += std::min<std::uint32_t>(len, high_rxt_ - seq);
      p -= std::min(p, counted);
    });
    return p;
  }
  std::uint32_t flight = bytes_in_flight();
  std::uint32_t delivered = dupacks_ * effective_mss(false);
  return flight > delivered ? flight - delivered : 0;
}

std::uint32_t Tcb::window_field_for(std::uint32_t wnd) const {
  // Round up so the scaled window never falls short of what was already offered.
  const std::uint32_t field = (wnd + (1u << rcv_wscale_) - 1) >> rcv_wscale_;
  return std::min<std::uint32_t>(field, 65535);
}

std::uint16_t Tcb::window_field() {
  const SeqNum rcv_nxt = rx_.rcv_nxt();
  SeqNum right = rcv_nxt + rx_.free_space();
  if (right > rcv_adv_) {
    // RFC 9293 §3.8.6.2.2 receiver SWS avoidance: move the right edge only by at least
    // min(buffer/2, MSS).
    std::uint32_t inc = static_cast<std::uint32_t>(right - rcv_adv_);
    std::uint32_t thresh = std::min(rx_.capacity() / 2, rcv_mss_);
    if (inc < thresh && rcv_adv_ >= rcv_nxt) right = rcv_adv_;
  }
  if (right < rcv_adv_) right = rcv_adv_;  // never shrink the window (§3.8.6)
  std::uint32_t wnd = right > rcv_nxt ? static_cast<std::uint32_t>(right - rcv_nxt) : 0;
  const std::uint32_t field = window_field_for(wnd);
  SeqNum adv = rcv_nxt + (field << rcv_wscale_);
  if (adv > rcv_adv_) rcv_adv_ = adv;
  return static_cast<std::uint16_t>(field);
}

bool Tcb::emit(Instant now, TcpOutput& out, SeqNum seq, std::uint32_t len, std::uint8_t flags,
               std::uint32_t tso_segsz) {
  if (out.segments_full()) return false;
  OutSegment& o = out.next_segment();
  TcpSegment& s = o.seg;
  s.src_port = local_.port;
  s.dst_port = remote_.port;
  s.seq = seq;
  const EcnState::Marks ecn = ecn_.marks(flags, len, seq >= snd_max_);
  s.flags = flags | ecn.tcp_flags;
  s.ip_ecn = ecn.ip_ecn;
  if (flags & kAck) s.ack = rx_.rcv_nxt();
  s.window = (flags & kRst) ? 0 : window_field();
  if (ts_ok_) s.options.timestamps = TcpTimestamps{ts_now(now), ts_recent_};
  bool dsack = false;
  // A stream's receiver has no block to report on nearly every ACK: skip the search.
  if (sack_ok_ && (flags & kAck) && !(flags & kRst) && !rx_.no_sack_blocks()) {
    s.options.sack_count = rx_.sack_blocks(s.options.sack.data(), ts_ok_ ? 3 : 4);
    dsack = rx_.has_dsack() && s.options.sack_count > 0;
  }
  if (len > 0) {
    o.stream_offset = sndbuf_.head_offset() + static_cast<std::uint32_t>(seq - data_base_);
    o.payload_len = len;
    if (tso_segsz != 0 && len > tso_segsz) o.tso_segsz = tso_segsz;
  }
  out.commit_segment();
  count(TcpCounter::kOutSegs);
  ecn_.sent(ecn);
  // SACK recovery needs each segment's latest transmit time (a FIN takes a sequence
  // number); without SACK nothing would ever retire the records.
  if (sack_ok_ && (len > 0 || (flags & kFin))) {
    // A TSO frame is several segments on the wire: one record each, as if sent one by
    // one, so loss detection and retransmission keep segment granularity.
    rack_.on_sent_segments(seq, len, seq + len + ((flags & kFin) ? 1u : 0u), o.tso_segsz, now);
  }
  if (dsack) {
    rx_.clear_dsack();
    count(TcpCounter::kDsackSent);
  }
  if (flags & kAck) {
    last_ack_sent_ = rx_.rcv_nxt();
    ack_now_ = false;
    ack_batched_ = false;
    app_freed_ = 0;
    unacked_bytes_ = 0;
    delack_at_ = Instant::never();
  }
  last_send_ = now;
  return true;
}

void Tcb::send_syn(Instant now, TcpOutput& out, bool with_ack) {
  OutSegment o;
  TcpSegment& s = o.seg;
  s.src_port = local_.port;
  s.dst_port = remote_.port;
  s.seq = iss_;
  s.flags = with_ack ? (kSyn | kAck) : kSyn;
  s.flags |= ecn_.syn_flags(cfg_->ecn, with_ack, syn_retransmits_ == 0);
  if (with_ack) s.ack = rx_.rcv_nxt();
  std::uint32_t wnd = std::min<std::uint32_t>(rx_.free_space(), 65535);
  s.window = static_cast<std::uint16_t>(wnd);
  s.options.mss = adv_mss_;
  // A SYN offers what we support; a SYN-ACK only what the peer offered too (RFC 7323).
  bool offer_ws = with_ack ? ws_ok_ : cfg_->window_scaling;
  bool offer_sack = with_ack ? sack_ok_ : cfg_->sack;
  bool offer_ts = with_ack ? ts_ok_ : cfg_->timestamps;
  if (offer_ws) s.options.window_scale = rcv_wscale_;
  s.options.sack_permitted = offer_sack;
  if (offer_ts) s.options.timestamps = TcpTimestamps{ts_now(now), with_ack ? ts_recent_ : 0u};
  if (!out.add_segment(o)) return;
  count(TcpCounter::kOutSegs);
  if (with_ack) {
    rcv_adv_ = rx_.rcv_nxt() + wnd;
    last_ack_sent_ = rx_.rcv_nxt();
  }
  if (snd_max_ == iss_) snd_nxt_ = snd_max_ = iss_ + 1;
  last_send_ = now;
}

// The sequence number for a segment without data (ACK, RST): SND.MAX, so it stays
// acceptable after an RTO pulled SND.NXT back -- unless the peer's window has since
// shrunk below what we sent, in which case a receiver drops a segment beyond its
// window unread (RFC 9293 §3.10.7.4) and our ACKs would never arrive: then the right
// edge of the peer's window, as Linux does (tcp_acceptable_seq).
SeqNum Tcb::acceptable_seq() const {
  const SeqNum wnd_end = snd_una_ + snd_wnd_;
  return snd_max_ <= wnd_end ? snd_max_ : wnd_end;
}

bool Tcb::send_ack(Instant now, TcpOutput& out) {
  return emit(now, out, acceptable_seq(), 0, kAck);
}

void Tcb::send_rst(Instant now, TcpOutput& out) {
  if (emit(now, out, acceptable_seq(), 0, kRst | kAck)) count(TcpCounter::kResetsSent);
}

void Tcb::send_challenge_ack(Instant now, TcpOutput& out) {
  if (now - challenge_window_start_ >= std::chrono::seconds(1)) {
    challenge_window_start_ = now;
    challenge_count_ = 0;
  }
  if (challenge_count_ >= cfg_->challenge_ack_limit) {
    count(TcpCounter::kChallengeAckLimited);
    return;
  }
  ++challenge_count_;
  count(TcpCounter::kChallengeAcks);
  send_ack(now, out);
}

bool Tcb::retransmit_range(Instant now, TcpOutput& out, SeqNum seq, std::uint32_t len) {
  SeqNum end = data_end();
  std::uint32_t avail = seq < end ? static_cast<std::uint32_t>(end - seq) : 0;
  len = std::min({len, avail, effective_mss(true)});
  std::uint8_t flags = kAck;
  if (fin_queued_ && seq + len == end && snd_max_ > end) flags |= kFin;
  if (len == 0 && !(flags & kFin)) return false;
  if (len > 0 && seq + len == end) flags |= kPsh;
  if (!emit(now, out, seq, len, flags)) return false;
  count(TcpCounter::kRetransSegs);
  ++retrans_segs_;
  if (rtt_seq_ && *rtt_seq_ >= seq) rtt_seq_.reset();  // Karn
  if (rto_at_ == Instant::never()) arm_rto(now);
  return true;
}

bool Tcb::send_next_seg(Instant now, TcpOutput& out, std::uint32_t budget) {
  const std::uint32_t smss = effective_mss(false);
  // Retransmits r (clipped to a segment) if the allowance covers it; rule 4 leaves
  // HighRxt alone.
  auto resend = [&](SackScoreboard::Range r, bool advance_high_rxt) {
    const std::uint32_t len = std::min(r.len, effective_mss(true));
    if (len > budget || !retransmit_range(now, out, r.seq, len)) return false;
    if (advance_high_rxt) high_rxt_ = seq_max(high_rxt_, r.seq + len);
    prr_.on_sent(len);
    count(TcpCounter::kPrrSegments);
    return true;
  };
  // Lost segments first: those RACK found (including lost retransmissions, which
  // rule 1, above HighRxt only, cannot see) or a partial ACK showed; then rule 1's
  // IsLost() -- unless RACK replaces DupThresh, as RFC 8985 has it.
  if (auto r = rack_.next_lost()) return resend(*r, true);
  if (!rack_tlp_on()) {
    if (auto r = sb_.next_lost(snd_una_, high_rxt_, snd_max_, smss)) return resend(*r, true);
  }
  // Rule 2: new data.
  const SeqNum nxt_before = snd_nxt_;
  if (send_new_data(now, out, std::min(smss, budget))) {
    prr_.on_sent(static_cast<std::uint32_t>(snd_nxt_ - nxt_before));
    count(TcpCounter::kPrrSegments);
    return true;
  }
  // Rule 3: a hole below the highest SACK, not yet deemed lost.
  if (auto r = sb_.next_unsacked(snd_una_, high_rxt_, snd_max_, smss)) return resend(*r, true);
  // Rule 4: one rescue retransmission per recovery, of the highest un-SACKed segment
  // of the flight the loss was found in (a tail loss no SACK will reveal). Not of data
  // retransmitted already, nor of data sent during recovery (just sent).
  if (rescue_sent_) return false;
  auto r = sb_.highest_unsacked(snd_una_, recover_, smss);
  if (!r || r->seq < high_rxt_ || !resend(*r, false)) return false;
  rescue_sent_ = true;
  count(TcpCounter::kRescueRetrans);
  return true;
}

bool Tcb::send_new_data(Instant now, TcpOutput& out, std::uint32_t budget) {
  bool sent = false;
  while (!out.segments_full()) {
    if (sack_ok_ && snd_nxt_ < snd_max_ && consecutive_rto_ < 2) {
      // Go-back-N after an RTO skips what the peer SACKed (RFC 6675 §5.1). A segment
      // counts as held when both its ends are SACKed; should that guess be wrong, the
      // next RTO clears the scoreboard and resends everything.
      const std::uint32_t step_max = effective_mss(false);
      while (snd_nxt_ < data_end()) {
        std::uint32_t l = std::min(step_max, static_cast<std::uint32_t>(data_end() - snd_nxt_));
        if (!sb_.is_sacked(snd_nxt_) || !sb_.is_sacked(snd_nxt_ + (l - 1))) break;
        snd_nxt_ += l;
      }
    }
    const SeqNum end = data_end();
    const std::uint32_t unsent = data_end_len();
    const bool fin_pending = fin_queued_ && snd_nxt_ <= end;
    const SeqNum wnd_right = snd_una_ + snd_wnd_;
    const std::uint32_t usable =
        wnd_right > snd_nxt_ ? static_cast<std::uint32_t>(wnd_right - snd_nxt_) : 0;
    const std::uint32_t seg_mss = effective_mss(true);
    const bool retransmission = snd_nxt_ < snd_max_;
    // TSO: new data in frames of whole segments that the device cuts up; a partial
    // tail goes on its own below, under Nagle's rule as ever. Resends stay one segment.
    const std::uint32_t frame_max = !retransmission && cfg_->tso_max > seg_mss
                                        ? cfg_->tso_max - cfg_->tso_max % seg_mss
                                        : seg_mss;
    std::uint32_t len = std::min({unsent, frame_max, usable, budget});
    if (len > seg_mss) len -= len % seg_mss;

    if (len == 0) {
      if (!(fin_pending && unsent == 0)) break;
      // FIN alone needs no window or congestion room.
    } else if (len < seg_mss) {
      const bool all = len == unsent;
      const bool idle = snd_nxt_ == snd_una_;
      bool ok = retransmission;
      // TCP_CORK / MSG_MORE hold a partial segment the application said more follows.
      const bool corked = cfg_->cork || more_;
      // Nagle (RFC 896) and sender SWS avoidance (RFC 9293 §3.8.6.2.1).
      if (!ok && all && (fin_pending || (!corked && (cfg_->nodelay || idle)))) ok = true;
      if (!ok && !corked && max_snd_wnd_ > 0 && len >= max_snd_wnd_ / 2 && (cfg_->nodelay || idle))
        ok = true;
      if (!ok) break;
    }
    std::uint8_t flags = kAck;
    if (len == unsent && fin_pending) flags |= kFin;
    if (len > 0 && len == unsent) flags |= kPsh;
    if (!emit(now, out, snd_nxt_, len, flags, seg_mss)) break;
    if (retransmission) {
      count(TcpCounter::kRetransSegs);
      ++retrans_segs_;
      if (rtt_seq_ && *rtt_seq_ >= snd_nxt_) rtt_seq_.reset();
    } else if (!ts_ok_ && !rtt_seq_ && len > 0) {
      rtt_seq_ = snd_nxt_;
      rtt_start_ = now;
    }
    snd_nxt_ += len + ((flags & kFin) ? 1u : 0u);
    if (snd_nxt_ > snd_max_) snd_max_ = snd_nxt_;
    budget -= std::min(budget, len);
    sent = true;
    if (rto_at_ == Instant::never()) arm_rto(now);
    persist_at_ = Instant::never();
    if (!retransmission) arm_tlp(now);  // RFC 8985 §7.2: on sending new data
    if (flags & kFin) break;
  }
  return sent;
}

bool Tcb::end_ack_batch() {
  ack_batching_ = false;
  return ack_batched_;
}

void Tcb::send_held_ack(Instant now, TcpOutput& out) {
  if (!ack_batched_) return;
  ack_batched_ = false;
  if (is_synchronized(state_) && last_ack_sent_ != rx_.rcv_nxt()) send_ack(now, out);
}

void Tcb::report_writable(TcpOutput& out) {
  if (send_blocked_ && writable_bytes() > 0) {
    send_blocked_ = false;
    out.add_event(TcpEventKind::kWritable);
  }
}

void Tcb::output(Instant now, TcpOutput& out) {
  // The receive side of a stream has nothing of its own queued, in flight or to close
  // with: its sender has nothing to do (not even size a segment around the SACK blocks),
  // so a pure receive goes straight to the ACK decision.
  if (sndbuf_.size() == 0 && !fin_queued_ && !in_recovery_) {
    if (send_blocked_) report_writable(out);
    ack_output(now, out);
    return;
  }
  switch (state_) {
    case TcpState::kEstablished:
    case TcpState::kCloseWait:
    case TcpState::kFinWait1:
    case TcpState::kClosing:
    case TcpState::kLastAck: {
      const std::uint32_t smss = effective_mss(false);
      const std::uint32_t cwnd = cc_.cwnd();
      // RFC 5681 §4.1: restart from the initial window after an idle period > RTO.
      if (snd_max_ == snd_una_ && data_end_len() > 0 && last_send_ + rtt_.rto() < now)
        cc_.on_idle_restart(now);
      if (in_recovery_ && sack_ok_) {
        // RFC 6675 §5 step (C) with PRR (RFC 6937) deciding how much: NextSeg() while
        // the allowance of the last ACK lasts.
        while (!out.segments_full() && prr_.allowance() > 0) {
          if (!send_next_seg(now, out, prr_.allowance())) break;
        }
      } else if (in_recovery_) {
        std::uint32_t p = pipe();
        if (cwnd > p) send_new_data(now, out, cwnd - p);
      } else {
        // Limited transmit (RFC 3042): the first two dup ACKs each release one segment.
        std::uint32_t allowance = cwnd + std::min<std::uint32_t>(dupacks_, 2) * smss;
        std::uint32_t flight = static_cast<std::uint32_t>(snd_nxt_ - snd_una_);
        if (allowance > flight) send_new_data(now, out, allowance - flight);
      }
      // Sending lowers the unsent bytes TCP_NOTSENT_LOWAT counts.
      report_writable(out);
      // Nothing in flight but data waiting: the window (or SWS) holds it. Probe.
      if (data_end_len() > 0 && snd_max_ == snd_una_ && rto_at_ == Instant::never() &&
          persist_at_ == Instant::never()) {
        Duration base = std::max(rtt_.base_rto(), cfg_->persist_min);
        for (std::uint32_t i = 0; i < persist_shift_ && base < cfg_->persist_max; ++i) base *= 2;
        persist_at_ = now + std::min(base, cfg_->persist_max);
      }
      break;
    }
    default:
      break;
  }
  ack_output(now, out);
}

void Tcb::ack_output(Instant now, TcpOutput& out) {
  if (!is_synchronized(state_)) {
    if (ack_now_ && state_ == TcpState::kSynReceived) ack_now_ = false;
    return;
  }
  // Window update after the application read (RFC 9293 §3.8.6.2.2). Only reads open
  // the window: a buffer larger than the SYN-ACK could show is offered with the next
  // segment, not by an ACK of its own. What counts is the window the peer would see --
  // scaled and clamped to the 16-bit field -- not the free space: without scaling, room
  // above 65 535 would make every call send an ACK identical to the last (to the peer a
  // duplicate ACK).
  if (app_freed_ > 0 && !peer_fin_ && !ack_now_ && state_ != TcpState::kTimeWait) {
    const SeqNum right = rx_.rcv_nxt() + (window_field_for(rx_.free_space()) << rcv_wscale_);
    if (right > rcv_adv_) {
      // Only what the reads freed counts: the rest of the gap is the buffer beyond the
      // SYN's unscaled 64 KiB, which the next segment offers anyway (an ACK for it alone
      // after a 64-byte request would be one segment more per transaction).
      std::uint32_t inc = std::min(static_cast<std::uint32_t>(right - rcv_adv_), app_freed_);
      std::uint32_t cur = rcv_wnd();
      std::uint32_t thresh = std::min(rx_.capacity() / 2, cur < rcv_mss_ ? rcv_mss_ : 2 * rcv_mss_);
      if (inc >= thresh) ack_now_ = true;
    }
  }
  if (ack_now_) send_ack(now, out);
}

// ---------------------------------------------------------------------------------
// Timers

Instant Tcb::next_deadline() const {
  // Pairwise, not std::min of an initializer list: that copies the nine to the stack
  // first, and every processed segment asks.
  const Instant a = std::min(std::min(rto_at_, tlp_at_), std::min(rack_at_, persist_at_));
  const Instant b =
      std::min(std::min(delack_at_, keepalive_at_), std::min(fin_wait2_at_, time_wait_at_));
  return std::min(std::min(a, b), connect_deadline_);
}

void Tcb::arm_rto(Instant now) {
  if (unacked_since_ == Instant::never()) unacked_since_ = now;
  rto_at_ = now + rtt_.rto();
  // TCP_USER_TIMEOUT (RFC 5482): fire no later than when the oldest unacknowledged
  // data's time is up, as Linux clamps it, not at the next backed-off RTO after that.
  if (cfg_->user_timeout.count() > 0)
    rto_at_ = std::min(rto_at_, unacked_since_ + cfg_->user_timeout);
}

void Tcb::arm_keepalive(Instant now) {
  keepalive_probes_ = 0;
  if (cfg_->keepalive && (state_ == TcpState::kEstablished || state_ == TcpState::kCloseWait)) {
    keepalive_at_ = now + cfg_->keepalive_idle;
  } else {
    keepalive_at_ = Instant::never();
  }
}

void Tcb::on_timer(Instant now, TcpOutput& out) {
  if (state_ == TcpState::kClosed) return;
  if (time_wait_at_ <= now) {
    finish(out);
    return;
  }
  if (fin_wait2_at_ <= now) {
    count(TcpCounter::kFinWait2Timeouts);
    finish(out);
    return;
  }
  if (connect_deadline_ <= now) {
    connect_deadline_ = Instant::never();
    if (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived) {
      count(TcpCounter::kConnectTimeouts);
      count(TcpCounter::kAttemptFails);
      fail(soft_error_ ? soft_error_ : ETIMEDOUT, out);
      return;
    }
  }
  if (rack_at_ <= now) {
    rack_at_ = Instant::never();
    on_rack_timer(now, out);
  }
  // The probe first: when it falls due with the RTO, it is sent instead (and the
  // RTO re-armed), as Linux does.
  if (tlp_at_ <= now) {
    tlp_at_ = Instant::never();
    on_tlp(now, out);
  }
  if (rto_at_ <= now) {
    rto_at_ = Instant::never();
    on_rto(now, out);
    if (state_ == TcpState::kClosed) return;
  }
  if (persist_at_ <= now) {
    persist_at_ = Instant::never();
    on_persist(now, out);
  }
  if (keepalive_at_ <= now) {
    on_keepalive(now, out);
    if (state_ == TcpState::kClosed) return;
  }
  if (delack_at_ <= now) {
    delack_at_ = Instant::never();
    if (is_synchronized(state_)) {
      count(TcpCounter::kDelayedAcks);
      send_ack(now, out);
    }
  }
}

void Tcb::on_rto(Instant now, TcpOutput& out) {
  if (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived) {
    if (syn_retransmits_ >= cfg_->syn_retries) {
      count(TcpCounter::kConnectTimeouts);
      count(TcpCounter::kAttemptFails);
      fail(soft_error_ ? soft_error_ : ETIMEDOUT, out);
      return;
    }
    ++syn_retransmits_;
    rtt_.backoff();
    count(TcpCounter::kSynRetrans);
    send_syn(now, out, state_ == TcpState::kSynReceived);
    arm_rto(now);
    return;
  }
  if (snd_max_ == snd_una_) return;  // nothing outstanding any more
  ++consecutive_rto_;
  const bool user_timeout =
      cfg_->user_timeout.count() > 0 && now - unacked_since_ >= cfg_->user_timeout;
  if (consecutive_rto_ > cfg_->max_retransmits || user_timeout) {
    count(TcpCounter::kRetransTimeouts);
    fail(soft_error_ ? soft_error_ : ETIMEDOUT, out);
    return;
  }
  count(TcpCounter::kRtoTimeouts);
  cc_.on_rto(bytes_in_flight(), now);
  rtt_.backoff();
  in_recovery_ = false;
  dupacks_ = 0;
  recover_ = snd_max_;  // RFC 6582 §3.2 step 4 after a timeout
  // Keep SACK information across the first RTO so go-back-N can skip held data; a
  // repeated RTO may mean the receiver reneged, so then start afresh.
  if (sack_ok_ && consecutive_rto_ >= 2) sb_.reset(snd_una_);
  rack_.on_rto(sack_ok_ && consecutive_rto_ >= 2);
  tlp_.cancel();
  tlp_at_ = rack_at_ = Instant::never();
  high_rxt_ = snd_una_;
  rtt_seq_.reset();
  snd_nxt_ = snd_una_;  // go back N: resend from the first unacknowledged byte
  std::size_t before = out.segment_count();
  output(now, out);
  if (out.segment_count() == before && snd_max_ > snd_una_) {
    // The window shrank to nothing under outstanding data: the head segment goes out
    // anyway, it is what probes the peer (as Linux does).
    std::uint32_t n = std::min<std::uint32_t>(effective_mss(true), bytes_in_flight());
    if (retransmit_range(now, out, snd_una_, n)) snd_nxt_ = seq_max(snd_nxt_, snd_una_ + n);
  }
  if (rto_at_ == Instant::never() && snd_max_ > snd_una_) arm_rto(now);
}

void Tcb::arm_tlp(Instant now) {
  // RFC 8985 §7.2: a probe only guards an open flight outside recovery, one at a time.
  if (!rack_tlp_on() || in_recovery_ || tlp_.outstanding() || consecutive_rto_ > 0 ||
      snd_max_ == snd_una_ || snd_nxt_ < snd_max_) {
    tlp_at_ = Instant::never();
    return;
  }
  const bool one_segment = bytes_in_flight() <= effective_mss(false);
  const Instant at = now + TailLossProbe::pto(rtt_.has_sample(), rtt_.srtt(), one_segment);
  tlp_at_ = std::min(at, rto_at_);
}

void Tcb::on_tlp(Instant now, TcpOutput& out) {
  if (!is_synchronized(state_) || state_ == TcpState::kTimeWait || in_recovery_ ||
      snd_max_ == snd_una_)
    return;
  const std::uint32_t flight = bytes_in_flight();
  // §7.3: new data when there is some and the peer's window takes it (it also probes
  // the loss, and sends what was waiting anyway); else the last segment again.
  const SeqNum max_before = snd_max_;
  bool retransmission = false;
  bool sent =
      data_end_len() > 0 && send_new_data(now, out, effective_mss(false)) && snd_max_ > max_before;
  if (!sent) {
    // The last segment sent: data queued behind it (Nagle, the window) is not part of it.
    const SeqNum end = seq_min(data_end(), snd_max_);
    const std::uint32_t avail = end > snd_una_ ? static_cast<std::uint32_t>(end - snd_una_) : 0;
    const std::uint32_t len = std::min(effective_mss(true), avail);
    sent = retransmit_range(now, out, end - len, len);
    retransmission = true;
  }
  if (!sent) return;
  count(TcpCounter::kTlpProbes);
  tlp_.on_probe(snd_max_, retransmission, flight);
  tlp_at_ = Instant::never();
  rto_at_ = now + rtt_.rto();  // the RTO now guards the probe
}

void Tcb::on_rack_timer(Instant now, TcpOutput& out) {
  if (!rack_tlp_on() || !is_synchronized(state_)) return;
  rack_detect(now);
  if (!in_recovery_) return;
  prr_.on_ack(0, pipe(), cc_.ssthresh(), effective_mss(false));
  output(now, out);
}

void Tcb::on_persist(Instant now, TcpOutput& out) {
  if (data_end_len() == 0 || snd_max_ != snd_una_) return;
  const SeqNum wnd_right = snd_una_ + snd_wnd_;
  std::uint32_t usable =
      wnd_right > snd_nxt_ ? static_cast<std::uint32_t>(wnd_right - snd_nxt_) : 0;
  if (usable > 0) {
    // The window is open but too small for SWS rules: the override timer sends anyway.
    std::uint32_t len = std::min({usable, data_end_len(), effective_mss(true)});
    std::uint8_t flags = kAck | (len == data_end_len() ? kPsh : 0);
    if (emit(now, out, snd_nxt_, len, flags)) {
      snd_nxt_ += len;
      if (snd_nxt_ > snd_max_) snd_max_ = snd_nxt_;
      arm_rto(now);
    }
    return;
  }
  // Zero window: a probe the receiver must answer with its window (an old sequence
  // number draws an ACK, RFC 9293 §3.8.6.1).
  count(TcpCounter::kZeroWindowProbes);
  emit(now, out, snd_una_ - 1, 0, kAck);
  ++persist_shift_;
  Duration base = std::max(rtt_.base_rto(), cfg_->persist_min);
  for (std::uint32_t i = 0; i < persist_shift_ && base < cfg_->persist_max; ++i) base *= 2;
  persist_at_ = now + std::min(base, cfg_->persist_max);
}

void Tcb::on_keepalive(Instant now, TcpOutput& out) {
  if (!cfg_->keepalive || (state_ != TcpState::kEstablished && state_ != TcpState::kCloseWait)) {
    keepalive_at_ = Instant::never();
    return;
  }
  if (snd_max_ != snd_una_ || data_end_len() > 0) {
    // Data in flight or queued: the retransmission/persist timers watch the peer.
    keepalive_at_ = now + cfg_->keepalive_idle;
    return;
  }
  if (keepalive_probes_ >= cfg_->keepalive_count) {
    count(TcpCounter::kKeepaliveTimeouts);
    send_rst(now, out);
    fail(ETIMEDOUT, out);
    return;
  }
  ++keepalive_probes_;
  count(TcpCounter::kKeepaliveProbes);
  emit(now, out, snd_una_ - 1, 0, kAck);
  keepalive_at_ = now + cfg_->keepalive_interval;
}

void Tcb::enter_time_wait(Instant now, TcpOutput& out) {
  set_state(TcpState::kTimeWait);
  rto_at_ = tlp_at_ = rack_at_ = persist_at_ = keepalive_at_ = fin_wait2_at_ = delack_at_ =
      Instant::never();
  time_wait_at_ = now + 2 * cfg_->msl;
  ack_now_ = true;
  TimeWaitInfo info;
  info.local = local_;
  info.remote = remote_;
  info.snd_nxt = snd_max_;
  info.rcv_nxt = rx_.rcv_nxt();
  info.ts_recent = ts_recent_;
  info.ts_enabled = ts_ok_;
  info.window =
      static_cast<std::uint16_t>(std::min<std::uint32_t>(rcv_wnd() >> rcv_wscale_, 65535));
  info.expiry = time_wait_at_;
  out.set_time_wait(info);
}

void Tcb::fail(int err, TcpOutput& out) {
  out.add_event(TcpEventKind::kError, static_cast<std::uint32_t>(err));
  finish(out);
}

void Tcb::finish(TcpOutput& out) {
  set_state(TcpState::kClosed);
  rto_at_ = tlp_at_ = rack_at_ = persist_at_ = delack_at_ = keepalive_at_ = fin_wait2_at_ =
      time_wait_at_ = connect_deadline_ = Instant::never();
  in_recovery_ = false;
  out.add_event(TcpEventKind::kClosed);
}

}  // namespace shardtcp
