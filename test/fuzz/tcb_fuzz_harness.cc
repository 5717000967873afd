#include "tcb_fuzz_harness.h"

#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include "common/counters.h"
#include "common/time.h"
#include "tcp/tcb.h"
#include "tcp/tcb_counters.h"
#include "wire/tcp.h"

namespace shardtcp::fuzz {
namespace {

using namespace std::chrono_literals;

// Reads the input front to back; past the end it yields zeros.
class Reader {
 public:
  Reader(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  bool done() const { return pos_ >= n_; }
  std::uint8_t u8() { return pos_ < n_ ? d_[pos_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  std::int16_t s16() { return static_cast<std::int16_t>(u16()); }
  std::uint32_t u32() { return u16() | (std::uint32_t{u16()} << 16); }
  // Up to `max` bytes, as many as remain.
  const std::uint8_t* bytes(std::size_t want, std::size_t* got) {
    *got = want < n_ - std::min(pos_, n_) ? want : n_ - std::min(pos_, n_);
    const std::uint8_t* p = d_ + std::min(pos_, n_);
    pos_ += *got;
    return p;
  }

 private:
  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t pos_ = 0;
};

struct Wire {
  TcpSegment seg;
  std::vector<std::uint8_t> payload;
};

class Harness {
 public:
  Harness() : stats_(make_tcp_counters()) {
    TcpConfig cfg;
    cfg.send_buffer = 64 * 1024;
    cfg.recv_buffer = 64 * 1024;
    cfg.msl = 1s;
    client_ = std::make_unique<Tcb>(cfg, ops_, &stats_);
    server_ = std::make_unique<Tcb>(cfg, ops_, &stats_);
  }

  bool handshake() {
    const Endpoint c{IpAddr::v4(0xC6120001), 40000};
    const Endpoint s{IpAddr::v4(0xC6120002), 80};
    out_.clear();
    client_->open_active(c, s, SeqNum(1000), now_, out_);
    if (out_.segment_count() != 1) return fail("no SYN");
    const TcpSegment syn = out_.segment(0).seg;
    out_.clear();
    server_->accept_syn(syn, s, c, SeqNum(900000), now_, out_);
    collect(out_, *server_, to_client_);
    deliver_all();
    return ok_ && server_->state() == TcpState::kEstablished &&
                   client_->state() == TcpState::kEstablished
               ? true
               : fail("handshake did not complete");
  }

  void run(Reader& r) {
    while (!r.done() && ok_ && steps_ < 4096) {
      ++steps_;
      const std::uint8_t op = r.u8();
      switch (op % 8) {
        case 0:
        case 1:
        case 2:
          inject(r);
          break;
        case 3:
          deliver_some(r.u8() % 8 + 1);
          break;
        case 4: {
          now_ = now_ + std::chrono::milliseconds(r.u16() % 5000);
          timers();
          break;
        }
        case 5:
          app(r, *server_, to_client_);
          break;
        case 6:
          app(r, *client_, to_server_);
          break;
        case 7:
          deliver_all();
          break;
      }
      check(*server_, "server");
      check(*client_, "client");
    }
  }

  TcbFuzzResult finish() {
    TcbFuzzResult res;
    res.final_state = static_cast<std::uint32_t>(server_->state());
    out_.clear();
    server_->abort(now_, out_);
    client_->abort(now_, out_);
    to_client_.clear();
    to_server_.clear();
    server_.reset();
    client_.reset();
    if (ok_ && (ops_.live_blocks() != 0 || ops_.live_chunks() != 0))
      fail("buffers leaked: blocks " + std::to_string(ops_.live_blocks()) + ", chunks " +
           std::to_string(ops_.live_chunks()));
    res.ok = ok_;
    res.failure = failure_;
    res.segments = injected_;
    res.delivered = delivered_;
    return res;
  }

 private:
  bool fail(const std::string& why) {
    if (ok_) failure_ = why;
    ok_ = false;
    return false;
  }

  // A segment aimed at the server, numbered relative to its windows.
  void inject(Reader& r) {
    TcpSegment seg;
    seg.src_port = 40000;
    seg.dst_port = 80;
    seg.flags = r.u8();
    const std::uint8_t mode = r.u8();
    seg.seq =
        (mode & 1) ? SeqNum(r.u32()) : server_->rcv_nxt() + static_cast<std::uint32_t>(r.s16());
    seg.ack =
        (mode & 2) ? SeqNum(r.u32()) : server_->snd_una() + static_cast<std::uint32_t>(r.s16());
    seg.window = r.u16();
    if (mode & 4) {
      std::size_t n = 0;
      const std::uint8_t* o = r.bytes(r.u8() % 41, &n);
      parse_tcp_options(o, n, seg.options);
    } else if (mode & 8) {
      seg.options.timestamps = TcpTimestamps{r.u32(), r.u32()};
    }
    std::size_t len = 0;
    const std::uint8_t* p = r.bytes((mode & 16) ? r.u16() % 3000 : r.u8() % 64, &len);
    seg.payload = ops_.make_payload(p, static_cast<std::uint32_t>(len));
    out_.clear();
    server_->on_segment(seg, now_, out_);
    ops_.release(seg.payload.handle);
    ++injected_;
    collect(out_, *server_, to_client_);
  }

  void app(Reader& r, Tcb& t, std::deque<Wire>& q) {
    const std::uint8_t what = r.u8();
    out_.clear();
    switch (what % 9) {
      case 0:
      case 1: {
        std::vector<std::uint8_t> buf(r.u16() % 20000, what);
        const std::uint32_t n = t.send(buf.data(), static_cast<std::uint32_t>(buf.size()));
        if (n > buf.size()) fail("send accepted more than offered");
        t.flush(now_, out_);
        break;
      }
      case 2:
      case 3: {
        std::vector<std::uint8_t> buf(r.u16() % 20000 + 1);
        const std::uint32_t before = t.readable_bytes();
        const std::uint32_t n =
            t.recv(buf.data(), static_cast<std::uint32_t>(buf.size()), (what & 16) != 0);
        if (n > before || n > buf.size()) fail("recv returned more than readable");
        t.flush(now_, out_);
        break;
      }
      case 4:
        t.shutdown_write(now_, out_);
        break;
      case 5:
        t.close(now_, out_);
        break;
      case 6:
        if ((what & 0xf0) == 0xf0) t.abort(now_, out_);
        break;
      case 7:
        t.set_nodelay((what & 16) != 0);
        t.set_recv_buffer(1024u + r.u16());
        t.flush(now_, out_);
        break;
      case 8:
        t.set_keepalive((what & 16) != 0, 1s, 1s, 3, now_);
        break;
    }
    collect(out_, t, q);
  }

  void timers() {
    for (int guard = 0; guard < 64; ++guard) {
      bool any = false;
      for (Tcb* t : {server_.get(), client_.get()}) {
        if (t->next_deadline() <= now_) {
          out_.clear();
          t->on_timer(now_, out_);
          collect(out_, *t, t == server_.get() ? to_client_ : to_server_);
          any = true;
        }
      }
      if (!any) return;
    }
  }

  // Copies what `t` emitted onto the wire toward the other TCB.
  void collect(const TcpOutput& out, const Tcb& t, std::deque<Wire>& q) {
    for (std::size_t i = 0; i < out.segment_count(); ++i) {
      const OutSegment& o = out.segment(i);
      Wire w;
      w.seg = o.seg;
      if (o.payload_len > 0) {
        w.payload.resize(o.payload_len);
        if (t.send_buffer().copy(o.stream_offset, o.payload_len, w.payload.data()) != o.payload_len)
          fail("segment refers to bytes the send buffer does not hold");
      }
      if (tcp_header_len(w.seg) > TcpView::kMaxHeaderLen) fail("header too long");
      if (q.size() < 4096) q.push_back(std::move(w));
    }
  }

  void deliver_one(std::deque<Wire>& q, Tcb& to, std::deque<Wire>& back) {
    Wire w = std::move(q.front());
    q.pop_front();
    w.seg.payload =
        ops_.make_payload(w.payload.data(), static_cast<std::uint32_t>(w.payload.size()));
    out_.clear();
    to.on_segment(w.seg, now_, out_);
    ops_.release(w.seg.payload.handle);
    ++delivered_;
    collect(out_, to, back);
  }

  void deliver_some(int n) {
    for (int i = 0; i < n; ++i) {
      if (!to_server_.empty()) deliver_one(to_server_, *server_, to_client_);
      if (!to_client_.empty()) deliver_one(to_client_, *client_, to_server_);
    }
  }

  void deliver_all() {
    for (int guard = 0; guard < 512 && (!to_server_.empty() || !to_client_.empty()); ++guard)
      deliver_some(1);
  }

  void check(const Tcb& t, const char* who) {
    const std::string w = who;
    if (t.state() == TcpState::kClosed || t.state() == TcpState::kListen) return;
    if (t.snd_una() > t.snd_nxt()) fail(w + ": snd_una > snd_nxt");
    if (t.snd_nxt() > t.snd_max()) fail(w + ": snd_nxt > snd_max");
    if (t.readable_bytes() > t.config().recv_buffer + 65536) fail(w + ": receive queue over bound");
    if (t.send_buffer().size() > t.send_buffer().capacity())
      fail(w + ": send buffer over capacity");
    if (t.next_deadline() < now_ - std::chrono::hours(1)) fail(w + ": deadline far in the past");
  }

  HeapBufferOps ops_{2048};
  CounterGroup stats_;
  std::unique_ptr<Tcb> client_, server_;
  TcpOutput out_;
  std::deque<Wire> to_server_, to_client_;
  Instant now_{1'000'000'000};
  std::uint64_t steps_ = 0, injected_ = 0, delivered_ = 0;
  bool ok_ = true;
  std::string failure_;
};

}  // namespace

TcbFuzzResult tcb_fuzz_run_one(const std::uint8_t* data, std::size_t size) {
  Harness h;
  if (h.handshake()) {
    Reader r(data, size);
    h.run(r);
  }
  return h.finish();
}

}  // namespace shardtcp::fuzz
