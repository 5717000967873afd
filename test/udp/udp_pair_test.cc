// Two stacks (IpStack + UdpLayer) back to back over a real ring pair (net_ring
// ethdevs), each driven by its own Engine under one VirtualClock and polled
// alternately from the test thread, so every run is the same. Every test ends by
// checking that the mbuf pool is back to where it started (nothing leaked).
#include <gtest/gtest.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/time.h"
#include "engine/engine.h"
#include "ip/ip_stack.h"
#include "mbuf_chain.h"
#include "port/eal.h"
#include "port/ring_pair.h"
#include "udp/udp_layer.h"
#include "udp/udp_mbuf.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

namespace shardtcp {
namespace {

// EAL and one cache-less pool (exact avail counts) per process, brought up by the
// first pair test only, so the unit suite (--gtest_filter=UdpUnit*) never touches EAL.
rte_mempool* shared_pool() {
  static rte_mempool* pool = []() -> rte_mempool* {
    TestEalOptions o;
    o.file_prefix = "udp_pair_tests";
    const Status s = eal_init_for_tests(o);
    if (!s) {
      ADD_FAILURE() << s.message();
      return nullptr;
    }
    MbufPoolOptions po;
    po.n_mbufs = 8191;
    po.cache_size = 0;
    auto p = create_mbuf_pool("udp_pair_pool", po);
    if (!p) {
      ADD_FAILURE() << p.error();
      return nullptr;
    }
    return p.value();
  }();
  return pool;
}

const IpAddr kAddrA = IpAddr::v4(0xC6120001);  // 198.18.0.1
const IpAddr kAddrB = IpAddr::v4(0xC6120002);  // 198.18.0.2

// Flips bits of the byte at `off` of a chain (fragments are a header mbuf plus
// indirect segments, so the byte may not be in the first segment).
void corrupt_at(rte_mbuf* m, std::uint32_t off, std::uint8_t mask) {
  for (rte_mbuf* seg = m; seg != nullptr; seg = seg->next) {
    if (off < seg->data_len) {
      rte_pktmbuf_mtod(seg, std::uint8_t*)[off] ^= mask;
      return;
    }
    off -= seg->data_len;
  }
  ADD_FAILURE() << "offset past the frame";
}

std::vector<std::uint8_t> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 8));
  return v;
}

// The whole of a (possibly chained) frame.
std::vector<std::uint8_t> frame_bytes(const rte_mbuf* m) {
  std::vector<std::uint8_t> out(m->pkt_len);
  out.resize(copy_from_chain(m, 0, out.data(), out.size()));
  return out;
}

struct Side {
  std::unique_ptr<IpStack> ip;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<UdpLayer> udp;
};

class UdpPair : public ::testing::Test {
 protected:
  void SetUp() override { build(1500); }

  void build(std::uint16_t mtu, bool resolve_first = true) {
    teardown_stacks();
    pool_ = shared_pool();
    ASSERT_NE(pool_, nullptr);
    start_avail_ = rte_mempool_avail_count(pool_);
    static int serial = 0;
    RingPairOptions o;
    o.name = "udp_rp" + std::to_string(serial++);
    o.pool = pool_;
    o.mtu = mtu;
    auto pair = RingPair::create(o);
    ASSERT_TRUE(pair.is_ok()) << pair.error();
    pair_ = std::move(pair.value());
    make_side(a_, pair_->a(), kAddrA, mtu);
    make_side(b_, pair_->b(), kAddrB, mtu);
    // ARP both ways first: the tests then see only their own frames.
    if (resolve_first) resolve();
  }

  void make_side(Side& s, PacketPort& port, const IpAddr& addr, std::uint16_t mtu) {
    IpStackConfig c;
    c.port = port.info();
    c.port.mtu = mtu;
    c.addresses.push_back({addr, 24});
    c.icmp_errors_per_second = 1000;
    s.ip = std::make_unique<IpStack>(c);
    s.engine = std::make_unique<Engine>(port, pool_, *s.ip, clock_);
    UdpConfig uc;
    uc.max_sockets = 64;
    uc.max_queued_datagrams = 512;
    uc.tx_cksum_offload = port.info().tx_l4_cksum;
    s.udp = std::make_unique<UdpLayer>(*s.ip, *s.engine, uc);
    s.ip->set_transport(UdpLayer::kProtocol, s.udp.get());
  }

  void teardown_stacks() {
    for (Side* s : {&a_, &b_}) {
      s->udp.reset();  // frees queued datagrams
      s->engine.reset();
      s->ip.reset();
    }
    pair_.reset();  // frees frames still in the rings
  }

  void TearDown() override {
    teardown_stacks();
    if (pool_ != nullptr) {
      EXPECT_EQ(rte_mempool_avail_count(pool_), start_avail_) << "mbuf leak";
    }
  }

