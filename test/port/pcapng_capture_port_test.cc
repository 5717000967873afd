#include "port/pcapng_capture_port.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include "eal_fixture.h"
#include "port/fault_injecting_port.h"
#include "port/ring_pair.h"

namespace shardtcp {
namespace {

using testing::make_frame;

struct Command {
  int status = -1;
  std::string out;
  std::string err;
};

Command run(const std::string& cmd) {
  Command c;
  const std::string err = "/tmp/eng_tshark_stderr_" + std::to_string(getpid());
  FILE* p = popen((cmd + " 2>" + err).c_str(), "r");
  if (p == nullptr) return c;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) c.out.append(buf.data(), n);
  c.status = pclose(p);
  std::ifstream e(err);
  c.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  unlink(err.c_str());
  return c;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

std::string hex(const rte_mbuf* m, std::uint32_t from) {
  std::string s;
  char b[3];
  for (std::uint32_t i = from; i < rte_pktmbuf_pkt_len(m); ++i) {
    std::snprintf(b, sizeof b, "%02x", rte_pktmbuf_mtod(m, const std::uint8_t*)[i]);
    s += b;
  }
  return s;
}

class PcapngCaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = testing::test_eal("porttest", {"net_null0"});
    ASSERT_NE(pool_, nullptr);
    path_ = "/tmp/eng_capture_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".pcapng";
  }
  void TearDown() override { unlink(path_.c_str()); }

  rte_mempool* pool_ = nullptr;
  std::string path_;
};

TEST_F(PcapngCaptureTest, TsharkReadsExactlyTheFramesWritten) {
  RingPairOptions o;
  o.name = "rp_pcap";
  o.pool = pool_;
  auto pair = RingPair::create(o);
  ASSERT_TRUE(pair.is_ok()) << pair.error();
  std::vector<std::string> expected;  // "direction data-hex" in file order
  {
    auto cap = PcapngCapturePort::open((*pair)->a(), path_);
    ASSERT_TRUE(cap.is_ok()) << cap.error();
    rte_mbuf* out[3];
    for (std::uint32_t i = 0; i < 3; ++i) {
      out[i] = make_frame(pool_, 10 + i, static_cast<std::uint16_t>(60 + 10 * i));
      expected.push_back(hex(out[i], 14));
    }
    ASSERT_EQ((*cap)->tx_burst(0, out, 3), 3);
    rte_mbuf* in[8];
    ASSERT_EQ((*pair)->b().rx_burst(0, in, 8), 3);  // b is not captured
    // b sends two back; a receives them through the capture.
    rte_mbuf* back[2] = {in[0], in[2]};
    expected.push_back(hex(in[0], 14));
    expected.push_back(hex(in[2], 14));
    rte_pktmbuf_free(in[1]);
    ASSERT_EQ((*pair)->b().tx_burst(0, back, 2), 2);
    ASSERT_EQ((*cap)->rx_burst(0, in, 8), 2);
    rte_pktmbuf_free_bulk(in, 2);
    EXPECT_EQ((*cap)->frames_written(), 5u);
    EXPECT_EQ((*cap)->frames_missed(), 0u);
  }
  const Command c =
      run("tshark -r " + path_ +
          " -T fields -e frame.packet_flags_direction -e frame.len -e eth.type -e data.data");
  ASSERT_EQ(c.status, 0) << "tshark failed; output: " << c.out;
  // tshark reports a damaged or truncated file on stderr even when it exits 0.
  EXPECT_EQ(c.err.find("appears to be damaged"), std::string::npos) << c.err;
  EXPECT_EQ(c.err.find("cut short"), std::string::npos) << c.err;
  const auto got = lines(c.out);
  ASSERT_EQ(got.size(), 5u) << c.out;
  const unsigned lens[5] = {60, 70, 80, 60, 80};
  for (std::size_t i = 0; i < 5; ++i) {
    // Direction flag of the pcapng packet block: 2 outbound (TX), 1 inbound (RX).
    const std::string dir = i < 3 ? "0x00000002" : "0x00000001";
    EXPECT_EQ(got[i], dir + "\t" + std::to_string(lens[i]) + "\t0x88b5\t" + expected[i])
        << "frame " << i;
  }
}

TEST_F(PcapngCaptureTest, ComposesWithFaultInjectorBothWays) {
  RingPairOptions o;
  o.name = "rp_compose";
  o.pool = pool_;
  auto pair = RingPair::create(o);
  ASSERT_TRUE(pair.is_ok()) << pair.error();
  VirtualClock clock;
  ImpairmentConfig drop_all;
  drop_all.drop = 1.0;
  const std::string outer_path = path_ + ".outer";
  {
    // capture(fault(a)): the capture sees what the stack sent (4 frames) ...
    FaultInjectingPort fault((*pair)->a(), clock, drop_all);
    auto cap = PcapngCapturePort::open(fault, outer_path);
    ASSERT_TRUE(cap.is_ok()) << cap.error();
    rte_mbuf* out[4];
    for (std::uint32_t i = 0; i < 4; ++i) out[i] = make_frame(pool_, i);
    ASSERT_EQ((*cap)->tx_burst(0, out, 4), 4);
    EXPECT_EQ((*cap)->frames_written(), 4u);
    rte_mbuf* in[4];
    EXPECT_EQ((*pair)->b().rx_burst(0, in, 4), 0);  // ... and the wire saw none
  }
  {
    // fault(capture(a)): the capture sits on the wire side and sees nothing.
    auto cap = PcapngCapturePort::open((*pair)->a(), path_);
    ASSERT_TRUE(cap.is_ok()) << cap.error();
    FaultInjectingPort fault(**cap, clock, drop_all);
    rte_mbuf* out[4];
    for (std::uint32_t i = 0; i < 4; ++i) out[i] = make_frame(pool_, i);
    ASSERT_EQ(fault.tx_burst(0, out, 4), 4);
    EXPECT_EQ((*cap)->frames_written(), 0u);
    EXPECT_EQ(fault.total(FaultCounter::kDropped), 4u);
  }
  const Command outer = run("tshark -r " + outer_path + " -T fields -e frame.len");
  EXPECT_EQ(outer.status, 0);
  EXPECT_EQ(lines(outer.out).size(), 4u);
  const Command inner = run("tshark -r " + path_ + " -T fields -e frame.len");
  EXPECT_EQ(inner.status, 0);
  EXPECT_EQ(lines(inner.out).size(), 0u);
  unlink(outer_path.c_str());
}

TEST_F(PcapngCaptureTest, OpenFailsCleanlyOnBadPath) {
  testing::MemoryPort port;
  auto cap = PcapngCapturePort::open(port, "/nonexistent-dir/x.pcapng");
  ASSERT_FALSE(cap.is_ok());
  EXPECT_NE(cap.error().find("cannot create /nonexistent-dir/x.pcapng"), std::string::npos);
}

}  // namespace
}  // namespace shardtcp
