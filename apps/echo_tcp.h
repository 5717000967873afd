// TCP echo server and client on the native API (tcp/tcp_layer.h), event-driven on the
// engines' threads: every reaction happens inside a TcpLayer callback (readable,
// writable, peer FIN, error), so the owner only has to keep polling the stack. Both
// use every engine of the stack: the server listens on all of them (each accepts the
// connections it owns), the client opens connection k on engine k mod N.
//
//   echo::TcpEchoServer server(stack, {.port = 7});
//   server.start();                       // listens; echoes every connection until stop()
//   echo::TcpEchoClient client(stack, {{server_addr, 7}, 1 << 20, 4});
//   client.start();                       // 4 connections, 1 MiB each, verified on return
//   while (!client.finished()) stack.poll_once();
//
// Both run from one thread that polls every engine (Stack::poll_once).
//
// Per connection the server holds one buffer (allocated when the connection is
// accepted, reused for later ones); the client verifies what comes back against the
// stream's deterministic pattern (echo_pattern.h), so it stores nothing it sent.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/time.h"
#include "shardtcp/stack.h"
#include "tcp/tcp_layer.h"
#include "wire/ip_addr.h"

namespace shardtcp::echo {

struct TcpEchoServerConfig {
  std::uint16_t port = 7;
  // IpAddr{}: every address of both families (IPv4 and IPv6 with addresses of both).
  IpAddr address;
  std::uint32_t backlog = 128;
  std::size_t buffer = 64 * 1024;  // bytes read ahead of the echo, per connection
  bool verbose = false;            // a line per finished connection on stdout
};

class TcpEchoServer {
 public:
  TcpEchoServer(Stack& stack, const TcpEchoServerConfig& config);
  ~TcpEchoServer();  // stop()
  TcpEchoServer(const TcpEchoServer&) = delete;
  TcpEchoServer& operator=(const TcpEchoServer&) = delete;

  // Listens on the port on every engine. 0, or a negative errno.
  int start();
  // Closes the listener and every connection (RST for those with unsent echo).
  void stop();

  std::uint64_t bytes_echoed() const { return bytes_echoed_; }
  std::uint64_t accepted() const { return accepted_; }
  // Connections accepted by one engine's listener.
  std::uint64_t accepted_on(std::uint16_t engine) const {
    return engine < accepted_per_engine_.size() ? accepted_per_engine_[engine] : 0;
  }
  std::uint64_t completed() const { return completed_; }  // echoed to EOF and closed
  std::uint64_t failed() const { return failed_; }        // reset / timed out / send error
  std::size_t active() const { return active_; }

 private:
  struct Conn {
    TcpEchoServer* server = nullptr;
    TcpLayer* tcp = nullptr;  // the engine that owns the connection
    TcpConnId id;
    Endpoint peer;
    std::unique_ptr<std::uint8_t[]> buf;
    std::size_t head = 0, len = 0;  // unsent echo: buf[head, head + len)
    std::uint64_t echoed = 0;
    bool eof = false;
    bool in_use = false;
    bool pumping = false, again = false;  // re-entrancy: events raised by our own calls
  };

  // One engine's listener: the callback's user data.
  struct Listener {
    TcpEchoServer* server = nullptr;
    std::uint16_t engine = 0;
  };

  static void on_listener_event(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value);
  static void on_conn_event(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value);
  void accept_all(std::uint16_t engine);
  void pump(Conn& c);
  void pump_once(Conn& c);
  void finish(Conn& c, int error);
  Conn* take_conn();

  Stack& stack_;
  TcpEchoServerConfig config_;
  std::vector<Listener> listener_ctx_;  // per engine
  std::vector<TcpConnId> listeners_;    // per engine; empty when not listening
  std::vector<std::uint64_t> accepted_per_engine_;
  std::vector<std::unique_ptr<Conn>> conns_;  // stable addresses: the callbacks' user data
  std::vector<Conn*> free_;
  std::size_t active_ = 0;
  std::uint64_t bytes_echoed_ = 0, accepted_ = 0, completed_ = 0, failed_ = 0;
};

struct TcpEchoClientConfig {
  Endpoint server;
  std::uint64_t bytes = 1 << 20;  // sent (and expected back) on each connection
  std::uint32_t conns = 1;
  std::size_t chunk = 64 * 1024;  // bytes handed to send() / taken from recv() at once
  std::uint64_t seed = 1;         // connection k sends the stream seed + k
};

class TcpEchoClient {
 public:
  TcpEchoClient(Stack& stack, const TcpEchoClientConfig& config);
  ~TcpEchoClient();  // aborts connections still open
  TcpEchoClient(const TcpEchoClient&) = delete;
  TcpEchoClient& operator=(const TcpEchoClient&) = delete;

  // Opens every connection (SYNs go out). 0, or a negative errno when the stack
  // refused at once (ENETUNREACH, ENOBUFS ...); error() says which connection.
  int start();
  // Every connection got its bytes back and saw EOF, or one failed.
  bool finished() const { return failed() || done_ == conns_.size(); }
  bool failed() const { return !error_.empty(); }
  // What went wrong, with strerror text ("connect to 198.18.0.1:9: Connection refused").
  const std::string& error() const { return error_; }
  // Aborts every connection (after an error, or to give up).
  void abort_all();

  std::uint64_t bytes_sent() const;
  std::uint64_t bytes_verified() const;
  // From start() to the last connection's EOF (or now, while running).
  Duration elapsed() const;
  // Connections that completed the handshake.
  std::uint32_t connected() const { return connected_; }
  // One line per unfinished connection (progress, buffers, TCP state): what to print
  // when the client gives up.
  std::string describe_unfinished() const;

 private:
  struct Conn {
    TcpEchoClient* client = nullptr;
    TcpLayer* tcp = nullptr;  // engine index mod engine_count()
    std::uint32_t index = 0;
    TcpConnId id;
    std::uint64_t sent = 0, received = 0;
    bool connected = false, shut = false, eof = false, closed = false;
    bool pumping = false, again = false;
  };

  static void on_event(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value);
  void pump(Conn& c);
  void pump_once(Conn& c);
  void fail(Conn& c, const std::string& what);
  std::string conn_name(const Conn& c) const;

  Stack& stack_;
  Clock& clock_;
  TcpEchoClientConfig config_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<std::uint8_t> scratch_;
  std::size_t done_ = 0;
  std::uint32_t connected_ = 0;
  std::string error_;
  Instant start_{}, end_{};
  bool ended_ = false;
};

}  // namespace shardtcp::echo
