// UDP echo server and client on the native API (udp/udp_layer.h), event-driven on the
// engine's thread.
//
// The server sends every datagram back to its sender without copying it (the received
// mbuf becomes the reply). The client's "connection" k is a connected UDP socket that
// sends `bytes` of the stream with seed + k in datagrams of `datagram` bytes: an 8-byte
// little-endian stream offset, then the pattern bytes from that offset. UDP may lose
// datagrams, so the client keeps a window of unanswered datagrams, resends those not
// echoed within `resend_after`, and fails after `max_resends` tries of one datagram.
// Echoes are verified against the pattern (echo_pattern.h) as they arrive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/time.h"
#include "udp/udp_layer.h"
#include "wire/ip_addr.h"

namespace shardtcp::echo {

class UdpEchoServer {
 public:
  UdpEchoServer(UdpLayer& udp, std::uint16_t port);
  ~UdpEchoServer();  // stop()
  UdpEchoServer(const UdpEchoServer&) = delete;
  UdpEchoServer& operator=(const UdpEchoServer&) = delete;

  int start();  // 0, or a negative errno (EADDRINUSE ...)
  void stop();

  std::uint64_t datagrams() const { return datagrams_; }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t send_errors() const { return send_errors_; }

 private:
  void on_readable();

  UdpLayer& udp_;
  std::uint16_t port_;
  UdpSocketId sock_;
  std::uint64_t datagrams_ = 0, bytes_ = 0, send_errors_ = 0;
};

struct UdpEchoClientConfig {
  Endpoint server;
  std::uint64_t bytes = 1 << 20;  // payload bytes per connection (excluding headers)
  std::uint32_t conns = 1;
  std::size_t datagram = 1024;  // UDP payload per datagram, 8-byte header included (9..65507)
  std::uint32_t window = 64;    // unanswered datagrams per connection (1..4096)
  Duration resend_after = std::chrono::milliseconds(200);
  std::uint32_t max_resends = 25;
  std::uint64_t seed = 1;
};

class UdpEchoClient {
 public:
  static constexpr std::size_t kHeader = 8;

  UdpEchoClient(UdpLayer& udp, Clock& clock, const UdpEchoClientConfig& config);
  ~UdpEchoClient();
  UdpEchoClient(const UdpEchoClient&) = delete;
  UdpEchoClient& operator=(const UdpEchoClient&) = delete;

  // Opens and connects the sockets and sends the first window. 0 or a negative errno.
  int start();
  // Resends what timed out and sends what the window allows; call every loop iteration.
  void tick();
  bool finished() const { return failed() || done_ == conns_.size(); }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  void close_all();

  std::uint64_t bytes_verified() const;
  std::uint64_t datagrams_sent() const { return sent_; }
  std::uint64_t resends() const { return resends_; }
  std::uint64_t duplicates() const { return duplicates_; }
  Duration elapsed() const;

 private:
  struct Slot {
    Instant sent_at{};
    std::uint32_t tries = 0;
    bool acked = false;
  };
  struct Conn {
    std::uint32_t index = 0;
    UdpSocketId sock;
    std::uint64_t base = 0, next = 0;  // datagram indices: [base, next) are in flight
    std::uint64_t verified = 0;        // payload bytes echoed and checked
    std::vector<Slot> window;          // by datagram index % window size
    bool done = false, closed = false;
  };

  std::uint64_t total_datagrams() const;
  std::size_t payload_of(std::uint64_t index) const;
  // Sends datagram `index` of connection c; false when the stack had no buffer.
  bool send_datagram(Conn& c, std::uint64_t index, Instant now);
  void fill_window(Conn& c, Instant now);
  void on_readable(Conn& c);
  void fail(Conn& c, const std::string& what);

  UdpLayer& udp_;
  Clock& clock_;
  UdpEchoClientConfig config_;
  std::size_t payload_ = 0;  // pattern bytes per datagram
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<std::uint8_t> scratch_;
  std::size_t done_ = 0;
  std::uint64_t sent_ = 0, resends_ = 0, duplicates_ = 0;
  std::string error_;
  Instant start_{}, end_{};
  bool ended_ = false;
};

}  // namespace shardtcp::echo
