// Header prediction (tcp/tcb_fast_path.cc) against the general path: two TCBs, one
// predicting and one with TcpConfig::header_prediction off, get the same segments,
// timers and reads; after every step they must have emitted the same segments and
// events and agree on every observable and counter. The predicting TCB's TCPHPHits
// counter shows which segments took the shortcut.
#include "segment_compare.h"
#include "tcb_test_util.h"

namespace shardtcp::testing {
namespace {

class FastPath : public TcbTest {
 protected:
  void TearDown() override {
    general.reset();  // before the fixture checks that every payload was released
    tcb.reset();
    for (void* h : chain_handles_) ops.release(h);
    TcbTest::TearDown();
  }

  // The peer's next data in pieces, as the layer hands over a frame in an mbuf chain
  // (LRO, or a zero-copy sender's header and attached payload): `sizes` bytes each,
  // the first `skip` bytes of the concatenation not part of the segment.
  TcpSegment next_chain(const std::vector<std::uint32_t>& sizes, std::uint32_t skip = 0) {
    std::uint32_t total = 0;
    for (std::uint32_t n : sizes) {
      const std::string bytes(n, static_cast<char>('A' + chain_pieces_.size() % 26));
      chain_pieces_.push_back(
          ops.make_payload(reinterpret_cast<const std::uint8_t*>(bytes.data()), n));
      chain_handles_.push_back(chain_pieces_.back().handle);
      total += n;
    }
    TcpSegment s = seg(kAck | kPsh, peer_seq_, our_seq_);
    s.payload.pieces = &chain_pieces_[chain_pieces_.size() - sizes.size()];
    s.payload.piece_count = static_cast<std::uint16_t>(sizes.size());
    s.payload.skip = skip;
    s.payload.len = total - skip;
    if (ts_on_) s.options.timestamps = TcpTimestamps{++peer_ts_, last_tsval_};
    peer_seq_ += s.payload.len;
    return s;
  }

  // Both TCBs through an active open with the given peer options.
  void open(bool sack, bool ts) {
    cfg.header_prediction = true;
    make();
    TcpConfig gc = cfg;
    gc.header_prediction = false;
    general = std::make_unique<Tcb>(gc, ops, &general_stats);
    out.clear();
    gout.clear();
    tcb->open_active(local(), peer(), SeqNum(kIss), now, out);
    general->open_active(local(), peer(), SeqNum(kIss), now, gout);
    expect_same_output();
    const TcpSegment syn = out.segment(0).seg;
    now = now + 10ms;
    TcpSegment sa = seg(kSyn | kAck, kPeerIss, kIss + 1);
    sa.options.mss = 1460;
    sa.options.window_scale = 7;
    sa.options.sack_permitted = sack;
    if (ts) sa.options.timestamps = TcpTimestamps{peer_ts_, syn.options.timestamps->value};
    both(sa);
    ASSERT_EQ(tcb->state(), TcpState::kEstablished);
    peer_seq_ = kPeerIss + 1;
    our_seq_ = kIss + 1;
    ts_on_ = ts;
  }

  // The peer's next in-order data segment (timestamped when negotiated, echoing the
  // latest TSval we sent); the peer's sequence moves past it.
  TcpSegment next_data(std::uint32_t len, std::uint8_t extra = 0, std::uint16_t window = 65535) {
    TcpSegment s = data(peer_seq_, our_seq_, std::string(len, static_cast<char>('a' + len % 26)),
                        window, extra);
    if (ts_on_) s.options.timestamps = TcpTimestamps{++peer_ts_, last_tsval_};
    peer_seq_ += len;
    return s;
  }

