#include "echo_tcp.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "echo_pattern.h"

namespace shardtcp::echo {

// ------------------------------------------------------------------ server

TcpEchoServer::TcpEchoServer(Stack& stack, const TcpEchoServerConfig& config)
    : stack_(stack), config_(config) {
  if (config_.buffer == 0) config_.buffer = 64 * 1024;
  for (std::uint16_t e = 0; e < stack_.engine_count(); ++e) listener_ctx_.push_back({this, e});
  accepted_per_engine_.assign(stack_.engine_count(), 0);
}

TcpEchoServer::~TcpEchoServer() {
  stop();
}

int TcpEchoServer::start() {
  if (!listeners_.empty()) return -EISCONN;
  std::vector<TcpCallback> callbacks;
  for (Listener& l : listener_ctx_) callbacks.push_back({&on_listener_event, &l});
  int err = 0;
  auto ids = stack_.listen_all({config_.address, config_.port}, config_.backlog, callbacks, &err);
  if (!ids) return err != 0 ? err : -EINVAL;
  listeners_ = std::move(*ids);
  return 0;
}

void TcpEchoServer::stop() {
  if (!listeners_.empty()) {
    stack_.close_all(listeners_);
    listeners_.clear();
  }
  for (auto& c : conns_) {
    if (!c->in_use) continue;
    // Echo still owed cannot be delivered any more: say so with a RST, not a FIN.
    if (c->len > 0 || !c->eof) c->tcp->set_linger_zero(c->id, true);
    finish(*c, 0);
  }
}

void TcpEchoServer::on_listener_event(void* user, TcpConnId, TcpSocketEvent ev, std::uint32_t) {
  auto* l = static_cast<Listener*>(user);
  if (ev == TcpSocketEvent::kAcceptable) l->server->accept_all(l->engine);
}

TcpEchoServer::Conn* TcpEchoServer::take_conn() {
  if (!free_.empty()) {
    Conn* c = free_.back();
    free_.pop_back();
    return c;
  }
  auto c = std::make_unique<Conn>();
  c->server = this;
  c->buf = std::make_unique<std::uint8_t[]>(config_.buffer);
  conns_.push_back(std::move(c));
  return conns_.back().get();
}

void TcpEchoServer::accept_all(std::uint16_t engine) {
  if (listeners_.empty()) return;
  TcpLayer& tcp = stack_.engine_tcp(engine);
  for (;;) {
    int err = 0;
    Endpoint peer;
    const TcpConnId id = tcp.accept(listeners_[engine], &err, &peer);
    if (!id.valid()) return;  // EAGAIN: the queue is empty
    Conn* c = take_conn();
    c->tcp = &tcp;
    c->id = id;
    c->peer = peer;
    c->head = c->len = 0;
    c->echoed = 0;
    c->eof = false;
    c->in_use = true;
    c->pumping = c->again = false;
    ++active_;
    ++accepted_;
    ++accepted_per_engine_[engine];
    tcp.set_callback(id, {&on_conn_event, c});
    // Bytes (even the FIN) may have arrived before the accept.
    pump(*c);
  }
}

void TcpEchoServer::on_conn_event(void* user, TcpConnId id, TcpSocketEvent ev,
                                  std::uint32_t value) {
  auto* c = static_cast<Conn*>(user);
  if (!c->in_use || !(c->id == id)) return;
  switch (ev) {
    case TcpSocketEvent::kReadable:
    case TcpSocketEvent::kWritable:
    case TcpSocketEvent::kPeerFin:
      c->server->pump(*c);
      break;
    case TcpSocketEvent::kError:
      c->server->finish(*c, static_cast<int>(value));
      break;
    case TcpSocketEvent::kClosed:
      c->server->finish(*c, c->eof && c->len == 0 ? 0 : ECONNRESET);
      break;
    default:
      break;
  }
}

// send() and recv() may raise events for this connection from inside the call
// (kWritable, kAcked ...): those only note that another round is due.
void TcpEchoServer::pump(Conn& c) {
  if (c.pumping) {
    c.again = true;
    return;
  }
  c.pumping = true;
  do {
    c.again = false;
    pump_once(c);
  } while (c.again && c.in_use);
  c.pumping = false;
}

void TcpEchoServer::pump_once(Conn& c) {
  while (c.in_use) {
    if (c.len > 0) {
      const long n = c.tcp->send(c.id, c.buf.get() + c.head, c.len);
      if (n == -EAGAIN) return;  // kWritable resumes us
      if (n < 0) {
        finish(c, static_cast<int>(-n));
        return;
      }
      c.head += static_cast<std::size_t>(n);
      c.len -= static_cast<std::size_t>(n);
      c.echoed += static_cast<std::uint64_t>(n);
      bytes_echoed_ += static_cast<std::uint64_t>(n);
      if (c.len > 0) return;  // short send: kWritable follows
      c.head = 0;
    }
    if (c.eof) {
      finish(c, 0);  // everything echoed: close() sends our FIN after it
      return;
    }
    const long r = c.tcp->recv(c.id, c.buf.get(), config_.buffer);
    if (r == -EAGAIN) return;
    if (r < 0) {
      finish(c, static_cast<int>(-r));
      return;
    }
    if (r == 0)
      c.eof = true;
    else
      c.len = static_cast<std::size_t>(r);
  }
}

void TcpEchoServer::finish(Conn& c, int error) {
  if (!c.in_use) return;
  c.in_use = false;
  c.tcp->close(c.id);  // stale after an error's kClosed: then a harmless -EBADF
  --active_;
  if (error == 0)
    ++completed_;
  else
    ++failed_;
  if (config_.verbose) {
    if (error == 0)
      std::printf("tcp %s: %llu bytes echoed, closed\n", c.peer.addr.to_string().c_str(),
                  static_cast<unsigned long long>(c.echoed));
    else
      std::printf("tcp %s: %llu bytes echoed, then %s\n", c.peer.addr.to_string().c_str(),
                  static_cast<unsigned long long>(c.echoed), std::strerror(error));
    std::fflush(stdout);
  }
  c.id = {};
  free_.push_back(&c);
}

// ------------------------------------------------------------------ client

TcpEchoClient::TcpEchoClient(Stack& stack, const TcpEchoClientConfig& config)
    : stack_(stack), clock_(stack.clock()), config_(config) {
  if (config_.chunk == 0) config_.chunk = 64 * 1024;
  scratch_.resize(config_.chunk);
}

TcpEchoClient::~TcpEchoClient() {
  abort_all();
}

std::string TcpEchoClient::conn_name(const Conn& c) const {
  return "conn " + std::to_string(c.index) + " to " + config_.server.addr.to_string() + ":" +
         std::to_string(config_.server.port);
}

int TcpEchoClient::start() {
  start_ = clock_.now();
  for (std::uint32_t k = 0; k < config_.conns; ++k) {
    auto c = std::make_unique<Conn>();
    c->client = this;
    c->index = k;
    // Spread over the engines: each picks a local port whose tuple it owns.
    c->tcp = &stack_.engine_tcp(static_cast<std::uint16_t>(k % stack_.engine_count()));
    conns_.push_back(std::move(c));
  }
  for (auto& c : conns_) {
    int err = 0;
    c->id = c->tcp->connect(config_.server, {&on_event, c.get()}, &err);
    if (!c->id.valid()) {
      fail(*c, "connect: " + std::string(std::strerror(-err)));
      return err;
    }
  }
  return 0;
}

void TcpEchoClient::abort_all() {
  for (auto& c : conns_) {
    if (c->closed || !c->id.valid()) continue;
    c->closed = true;
    c->tcp->abort(c->id);
  }
}

void TcpEchoClient::fail(Conn& c, const std::string& what) {
  if (error_.empty()) error_ = conn_name(c) + ": " + what;
  if (!c.closed) {
    c.closed = true;
    c.tcp->abort(c.id);
  }
}

void TcpEchoClient::on_event(void* user, TcpConnId id, TcpSocketEvent ev, std::uint32_t value) {
  auto* c = static_cast<Conn*>(user);
  TcpEchoClient& self = *c->client;
  if (c->closed || !(c->id == id)) return;
  switch (ev) {
    case TcpSocketEvent::kConnected:
      c->connected = true;
      ++self.connected_;
      self.pump(*c);
      break;
    case TcpSocketEvent::kReadable:
    case TcpSocketEvent::kWritable:
    case TcpSocketEvent::kPeerFin:
      self.pump(*c);
      break;
    case TcpSocketEvent::kError:
      self.fail(*c, std::strerror(static_cast<int>(value)));
      break;
    case TcpSocketEvent::kClosed:
      if (!c->eof) self.fail(*c, "connection closed before the echo was complete");
      break;
    default:
      break;
  }
}

void TcpEchoClient::pump(Conn& c) {
  if (c.pumping) {
    c.again = true;
    return;
  }
  c.pumping = true;
  do {
    c.again = false;
    pump_once(c);
  } while (c.again && !c.closed);
  c.pumping = false;
}

void TcpEchoClient::pump_once(Conn& c) {
  const std::uint64_t seed = config_.seed + c.index;
  // Send: generate only what the send buffer can take. Offering bytes when it has no
  // room makes send() fail with EAGAIN and arms kWritable for us.
  while (!c.closed && c.sent < config_.bytes) {
    const long room = c.tcp->writable_bytes(c.id);
    std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(config_.bytes - c.sent, scratch_.size()));
    if (room > 0)
      n = std::min(n, static_cast<std::size_t>(room));
    else
      n = std::min<std::size_t>(n, 1);
    fill_pattern(scratch_.data(), n, c.sent, seed);
    const long r = c.tcp->send(c.id, scratch_.data(), n);
    if (r == -EAGAIN) break;
    if (r < 0) {
      fail(c, "send: " + std::string(std::strerror(static_cast<int>(-r))));
      return;
    }
    c.sent += static_cast<std::uint64_t>(r);
  }
  if (!c.closed && c.sent == config_.bytes && !c.shut) {
    // Our EOF tells the server when to stop: its FIN after the echo is our end.
    c.shut = true;
    c.tcp->shutdown_write(c.id);
  }
  while (!c.closed && !c.eof) {
    const long r = c.tcp->recv(c.id, scratch_.data(), scratch_.size());
    if (r == -EAGAIN) break;
    if (r < 0) {
      fail(c, std::strerror(static_cast<int>(-r)));
      return;
    }
    if (r == 0) {
      c.eof = true;
      if (c.received != config_.bytes) {
        fail(c, "peer closed after " + std::to_string(c.received) + " of " +
                    std::to_string(config_.bytes) + " bytes");
        return;
      }
      c.closed = true;
      c.tcp->close(c.id);
      ++done_;
      if (done_ == conns_.size() && !ended_) {
        ended_ = true;
        end_ = clock_.now();
      }
      return;
    }
    const auto len = static_cast<std::size_t>(r);
    if (c.received + len > config_.bytes) {
      fail(c, "received more bytes than were sent (" + std::to_string(c.received + len) + " > " +
                  std::to_string(config_.bytes) + ")");
      return;
    }
    const std::size_t bad = first_mismatch(scratch_.data(), len, c.received, seed);
    if (bad != len) {
      char msg[160];
      std::snprintf(msg, sizeof msg, "echoed byte %llu differs (got 0x%02x, sent 0x%02x)",
                    static_cast<unsigned long long>(c.received + bad), scratch_[bad],
                    pattern_byte(c.received + bad, seed));
      fail(c, msg);
      return;
    }
    c.received += len;
  }
}

