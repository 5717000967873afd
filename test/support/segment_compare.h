// Field-by-field comparison of two TCP segments' headers, for tests that check one way
// of producing a segment against another (a refilled decode against decode_tcp, header
// prediction's output against the general path's).
#pragma once

#include <gtest/gtest.h>

#include "tcp/tcp_segment.h"

namespace shardtcp::testing {

// Every header field, the options and the ECN codepoint; the payload is the caller's.
inline void expect_same_header(const TcpSegment& a, const TcpSegment& b) {
  EXPECT_EQ(a.src_port, b.src_port);
  EXPECT_EQ(a.dst_port, b.dst_port);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.ack, b.ack);
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.window, b.window);
  EXPECT_EQ(a.urgent, b.urgent);
  EXPECT_TRUE(a.options == b.options);
  EXPECT_EQ(a.ip_ecn, b.ip_ecn);
}

}  // namespace shardtcp::testing