  // Polls both engines alternately, advancing the clock, until the wire is quiet.
  void pump(int rounds = 200) {
    int quiet = 0;
    for (int i = 0; i < rounds && quiet < 3; ++i) {
      clock_.advance(std::chrono::microseconds(20));
      const std::uint16_t n = a_.engine->poll_once() + b_.engine->poll_once();
      quiet = n == 0 ? quiet + 1 : 0;
    }
  }

  // A socket bound to `port` (0: ephemeral) on any address.
  UdpSocketId bound(Side& s, std::uint16_t port, UdpEventFn fn = {}) {
    UdpSocketId id = s.udp->open(std::move(fn));
    EXPECT_TRUE(id.valid());
    EXPECT_EQ(s.udp->bind(id, Endpoint{IpAddr{}, port}), 0);
    return id;
  }

  // Sends from A to B:port and moves the frames to B's RX ring without letting B
  // poll, so a test can tamper with them. Returns the frames B would receive.
  std::vector<rte_mbuf*> capture_a_to_b(UdpSocketId from, const std::vector<std::uint8_t>& data,
                                        std::uint16_t port) {
    EXPECT_EQ(a_.udp->send_to(from, data.data(), data.size(), Endpoint{kAddrB, port}),
              static_cast<long>(data.size()));
    a_.engine->poll_once();  // flush to the ring
    std::vector<rte_mbuf*> out(16);
    const std::uint16_t n = pair_->b().rx_burst(0, out.data(), 16);
    out.resize(n);
    return out;
  }

  // `l4`, a datagram from A to B put back together flat, carries the checksum of its
  // own bytes; the frames that carried it, handed to B, deliver `data` to `server`
  // with no checksum failure.
  void expect_flat_checksum_and_delivery(const std::uint8_t* l4, std::size_t l4_len,
                                         std::vector<rte_mbuf*> frames, UdpSocketId server,
                                         const std::vector<std::uint8_t>& data) {
    EXPECT_TRUE(l4_checksum_ok(kAddrA, kAddrB, kIpProtoUdp, l4, l4_len));
    b_.engine->inject(frames.data(), static_cast<std::uint16_t>(frames.size()));
    std::vector<std::uint8_t> buf(data.size() + 1);
    EXPECT_EQ(b_.udp->recv_from(server, buf.data(), buf.size()), static_cast<long>(data.size()));
    EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.begin()));
    EXPECT_EQ(b_.udp->counter(UdpCounter::kRxBadChecksum), 0u);
  }

  // ARP both ways so later captures see only UDP frames.
  void resolve() {
    UdpSocketId sa = bound(a_, 0), sb = bound(b_, 9);
    const std::uint8_t x = 1;
    ASSERT_EQ(a_.udp->send_to(sa, &x, 1, Endpoint{kAddrB, 9}), 1);
    pump();
    ASSERT_EQ(b_.udp->pending_datagrams(sb), 1);
    Endpoint from;
    std::uint8_t buf[4];
    ASSERT_EQ(b_.udp->recv_from(sb, buf, sizeof buf, &from), 1);
    ASSERT_EQ(b_.udp->send_to(sb, buf, 1, from), 1);
    pump();
    ASSERT_EQ(a_.udp->recv_from(sa, buf, sizeof buf, &from), 1);
    a_.udp->close(sa);
    b_.udp->close(sb);
  }

  VirtualClock clock_;
  rte_mempool* pool_ = nullptr;
  unsigned start_avail_ = 0;
  std::unique_ptr<RingPair> pair_;
  Side a_, b_;
};

constexpr std::size_t kL2L3 = 14 + 20;  // Ethernet + IPv4 without options