std::uint64_t TcpEchoClient::bytes_sent() const {
  std::uint64_t n = 0;
  for (const auto& c : conns_) n += c->sent;
  return n;
}

std::uint64_t TcpEchoClient::bytes_verified() const {
  std::uint64_t n = 0;
  for (const auto& c : conns_) n += c->received;
  return n;
}

std::string TcpEchoClient::describe_unfinished() const {
  std::string out;
  for (const auto& c : conns_) {
    if (c->eof || c->closed) continue;
    char line[256];
    const Tcb* t = c->tcp->tcb(c->id);
    std::snprintf(line, sizeof line,
                  "  %s: sent %llu, verified %llu, readable %ld, writable %ld, state %d, "
                  "snd_wnd %u, rcv_wnd %u\n",
                  conn_name(*c).c_str(), static_cast<unsigned long long>(c->sent),
                  static_cast<unsigned long long>(c->received), c->tcp->readable_bytes(c->id),
                  c->tcp->writable_bytes(c->id), static_cast<int>(c->tcp->state(c->id)),
                  t ? t->snd_wnd() : 0, t ? t->rcv_wnd() : 0);
    out += line;
  }
  return out;
}

Duration TcpEchoClient::elapsed() const {
  return (ended_ ? end_ : clock_.now()) - start_;
}

}  // namespace shardtcp::echo