  // Feeds `s` to both TCBs and compares; true when the predicting one took the shortcut.
  bool both(const TcpSegment& s) {
    const std::uint64_t hits = counter(TcpCounter::kPredictedSegs);
    out.clear();
    gout.clear();
    tcb->on_segment(s, now, out);
    general->on_segment(s, now, gout);
    expect_same_output();
    expect_same_state();
    EXPECT_EQ(general_stats.get(TcpCounter::kPredictedSegs), 0u);
    return counter(TcpCounter::kPredictedSegs) != hits;
  }
  // Both read everything (and flush, which may send a window update).
  void read_both() {
    std::string a(tcb->readable_bytes(), '\0'), b(general->readable_bytes(), '\0');
    a.resize(
        tcb->recv(reinterpret_cast<std::uint8_t*>(a.data()), static_cast<std::uint32_t>(a.size())));
    b.resize(general->recv(reinterpret_cast<std::uint8_t*>(b.data()),
                           static_cast<std::uint32_t>(b.size())));
    EXPECT_EQ(a, b);
    received_ += a;
    out.clear();
    gout.clear();
    tcb->flush(now, out);
    general->flush(now, gout);
    expect_same_output();
    expect_same_state();
  }
  // Moves the clock by `d`, running both TCBs' timers as they fall due.
  void advance_both(Duration d) {
    const Instant target = now + d;
    while (tcb->next_deadline() <= target) {
      ASSERT_EQ(tcb->next_deadline(), general->next_deadline());
      now = std::max(now, tcb->next_deadline());
      out.clear();
      gout.clear();
      tcb->on_timer(now, out);
      general->on_timer(now, gout);
      expect_same_output();
      expect_same_state();
    }
    now = target;
  }

  void expect_same_output() {
    ASSERT_EQ(out.segment_count(), gout.segment_count());
    for (std::size_t i = 0; i < out.segment_count(); ++i) {
      const OutSegment& a = out.segment(i);
      const OutSegment& b = gout.segment(i);
      testing::expect_same_header(a.seg, b.seg);
      EXPECT_EQ(a.stream_offset, b.stream_offset);
      EXPECT_EQ(a.payload_len, b.payload_len);
      EXPECT_EQ(a.tso_segsz, b.tso_segsz);
      if (a.seg.options.timestamps) last_tsval_ = a.seg.options.timestamps->value;
    }
    ASSERT_EQ(out.event_count(), gout.event_count());
    for (std::size_t i = 0; i < out.event_count(); ++i) {
      EXPECT_EQ(out.event(i).kind, gout.event(i).kind);
      EXPECT_EQ(out.event(i).value, gout.event(i).value);
    }
  }
  void expect_same_state() {
    EXPECT_EQ(tcb->state(), general->state());
    EXPECT_EQ(tcb->rcv_nxt(), general->rcv_nxt());
    EXPECT_EQ(tcb->rcv_wnd(), general->rcv_wnd());
    EXPECT_EQ(tcb->snd_una(), general->snd_una());
    EXPECT_EQ(tcb->snd_nxt(), general->snd_nxt());
    EXPECT_EQ(tcb->snd_max(), general->snd_max());
    EXPECT_EQ(tcb->snd_wnd(), general->snd_wnd());
    EXPECT_EQ(tcb->readable_bytes(), general->readable_bytes());
    EXPECT_EQ(tcb->writable_bytes(), general->writable_bytes());
    EXPECT_EQ(tcb->next_deadline(), general->next_deadline());
    EXPECT_EQ(tcb->ack_held(), general->ack_held());
    EXPECT_EQ(tcb->peer_closed(), general->peer_closed());
    EXPECT_EQ(tcb->cwnd(), general->cwnd());
    for (std::size_t c = 0; c < static_cast<std::size_t>(TcpCounter::kCount); ++c) {
      if (static_cast<TcpCounter>(c) == TcpCounter::kPredictedSegs) continue;
      EXPECT_EQ(stats.get(static_cast<TcpCounter>(c)),
                general_stats.get(static_cast<TcpCounter>(c)))
          << tcp_counter_names()[c];
    }
  }