// Echo of datagrams across the sizes that matter: empty, tiny, exactly one MTU
// (1472 + 8 + 20 = 1500), one byte over (fragmented), and several fragments.
TEST_F(UdpPair, EchoKeepsDatagramBoundariesBothWays) {
  UdpSocketId client = bound(a_, 0);
  UdpSocketId server = bound(b_, 7);
  Endpoint client_local;
  ASSERT_EQ(a_.udp->local_endpoint(client, &client_local), 0);
  EXPECT_TRUE(client_local.addr.is_unspecified());
  EXPECT_GE(client_local.port, UdpConfig{}.ephemeral_first);

  const std::vector<std::size_t> sizes = {0, 1, 1472, 1473, 8000};
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const auto data = pattern(sizes[i], static_cast<std::uint8_t>(i));
    ASSERT_EQ(a_.udp->send_to(client, data.data(), data.size(), Endpoint{kAddrB, 7}),
              static_cast<long>(sizes[i]));
  }
  pump();
  ASSERT_EQ(b_.udp->pending_datagrams(server), static_cast<long>(sizes.size()));
  EXPECT_EQ(b_.udp->readable_bytes(server), 1 + 1472 + 1473 + 8000);
  std::vector<std::uint8_t> buf(70000);
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(b_.udp->next_datagram_size(server), static_cast<long>(sizes[i]));
    UdpRecvInfo info;
    const long n = b_.udp->recv_from(server, buf.data(), buf.size(), &info);
    ASSERT_EQ(n, static_cast<long>(sizes[i])) << "datagram " << i;
    EXPECT_FALSE(info.truncated);
    EXPECT_EQ(info.from, (Endpoint{kAddrA, client_local.port}));
    const auto want = pattern(sizes[i], static_cast<std::uint8_t>(i));
    EXPECT_TRUE(std::equal(want.begin(), want.end(), buf.begin())) << "datagram " << i;
    // Echo it back to where it came from.
    ASSERT_EQ(b_.udp->send_to(server, buf.data(), static_cast<std::size_t>(n), info.from), n);
  }
  EXPECT_EQ(b_.udp->recv_from(server, buf.data(), buf.size()), -EAGAIN);
  pump();
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    Endpoint from;
    const long n = a_.udp->recv_from(client, buf.data(), buf.size(), &from);
    ASSERT_EQ(n, static_cast<long>(sizes[i])) << "echo " << i;
    EXPECT_EQ(from, (Endpoint{kAddrB, 7}));
    const auto want = pattern(sizes[i], static_cast<std::uint8_t>(i));
    EXPECT_TRUE(std::equal(want.begin(), want.end(), buf.begin())) << "echo " << i;
  }
  // + 1: the datagram of resolve().
  EXPECT_EQ(a_.udp->counter(UdpCounter::kOutDatagrams), sizes.size() + 1);
  EXPECT_EQ(a_.udp->counter(UdpCounter::kInDatagrams), sizes.size() + 1);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kInDatagrams), sizes.size() + 1);
  // 1473 and 8000 were fragmented by A, reassembled by B, and the echoes likewise.
  EXPECT_EQ(a_.ip->ipv4_counters().get(Ipv4Counter::kTxFragmented), 2u);
  EXPECT_EQ(b_.ip->ipv4_counters().get(Ipv4Counter::kRxReassembled), 2u);
  EXPECT_EQ(a_.ip->ipv4_counters().get(Ipv4Counter::kRxReassembled), 2u);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kRxBadChecksum), 0u);
}

// The largest datagram. rte_ip_frag reassembles at most RTE_LIBRTE_IP_FRAG_MAX_FRAG
// (8) fragments, so 65507 bytes need a jumbo MTU to arrive in one piece.
TEST_F(UdpPair, LargestDatagramRoundTripsOverJumboMtu) {
  build(9000);
  UdpSocketId client = bound(a_, 0);
  UdpSocketId server = bound(b_, 7);
  const auto data = pattern(UdpLayer::kMaxPayload, 3);
  ASSERT_EQ(a_.udp->send_to(client, data.data(), data.size(), Endpoint{kAddrB, 7}),
            static_cast<long>(data.size()));
  pump();
  std::vector<std::uint8_t> buf(70000);
  UdpRecvInfo info;
  ASSERT_EQ(b_.udp->recv_from(server, buf.data(), buf.size(), &info),
            static_cast<long>(UdpLayer::kMaxPayload));
  EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.begin()));
  ASSERT_EQ(b_.udp->send_to(server, buf.data(), data.size(), info.from),
            static_cast<long>(data.size()));
  pump();
  ASSERT_EQ(a_.udp->recv_from(client, buf.data(), buf.size()),
            static_cast<long>(UdpLayer::kMaxPayload));
  EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.begin()));
  EXPECT_EQ(a_.ip->ipv4_counters().get(Ipv4Counter::kTxFragmented), 1u);
}

// Before ARP resolves, datagrams wait in the neighbour queue (NeighborConfig's
// max_queued_per_entry); the ones beyond it are dropped by the IP layer, counted, and
// reported as sent (Linux does the same without IP_RECVERR).
TEST_F(UdpPair, DatagramsSentBeforeArpResolvesAreQueuedThenDropped) {
  build(1500, false);
  UdpSocketId client = bound(a_, 0);
  UdpSocketId server = bound(b_, 7);
  const std::uint32_t queued = NeighborConfig{}.max_queued_per_entry;
  for (std::uint32_t i = 0; i < queued + 2; ++i) {
    const std::uint8_t seq[2] = {static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)};
    ASSERT_EQ(a_.udp->send_to(client, seq, 2, Endpoint{kAddrB, 7}), 2);
  }
  EXPECT_EQ(a_.udp->counter(UdpCounter::kSendDropped), 2u);
  EXPECT_EQ(a_.udp->counter(UdpCounter::kOutDatagrams), queued);
  pump();
  std::uint8_t got[2] = {0xff, 0xff};
  for (std::uint32_t i = 0; i < queued; ++i) {
    ASSERT_EQ(b_.udp->recv_from(server, got, 2), 2);
    EXPECT_EQ((std::uint32_t{got[0]} << 8) | got[1], i);
  }
  EXPECT_EQ(b_.udp->recv_from(server, got, 2), -EAGAIN);
}

