// UdpLayer socket-table logic without EAL: ids and generations, bind (zero address
// and port, clashes, SO_REUSEADDR), connect/disconnect, errors that need no packet.
// The IpStack runs without reassembly so nothing touches DPDK memory.
#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <vector>

#include "ip/ip_stack.h"
#include "udp/udp_layer.h"

namespace shardtcp {
namespace {

IpStackConfig stack_config() {
  IpStackConfig c;
  c.port.mac = rte_ether_addr{{0x02, 0, 0, 0, 0, 0x01}};
  c.addresses.push_back({IpAddr::v4(0xC6120001), 24});  // 198.18.0.1/24
  c.addresses.push_back({IpAddr::v4(0xC6130001), 24});  // 198.19.0.1/24
  c.reassembly = false;
  return c;
}

class UdpUnit : public ::testing::Test {
 protected:
  UdpUnit() : ip(stack_config()), udp(ip, UdpEnv{}, small_config()) {}
  static UdpConfig small_config() {
    UdpConfig c;
    c.max_sockets = 8;
    c.max_queued_datagrams = 16;
    c.ephemeral_first = 40000;
    c.ephemeral_last = 40003;
    return c;
  }
  UdpSocketId open_ok() {
    UdpSocketId id = udp.open();
    EXPECT_TRUE(id.valid());
    return id;
  }
  IpStack ip;
  UdpLayer udp;
  const IpAddr a1 = IpAddr::v4(0xC6120001);
  const IpAddr a2 = IpAddr::v4(0xC6130001);
  const IpAddr peer = IpAddr::v4(0xC6120002);
};

TEST_F(UdpUnit, BindWithZeroAddressAndPortPicksAnEphemeralPort) {
  UdpSocketId s = open_ok();
  ASSERT_EQ(udp.bind(s, Endpoint{IpAddr{}, 0}), 0);
  Endpoint local;
  ASSERT_EQ(udp.local_endpoint(s, &local), 0);
  EXPECT_TRUE(local.addr.is_v4());
  EXPECT_TRUE(local.addr.is_unspecified());
  EXPECT_GE(local.port, 40000);
  EXPECT_LE(local.port, 40003);
  EXPECT_EQ(udp.bind(s, Endpoint{IpAddr{}, 7}), -EINVAL);  // already bound
}

TEST_F(UdpUnit, BindWithAddressAndZeroPortKeepsTheAddress) {
  UdpSocketId s = open_ok();
  ASSERT_EQ(udp.bind(s, Endpoint{a2, 0}), 0);
  Endpoint local;
  ASSERT_EQ(udp.local_endpoint(s, &local), 0);
  EXPECT_EQ(local.addr, a2);
  EXPECT_NE(local.port, 0);
}

TEST_F(UdpUnit, BindRejectsAddressesThatAreNotOurs) {
  UdpSocketId s = open_ok();
  EXPECT_EQ(udp.bind(s, Endpoint{peer, 7}), -EADDRNOTAVAIL);
  EXPECT_EQ(udp.bind(s, Endpoint{a1, 7}), 0);
}

TEST_F(UdpUnit, EphemeralPortsAreDistinctUntilTheRangeIsExhausted) {
  std::set<std::uint16_t> ports;
  for (int i = 0; i < 4; ++i) {
    UdpSocketId s = open_ok();
    ASSERT_EQ(udp.bind(s, Endpoint{}), 0);
    Endpoint l;
    udp.local_endpoint(s, &l);
    ports.insert(l.port);
  }
  EXPECT_EQ(ports.size(), 4u);
  UdpSocketId s = open_ok();
  EXPECT_EQ(udp.bind(s, Endpoint{}), -EAGAIN);
  EXPECT_EQ(udp.counter(UdpCounter::kEphemeralExhausted), 1u);
}

TEST_F(UdpUnit, BindClashIsEaddrinuseUnlessBothReuse) {
  UdpSocketId s1 = open_ok(), s2 = open_ok(), s3 = open_ok(), s4 = open_ok();
  ASSERT_EQ(udp.bind(s1, Endpoint{a1, 5000}), 0);
  EXPECT_EQ(udp.bind(s2, Endpoint{a1, 5000}), -EADDRINUSE);
  EXPECT_EQ(udp.bind(s2, Endpoint{IpAddr{}, 5000}), -EADDRINUSE);  // wildcard overlaps
  EXPECT_EQ(udp.bind(s2, Endpoint{a2, 5000}), 0);                  // other address: fine
  // Only one side asking for reuse is not enough.
  ASSERT_EQ(udp.set_reuse_addr(s3, true), 0);
  EXPECT_EQ(udp.bind(s3, Endpoint{a1, 6000 - 1000}), -EADDRINUSE);
  ASSERT_EQ(udp.set_reuse_addr(s4, true), 0);
  ASSERT_EQ(udp.bind(s4, Endpoint{a1, 6000}), 0);
  EXPECT_EQ(udp.bind(s3, Endpoint{IpAddr{}, 6000}), 0);
  // Closing frees the port.
  UdpSocketId s5 = udp.open();
  ASSERT_EQ(udp.close(s1), 0);
  EXPECT_EQ(udp.bind(s5, Endpoint{a1, 5000}), 0);
}

TEST_F(UdpUnit, StaleIdIsRejectedEverywhere) {
  UdpSocketId old_id = open_ok();
  ASSERT_EQ(udp.close(old_id), 0);
  UdpSocketId fresh = open_ok();
  ASSERT_EQ(fresh.slot(), old_id.slot());  // the slot is reused ...
  EXPECT_NE(fresh, old_id);                // ... under a new generation
  char buf[4];
  EXPECT_EQ(udp.bind(old_id, Endpoint{}), -ENOTSOCK);
  EXPECT_EQ(udp.connect(old_id, Endpoint{peer, 9}), -ENOTSOCK);
  EXPECT_EQ(udp.send(old_id, buf, 1), -ENOTSOCK);
  EXPECT_EQ(udp.send_to(old_id, buf, 1, Endpoint{peer, 9}), -ENOTSOCK);
  EXPECT_EQ(udp.recv_from(old_id, buf, sizeof buf), -ENOTSOCK);
  EXPECT_EQ(udp.pending_error(old_id), -ENOTSOCK);
  EXPECT_EQ(udp.readable_bytes(old_id), -ENOTSOCK);
  EXPECT_EQ(udp.close(old_id), -ENOTSOCK);
  EXPECT_EQ(udp.close(UdpSocketId{}), -ENOTSOCK);
  EXPECT_EQ(udp.close(UdpSocketId{0x00010000u | 999}), -ENOTSOCK);  // slot out of range
  EXPECT_TRUE(udp.is_open(fresh));
  EXPECT_EQ(udp.recv_from(fresh, buf, sizeof buf), -EAGAIN);
}

TEST_F(UdpUnit, TableFullIsEnfile) {
  std::vector<UdpSocketId> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(open_ok());
  int err = 0;
  EXPECT_FALSE(udp.open({}, IpFamily::kV4, &err).valid());
  EXPECT_EQ(err, -ENFILE);
  EXPECT_EQ(udp.open_sockets(), 8u);
  udp.close(ids[3]);
  EXPECT_TRUE(udp.open().valid());
}

TEST_F(UdpUnit, Ipv6SocketsTakeOnlyIpv6Addresses) {
  int err = 0;
  UdpSocketId s = udp.open({}, IpFamily::kV6, &err);
  ASSERT_TRUE(s.valid());
  EXPECT_EQ(err, 0);
  Endpoint local;
  ASSERT_EQ(udp.local_endpoint(s, &local), 0);
  EXPECT_TRUE(local.addr.is_v6() && local.addr.is_unspecified());  // ::, not 0.0.0.0
  EXPECT_EQ(udp.bind(s, Endpoint{IpAddr::v4(0), 0}), -EAFNOSUPPORT);
  EXPECT_EQ(udp.send_to(s, "x", 1, Endpoint{IpAddr::v4(0xC6120001), 9}), -EAFNOSUPPORT);
  // 0.0.0.0:53 and [::]:53 are different sockets (no v4-mapped addresses).
  UdpSocketId v4 = open_ok();
  ASSERT_EQ(udp.bind(v4, Endpoint{IpAddr::v4(0), 53}), 0);
  EXPECT_EQ(udp.bind(s, Endpoint{*IpAddr::parse("::"), 53}), 0);
  UdpSocketId v4b = open_ok();
  EXPECT_EQ(udp.bind(v4b, Endpoint{IpAddr::v4(0), 53}), -EADDRINUSE);
  udp.close(v4b);
  udp.close(v4);
  udp.close(s);
}

// IpFamily::kNone: a dual-family socket. On the wildcard it holds the port in both
// families; connect() fixes its family, disconnect makes it dual again.
TEST_F(UdpUnit, FamilylessSocketHoldsThePortInBothFamilies) {
  int err = 0;
  UdpSocketId d = udp.open({}, IpFamily::kNone, &err);
  ASSERT_TRUE(d.valid());
  EXPECT_EQ(err, 0);
  ASSERT_EQ(udp.bind(d, Endpoint{IpAddr{}, 53}), 0);
  Endpoint local;
  ASSERT_EQ(udp.local_endpoint(d, &local), 0);
  EXPECT_TRUE(local.addr.is_none());
  EXPECT_EQ(local.port, 53);
  UdpSocketId v4 = open_ok();
  EXPECT_EQ(udp.bind(v4, Endpoint{IpAddr::v4(0), 53}), -EADDRINUSE);
  EXPECT_EQ(udp.bind(v4, Endpoint{a1, 53}), -EADDRINUSE);
  UdpSocketId v6 = udp.open({}, IpFamily::kV6, &err);
  ASSERT_TRUE(v6.valid());
  EXPECT_EQ(udp.bind(v6, Endpoint{*IpAddr::parse("::"), 53}), -EADDRINUSE);
  // Another port is free in both families.
  EXPECT_EQ(udp.bind(v4, Endpoint{IpAddr::v4(0), 54}), 0);
  EXPECT_EQ(udp.bind(v6, Endpoint{*IpAddr::parse("::"), 54}), 0);
  UdpSocketId d2 = udp.open({}, IpFamily::kNone, &err);
  ASSERT_TRUE(d2.valid());
  EXPECT_EQ(udp.bind(d2, Endpoint{IpAddr{}, 54}), -EADDRINUSE);
  // connect() to an IPv4 peer takes the route's IPv4 source; AF_UNSPEC undoes it.
  ASSERT_EQ(udp.connect(d, Endpoint{peer, 9}), 0);
  ASSERT_EQ(udp.local_endpoint(d, &local), 0);
  EXPECT_EQ(local.addr, a1);
  // Bound to an IPv4 source now: IPv6 destinations are another family.
  EXPECT_EQ(udp.send_to(d, "x", 1, Endpoint{*IpAddr::parse("2001:db8::9"), 9}), -EAFNOSUPPORT);
  ASSERT_EQ(udp.connect(d, Endpoint{}), 0);
  ASSERT_EQ(udp.local_endpoint(d, &local), 0);
  EXPECT_TRUE(local.addr.is_none());
  udp.close(d2);
  udp.close(v6);
  udp.close(v4);
  udp.close(d);
}

TEST_F(UdpUnit, SendWithoutConnectIsEdestaddrreq) {
  UdpSocketId s = open_ok();
  const char msg[] = "hi";
  EXPECT_EQ(udp.send(s, msg, 2), -EDESTADDRREQ);
  EXPECT_EQ(udp.send_to(s, msg, 2, Endpoint{IpAddr::v4(0), 9}), -EDESTADDRREQ);
  EXPECT_EQ(udp.send_to(s, msg, 2, Endpoint{peer, 0}), -EINVAL);
  std::vector<char> big(UdpLayer::kMaxPayload + 1);
  EXPECT_EQ(udp.send_to(s, big.data(), big.size(), Endpoint{peer, 9}), -EMSGSIZE);
  EXPECT_EQ(udp.counter(UdpCounter::kSendTooBig), 1u);
}

TEST_F(UdpUnit, ConnectFillsLocalAddressFromTheRouteAndDisconnectRestoresIt) {
  std::vector<UdpEvent> events;
  UdpSocketId s = udp.open([&](UdpSocketId, UdpEvent e) { events.push_back(e); });
  ASSERT_EQ(udp.connect(s, Endpoint{IpAddr::v4(0xC6130009), 53}), 0);  // 198.19.0.9
  Endpoint local, remote;
  ASSERT_EQ(udp.local_endpoint(s, &local), 0);
  EXPECT_EQ(local.addr, a2);  // the route to 198.19/24 sources from 198.19.0.1
  EXPECT_NE(local.port, 0);
  ASSERT_EQ(udp.peer_endpoint(s, &remote), 0);
  EXPECT_EQ(remote, (Endpoint{IpAddr::v4(0xC6130009), 53}));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], UdpEvent::kWritable);
  // Re-connect changes the peer, keeps the local port.
  ASSERT_EQ(udp.connect(s, Endpoint{IpAddr::v4(0xC6130008), 54}), 0);
  Endpoint local2;
  udp.local_endpoint(s, &local2);
  EXPECT_EQ(local2.port, local.port);
  udp.peer_endpoint(s, &remote);
  EXPECT_EQ(remote.port, 54);
  // Unspecified address: disconnect; what connect chose is given back.
  ASSERT_EQ(udp.connect(s, Endpoint{IpAddr::v4(0), 0}), 0);
  EXPECT_EQ(udp.peer_endpoint(s, &remote), -ENOTCONN);
  udp.local_endpoint(s, &local2);
  EXPECT_TRUE(local2.addr.is_unspecified());
  EXPECT_EQ(local2.port, 0);
  EXPECT_EQ(udp.send(s, "x", 1), -EDESTADDRREQ);
}

