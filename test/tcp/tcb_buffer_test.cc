// The TCB's byte storage: SendBuffer (chunk chain addressed by stream offset) and
// TcpReceiver (zero-copy in-order queue, bounded out-of-order queue, SACK/D-SACK), the
// receiver's pool storage taken while pieces are queued and returned when they drain.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "tcp/tcp_buffer.h"
#include "tcp/tcp_receiver.h"

namespace shardtcp {
namespace {

std::string pattern(std::size_t n, std::size_t from = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('A' + (from + i) % 23);
  return s;
}

TEST(SendBuffer, AppendsAcrossChunksAndCopiesByStreamOffset) {
  HeapBufferOps ops(100);
  {
    SendBuffer b(ops, 1000, ops.chunk_size());
    std::string d = pattern(750);
    EXPECT_EQ(b.append(reinterpret_cast<const std::uint8_t*>(d.data()), 750), 750u);
    EXPECT_EQ(ops.live_chunks(), 8);
    std::string got(200, '\0');
    EXPECT_EQ(b.copy(90, 200, reinterpret_cast<std::uint8_t*>(got.data())), 200u);
    EXPECT_EQ(got, d.substr(90, 200));
    int pieces = 0;
    b.for_each_chunk(90, 200, [&](const std::uint8_t*, std::uint32_t, void*) { ++pieces; });
    EXPECT_EQ(pieces, 3);  // 90..100, 100..200, 200..290
  }
  EXPECT_EQ(ops.live_chunks(), 0);
}

// Chunks of two sizes (an allocator whose chunks differ): offsets are found by walking
// the ring rather than by the division a single chunk size allows.
class AlternatingChunkOps final : public BufferOps {
 public:
  void retain(void*) override {}
  void release(void*) override {}
  bool alloc_chunk(BufferChunk& out) override {
    out.capacity = (taken_++ % 2 == 0) ? 100 : 37;
    out.data = new std::uint8_t[out.capacity];
    out.handle = out.data;
    ++live_;
    return true;
  }
  void free_chunk(const BufferChunk& c) override {
    delete[] c.data;
    --live_;
  }
  std::uint32_t chunk_size() const override { return 37; }
  int live_ = 0;