TEST_F(UdpPair, TruncationPeekAndRealSize) {
  UdpSocketId client = bound(a_, 0);
  UdpSocketId server = bound(b_, 7);
  const auto data = pattern(100, 9);
  ASSERT_EQ(a_.udp->send_to(client, data.data(), data.size(), Endpoint{kAddrB, 7}), 100);
  ASSERT_EQ(a_.udp->send_to(client, data.data(), 5, Endpoint{kAddrB, 7}), 5);
  pump();
  std::uint8_t small[10];
  UdpRecvInfo info;
  // Peek: copied bytes, datagram stays.
  EXPECT_EQ(b_.udp->recv_from(server, small, sizeof small, &info, kUdpPeek), 10);
  EXPECT_TRUE(info.truncated);
  EXPECT_EQ(info.datagram_len, 100u);
  EXPECT_EQ(b_.udp->pending_datagrams(server), 2);
  // MSG_TRUNC: the real length; the rest of the datagram is discarded.
  EXPECT_EQ(b_.udp->recv_from(server, small, sizeof small, &info, kUdpTrunc), 100);
  EXPECT_TRUE(std::equal(data.begin(), data.begin() + 10, small));
  EXPECT_EQ(b_.udp->recv_from(server, small, sizeof small, &info), 5);  // next boundary
  EXPECT_FALSE(info.truncated);
  EXPECT_EQ(b_.udp->pending_datagrams(server), 0);
}

TEST_F(UdpPair, ConnectFiltersOtherPeersAndReconnectChangesThePeer) {
  UdpSocketId a1 = bound(a_, 1111), a2 = bound(a_, 2222);
  UdpSocketId server = bound(b_, 7);
  ASSERT_EQ(b_.udp->connect(server, Endpoint{kAddrA, 1111}), 0);
  const std::uint8_t one = 1, two = 2;
  ASSERT_EQ(a_.udp->send_to(a1, &one, 1, Endpoint{kAddrB, 7}), 1);
  ASSERT_EQ(a_.udp->send_to(a2, &two, 1, Endpoint{kAddrB, 7}), 1);
  pump();
  std::uint8_t got = 0;
  Endpoint from;
  ASSERT_EQ(b_.udp->recv_from(server, &got, 1, &from), 1);
  EXPECT_EQ(got, 1);
  EXPECT_EQ(from.port, 1111);
  EXPECT_EQ(b_.udp->recv_from(server, &got, 1, &from), -EAGAIN);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kRxPeerFiltered), 1u);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kNoPort), 1u);
  // B answered with port unreachable; a2 is not connected, so it is not told.
  EXPECT_EQ(a_.udp->pending_error(a2), 0);

  // send() goes to the connected peer; re-connect moves it.
  ASSERT_EQ(b_.udp->send(server, &two, 1), 1);
  ASSERT_EQ(b_.udp->connect(server, Endpoint{kAddrA, 2222}), 0);
  ASSERT_EQ(b_.udp->send(server, &one, 1), 1);
  pump();
  ASSERT_EQ(a_.udp->recv_from(a1, &got, 1), 1);
  EXPECT_EQ(got, 2);
  ASSERT_EQ(a_.udp->recv_from(a2, &got, 1), 1);
  EXPECT_EQ(got, 1);

  ASSERT_EQ(a_.udp->send_to(a1, &one, 1, Endpoint{kAddrB, 7}), 1);
  ASSERT_EQ(a_.udp->send_to(a2, &two, 1, Endpoint{kAddrB, 7}), 1);
  pump();
  ASSERT_EQ(b_.udp->recv_from(server, &got, 1, &from), 1);
  EXPECT_EQ(got, 2);
  EXPECT_EQ(from.port, 2222);
  EXPECT_EQ(b_.udp->recv_from(server, &got, 1, &from), -EAGAIN);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kRxPeerFiltered), 2u);

  // Disconnect: everyone is welcome again.
  ASSERT_EQ(b_.udp->connect(server, Endpoint{}), 0);
  ASSERT_EQ(a_.udp->send_to(a1, &one, 1, Endpoint{kAddrB, 7}), 1);
  pump();
  EXPECT_EQ(b_.udp->recv_from(server, &got, 1, &from), 1);
  EXPECT_EQ(from.port, 1111);
}

