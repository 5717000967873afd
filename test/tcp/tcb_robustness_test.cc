// Hostile input: random segments (flags, numbers near and far from the windows, options,
// payloads) and random application calls and timer runs must never crash, break the
// TCB's own invariants or leak buffers ("no asserts on wire data").
#include <random>

#include "tcb_test_util.h"

namespace shardtcp::testing {
namespace {

class Robustness : public TcbTest, public ::testing::WithParamInterface<std::uint32_t> {};

TEST_P(Robustness, RandomSegmentsKeepInvariants) {
  std::mt19937 rng(GetParam());
  auto pick = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
  establish_active(GetParam() % 2 == 0, GetParam() % 3 != 0);
  std::string blob(3000, 'r');
  std::uint64_t closed_seen = 0;
  for (int i = 0; i < 20000; ++i) {
    if (tcb->state() == TcpState::kClosed) {
      ++closed_seen;
      tcb.reset();
      establish_active(rng() % 2 == 0, rng() % 2 == 0);
    }
    std::uint32_t what = pick(100);
    if (what < 70) {
      std::uint32_t base_seq = tcb->rcv_nxt().raw();
      std::uint32_t base_ack = tcb->snd_una().raw();
      std::uint32_t seq =
          pick(4) == 0 ? static_cast<std::uint32_t>(rng()) : base_seq + pick(200000) - 100000;
      std::uint32_t ack =
          pick(4) == 0 ? static_cast<std::uint32_t>(rng()) : base_ack + pick(20000) - 10000;
      std::uint8_t flags = static_cast<std::uint8_t>(rng());
      if (pick(2)) flags = static_cast<std::uint8_t>((flags & ~(kSyn | kRst)) | kAck);
      TcpSegment s;
      if (pick(3) == 0) {
        s = data(seq, ack, blob.substr(0, pick(1500) + 1), static_cast<std::uint16_t>(rng()),
                 flags);
        s.flags = flags;
      } else {
        s = seg(flags, seq, ack, static_cast<std::uint16_t>(rng()));
      }
      if (pick(3) == 0)
        s.options.timestamps =
            TcpTimestamps{static_cast<std::uint32_t>(rng()), static_cast<std::uint32_t>(rng())};
      if (pick(3) == 0) {
        s.options.sack_count = static_cast<std::uint8_t>(pick(5));
        for (std::uint8_t k = 0; k < s.options.sack_count; ++k) {
          std::uint32_t l = base_ack + pick(40000) - 5000;
          s.options.sack[k] = SackBlock{SeqNum(l), SeqNum(l + pick(5000))};
        }
      }
      if (pick(10) == 0) s.options.window_scale = static_cast<std::uint8_t>(rng());
      if (pick(10) == 0) s.options.mss = static_cast<std::uint16_t>(rng());
      send(s);
    } else if (what < 80) {
      advance(std::chrono::milliseconds(pick(3000)));
    } else if (what < 90) {
      tcb->send(reinterpret_cast<const std::uint8_t*>(blob.data()), pick(3000));
      flush();
    } else if (what < 97) {
      std::uint8_t buf[4096];
      tcb->recv(buf, pick(4096), pick(2) == 0);
      flush();
    } else if (what < 99) {
      shutdown();
    } else {
      close();
    }
    // Invariants of our own state.
    ASSERT_LE(tcb->snd_una(), tcb->snd_nxt());
    ASSERT_LE(tcb->snd_nxt(), tcb->snd_max());
    ASSERT_LE(tcb->bytes_in_flight(), tcb->send_buffer().size() + 2);
    ASSERT_LE(tcb->send_buffer().size(), tcb->send_buffer().capacity());
    for (std::size_t k = 0; k < out.segment_count(); ++k) {
      const OutSegment& o = out.segment(k);
      if (o.payload_len > 0) {
        ASSERT_GE(o.stream_offset, tcb->send_buffer().head_offset());
        ASSERT_LE(o.stream_offset + o.payload_len, tcb->send_buffer().tail_offset());
      }
    }
  }
  SUCCEED() << closed_seen << " connections were torn down by the fuzz input";
}

INSTANTIATE_TEST_SUITE_P(Tcb, Robustness, ::testing::Values(1u, 2u, 3u, 4u, 5u, 6u));

}  // namespace
}  // namespace shardtcp::testing
