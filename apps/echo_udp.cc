#include "echo_udp.h"

#include <rte_mbuf.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "echo_pattern.h"

namespace shardtcp::echo {

// ------------------------------------------------------------------ server

UdpEchoServer::UdpEchoServer(UdpLayer& udp, std::uint16_t port) : udp_(udp), port_(port) {}

UdpEchoServer::~UdpEchoServer() {
  stop();
}

int UdpEchoServer::start() {
  if (sock_.valid()) return -EISCONN;
  int err = 0;
  sock_ = udp_.open(
      [this](UdpSocketId, UdpEvent ev) {
        if (ev == UdpEvent::kReadable) on_readable();
      },
      IpFamily::kNone, &err);  // both families: datagrams to any of our addresses
  if (!sock_.valid()) return err != 0 ? err : -ENFILE;
  if (const int r = udp_.bind(sock_, {IpAddr{}, port_}); r != 0) {
    udp_.close(sock_);
    sock_ = {};
    return r;
  }
  return 0;
}

void UdpEchoServer::stop() {
  if (!sock_.valid()) return;
  udp_.close(sock_);
  sock_ = {};
}

void UdpEchoServer::on_readable() {
  // The event is an edge (queue became non-empty): drain to EAGAIN.
  Endpoint from;
  int err = 0;
  while (rte_mbuf* m = udp_.recv_mbuf(sock_, &from, &err)) {
    const std::uint32_t len = rte_pktmbuf_pkt_len(m);
    // Ownership passes to send_mbuf whatever it returns.
    const long r = udp_.send_mbuf(sock_, m, from);
    if (r < 0) {
      ++send_errors_;
      continue;
    }
    ++datagrams_;
    bytes_ += len;
  }
}

// ------------------------------------------------------------------ client

namespace {

void put_le64(std::uint8_t* p, std::uint64_t v) {
  for (int k = 0; k < 8; ++k) p[k] = static_cast<std::uint8_t>(v >> (8 * k));
}

std::uint64_t get_le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int k = 0; k < 8; ++k) v |= static_cast<std::uint64_t>(p[k]) << (8 * k);
  return v;
}

}  // namespace

UdpEchoClient::UdpEchoClient(UdpLayer& udp, Clock& clock, const UdpEchoClientConfig& config)
    : udp_(udp), clock_(clock), config_(config) {
  config_.datagram = std::clamp<std::size_t>(config_.datagram, kHeader + 1, UdpLayer::kMaxPayload);
  config_.window = std::clamp<std::uint32_t>(config_.window, 1, 4096);
  payload_ = config_.datagram - kHeader;
  scratch_.resize(UdpLayer::kMaxPayload);
}

UdpEchoClient::~UdpEchoClient() {
  close_all();
}

std::uint64_t UdpEchoClient::total_datagrams() const {
  return (config_.bytes + payload_ - 1) / payload_;
}

std::size_t UdpEchoClient::payload_of(std::uint64_t index) const {
  const std::uint64_t off = index * payload_;
  return static_cast<std::size_t>(std::min<std::uint64_t>(payload_, config_.bytes - off));
}

int UdpEchoClient::start() {
  start_ = clock_.now();
  for (std::uint32_t k = 0; k < config_.conns; ++k) {
    auto c = std::make_unique<Conn>();
    c->index = k;
    c->window.resize(config_.window);
    c->done = total_datagrams() == 0;
    if (c->done) ++done_;
    conns_.push_back(std::move(c));
  }
  for (auto& cp : conns_) {
    Conn* c = cp.get();
    int err = 0;
    c->sock = udp_.open(
        [this, c](UdpSocketId, UdpEvent ev) {
          if (c->closed) return;
          if (ev == UdpEvent::kReadable) {
            on_readable(*c);
          } else if (ev == UdpEvent::kError) {
            const int e = udp_.pending_error(c->sock);
            if (e > 0) fail(*c, std::strerror(e));
          }
        },
        config_.server.addr.family(), &err);
    if (!c->sock.valid()) {
      fail(*c, "socket: " + std::string(std::strerror(-err)));
      return err;
    }
    if (const int r = udp_.connect(c->sock, config_.server); r != 0) {
      fail(*c, "connect: " + std::string(std::strerror(-r)));
      return r;
    }
  }
  tick();
  return failed() ? -EIO : 0;
}

void UdpEchoClient::close_all() {
  for (auto& c : conns_) {
    if (c->closed) continue;
    c->closed = true;
    if (c->sock.valid()) udp_.close(c->sock);
  }
}