TEST_F(UdpUnit, DisconnectKeepsWhatBindChose) {
  UdpSocketId s = open_ok();
  ASSERT_EQ(udp.bind(s, Endpoint{IpAddr{}, 4444}), 0);
  ASSERT_EQ(udp.connect(s, Endpoint{peer, 53}), 0);
  ASSERT_EQ(udp.connect(s, Endpoint{}), 0);
  Endpoint local;
  udp.local_endpoint(s, &local);
  EXPECT_EQ(local.port, 4444);
  EXPECT_TRUE(local.addr.is_unspecified());
}

TEST_F(UdpUnit, ConnectWithoutRouteIsEnetunreach) {
  UdpSocketId s = open_ok();
  EXPECT_EQ(udp.connect(s, Endpoint{IpAddr::v4(0xC6FF0001), 53}), -ENETUNREACH);  // no gateway
  EXPECT_EQ(udp.connect(s, Endpoint{peer, 0}), -EDESTADDRREQ);
  EXPECT_EQ(udp.send_to(s, "x", 1, Endpoint{IpAddr::v4(0xC6FF0001), 53}), -ENETUNREACH);
  EXPECT_EQ(udp.counter(UdpCounter::kSendNoRoute), 1u);
}

TEST_F(UdpUnit, IcmpErrorReachesOnlyTheMatchingConnectedSocket) {
  int errors = 0;
  UdpSocketId conn = udp.open([&](UdpSocketId, UdpEvent e) { errors += e == UdpEvent::kError; });
  UdpSocketId unconn = open_ok();
  ASSERT_EQ(udp.bind(conn, Endpoint{IpAddr{}, 7000}), 0);
  ASSERT_EQ(udp.connect(conn, Endpoint{peer, 53}), 0);
  ASSERT_EQ(udp.bind(unconn, Endpoint{a2, 7001}), 0);
  IcmpErrorInfo e;
  e.type = 3;
  e.code = 3;
  e.protocol = 17;
  e.src = a1;
  e.dst = peer;
  e.src_port = 7001;  // the unconnected socket: ignored
  e.dst_port = 53;
  PacketContext ctx;
  udp.on_icmp_error(e, ctx);
  EXPECT_EQ(udp.pending_error(unconn), 0);
  e.src_port = 7000;
  e.dst_port = 54;  // wrong peer port: ignored
  udp.on_icmp_error(e, ctx);
  EXPECT_EQ(errors, 0);
  e.dst_port = 53;
  e.code = 1;  // host unreachable
  udp.on_icmp_error(e, ctx);
  EXPECT_EQ(errors, 1);
  EXPECT_EQ(udp.pending_error(conn), EHOSTUNREACH);
  EXPECT_EQ(udp.pending_error(conn), 0);  // read-and-clear
  e.code = 0;
  udp.on_icmp_error(e, ctx);
  EXPECT_EQ(udp.pending_error(conn), ENETUNREACH);
  e.code = 4;  // fragmentation needed: not an error for a socket that lets IP fragment
  udp.on_icmp_error(e, ctx);
  EXPECT_EQ(udp.pending_error(conn), 0);
  EXPECT_EQ(udp.counter(UdpCounter::kIcmpErrors), 2u);
  EXPECT_EQ(udp.counter(UdpCounter::kIcmpErrorsIgnored), 3u);
}

TEST_F(UdpUnit, CallbackMayCloseItsOwnSocket) {
  UdpSocketId s;
  bool reopened = false;
  s = udp.open([&](UdpSocketId id, UdpEvent) {
    EXPECT_EQ(id, s);
    EXPECT_EQ(udp.close(id), 0);
    // Opening inside the callback must not reuse the slot whose callback is running.
    UdpSocketId n = udp.open();
    EXPECT_TRUE(n.valid());
    EXPECT_NE(n.slot(), id.slot());
    reopened = true;
  });
  ASSERT_EQ(udp.connect(s, Endpoint{peer, 53}), 0);  // fires kWritable
  EXPECT_TRUE(reopened);
  EXPECT_FALSE(udp.is_open(s));
  EXPECT_EQ(udp.open_sockets(), 1u);
}

}  // namespace
}  // namespace shardtcp