TEST_F(UdpPair, ClosedPortGivesIcmpAndEconnrefusedOnTheConnectedSender) {
  std::vector<UdpEvent> events;
  UdpSocketId s = a_.udp->open([&](UdpSocketId, UdpEvent e) { events.push_back(e); });
  ASSERT_EQ(a_.udp->connect(s, Endpoint{kAddrB, 9999}), 0);
  ASSERT_EQ(a_.udp->send(s, "ping", 4), 4);
  pump();
  EXPECT_EQ(b_.udp->counter(UdpCounter::kNoPort), 1u);
  EXPECT_EQ(b_.ip->icmp_counters().get(IcmpCounter::kTxDestUnreachable), 1u);
  EXPECT_EQ(a_.udp->counter(UdpCounter::kIcmpErrors), 1u);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], UdpEvent::kWritable);  // from connect
  EXPECT_EQ(events[1], UdpEvent::kError);
  // Like Linux: the next call reports the error once, then the socket works again.
  EXPECT_EQ(a_.udp->send(s, "ping", 4), -ECONNREFUSED);
  EXPECT_EQ(a_.udp->pending_error(s), 0);
  ASSERT_EQ(a_.udp->send(s, "ping", 4), 4);
  pump();
  EXPECT_EQ(a_.udp->pending_error(s), ECONNREFUSED);  // SO_ERROR reads and clears
  EXPECT_EQ(a_.udp->pending_error(s), 0);
  ASSERT_EQ(a_.udp->send(s, "ping", 4), 4);
  pump();
  char buf[8];
  EXPECT_EQ(a_.udp->recv_from(s, buf, sizeof buf), -ECONNREFUSED);
  EXPECT_EQ(a_.udp->recv_from(s, buf, sizeof buf), -EAGAIN);
}

TEST_F(UdpPair, ZeroChecksumIsAccepted) {
  UdpSocketId client = bound(a_, 0);
  UdpSocketId server = bound(b_, 7);
  auto frames = capture_a_to_b(client, pattern(64, 1), 7);
  ASSERT_EQ(frames.size(), 1u);
  auto* p = rte_pktmbuf_mtod(frames[0], std::uint8_t*);
  ASSERT_EQ(p[14 + 9], 17);  // IPv4 protocol UDP
  p[kL2L3 + 6] = 0;
  p[kL2L3 + 7] = 0;
  b_.engine->inject(frames.data(), 1);
  std::uint8_t buf[100];
  EXPECT_EQ(b_.udp->recv_from(server, buf, sizeof buf), 64);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kRxZeroChecksum), 1u);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kRxBadChecksum), 0u);
}

TEST_F(UdpPair, CorruptedChecksumIsDroppedAndCounted) {
  UdpSocketId client = bound(a_, 0);
  UdpSocketId server = bound(b_, 7);
  auto frames = capture_a_to_b(client, pattern(64, 1), 7);
  ASSERT_EQ(frames.size(), 1u);
  corrupt_at(frames[0], kL2L3 + 8 + 10, 0x40);  // a payload bit
  b_.engine->inject(frames.data(), 1);
  std::uint8_t buf[100];
  EXPECT_EQ(b_.udp->recv_from(server, buf, sizeof buf), -EAGAIN);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kRxBadChecksum), 1u);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kInDatagrams), 1u);  // only resolve()'s
  // A corrupted multi-fragment datagram is caught after reassembly too.
  frames = capture_a_to_b(client, pattern(3000, 2), 7);
  ASSERT_EQ(frames.size(), 3u);
  corrupt_at(frames[1], kL2L3 + 100, 0x01);
  b_.engine->inject(frames.data(), static_cast<std::uint16_t>(frames.size()));
  EXPECT_EQ(b_.udp->recv_from(server, buf, sizeof buf), -EAGAIN);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kRxBadChecksum), 2u);
}

TEST_F(UdpPair, MalformedLengthsAreDroppedAndCounted) {
  UdpSocketId client = bound(a_, 0);
  UdpSocketId server = bound(b_, 7);
  // Length field larger than the IP payload.
  auto frames = capture_a_to_b(client, pattern(20, 1), 7);
  ASSERT_EQ(frames.size(), 1u);
  auto* p = rte_pktmbuf_mtod(frames[0], std::uint8_t*);
  p[kL2L3 + 4] = 0x01;  // 256+ bytes claimed
  b_.engine->inject(frames.data(), 1);
  // Length field below 8.
  frames = capture_a_to_b(client, pattern(20, 1), 7);
  p = rte_pktmbuf_mtod(frames[0], std::uint8_t*);
  p[kL2L3 + 4] = 0;
  p[kL2L3 + 5] = 4;
  b_.engine->inject(frames.data(), 1);
  // Length field shorter than the IP payload: the tail is not part of the datagram
  // (checksum then fails because it covered 20 bytes; zero it to isolate the trim).
  frames = capture_a_to_b(client, pattern(20, 1), 7);
  p = rte_pktmbuf_mtod(frames[0], std::uint8_t*);
  p[kL2L3 + 5] = 8 + 12;
  p[kL2L3 + 6] = 0;
  p[kL2L3 + 7] = 0;
  b_.engine->inject(frames.data(), 1);
  std::uint8_t buf[100];
  EXPECT_EQ(b_.udp->recv_from(server, buf, sizeof buf), 12);
  EXPECT_EQ(b_.udp->recv_from(server, buf, sizeof buf), -EAGAIN);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kRxBadLength), 2u);
}