void UdpEchoClient::fail(Conn& c, const std::string& what) {
  if (error_.empty())
    error_ = "udp conn " + std::to_string(c.index) + " to " + config_.server.addr.to_string() +
             ":" + std::to_string(config_.server.port) + ": " + what;
  if (!c.closed) {
    c.closed = true;
    udp_.close(c.sock);
  }
}

bool UdpEchoClient::send_datagram(Conn& c, std::uint64_t index, Instant now) {
  const std::uint64_t off = index * payload_;
  const std::size_t n = payload_of(index);
  put_le64(scratch_.data(), off);
  fill_pattern(scratch_.data() + kHeader, n, off, config_.seed + c.index);
  const long r = udp_.send(c.sock, scratch_.data(), kHeader + n);
  if (r == -ENOBUFS) return false;  // the pool is drained for now: try again next tick
  if (r < 0) {
    fail(c, "send: " + std::string(std::strerror(static_cast<int>(-r))));
    return false;
  }
  Slot& s = c.window[index % c.window.size()];
  s.sent_at = now;
  ++s.tries;
  ++sent_;
  return true;
}

void UdpEchoClient::fill_window(Conn& c, Instant now) {
  const std::uint64_t total = total_datagrams();
  while (!c.closed && c.next < total && c.next < c.base + c.window.size()) {
    Slot& s = c.window[c.next % c.window.size()];
    s = Slot{};
    if (!send_datagram(c, c.next, now)) return;
    ++c.next;
  }
}

void UdpEchoClient::tick() {
  const Instant now = clock_.now();
  for (auto& cp : conns_) {
    Conn& c = *cp;
    if (c.closed || c.done) continue;
    for (std::uint64_t i = c.base; i < c.next && !c.closed; ++i) {
      Slot& s = c.window[i % c.window.size()];
      if (s.acked || now - s.sent_at < config_.resend_after) continue;
      if (s.tries > config_.max_resends) {
        fail(c, "no echo for datagram at offset " + std::to_string(i * payload_) + " after " +
                    std::to_string(s.tries) + " tries");
        break;
      }
      if (!send_datagram(c, i, now)) break;
      ++resends_;
    }
    fill_window(c, now);
  }
}

void UdpEchoClient::on_readable(Conn& c) {
  const std::uint64_t seed = config_.seed + c.index;
  while (!c.closed) {
    UdpRecvInfo info;
    const long r = udp_.recv_from(c.sock, scratch_.data(), scratch_.size(), &info);
    if (r == -EAGAIN) break;
    if (r < 0) {
      fail(c, std::strerror(static_cast<int>(-r)));
      return;
    }
    const auto len = static_cast<std::size_t>(r);
    if (len < kHeader) {
      fail(c, "echo of " + std::to_string(len) + " bytes is shorter than the header");
      return;
    }
    const std::uint64_t off = get_le64(scratch_.data());
    const std::uint64_t index = off / payload_;
    if (off % payload_ != 0 || index >= c.next || len != kHeader + payload_of(index)) {
      fail(c, "echo does not match any datagram sent (offset " + std::to_string(off) + ", " +
                  std::to_string(len) + " bytes)");
      return;
    }
    Slot& s = c.window[index % c.window.size()];
    if (index < c.base || s.acked) {
      ++duplicates_;  // the echo of a resent datagram whose first echo already came
      continue;
    }
    const std::size_t n = len - kHeader;
    const std::size_t bad = first_mismatch(scratch_.data() + kHeader, n, off, seed);
    if (bad != n) {
      char msg[160];
      std::snprintf(msg, sizeof msg, "echoed byte %llu differs (got 0x%02x, sent 0x%02x)",
                    static_cast<unsigned long long>(off + bad), scratch_[kHeader + bad],
                    pattern_byte(off + bad, seed));
      fail(c, msg);
      return;
    }
    s.acked = true;
    c.verified += n;
    while (c.base < c.next && c.window[c.base % c.window.size()].acked) ++c.base;
    if (c.base == total_datagrams()) {
      c.done = true;
      c.closed = true;
      udp_.close(c.sock);
      if (++done_ == conns_.size() && !ended_) {
        ended_ = true;
        end_ = clock_.now();
      }
      return;
    }
    fill_window(c, clock_.now());
  }
}

std::uint64_t UdpEchoClient::bytes_verified() const {
  std::uint64_t n = 0;
  for (const auto& c : conns_) n += c->verified;
  return n;
}

Duration UdpEchoClient::elapsed() const {
  return (ended_ ? end_ : clock_.now()) - start_;
}

}  // namespace shardtcp::echo
