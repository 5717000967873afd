#include "shardtcp/stack_options.h"

#include <gtest/gtest.h>

namespace shardtcp {
namespace {

using Args = std::vector<std::string>;

Result<ParsedStackOptions> parse(Args a) {
  return parse_stack_options(a);
}

std::string error_of(Args a) {
  auto r = parse(std::move(a));
  EXPECT_FALSE(r.is_ok());
  return r.is_ok() ? std::string() : r.error();
}

TEST(StackOptions, EmptyIsValid) {
  auto r = parse({});
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(r->options.addresses.empty());
  EXPECT_FALSE(r->options.mtu);
  EXPECT_FALSE(r->options.impair);
  EXPECT_TRUE(r->rest.empty());
}

TEST(StackOptions, IpRepeatableV4AndV6) {
  auto r = parse({"--", "--ip", "198.18.0.2/24", "--ip=2001:db8::2/64", "--ip", "198.19.1.1/32"});
  ASSERT_TRUE(r.is_ok()) << r.error();
  const auto& a = r->options.addresses;
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].addr, IpAddr::v4(0xC6120002));
  EXPECT_EQ(a[0].prefix_len, 24);
  EXPECT_TRUE(a[1].addr.is_v6());
  EXPECT_EQ(a[1].addr, *IpAddr::parse("2001:db8::2"));
  EXPECT_EQ(a[1].prefix_len, 64);
  EXPECT_EQ(a[2].prefix_len, 32);
}

TEST(StackOptions, IpErrors) {
  EXPECT_NE(error_of({"--ip", "198.18.0.2"}).find("prefix length"), std::string::npos);
  EXPECT_NE(error_of({"--ip", "198.18.0.300/24"}).find("not an IPv4 or IPv6 address"),
            std::string::npos);
  EXPECT_NE(error_of({"--ip", "198.18.0.2/33"}).find("0..32"), std::string::npos);
  EXPECT_NE(error_of({"--ip", "2001:db8::1/129"}).find("0..128"), std::string::npos);
  EXPECT_NE(error_of({"--ip", "198.18.0.2/x"}).find("prefix length"), std::string::npos);
  EXPECT_NE(error_of({"--ip", "0.0.0.0/0"}).find("cannot be an interface address"),
            std::string::npos);
  EXPECT_NE(error_of({"--ip"}).find("--ip needs a value"), std::string::npos);
  EXPECT_NE(error_of({"--ip="}).find("--ip needs a value"), std::string::npos);
}

TEST(StackOptions, GatewayPerFamily) {
  auto r = parse({"--gw", "198.18.0.1", "--gw=2001:db8::1"});
  ASSERT_TRUE(r.is_ok()) << r.error();
  EXPECT_EQ(*r->options.gateway_v4, IpAddr::v4(0xC6120001));
  EXPECT_EQ(*r->options.gateway_v6, *IpAddr::parse("2001:db8::1"));
  EXPECT_NE(
      error_of({"--gw", "198.18.0.1", "--gw", "198.18.0.9"}).find("--gw given twice for IPv4"),
      std::string::npos);
  EXPECT_NE(error_of({"--gw", "gateway"}).find("--gw: 'gateway' is not"), std::string::npos);
  EXPECT_NE(error_of({"--gw"}).find("needs a value"), std::string::npos);
}

TEST(StackOptions, RoutesRepeatableAndMasked) {
  auto r = parse({"--route", "198.19.7.9/16,198.18.0.254", "--route=2001:db8:1::/48,2001:db8::1"});
  ASSERT_TRUE(r.is_ok()) << r.error();
  ASSERT_EQ(r->options.routes.size(), 2u);
  EXPECT_EQ(r->options.routes[0].network, IpAddr::v4(0xC6130000));  // host bits cleared
  EXPECT_EQ(r->options.routes[0].prefix_len, 16);
  EXPECT_EQ(r->options.routes[0].gateway, IpAddr::v4(0xC61200FE));
  EXPECT_TRUE(r->options.routes[1].network.is_v6());
  EXPECT_EQ(r->options.routes[1].prefix_len, 48);
}

TEST(StackOptions, RouteErrors) {
  EXPECT_NE(error_of({"--route", "198.19.0.0/16"}).find("NET/PREFIX,GATEWAY"), std::string::npos);
  EXPECT_NE(error_of({"--route", "198.19.0.0,198.18.0.1"}).find("prefix length"),
            std::string::npos);
  EXPECT_NE(error_of({"--route", "198.19.0.0/16,nope"}).find("gateway 'nope'"), std::string::npos);
  EXPECT_NE(error_of({"--route", "198.19.0.0/16,2001:db8::1"}).find("mixes IPv4 and IPv6"),
            std::string::npos);
  EXPECT_NE(error_of({"--route", "198.19.0.0/40,198.18.0.1"}).find("0..32"), std::string::npos);
}