TEST_F(UdpPair, ReceiveQueueOverflowIsCounted) {
  UdpSocketId client = bound(a_, 0);
  int readable = 0;
  UdpSocketId server =
      bound(b_, 7, [&](UdpSocketId, UdpEvent e) { readable += e == UdpEvent::kReadable; });
  // Each datagram is charged 200 + 64 bytes: three fit in 1000.
  ASSERT_EQ(b_.udp->set_rcvbuf(server, 1000), 0);
  const auto data = pattern(200, 5);
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(a_.udp->send_to(client, data.data(), data.size(), Endpoint{kAddrB, 7}), 200);
  pump();
  EXPECT_EQ(b_.udp->pending_datagrams(server), 3);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kRcvbufErrors), 7u);
  EXPECT_EQ(readable, 1);  // edge-triggered: queue went from empty to non-empty once
  std::uint8_t buf[256];
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b_.udp->recv_from(server, buf, sizeof buf), 200);
  // Room again.
  ASSERT_EQ(a_.udp->send_to(client, data.data(), data.size(), Endpoint{kAddrB, 7}), 200);
  pump();
  EXPECT_EQ(b_.udp->pending_datagrams(server), 1);
  EXPECT_EQ(readable, 2);
  // Queued datagrams still held at close are freed (TearDown checks the pool).
}

TEST_F(UdpPair, ZeroCopyReceiveAndSend) {
  UdpSocketId client = bound(a_, 0);
  UdpSocketId server = bound(b_, 7);
  const auto data = pattern(3000, 4);  // fragmented: arrives as a chain
  ASSERT_EQ(a_.udp->send_to(client, data.data(), data.size(), Endpoint{kAddrB, 7}), 3000);
  pump();
  Endpoint from;
  int err = 1;
  rte_mbuf* m = b_.udp->recv_mbuf(server, &from, &err);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(err, 0);
  ASSERT_EQ(m->pkt_len, 3000u);
  std::vector<std::uint8_t> got(3000);
  ASSERT_NE(rte_pktmbuf_read(m, 0, 3000, got.data()), nullptr);
  if (rte_pktmbuf_read(m, 0, 3000, got.data()) != got.data())
    std::memcpy(got.data(), rte_pktmbuf_read(m, 0, 3000, got.data()), 3000);
  EXPECT_EQ(got, data);
  // Send the very mbuf back (ownership passes).
  ASSERT_EQ(b_.udp->send_mbuf(server, m, from), 3000);
  pump();
  std::vector<std::uint8_t> buf(4000);
  ASSERT_EQ(a_.udp->recv_from(client, buf.data(), buf.size()), 3000);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.begin()));
  EXPECT_EQ(b_.udp->recv_mbuf(server, &from, &err), nullptr);
  EXPECT_EQ(err, -EAGAIN);
}

// The event-driven pattern of include/shardtcp/udp.h: the server echoes from its
// readable callback, zero-copy, inside the engine's poll.
TEST_F(UdpPair, EventDrivenZeroCopyEchoServer) {
  UdpLayer& udp = *b_.udp;
  int echoed = 0;
  UdpSocketId echo = udp.open([&](UdpSocketId s, UdpEvent ev) {
    if (ev != UdpEvent::kReadable) return;
    Endpoint from;
    while (rte_mbuf* m = udp.recv_mbuf(s, &from)) {
      EXPECT_GT(udp.send_mbuf(s, m, from), -1);
      ++echoed;
    }
  });
  ASSERT_EQ(udp.bind(echo, Endpoint{IpAddr{}, 7}), 0);
  UdpSocketId client = a_.udp->open();
  ASSERT_EQ(a_.udp->connect(client, Endpoint{kAddrB, 7}), 0);
  for (std::size_t n : {std::size_t{0}, std::size_t{10}, std::size_t{5000}}) {
    const auto data = pattern(n, static_cast<std::uint8_t>(n));
    ASSERT_EQ(a_.udp->send(client, data.data(), data.size()), static_cast<long>(n));
    pump();
    std::vector<std::uint8_t> buf(6000);
    ASSERT_EQ(a_.udp->recv_from(client, buf.data(), buf.size()), static_cast<long>(n));
    EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.begin()));
  }
  EXPECT_EQ(echoed, 3);
}