 private:
  int taken_ = 0;
};

TEST(SendBuffer, FindsEveryOffsetWithChunksOfOneSizeOrOfSeveral) {
  HeapBufferOps uniform(100);
  AlternatingChunkOps mixed;
  for (BufferOps* ops : {static_cast<BufferOps*>(&uniform), static_cast<BufferOps*>(&mixed)}) {
    SendBuffer b(*ops, 2000, 37);
    const std::string d = pattern(1500);
    ASSERT_EQ(b.append(reinterpret_cast<const std::uint8_t*>(d.data()), 1000), 1000u);
    b.consume(333);  // the head chunk partly acknowledged
    ASSERT_EQ(b.append(reinterpret_cast<const std::uint8_t*>(d.data()) + 1000, 500), 500u);
    for (std::uint64_t off = 333; off < 1500; off += 7) {
      const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(211, 1500 - off));
      std::string got(n, '\0');
      ASSERT_EQ(b.copy(off, n, reinterpret_cast<std::uint8_t*>(got.data())), n);
      ASSERT_EQ(got, d.substr(off, n)) << "offset " << off;
    }
  }
  EXPECT_EQ(mixed.live_, 0);
}

TEST(SendBuffer, ConsumeFreesChunksAndKeepsOffsetsStable) {
  HeapBufferOps ops(100);
  SendBuffer b(ops, 1000, ops.chunk_size());
  std::string d = pattern(450);
  b.append(reinterpret_cast<const std::uint8_t*>(d.data()), 450);
  b.consume(250);
  EXPECT_EQ(b.head_offset(), 250u);
  EXPECT_EQ(b.size(), 200u);
  EXPECT_EQ(ops.live_chunks(), 3);
  std::string more = pattern(100, 450);
  b.append(reinterpret_cast<const std::uint8_t*>(more.data()), 100);
  std::string got(300, '\0');
  b.copy(250, 300, reinterpret_cast<std::uint8_t*>(got.data()));
  EXPECT_EQ(got, pattern(300, 250));
  b.consume(300);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(ops.live_chunks(), 0);  // drained: every chunk, the tail one too, went back
  EXPECT_EQ(b.ring_storage_bytes(), 0u);
  EXPECT_EQ(ops.blocks().blocks_in_use(), 0u);
  // Appending again after the drain takes a fresh chunk at the same stream offsets.
  b.append(reinterpret_cast<const std::uint8_t*>(d.data()), 10);
  EXPECT_EQ(b.head_offset(), 550u);
  EXPECT_EQ(ops.live_chunks(), 1);
}

TEST(SendBuffer, BoundedByCapacityAndByAllocator) {
  HeapBufferOps ops(100);
  SendBuffer b(ops, 300, ops.chunk_size());
  std::string d = pattern(1000);
  EXPECT_EQ(b.append(reinterpret_cast<const std::uint8_t*>(d.data()), 1000), 300u);
  EXPECT_EQ(b.free_space(), 0u);
  HeapBufferOps tight(100);
  tight.set_chunk_limit(2);
  SendBuffer c(tight, 1000, tight.chunk_size());
  EXPECT_EQ(c.append(reinterpret_cast<const std::uint8_t*>(d.data()), 1000), 200u);
}

TEST(PooledSendBuffer, HoldsNothingUntilWrittenAndNothingOnceAcked) {
  HeapBufferOps ops(1000);
  SendBuffer b(ops, 64 * 1024, ops.chunk_size());
  EXPECT_EQ(ops.blocks().blocks_in_use(), 0u);
  EXPECT_EQ(ops.live_chunks(), 0);
  std::string d = pattern(20000);
  // Written and acknowledged in steps that straddle chunk boundaries, with the ring
  // wrapping: the stream comes back out byte-exact at every offset.
  std::uint64_t written = 0;
  for (int round = 0; round < 30; ++round) {
    const std::uint32_t n = 1700 + 37 * static_cast<std::uint32_t>(round);
    ASSERT_EQ(b.append(reinterpret_cast<const std::uint8_t*>(d.data()) + written % 1000, n), n);
    std::string got(n, '\0');
    ASSERT_EQ(b.copy(b.tail_offset() - n, n, reinterpret_cast<std::uint8_t*>(got.data())), n);
    EXPECT_EQ(got, d.substr(written % 1000, n));
    written += n;
    b.consume(b.size() > 3000 ? b.size() - 3000 : 0);
  }
  EXPECT_GT(ops.blocks().blocks_in_use(), 0u);
  b.consume(b.size());
  EXPECT_EQ(b.head_offset(), written);
  EXPECT_EQ(ops.live_chunks(), 0);
  EXPECT_EQ(b.ring_storage_bytes(), 0u);
  EXPECT_EQ(ops.blocks().blocks_in_use(), 0u);
}

TEST(PooledSendBuffer, ExhaustedPoolAcceptsFewerBytesAndLeaksNoChunk) {
  HeapBufferOps ops(1000);
  ops.blocks().set_limit_bytes(0);
  SendBuffer b(ops, 64 * 1024, ops.chunk_size());
  std::string d = pattern(5000);
  EXPECT_EQ(b.append(reinterpret_cast<const std::uint8_t*>(d.data()), 5000),
            0u);                    // no ring block: nothing taken
  EXPECT_EQ(ops.live_chunks(), 0);  // the chunk it had was handed back
  ops.blocks().set_limit_bytes(SIZE_MAX);
  EXPECT_EQ(b.append(reinterpret_cast<const std::uint8_t*>(d.data()), 5000),
            5000u);  // and it works once there is room
}

class Receiver : public ::testing::Test {
 protected:
  void TearDown() override {
    rx.reset(SeqNum());
    for (void* h : held) ops.release(h);
    EXPECT_EQ(ops.live_blocks(), 0);
    EXPECT_EQ(ops.blocks().blocks_in_use(), 0u);  // the piece lists went back to the pool
  }
  TcpReceiver::InsertResult put(std::uint32_t seq, const std::string& s) {
    Payload p = ops.make_payload(reinterpret_cast<const std::uint8_t*>(s.data()),
                                 static_cast<std::uint32_t>(s.size()));
    held.push_back(p.handle);
    return rx.insert(SeqNum(seq), p);
  }
  std::string read(std::uint32_t n, bool peek = false) {
    std::string s(n, '\0');
    s.resize(rx.read(reinterpret_cast<std::uint8_t*>(s.data()), n, peek));
    return s;
  }
  HeapBufferOps ops;
  TcpReceiver rx{ops, 10000, 64, 4};
  std::vector<void*> held;
};

TEST_F(Receiver, InOrderDataIsKeptByReferenceUntilRead) {
  rx.reset(SeqNum(100));
  auto r = put(100, "hello");
  EXPECT_EQ(r.advanced, 5u);
  for (void* h : held) ops.release(h);
  held.clear();
  EXPECT_EQ(ops.live_blocks(), 1);  // the receiver still holds it
  EXPECT_EQ(read(3, true), "hel");
  EXPECT_EQ(rx.readable(), 5u);
  EXPECT_EQ(read(3), "hel");
  EXPECT_EQ(read(10), "lo");
  EXPECT_EQ(ops.live_blocks(), 0);  // released once fully read
}

TEST_F(Receiver, OutOfOrderIsQueuedAndDrainedOnGapFill) {
  rx.reset(SeqNum(0));
  EXPECT_TRUE(put(10, "klmno").out_of_order);
  EXPECT_TRUE(put(5, "fghij").out_of_order);
  EXPECT_EQ(rx.ooo_bytes(), 10u);
  auto r = put(0, "abcde");
  EXPECT_TRUE(r.filled_gap);
  EXPECT_EQ(r.advanced, 15u);
  EXPECT_EQ(read(100), "abcdefghijklmno");
}

TEST_F(Receiver, OverlapsAreTrimmedAndCoveredPiecesReplaced) {
  rx.reset(SeqNum(0));
  put(10, "KLM");
  put(20, "UV");
  put(8, "ijklmnopqrstuvwxyz");  // covers both islands and more: replaces them
  EXPECT_EQ(rx.ooo_segments(), 1u);
  put(22, "wxYZ12");  // overlaps the tail: only the new bytes are kept
  EXPECT_EQ(rx.ooo_segments(), 2u);
  put(0, "abcdefgh");
  EXPECT_EQ(read(100), "abcdefghijklmnopqrstuvwxyz12");
}

TEST_F(Receiver, DuplicatesRecordDsack) {
  rx.reset(SeqNum(0));
  put(0, "abcdef");
  auto r = put(2, "cd");
  EXPECT_TRUE(r.duplicate);
  SackBlock b[4];
  ASSERT_EQ(rx.sack_blocks(b, 4), 1);
  EXPECT_EQ(b[0], (SackBlock{SeqNum(2), SeqNum(4)}));
  rx.clear_dsack();
  EXPECT_EQ(rx.sack_blocks(b, 4), 0);
  // A duplicate of out-of-order data is reported too, ahead of the SACK blocks.
  put(20, "xyz");
  EXPECT_TRUE(put(20, "xyz").duplicate);
  ASSERT_EQ(rx.sack_blocks(b, 4), 2);
  EXPECT_EQ(b[0], (SackBlock{SeqNum(20), SeqNum(23)}));
  EXPECT_EQ(b[1], (SackBlock{SeqNum(20), SeqNum(23)}));
}

// A coalesced (LRO) frame's payload comes in pieces, one buffer each: they are queued by
// reference piece by piece, trimmed where the receiver already holds bytes.
TEST_F(Receiver, PayloadInPiecesIsQueuedPieceByPiece) {
  rx.reset(SeqNum(0));
  std::vector<Payload> parts;
  for (const std::string s : {"abcd", "efgh", "ijkl"}) {
    parts.push_back(ops.make_payload(reinterpret_cast<const std::uint8_t*>(s.data()), 4));
    held.push_back(parts.back().handle);
  }
  Payload p;
  p.pieces = parts.data();
  p.piece_count = 3;
  p.len = 12;
  // Out of order first: the frame's bytes 6.. at sequence 6 (trimmed like a segment).
  Payload tail = p;
  tail.advance(6);
  auto r = rx.insert(SeqNum(6), tail);
  EXPECT_TRUE(r.out_of_order);
  EXPECT_EQ(rx.ooo_bytes(), 6u);
  EXPECT_EQ(rx.ooo_segments(), 2u);  // "gh" and "ijkl": one per buffer
  r = rx.insert(SeqNum(0), p);
  EXPECT_EQ(r.advanced, 12u);
  EXPECT_TRUE(r.filled_gap);
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(read(100), "abcdefghijkl");
  // The same frame again: every piece a duplicate.
  EXPECT_TRUE(rx.insert(SeqNum(0), p).duplicate);
}

TEST_F(Receiver, SackBlocksMostRecentFirstAndBounded) {
  rx.reset(SeqNum(0));
  put(10, "a");
  put(30, "b");
  put(20, "c");
  SackBlock b[4];
  ASSERT_EQ(rx.sack_blocks(b, 2), 2);
  EXPECT_EQ(b[0].left, SeqNum(20));
  EXPECT_EQ(b[1].left, SeqNum(30));
  // Adjacent pieces are reported as one block.
  put(11, "abcdefghi");
  ASSERT_EQ(rx.sack_blocks(b, 4), 2);
  EXPECT_EQ(b[0], (SackBlock{SeqNum(10), SeqNum(21)}));
  EXPECT_EQ(b[1], (SackBlock{SeqNum(30), SeqNum(31)}));
}

TEST_F(Receiver, OutOfOrderQueueIsBounded) {
  rx.reset(SeqNum(0));
  for (std::uint32_t i = 0; i < 4; ++i) EXPECT_FALSE(put(10 + 10 * i, "x").dropped);
  EXPECT_TRUE(put(100, "y").dropped);
  EXPECT_EQ(rx.ooo_segments(), 4u);
  EXPECT_EQ(rx.free_space(), 10000u - 4u);
}

// Issue 15: the piece lists take pool storage only while pieces are queued.
// The zero-copy read shows the bytes where they arrived, one run per piece, and
// consumes them as the copying read does (a partial piece keeps its rest).
TEST_F(Receiver, InPlaceReadShowsEachPieceWhereItLiesAndConsumesAsReadDoes) {
  rx.reset(SeqNum(0));
  put(0, "abcd");
  put(4, "efgh");
  put(8, "ijkl");
  for (void* h : held) ops.release(h);
  held.clear();
  std::vector<std::string> runs;
  std::vector<const std::uint8_t*> where;
  auto visit = [&](const std::uint8_t* data, std::uint32_t n) {
    runs.emplace_back(reinterpret_cast<const char*>(data), n);
    where.push_back(data);
  };
  // A peek shows without consuming.
  EXPECT_EQ(rx.read_in_place(6, true, visit), 6u);
  EXPECT_EQ(runs, (std::vector<std::string>{"abcd", "ef"}));
  EXPECT_EQ(rx.readable(), 12u);
  runs.clear();
  where.clear();
  EXPECT_EQ(rx.read_in_place(6, false, visit), 6u);
  EXPECT_EQ(runs, (std::vector<std::string>{"abcd", "ef"}));
  EXPECT_EQ(where[1] + 2, [&] {  // the rest of the piece read in part is where it was
    const std::uint8_t* rest = nullptr;
    rx.read_in_place(1, true, [&](const std::uint8_t* d, std::uint32_t) { rest = d; });
    return rest;
  }());
  EXPECT_EQ(rx.readable(), 6u);
  EXPECT_EQ(ops.live_blocks(), 2);  // "abcd" went back once read whole
  EXPECT_EQ(read(100), "ghijkl");
  EXPECT_EQ(ops.live_blocks(), 0);
  EXPECT_EQ(rx.storage_bytes(), 0u);
}

// More pieces than one batch of releases (32) go back, every one, after one read.
TEST_F(Receiver, ReadOfManyPiecesReleasesEveryOne) {
  rx.reset(SeqNum(0));
  std::string all;
  for (int i = 0; i < 50; ++i) {
    const std::string piece(3, static_cast<char>('a' + i % 26));
    put(static_cast<std::uint32_t>(all.size()), piece);
    all += piece;
  }
  for (void* h : held) ops.release(h);
  held.clear();
  EXPECT_EQ(ops.live_blocks(), 50);
  std::string got;
  EXPECT_EQ(rx.read_in_place(1000, false,
                             [&](const std::uint8_t* d, std::uint32_t n) {
                               got.append(reinterpret_cast<const char*>(d), n);
                             }),
            150u);
  EXPECT_EQ(got, all);
  EXPECT_EQ(ops.live_blocks(), 0);
}

TEST_F(Receiver, IdleReceiverHoldsNoStorageAndDrainReturnsIt) {
  rx.reset(SeqNum(0));
  EXPECT_EQ(rx.storage_bytes(), 0u);
  EXPECT_EQ(rx.free_space(), 10000u);  // the window is advertised from the capacity
  put(0, "abc");
  EXPECT_GT(rx.storage_bytes(), 0u);
  EXPECT_EQ(read(100), "abc");
  EXPECT_EQ(rx.storage_bytes(), 0u);
  EXPECT_EQ(ops.blocks().blocks_in_use(), 0u);
}

TEST_F(Receiver, InOrderRingWrapsAndTrimsBelowRcvNxt) {
  const std::string stream = pattern(3000);
  rx.reset(SeqNum(0xffffff00u));  // the sequence space wraps too
  std::string got;
  std::uint32_t off = 0;
  for (int i = 0; off < stream.size(); ++i) {
    const std::uint32_t n = std::min<std::uint32_t>(10 + (i % 7) * 13, 3000 - off);
    // Every other segment re-sends 5 bytes already received: they are trimmed.
    const std::uint32_t back = (i % 2 == 1 && off >= 5) ? 5 : 0;
    auto r = put(0xffffff00u + off - back, stream.substr(off - back, n + back));
    ASSERT_EQ(r.advanced, n);
    off += n;
    if (i % 3 == 2) got += read(static_cast<std::uint32_t>(rx.readable() - 1));  // keep one
  }
  got += read(10000);
  EXPECT_EQ(got, stream);
  EXPECT_EQ(rx.storage_bytes(), 0u);
}

TEST_F(Receiver, OutOfOrderMergesIntoSackRangesAndDrains) {
  rx.reset(SeqNum(0));
  const std::string s = pattern(100);
  put(60, s.substr(60, 10));
  put(20, s.substr(20, 10));
  put(30, s.substr(30, 5));   // adjacent to [20,30): one SACK range [20,35)
  put(65, s.substr(65, 35));  // overlaps [60,70): joins [60,100) into one range
  SackBlock b[4];
  ASSERT_EQ(rx.sack_blocks(b, 4), 3);  // D-SACK of the overlap first, then the ranges
  EXPECT_EQ(b[0], (SackBlock{SeqNum(65), SeqNum(70)}));
  EXPECT_EQ(b[1], (SackBlock{SeqNum(60), SeqNum(100)}));
  EXPECT_EQ(b[2], (SackBlock{SeqNum(20), SeqNum(35)}));
  EXPECT_EQ(rx.ooo_bytes(), 55u);
  EXPECT_GT(ops.blocks().blocks_in_use(), 0u);
  put(0, s.substr(0, 20));
  EXPECT_EQ(rx.rcv_nxt(), SeqNum(35));
  put(35, s.substr(35, 25));
  EXPECT_EQ(rx.rcv_nxt(), SeqNum(100));
  EXPECT_EQ(rx.ooo_segments(), 0u);
  EXPECT_EQ(read(1000), s);
  EXPECT_EQ(ops.blocks().blocks_in_use(), 0u);
}

TEST_F(Receiver, ZeroWindowWhenFullAndOpensAgainAfterRead) {
  rx.reset(SeqNum(0));
  const std::string s = pattern(10000);
  for (std::uint32_t off = 0; off < 10000; off += 500) put(off, s.substr(off, 500));
  EXPECT_EQ(rx.free_space(), 0u);
  EXPECT_EQ(read(1000), s.substr(0, 1000));
  EXPECT_EQ(rx.free_space(), 1000u);
  EXPECT_EQ(read(10000), s.substr(1000));
  EXPECT_EQ(rx.free_space(), 10000u);
}

TEST_F(Receiver, ExhaustedPoolDropsTheSegmentAndRecoversWhenFreed) {
  rx.reset(SeqNum(0));
  ops.blocks().set_limit_bytes(0);
  auto r = put(0, "abc");
  EXPECT_TRUE(r.dropped);
  EXPECT_EQ(rx.rcv_nxt(), SeqNum(0));
  EXPECT_TRUE(put(10, "xyz").dropped);
  ops.blocks().set_limit_bytes(SIZE_MAX);
  EXPECT_EQ(put(0, "abc").advanced, 3u);  // the retransmission is taken
  EXPECT_EQ(read(10), "abc");
}

TEST(ReceiverLimits, InOrderRingFullDropsUntilRead) {
  HeapBufferOps ops;
  {
    TcpReceiver rx(ops, 10000, 4, 4);
    rx.reset(SeqNum(0));
    std::vector<void*> held;
    for (int i = 0; i < 5; ++i) {
      Payload p = ops.make_payload(reinterpret_cast<const std::uint8_t*>("z"), 1);
      held.push_back(p.handle);
      auto r = rx.insert(SeqNum(static_cast<std::uint32_t>(i)), p);
      EXPECT_EQ(r.dropped, i == 4);
    }
    EXPECT_EQ(rx.rcv_nxt(), SeqNum(4));
    for (void* h : held) ops.release(h);
  }
  EXPECT_EQ(ops.live_blocks(), 0);
}

}  // namespace
}  // namespace shardtcp