TEST(StackOptions, Mtu) {
  auto r = parse({"--mtu", "9000"});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r->options.mtu, 9000);
  EXPECT_EQ(*parse({"--mtu=68"})->options.mtu, 68);
  EXPECT_NE(error_of({"--mtu", "67"}).find("68 to 9600"), std::string::npos);
  EXPECT_NE(error_of({"--mtu", "9601"}).find("68 to 9600"), std::string::npos);
  EXPECT_NE(error_of({"--mtu", "15OO"}).find("68 to 9600"), std::string::npos);
  EXPECT_NE(error_of({"--mtu", "-1"}).find("68 to 9600"), std::string::npos);
  EXPECT_NE(error_of({"--mtu", "1500", "--mtu", "1400"}).find("--mtu given twice"),
            std::string::npos);
}

TEST(StackOptions, MaxConnections) {
  EXPECT_EQ(*parse({"--max-connections", "200000"})->options.max_connections, 200000u);
  EXPECT_EQ(*parse({"--max-connections=1"})->options.max_connections, 1u);
  EXPECT_FALSE(parse({})->options.max_connections.has_value());
  for (const char* bad : {"0", "1048576", "many", "-5"}) {
    EXPECT_NE(error_of({"--max-connections", bad}).find("1 to 1048575"), std::string::npos) << bad;
  }
  EXPECT_NE(error_of({"--max-connections", "9", "--max-connections", "9"}).find("given twice"),
            std::string::npos);
  // The machine's default: at least 4 096 in all, at most what the slot id holds,
  // split among engines (at least 1 024 each).
  EXPECT_GE(default_max_connections(1), 4096u);
  EXPECT_LE(default_max_connections(1), 1048575u);
  EXPECT_GE(default_max_connections(64), 1024u);
  EXPECT_LE(default_max_connections(2), default_max_connections(1));
}

TEST(StackOptions, LocalPortsTimeWaitAndMbufs) {
  const auto ports = parse({"--local-ports", "2000-2999"})->options.local_ports;
  ASSERT_TRUE(ports.has_value());
  EXPECT_EQ(ports->first, 2000);
  EXPECT_EQ(ports->last, 2999);
  EXPECT_EQ(parse({"--local-ports=7-7"})->options.local_ports->last, 7);
  EXPECT_FALSE(parse({})->options.local_ports.has_value());
  for (const char* bad : {"0-10", "10-9", "1-65536", "1024", "a-b", "-5", "5-"}) {
    EXPECT_NE(error_of({"--local-ports", bad}).find("FIRST-LAST"), std::string::npos) << bad;
  }
  EXPECT_EQ(*parse({"--time-wait-max", "600000"})->options.time_wait_max, 600000u);
  for (const char* bad : {"0", "16777217", "x"}) {
    EXPECT_NE(error_of({"--time-wait-max", bad}).find("1 to 16777216"), std::string::npos) << bad;
  }
  EXPECT_EQ(*parse({"--mbufs=65535"})->options.mbufs, 65535u);
  for (const char* bad : {"1022", "16777216", "lots"}) {
    EXPECT_NE(error_of({"--mbufs", bad}).find("1023 to 16777215"), std::string::npos) << bad;
  }
  EXPECT_NE(error_of({"--mbufs", "2047", "--mbufs", "4095"}).find("given twice"),
            std::string::npos);
}

TEST(StackOptions, Ecn) {
  EXPECT_FALSE(parse({})->options.ecn.has_value());
  EXPECT_EQ(*parse({"--ecn", "on"})->options.ecn, EcnMode::kOn);
  EXPECT_EQ(*parse({"--ecn=off"})->options.ecn, EcnMode::kOff);
  EXPECT_EQ(*parse({"--ecn", "passive"})->options.ecn, EcnMode::kPassive);
  EXPECT_NE(error_of({"--ecn", "1"}).find("off, passive or on"), std::string::npos);
  EXPECT_FALSE(parse({})->options.zero_copy_tx.has_value());
  EXPECT_FALSE(*parse({"--zero-copy-tx", "off"})->options.zero_copy_tx);
  EXPECT_TRUE(*parse({"--zero-copy-tx=on"})->options.zero_copy_tx);
  EXPECT_NE(error_of({"--zero-copy-tx", "yes"}).find("on or off"), std::string::npos);
  EXPECT_NE(error_of({"--zero-copy-tx", "on", "--zero-copy-tx", "off"}).find("twice"),
            std::string::npos);
  EXPECT_NE(error_of({"--ecn", "on", "--ecn", "on"}).find("given twice"), std::string::npos);
}

TEST(StackOptions, Pcap) {
  auto r = parse({"--pcap", "/tmp/x.pcapng"});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->options.pcap_path, "/tmp/x.pcapng");
  EXPECT_NE(error_of({"--pcap", "a", "--pcap=b"}).find("--pcap given twice"), std::string::npos);
  EXPECT_NE(error_of({"--pcap"}).find("needs a value"), std::string::npos);
}