// With TX checksum offload the layer leaves the pseudo-header sum for the device and
// flags the mbuf; a fragmented datagram is summed by the IP layer instead.
TEST_F(UdpPair, ChecksumOffloadLeavesThePseudoHeaderSumForTheDevice) {
  UdpConfig uc;
  uc.tx_cksum_offload = true;
  UdpLayer offload(*a_.ip, *a_.engine, uc);  // sends only; a_.udp stays the receiver
  UdpSocketId s = offload.open();
  UdpSocketId server = bound(b_, 7);
  const auto data = pattern(100, 8);
  ASSERT_EQ(offload.send_to(s, data.data(), data.size(), Endpoint{kAddrB, 7}), 100);
  a_.engine->poll_once();
  rte_mbuf* f = nullptr;
  ASSERT_EQ(pair_->b().rx_burst(0, &f, 1), 1);
  EXPECT_EQ(f->ol_flags & RTE_MBUF_F_TX_L4_MASK, RTE_MBUF_F_TX_UDP_CKSUM);
  EXPECT_NE(f->ol_flags & RTE_MBUF_F_TX_IPV4, 0u);
  EXPECT_EQ(f->l4_len, 8);
  // Do what the device would: sum the datagram over the stored pseudo-header sum.
  auto* udp_hdr = rte_pktmbuf_mtod_offset(f, std::uint8_t*, kL2L3);
  const auto* ip_hdr = rte_pktmbuf_mtod_offset(f, const rte_ipv4_hdr*, 14);
  std::uint16_t stored;
  std::memcpy(&stored, udp_hdr + 6, 2);
  EXPECT_EQ(stored, rte_ipv4_phdr_cksum(ip_hdr, 0));
  const std::uint16_t zero = 0;
  std::memcpy(udp_hdr + 6, &zero, 2);
  const std::uint16_t full = rte_ipv4_udptcp_cksum(ip_hdr, udp_hdr);
  std::memcpy(udp_hdr + 6, &full, 2);
  f->ol_flags = 0;
  b_.engine->inject(&f, 1);
  std::vector<std::uint8_t> buf(2000);
  EXPECT_EQ(b_.udp->recv_from(server, buf.data(), buf.size()), 100);
  // Too big for one frame: IpStack finishes the checksum before fragmenting.
  const auto big = pattern(1473, 9);
  ASSERT_EQ(offload.send_to(s, big.data(), big.size(), Endpoint{kAddrB, 7}), 1473);
  pump();
  EXPECT_EQ(b_.udp->recv_from(server, buf.data(), buf.size()), 1473);
  EXPECT_TRUE(std::equal(big.begin(), big.end(), buf.begin()));
  EXPECT_EQ(b_.udp->counter(UdpCounter::kRxBadChecksum), 0u);
  // So is a datagram in a chain cut at odd lengths: the fragments put back together
  // carry the checksum of the flat datagram.
  const auto odd = pattern(3001, 5);
  rte_mbuf* m = test_support::chain_with_cuts(pool_, odd, {1, 3, 1387, 5, 777});
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(offload.send_mbuf(s, m, Endpoint{kAddrB, 7}), 3001);
  a_.engine->poll_once();
  std::vector<rte_mbuf*> frames(16);
  frames.resize(pair_->b().rx_burst(0, frames.data(), 16));
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(a_.ip->ipv4_counters().get(Ipv4Counter::kTxFragmented), 2u);
  std::vector<std::uint8_t> flat(8 + odd.size());
  std::size_t got = 0;
  for (const rte_mbuf* frag : frames) {
    const auto b = frame_bytes(frag);
    const std::size_t ihl = (b[14] & 0x0f) * 4u;
    const std::size_t total = static_cast<std::size_t>(b[16] << 8 | b[17]);
    const std::size_t at = static_cast<std::size_t>((b[20] << 8 | b[21]) & 0x1fff) * 8;
    ASSERT_LE(at + total - ihl, flat.size());
    std::memcpy(flat.data() + at, b.data() + 14 + ihl, total - ihl);
    got += total - ihl;
  }
  ASSERT_EQ(got, flat.size());
  EXPECT_TRUE(std::equal(odd.begin(), odd.end(), flat.begin() + 8));
  expect_flat_checksum_and_delivery(flat.data(), flat.size(), frames, server, odd);
}

// Cuts of chains that hold a segment of odd length in front of others.
const std::vector<std::vector<std::uint16_t>> kOddCuts = {
    {1, 3, 5, 701}, {999, 1}, {2, 1, 1, 1, 1, 1, 1, 1, 777}};

