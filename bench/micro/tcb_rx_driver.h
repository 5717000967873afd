// A TCB in ESTABLISHED fed in-order 1448-byte data segments (timestamps on, as Linux
// sends them) on a virtual clock, with the application reading what arrived: the pure
// receive path of the TCP core, ACKs included. The application reads in place
// (Tcb::recv_in_place, the zero-copy read) unless built with `copy_reads`, where it
// copies into its buffer (Tcb::recv). Segments arrive in bursts of 16 that draw one
// ACK each (see receive_one). Shared by the Google Benchmark case and
// the callgrind program behind `scripts/bench.sh --instr`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "tcp/tcb.h"
#include "tcp/tcp_buffer.h"

namespace shardtcp::bench {

class TcbRxDriver {
 public:
  static constexpr std::uint32_t kMss = 1448;
  static constexpr std::uint32_t kIss = 1000, kPeerIss = 50000;

  explicit TcbRxDriver(bool copy_reads = false, bool per_segment_acks = false)
      : copy_reads_(copy_reads),
        per_segment_acks_(per_segment_acks),
        payload_(kMss, 0x5a),
        read_buf_(256 * 1024) {
    cfg_.recv_buffer = 256 * 1024;
    cfg_.send_buffer = 64 * 1024;
    tcb_ = std::make_unique<Tcb>(cfg_, ops_);
    const Endpoint local{IpAddr::v4(0xC6120001), 40000}, peer{IpAddr::v4(0xC6120002), 5201};
    out_.clear();
    tcb_->open_active(local, peer, SeqNum(kIss), now_, out_);
    const std::uint32_t our_ts = out_.segment(0).seg.options.timestamps->value;
    now_ = now_ + std::chrono::microseconds(20);
    TcpSegment sa = base(tcp_flags::kSyn | tcp_flags::kAck, kPeerIss, kIss + 1);
    sa.options.mss = kMss + 12;
    sa.options.window_scale = 7;
    sa.options.sack_permitted = true;
    sa.options.timestamps = TcpTimestamps{peer_ts_, our_ts};
    out_.clear();
    tcb_->on_segment(sa, now_, out_);
    peer_seq_ = kPeerIss + 1;
    seg_ = base(tcp_flags::kAck | tcp_flags::kPsh, peer_seq_, kIss + 1);
    seg_.options.timestamps = TcpTimestamps{};
    seg_.payload = Payload{payload_.data(), kMss, nullptr};
  }

  bool established() const { return tcb_->state() == TcpState::kEstablished; }

  // One in-order data segment in; returns the segments (ACKs) the TCB emitted. The
  // segments come in bursts of 16, as the engine hands a connection's segments of one
  // rx burst to its TCB: inside an ACK batch (Tcb::begin_ack_batch), the application
  // woken at the burst's end reading everything, then the ACK the burst still owes
  // (TcpLayer::end_burst / send_held_acks). With `per_segment_acks` there is no batch:
  // an ACK every second segment, as for segments that arrive one per poll.
  // Inlined into the caller's loop: the call and the frame are the harness's cost.
  [[gnu::always_inline]] std::size_t receive_one() {
    if (since_read_ == 0 && !per_segment_acks_) tcb_->begin_ack_batch();
    // The segment is built once and only its sequence number and timestamps change
    // here: filling a whole TcpSegment is the decoder's work (decode_tcp, counted in
    // the wire+tcb phase and end to end), not the TCB's.
    seg_.seq = SeqNum(peer_seq_);
    *seg_.options.timestamps = TcpTimestamps{++peer_ts_, last_tsval_};
    now_ = now_ + std::chrono::microseconds(1);
    out_.clear();
    // As the TCP layer hands a connection its segments: the receive queue may keep the
    // caller's reference to the payload's buffer (TcpOutput::offer_payload_refs).
    out_.offer_payload_refs();
    tcb_->on_segment(seg_, now_, out_);
    peer_seq_ += kMss;
    std::size_t n = sent();
    if (++since_read_ == 16) {
      since_read_ = 0;
      const auto all = static_cast<std::uint32_t>(read_buf_.size());
      if (copy_reads_)
        tcb_->recv(read_buf_.data(), all);
      else
        tcb_->recv_in_place(all, false, [](const std::uint8_t*, std::uint32_t) {});
      // Reading opens the window: the TCB may send a window update on flush.
      out_.clear();
      tcb_->flush(now_, out_);
      if (!per_segment_acks_ && tcb_->end_ack_batch()) tcb_->send_held_ack(now_, out_);
      n += sent();
    }
    // Delayed-ACK timers fire as they fall due: looked at after each burst, as the
    // engine re-arms a connection's timer at the burst's end (per segment without one).
    if ((since_read_ == 0 || per_segment_acks_) && tcb_->next_deadline() <= now_) {
      out_.clear();
      tcb_->on_timer(now_, out_);
      n += sent();
    }
    acks_ += n;
    return n;
  }
  std::uint64_t acks() const { return acks_; }
  std::uint64_t received() const { return peer_seq_ - (kPeerIss + 1); }

 private:
  // The segments in out_, noting the last one's timestamp to echo.
  std::size_t sent() {
    const std::size_t n = out_.segment_count();
    if (n != 0 && out_.segment(n - 1).seg.options.timestamps)
      last_tsval_ = out_.segment(n - 1).seg.options.timestamps->value;
    return n;
  }

  TcpSegment base(std::uint8_t flags, std::uint32_t seq, std::uint32_t ack) const {
    TcpSegment s;
    s.src_port = 5201;
    s.dst_port = 40000;
    s.seq = SeqNum(seq);
    s.ack = SeqNum(ack);
    s.flags = flags;
    s.window = 65535;
    return s;
  }

  bool copy_reads_;
  bool per_segment_acks_;
  TcpConfig cfg_;
  HeapBufferOps ops_;
  std::unique_ptr<Tcb> tcb_;
  TcpSegment seg_;  // the peer's next data segment
  TcpOutput out_;
  Instant now_{1'000'000'000};
  std::vector<std::uint8_t> payload_;
  std::vector<std::uint8_t> read_buf_;
  std::uint32_t peer_seq_ = 0;
  std::uint32_t peer_ts_ = 7000;
  std::uint32_t last_tsval_ = 0;
  std::uint32_t since_read_ = 0;
  std::uint64_t acks_ = 0;
};

}  // namespace shardtcp::bench