TEST(StackOptions, ImpairAllKeys) {
  auto r = parse({"--impair", "drop=0.01,dup=0.002,reorder=8,corrupt=0.0001,delay=250,seed=7"});
  ASSERT_TRUE(r.is_ok()) << r.error();
  const ImpairmentConfig& c = *r->options.impair;
  EXPECT_DOUBLE_EQ(c.drop, 0.01);
  EXPECT_DOUBLE_EQ(c.duplicate, 0.002);
  EXPECT_EQ(c.reorder_window, 8u);
  EXPECT_DOUBLE_EQ(c.reorder, 0.1);  // default probability when only the window is given
  EXPECT_DOUBLE_EQ(c.corrupt, 0.0001);
  EXPECT_EQ(c.delay, std::chrono::microseconds(250));
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.direction, ImpairmentConfig::Direction::kBoth);
  EXPECT_TRUE(c.active());

  auto r2 = parse({"--impair=reorder=4,reorder_p=0.5,delay=10,delay_p=0.25,dir=tx"});
  ASSERT_TRUE(r2.is_ok()) << r2.error();
  EXPECT_DOUBLE_EQ(r2->options.impair->reorder, 0.5);
  EXPECT_DOUBLE_EQ(r2->options.impair->delay_probability, 0.25);
  EXPECT_EQ(r2->options.impair->direction, ImpairmentConfig::Direction::kTx);
  EXPECT_EQ(parse({"--impair", "dir=rx"})->options.impair->direction,
            ImpairmentConfig::Direction::kRx);
  auto r3 = parse({"--impair", "ce=0.05"});  // CE marking alone is an impairment
  ASSERT_TRUE(r3.is_ok()) << r3.error();
  EXPECT_DOUBLE_EQ(r3->options.impair->ce_mark, 0.05);
  EXPECT_TRUE(r3->options.impair->active());
}

TEST(StackOptions, ImpairErrors) {
  EXPECT_NE(error_of({"--impair", "drop=1.5"}).find("probability between 0 and 1"),
            std::string::npos);
  EXPECT_NE(error_of({"--impair", "drop=-0.1"}).find("probability"), std::string::npos);
  EXPECT_NE(error_of({"--impair", "dup=abc"}).find("dup=abc"), std::string::npos);
  EXPECT_NE(error_of({"--impair", "corrupt="}).find("probability"), std::string::npos);
  EXPECT_NE(error_of({"--impair", "reorder=65"}).find("window of 0..64"), std::string::npos);
  EXPECT_NE(error_of({"--impair", "reorder=x"}).find("window"), std::string::npos);
  EXPECT_NE(error_of({"--impair", "delay=1.5"}).find("microseconds"), std::string::npos);
  EXPECT_NE(error_of({"--impair", "seed=-3"}).find("unsigned integer"), std::string::npos);
  EXPECT_NE(error_of({"--impair", "dir=up"}).find("rx, tx or both"), std::string::npos);
  EXPECT_NE(error_of({"--impair", "jitter=5"}).find("unknown key 'jitter'"), std::string::npos);
  EXPECT_NE(error_of({"--impair", "drop"}).find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(error_of({"--impair", "drop=0.1", "--impair", "dup=0.1"}).find("given twice"),
            std::string::npos);
  EXPECT_NE(error_of({"--impair"}).find("needs a value"), std::string::npos);
  EXPECT_FALSE(parse_impairment("").is_ok());
}

TEST(StackOptions, UnknownOptionsAreLeftForTheAppInOrder) {
  auto r = parse({"--", "--port", "8080", "--ip", "198.18.0.2/24", "-v", "--mode=server", "file"});
  ASSERT_TRUE(r.is_ok()) << r.error();
  EXPECT_EQ(r->rest, (Args{"--port", "8080", "-v", "--mode=server", "file"}));
  EXPECT_EQ(r->options.addresses.size(), 1u);
}

TEST(StackOptions, SecondDashDashEndsStackOptions) {
  auto r = parse({"--mtu", "1400", "--", "--mtu", "bogus", "--ip"});
  ASSERT_TRUE(r.is_ok()) << r.error();
  EXPECT_EQ(*r->options.mtu, 1400);
  EXPECT_EQ(r->rest, (Args{"--mtu", "bogus", "--ip"}));
}

TEST(StackOptions, ArgvOverload) {
  const char* argv[] = {"--", "--mtu", "1280", "--x"};
  auto r = parse_stack_options(4, const_cast<char* const*>(argv));
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r->options.mtu, 1280);
  EXPECT_EQ(r->rest, Args{"--x"});
}

}  // namespace
}  // namespace shardtcp