// Datagrams handed over in chains cut at odd lengths (zero-copy sends) leave with the
// checksum of the same bytes in one buffer, and are received.
TEST_F(UdpPair, ChainedDatagramsWithOddSegmentsGoOutWithTheFlatChecksum) {
  UdpSocketId client = bound(a_, 0);
  UdpSocketId server = bound(b_, 7);
  const auto data = pattern(1400, 3);
  for (const auto& cuts : kOddCuts) {
    SCOPED_TRACE(::testing::Message() << cuts.size() << " segments");
    rte_mbuf* m = test_support::chain_with_cuts(pool_, data, cuts);
    ASSERT_NE(m, nullptr);
    ASSERT_EQ(a_.udp->send_mbuf(client, m, Endpoint{kAddrB, 7}), 1400);
    a_.engine->poll_once();
    rte_mbuf* f = nullptr;
    ASSERT_EQ(pair_->b().rx_burst(0, &f, 1), 1);
    const auto flat = frame_bytes(f);
    ASSERT_EQ(flat.size(), kL2L3 + 8 + 1400);
    expect_flat_checksum_and_delivery(flat.data() + kL2L3, 8 + 1400, {f}, server, data);
  }
}

// A received datagram in a chain cut at odd lengths (LRO, a driver's scatter) is
// verified as the same bytes in one buffer; with a flipped bit it is dropped and counted.
TEST_F(UdpPair, ChainedReceivedDatagramWithOddSegmentsIsCheckedAsFlat) {
  UdpSocketId client = bound(a_, 0);
  UdpSocketId server = bound(b_, 7);
  const auto data = pattern(1400, 4);
  auto frames = capture_a_to_b(client, data, 7);
  ASSERT_EQ(frames.size(), 1u);
  auto flat = frame_bytes(frames[0]);
  rte_pktmbuf_free(frames[0]);
  std::vector<std::uint8_t> buf(2000);
  // IP input pulls the first 64 bytes past the IP header up into the first segment:
  // the odd cuts come after them.
  constexpr std::uint16_t kPulled = kL2L3 + 64;
  const std::vector<std::vector<std::uint16_t>> cutss = {
      {kPulled + 1, 5, 1, 301}, {kPulled + 3, 1000, 1}, {kPulled + 7, 1, 1, 1, 1, 1, 1, 1}};
  for (const auto& cuts : cutss) {
    rte_mbuf* m = test_support::chain_with_cuts(pool_, flat, cuts);
    ASSERT_NE(m, nullptr);
    b_.engine->inject(&m, 1);
    EXPECT_EQ(b_.udp->recv_from(server, buf.data(), buf.size()), 1400)
        << cuts.size() << " segments";
    EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.begin()));
  }
  EXPECT_EQ(b_.udp->counter(UdpCounter::kRxBadChecksum), 0u);
  flat.back() ^= 0x01;
  rte_mbuf* m = test_support::chain_with_cuts(pool_, flat, cutss[0]);
  ASSERT_NE(m, nullptr);
  b_.engine->inject(&m, 1);
  EXPECT_EQ(b_.udp->recv_from(server, buf.data(), buf.size()), -EAGAIN);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kRxBadChecksum), 1u);
}

TEST_F(UdpPair, BroadcastToAClosedPortIsDroppedSilently) {
  UdpSocketId client = bound(a_, 0);
  UdpSocketId listener = bound(b_, 6000);
  const std::uint8_t x = 7;
  // Subnet broadcast 198.18.0.255 reaches a wildcard-bound socket ...
  ASSERT_EQ(a_.udp->send_to(client, &x, 1, Endpoint{IpAddr::v4(0xC61200FF), 6000}), 1);
  // ... and to a port nobody has, draws no ICMP.
  ASSERT_EQ(a_.udp->send_to(client, &x, 1, Endpoint{IpAddr::v4(0xC61200FF), 6001}), 1);
  pump();
  std::uint8_t got = 0;
  EXPECT_EQ(b_.udp->recv_from(listener, &got, 1), 1);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kNoPortBroadcast), 1u);
  EXPECT_EQ(b_.udp->counter(UdpCounter::kNoPort), 0u);
  EXPECT_EQ(b_.ip->icmp_counters().get(IcmpCounter::kTxDestUnreachable), 0u);
}

TEST_F(UdpPair, CloseFreesQueuedDatagramsAndMakesTheIdStale) {
  UdpSocketId client = bound(a_, 0);
  UdpSocketId server = bound(b_, 7);
  const auto data = pattern(2000, 6);
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(a_.udp->send_to(client, data.data(), data.size(), Endpoint{kAddrB, 7}), 2000);
  pump();
  ASSERT_EQ(b_.udp->pending_datagrams(server), 5);
  EXPECT_EQ(b_.udp->node_pool().in_use(), 5u);
  ASSERT_EQ(b_.udp->close(server), 0);
  EXPECT_EQ(b_.udp->node_pool().in_use(), 0u);
  EXPECT_EQ(b_.udp->pending_datagrams(server), -ENOTSOCK);
  // The port is free: a datagram to it now draws port unreachable.
  ASSERT_EQ(a_.udp->send_to(client, data.data(), 10, Endpoint{kAddrB, 7}), 10);
  pump();
  EXPECT_EQ(b_.udp->counter(UdpCounter::kNoPort), 1u);
}

}  // namespace
}  // namespace shardtcp
