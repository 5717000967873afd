// Conformance scripts (issue 17): behaviours an outside suite (packetdrill, FreeBSD's
// tcp-testsuite) found departing from the RFCs, each a short scripted-peer scenario
// run for IPv4 and IPv6. See tcb_script.h for the notation.
#include "tcb_script.h"

namespace shardtcp::testing {
namespace {

constexpr std::uint16_t kMss = 1460;

// ---- 1. Window updates (RFC 9293 §3.8.6.2.2, RFC 1122 §4.2.3.3) ----

class WindowUpdate : public TcbScript {};
TCB_SCRIPT_FAMILIES(WindowUpdate);

// Without window scaling a 256 KiB buffer shows as 65 535 whatever is free above it:
// reads, our data and our FIN change nothing the peer sees, so no pure ACK may follow
// them (to the peer it would be a duplicate ACK).
TEST_P(WindowUpdate, NoUpdateWhenUnscaledFieldCannotShowTheGrowth) {
  cfg.recv_buffer = 256 * 1024;
  cfg.timestamps = false;
  std::vector<Step> s = active_handshake(10ms, In().mss(kMss));
  s.insert(s.end(), {
                        inject(100ms, In().seq(1).len(1000)),
                        expect(140ms, Out().seq(1).ack(1001).win(65535)),  // delayed
                        read(200ms, 1000),
                        nothing(300ms),
                        write(300ms, 100),
                        expect(300ms, Out(kAck | kPsh).seq(1).len(100).win(65535)),
                        nothing(400ms),
                        inject(400ms, In().seq(1001).ack(101)),
                        shutdown_wr(500ms),
                        expect(500ms, Out(kAck | kFin).seq(101).ack(1001)),
                        inject(510ms, In().seq(1001).ack(102)),
                        nothing(2s),
                    });
  run(s);
}

// A SYN-ACK's window is never scaled and so at most 65 535; the larger window the
// buffer allows reaches the peer with the next segment, not in an extra ACK after the
// handshake (with and without window scaling).
TEST_P(WindowUpdate, NoUpdateAfterPassiveHandshakeWithScaling) {
  cfg.recv_buffer = 256 * 1024;
  cfg.timestamps = false;
  run({
      accept(0ms, In(kSyn).seq(0).ack(0).mss(kMss).wscale(7)),
      expect(0ms, Out(kSyn | kAck).seq(0).ack(1).win(65535)),
      inject(10ms, In()),
      nothing(1s),
      inject(1s, In().len(100)),
      expect(1040ms, Out().seq(1).ack(101).win((256 * 1024 - 100 + 7) >> 3)),
  });
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
}

TEST_P(WindowUpdate, NoUpdateAfterPassiveHandshakeWithoutScaling) {
  cfg.recv_buffer = 256 * 1024;
  cfg.timestamps = false;
  run({
      accept(0ms, In(kSyn).seq(0).ack(0).mss(kMss)),
      expect(0ms, Out(kSyn | kAck).seq(0).ack(1).win(65535)),
      inject(10ms, In()),
      nothing(1s),
  });
  EXPECT_EQ(tcb->state(), TcpState::kEstablished);
}

// The updates that must go out still do: once a closed window has opened by an MSS, and
// after that once it has grown by two MSS (or half the buffer).
TEST_P(WindowUpdate, UpdateOnceWindowGrowsEnough) {
  cfg.recv_buffer = 20000;
  cfg.timestamps = false;
  std::vector<Step> s = active_handshake(10ms, In().mss(kMss).wscale(7));
  s.insert(s.end(), {
                        inject(100ms, In().seq(1).len(10000)),
                        expect(100ms, Out().ack(10001).win(10000)),
                        inject(110ms, In().seq(10001).len(10000)),
                        expect(110ms, Out().ack(20001).win(0)),
                        read(200ms, 1000),  // less than an MSS: the window stays shut
                        nothing(300ms),
                        read(300ms, 2000),
                        expect(300ms, Out().ack(20001).win(3000)),
                        read(400ms, 2000),  // less than two MSS more
                        nothing(500ms),
                        read(500ms, 1000),
                        expect(500ms, Out().ack(20001).win(6000)),
                        nothing(2s),
                    });
  run(s);
}

}  // namespace
}  // namespace shardtcp::testing
