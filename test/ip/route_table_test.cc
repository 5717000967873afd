#include "ip/route_table.h"

#include <gtest/gtest.h>

namespace shardtcp {
namespace {

IpAddr ip(const char* s) {
  return *IpAddr::parse(s);
}

TEST(RouteTable, ConnectedSubnetIsOnLinkWithMatchingSource) {
  RouteTable t(1500);
  ASSERT_TRUE(t.add_address(ip("198.18.0.1"), 24));
  ASSERT_TRUE(t.add_address(ip("198.19.5.1"), 16));
  auto r = t.lookup(ip("198.19.200.7"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->on_link);
  EXPECT_EQ(r->next_hop, ip("198.19.200.7"));
  EXPECT_EQ(r->source, ip("198.19.5.1"));
  EXPECT_EQ(r->mtu, 1500);
  r = t.lookup(ip("198.18.0.77"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->source, ip("198.18.0.1"));
}

TEST(RouteTable, NoRouteWithoutMatch) {
  RouteTable t;
  ASSERT_TRUE(t.add_address(ip("198.18.0.1"), 24));
  EXPECT_FALSE(t.lookup(ip("198.18.1.1")));
  EXPECT_FALSE(t.lookup(IpAddr{}));
  EXPECT_FALSE(t.lookup(ip("2001:db8::1")));  // no IPv6 address or route
}

TEST(RouteTable, DefaultGatewayAndLongestPrefixWins) {
  RouteTable t(9000);
  ASSERT_TRUE(t.add_address(ip("198.18.0.1"), 24));
  ASSERT_TRUE(t.set_default_gateway(ip("198.18.0.254")));
  Route r16{ip("198.19.0.0"), 16, ip("198.18.0.253"), IpAddr{}, 1400};
  Route r24{ip("198.19.7.99"), 24, ip("198.18.0.252"), IpAddr{}, 0};
  ASSERT_TRUE(t.add_route(r16));
  ASSERT_TRUE(t.add_route(r24));
  EXPECT_FALSE(t.add_route(r24));  // duplicate prefix

  auto a = t.lookup(ip("198.19.7.1"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->next_hop, ip("198.18.0.252"));
  EXPECT_FALSE(a->on_link);
  EXPECT_EQ(a->mtu, 9000);
  EXPECT_EQ(a->source, ip("198.18.0.1"));
  auto b = t.lookup(ip("198.19.8.1"));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->next_hop, ip("198.18.0.253"));
  EXPECT_EQ(b->mtu, 1400);
  auto c = t.lookup(ip("198.20.0.1"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->next_hop, ip("198.18.0.254"));

  // Delete at runtime: traffic falls back to the next shorter prefix.
  ASSERT_TRUE(t.delete_route(ip("198.19.7.0"), 24));
  EXPECT_FALSE(t.delete_route(ip("198.19.7.0"), 24));
  EXPECT_EQ(t.lookup(ip("198.19.7.1"))->next_hop, ip("198.18.0.253"));
  ASSERT_TRUE(t.delete_route(ip("198.19.0.0"), 16));
  EXPECT_EQ(t.lookup(ip("198.19.7.1"))->next_hop, ip("198.18.0.254"));
  ASSERT_TRUE(t.clear_default_gateway(IpFamily::kV4));
  EXPECT_FALSE(t.lookup(ip("198.19.7.1")));
  // Connected routes cannot be deleted as static routes.
  EXPECT_FALSE(t.delete_route(ip("198.18.0.0"), 24));
  EXPECT_TRUE(t.lookup(ip("198.18.0.9")));
}

TEST(RouteTable, GatewayMustBeOnLink) {
  RouteTable t;
  ASSERT_TRUE(t.add_address(ip("198.18.0.1"), 24));
  ASSERT_TRUE(t.set_default_gateway(ip("198.18.9.1")));  // not on any subnet of ours
  EXPECT_FALSE(t.lookup(ip("198.19.0.1")));
}

TEST(RouteTable, ExplicitSourceAndHostRoute) {
  RouteTable t;
  ASSERT_TRUE(t.add_address(ip("198.18.0.1"), 24));
  ASSERT_TRUE(t.add_address(ip("198.18.1.1"), 24));
  Route host{ip("198.19.1.1"), 32, ip("198.18.0.2"), ip("198.18.1.1"), 0};
  ASSERT_TRUE(t.add_route(host));
  auto r = t.lookup(ip("198.19.1.1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->source, ip("198.18.1.1"));
  EXPECT_FALSE(t.lookup(ip("198.19.1.2")));
}

TEST(RouteTable, AddressesLocalBroadcastAndRemoval) {
  RouteTable t;
  EXPECT_FALSE(t.add_address(ip("224.0.0.1"), 24));
  EXPECT_FALSE(t.add_address(ip("198.18.0.1"), 33));
  ASSERT_TRUE(t.add_address(ip("198.18.0.1"), 24));
  EXPECT_FALSE(t.add_address(ip("198.18.0.1"), 24));
  EXPECT_TRUE(t.is_local(ip("198.18.0.1")));
  EXPECT_FALSE(t.is_local(ip("198.18.0.2")));
  EXPECT_TRUE(t.is_subnet_broadcast(ip("198.18.0.255")));
  EXPECT_FALSE(t.is_subnet_broadcast(ip("198.18.0.254")));
  ASSERT_TRUE(t.remove_address(ip("198.18.0.1")));
  EXPECT_FALSE(t.is_local(ip("198.18.0.1")));
  EXPECT_FALSE(t.lookup(ip("198.18.0.2")));
  EXPECT_FALSE(t.remove_address(ip("198.18.0.1")));
}

TEST(RouteTable, Ipv6FitsTheSameTable) {
  RouteTable t;
  ASSERT_TRUE(t.add_address(ip("2001:db8::1"), 64));
  ASSERT_TRUE(t.add_address(ip("198.18.0.1"), 24));
  auto r = t.lookup(ip("2001:db8::99"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->source, ip("2001:db8::1"));
  EXPECT_FALSE(t.lookup(ip("2001:db9::1")));
}

}  // namespace
}  // namespace shardtcp
