// Header prediction (Van Jacobson's, as BSD's tcp_input and Linux's
// tcp_rcv_established have it) for the receive side of a stream: the segment that
// arrives is the next in-order data, from a peer we owe nothing, and nothing but the
// append of its bytes and the ACK decision can follow from it.
//
// Every condition below is one under which the general path (on_segment_synchronized,
// RFC 9293 §3.10.7) would take exactly these steps: the same state changes, events and
// ACK, in the same order. A segment that fails one of them goes to the general path
// with nothing changed, so the prediction can only ever be a shortcut, never a
// different answer; test/tcp/tcb_fast_path_test.cc holds both paths to that.
#include "tcp/tcb.h"

namespace shardtcp {

using namespace tcp_flags;

bool Tcb::receive_predicted(const TcpSegment& seg, Instant now, TcpOutput& out) {
  // ACK, with or without PSH: no SYN, FIN, RST or URG (their steps), no ECE or CWR
  // (ECN's echo and reduction); and no CE mark, which would start an echo.
  if ((seg.flags & ~kPsh) != kAck) return false;
  if ((seg.ip_ecn & ip_ecn::kMask) == ip_ecn::kCe) return false;
  // The next in-order bytes (in one buffer, or in pieces: a coalesced frame, or a
  // header and an attached payload from a zero-copy sender), all inside the window:
  // nothing to trim.
  const std::uint32_t len = seg.payload.len;
  if (seg.seq != rx_.rcv_nxt() || len == 0) return false;
  if (len > rcv_wnd()) return false;
  // Our side has nothing outstanding, queued or closing, and the ACK is SND.UNA with
  // no SACK blocks: process_ack's receive-side case, where only the send window may
  // change (update_send_window, below, as there), and output() has nothing to send.
  if (seg.ack != snd_una_ || snd_max_ != snd_una_ || seg.options.sack_count != 0) return false;
  if (in_recovery_ || fin_queued_ || sndbuf_.size() != 0) return false;
  // No reassembly, D-SACK or early FIN pending, and a reader: the text step is a plain
  // append and the ACK carries no SACK block to refresh.
  if (!rx_.no_sack_blocks() || ooo_fin_ || app_closed_) return false;
  // PAWS (RFC 7323 §5.3): a TSval not older than TS.Recent. An older one (even one the
  // 24-day idle rule would let through) is for the general path to judge.
  std::uint32_t tsval = 0;
  if (ts_ok_) {
    if (!seg.options.timestamps) return false;
    tsval = seg.options.timestamps->value;
    if (static_cast<std::int32_t>(tsval - ts_recent_) < 0) return false;
  }
  // The text step; a full queue is the general path's drop, counted there.
  const bool adopt = out.payload_refs_offered() && seg.payload.skip == 0;
  if (!rx_.append_inorder(seg.payload, adopt)) return false;
  if (adopt) out.note_payload_adopted();

  // What the general path does for the segment, in its order, without the steps that
  // cannot apply.
  arm_keepalive(now);
  // update_ts_recent: TS.Recent moves only with a segment at or below Last.ACK.sent
  // (RFC 7323 §4.3); the PAWS test above showed the TSval is not older.
  if (ts_ok_ && !(seg.seq > last_ack_sent_)) {
    ts_recent_ = tsval;
    ts_recent_age_ = now;
  }
  update_send_window(seg);
  in_order_arrived(len, now, out);
  // output() with nothing of ours to send: ack_output, whose only work with no ACK
  // due and no read since the last ACK (no window update to weigh) is to return.
  if (send_blocked_) report_writable(out);
  if (ack_now_ || app_freed_ > 0) ack_output(now, out);
  count(TcpCounter::kPredictedSegs);
  return true;
}

}  // namespace shardtcp