  std::unique_ptr<Tcb> general;
  CounterGroup general_stats = make_tcp_counters();
  TcpOutput gout;
  bool ts_on_ = false;
  std::uint32_t last_tsval_ = 0;
  std::string received_;
  std::vector<Payload> chain_pieces_;
  std::vector<void*> chain_handles_;
};

// A stream of full segments with reads, delayed-ACK timers and window updates between
// them: every segment is predicted and both TCBs say and send the same throughout.
TEST_F(FastPath, InOrderStreamIsPredictedAndMatchesTheGeneralPath) {
  open(/*sack=*/true, /*ts=*/true);
  std::string sent;
  for (int i = 0; i < 60; ++i) {
    TcpSegment s = next_data(1448);
    sent.append(reinterpret_cast<const char*>(s.payload.data), s.payload.len);
    EXPECT_TRUE(both(s)) << "segment " << i;
    if (i % 7 == 6) read_both();
    if (i % 11 == 10) advance_both(50ms);
  }
  read_both();
  EXPECT_EQ(received_, sent);
  EXPECT_EQ(counter(TcpCounter::kPredictedSegs), 60u);
}

TEST_F(FastPath, WithoutTimestampsOrSackToo) {
  open(/*sack=*/false, /*ts=*/false);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(both(next_data(1460)));
  EXPECT_TRUE(both(next_data(1)));
  read_both();
  EXPECT_EQ(counter(TcpCounter::kPredictedSegs), 11u);
}

// Inside a receive burst the ACK is held for the burst's end on both paths.
TEST_F(FastPath, HeldAckOfABurstIsTheSame) {
  open(true, true);
  tcb->begin_ack_batch();
  general->begin_ack_batch();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(both(next_data(1448)));
  EXPECT_TRUE(out.segment_count() == 0);
  ASSERT_EQ(tcb->end_ack_batch(), general->end_ack_batch());
  out.clear();
  gout.clear();
  tcb->send_held_ack(now, out);
  general->send_held_ack(now, gout);
  ASSERT_EQ(out.segment_count(), 1u);
  expect_same_output();
  expect_same_state();
}

// A payload in pieces is queued piece by piece, as the general path queues it; one the
// queue has no room for, all of it, goes to the general path.
TEST_F(FastPath, PayloadInPiecesIsPredicted) {
  cfg.recv_max_segments = 8;
  open(true, true);
  chain_pieces_.reserve(64);  // the segments point into it
  EXPECT_TRUE(both(next_chain({66, 1448})));
  EXPECT_TRUE(both(next_chain({1000, 1000, 448}, 500)));  // the first 500 bytes trimmed
  EXPECT_TRUE(both(next_data(100)));
  EXPECT_EQ(tcb->readable_bytes(), 66u + 1448u + 1948u + 100u);
  // Six pieces queued of eight: a three-piece frame does not fit whole (the general
  // path queues the two pieces that fit and drops the third).
  EXPECT_FALSE(both(next_chain({100, 100, 100})));
  EXPECT_EQ(counter(TcpCounter::kDropRecvQueueFull), 1u);
  read_both();
  peer_seq_ = tcb->rcv_nxt().raw();  // the peer resends what was dropped
  EXPECT_TRUE(both(next_chain({100, 100, 100})));
  read_both();
}

TEST_F(FastPath, OutOfOrderDataAndTheGapItLeavesAreNotPredicted) {
  open(true, true);
  EXPECT_TRUE(both(next_data(1000)));
  TcpSegment hole = next_data(1000);
  TcpSegment above = next_data(1000);
  EXPECT_FALSE(both(above));           // out of order: queued, SACKed at once
  EXPECT_FALSE(both(next_data(500)));  // in order after the hole? no: above it, queued too
  EXPECT_FALSE(both(hole));            // fills the gap: the queue drains
  EXPECT_TRUE(both(next_data(1000)));  // nothing held out of order any more
  read_both();
}

TEST_F(FastPath, FinUrgentEcnAndSynAreNotPredicted) {
  open(true, true);
  EXPECT_FALSE(both(next_data(100, kUrg)));
  EXPECT_FALSE(both(next_data(100, kEce)));
  EXPECT_FALSE(both(next_data(100, kCwr)));
  TcpSegment ce = next_data(100);
  ce.ip_ecn = ip_ecn::kCe;
  EXPECT_FALSE(both(ce));
  EXPECT_TRUE(both(next_data(100)));
  EXPECT_FALSE(both(next_data(100, kFin)));
  EXPECT_EQ(tcb->state(), TcpState::kCloseWait);
  read_both();
}

TEST_F(FastPath, RstAndSynAtRcvNxtAreNotPredicted) {
  open(true, true);
  EXPECT_FALSE(both(next_data(10, kSyn)));  // challenge ACK (RFC 5961 §4)
  TcpSegment r = seg(kRst | kAck, peer_seq_ - 10, our_seq_);
  EXPECT_FALSE(both(r));
}

// A new window (our side has nothing to send, so only SND.WND changes) is predicted,
// and both paths record it alike; a zero window too.
TEST_F(FastPath, PeerWindowChangesMatch) {
  open(true, true);
  EXPECT_TRUE(both(next_data(1000, 0, 100)));
  EXPECT_EQ(tcb->snd_wnd(), 100u << 7);
  EXPECT_TRUE(both(next_data(1000, 0, 0)));
  EXPECT_EQ(tcb->snd_wnd(), 0u);
  EXPECT_TRUE(both(next_data(1000, 0, 65535)));
  // Our data then waits for the closed window on both.
  EXPECT_TRUE(both(next_data(1000, 0, 0)));
  ASSERT_EQ(tcb->send(reinterpret_cast<const std::uint8_t*>("abc"), 3), 3u);
  ASSERT_EQ(general->send(reinterpret_cast<const std::uint8_t*>("abc"), 3), 3u);
  read_both();                                // flush: nothing can go, the persist timer arms
  EXPECT_FALSE(both(next_data(1000, 0, 0)));  // data queued on our side
  advance_both(1s);
  read_both();
}

// Our receive window full: data at RCV.NXT beyond it is trimmed or refused by the
// general path, never predicted.
TEST_F(FastPath, ZeroReceiveWindowIsNotPredicted) {
  cfg.recv_buffer = 8 * 1024;
  open(true, true);
  int predicted = 0, general_path = 0;
  for (int i = 0; i < 12; ++i) (both(next_data(1000)) ? predicted : general_path)++;
  EXPECT_EQ(tcb->rcv_wnd(), 0u);
  EXPECT_GT(general_path, 0);
  EXPECT_GT(predicted, 0);
  read_both();
  peer_seq_ = tcb->rcv_nxt().raw();  // the peer resends what the window refused
  EXPECT_TRUE(both(next_data(1000)));
  read_both();
}

TEST_F(FastPath, FullReceiveQueueDropIsTheGeneralPaths) {
  cfg.recv_max_segments = 4;
  open(true, true);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(both(next_data(100)));
  EXPECT_FALSE(both(next_data(100)));
  EXPECT_EQ(counter(TcpCounter::kDropRecvQueueFull), 1u);
  read_both();
}

TEST_F(FastPath, PawsFailureAndMissingTimestampAreNotPredicted) {
  open(true, true);
  EXPECT_TRUE(both(next_data(100)));
  TcpSegment old = next_data(100);
  old.options.timestamps->value = peer_ts_ - 5;
  EXPECT_FALSE(both(old));  // dropped with an ACK
  EXPECT_EQ(counter(TcpCounter::kPawsRejected), 1u);
  peer_seq_ -= 100;
  TcpSegment bare = next_data(100);
  bare.options.timestamps.reset();
  EXPECT_FALSE(both(bare));
  EXPECT_TRUE(both(next_data(100)));
  read_both();
}

TEST_F(FastPath, IncomingSackBlocksAreNotPredicted) {
  open(true, true);
  TcpSegment s = next_data(100);
  s.options.sack_count = 1;
  s.options.sack[0] = SackBlock{SeqNum(our_seq_ - 100), SeqNum(our_seq_ - 50)};
  EXPECT_FALSE(both(s));
}

// While our own data is in flight (or queued) the ACK field matters: general path.
TEST_F(FastPath, DataWhileOursIsOutstandingIsNotPredicted) {
  open(true, true);
  ASSERT_EQ(tcb->send(reinterpret_cast<const std::uint8_t*>("hello"), 5), 5u);
  ASSERT_EQ(general->send(reinterpret_cast<const std::uint8_t*>("hello"), 5), 5u);
  out.clear();
  gout.clear();
  tcb->flush(now, out);
  general->flush(now, gout);
  expect_same_output();
  EXPECT_FALSE(both(next_data(100)));  // acknowledges nothing yet
  our_seq_ += 5;
  EXPECT_FALSE(both(next_data(100)));  // acknowledges our 5 bytes
  EXPECT_TRUE(both(next_data(100)));   // nothing of ours outstanding again
  read_both();
}

// A duplicate (already received) segment and one that overlaps RCV.NXT.
TEST_F(FastPath, DuplicatesAndOverlapsAreNotPredicted) {
  open(true, true);
  TcpSegment a = next_data(100);
  EXPECT_TRUE(both(a));
  EXPECT_FALSE(both(a));  // D-SACK
  peer_seq_ -= 50;
  EXPECT_FALSE(both(next_data(100)));  // half old
  EXPECT_TRUE(both(next_data(100)));
  read_both();
}

}  // namespace
}  // namespace shardtcp::testing
