// IPPROTO_TCP options of <sockets.h>: TCP_NODELAY, TCP_MAXSEG, TCP_KEEPIDLE /
// TCP_KEEPINTVL / TCP_KEEPCNT, TCP_USER_TIMEOUT, TCP_NOTSENT_LOWAT, TCP_CORK and
// TCP_INFO (read only), with Linux's units and bounds. The socket entry shadows every
// value (getsockopt reads them, and a socket that moves to another engine at connect,
// or a listener's copies on the other engines, get them again: apply_tcp_options).
#include <netinet/tcp.h>

#include <cstring>

#include "api/sockets_tcp_options.h"
#include "shardtcp/stack.h"

namespace shardtcp::sockets {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

int keep_idle(const SocketEntry& e) {
  return e.keepidle_s != 0 ? e.keepidle_s : 7200;
}
int keep_intvl(const SocketEntry& e) {
  return e.keepintvl_s != 0 ? e.keepintvl_s : 75;
}
int keep_cnt(const SocketEntry& e) {
  return e.keepcnt != 0 ? e.keepcnt : 9;
}

std::uint8_t linux_state(TcpState s) {
  // Linux's numbering (include/net/tcp_states.h), which tcp_info.tcpi_state carries.
  switch (s) {
    case TcpState::kEstablished:
      return 1;
    case TcpState::kSynSent:
      return 2;
    case TcpState::kSynReceived:
      return 3;
    case TcpState::kFinWait1:
      return 4;
    case TcpState::kFinWait2:
      return 5;
    case TcpState::kTimeWait:
      return 6;
    case TcpState::kClosed:
      return 7;
    case TcpState::kCloseWait:
      return 8;
    case TcpState::kLastAck:
      return 9;
    case TcpState::kListen:
      return 10;
    case TcpState::kClosing:
      return 11;
  }
  return 7;
}

}  // namespace

int set_keepalive_options(TcpLayer& tcp, TcpConnId id, const SocketEntry& e) {
  return tcp.set_keepalive(id, e.keepalive != 0, seconds(keep_idle(e)), seconds(keep_intvl(e)),
                           static_cast<std::uint32_t>(keep_cnt(e)));
}

void apply_tcp_options(TcpLayer& tcp, TcpConnId id, const SocketEntry& e) {
  if (e.reuseaddr) tcp.set_reuse_addr(id, true);
  if (e.nodelay) tcp.set_nodelay(id, true);
  if (e.keepalive) set_keepalive_options(tcp, id, e);
  if (e.rcvbuf > 0) tcp.set_recv_buffer(id, static_cast<std::uint32_t>(e.rcvbuf));
  if (e.sndbuf > 0) tcp.set_send_buffer(id, static_cast<std::uint32_t>(e.sndbuf));
  if (e.linger_on && e.linger_sec == 0) tcp.set_linger_zero(id, true);
  if (e.cork) tcp.set_cork(id, true);
  if (e.maxseg != 0) tcp.set_max_segment(id, static_cast<std::uint32_t>(e.maxseg));
  if (e.user_timeout_ms != 0) tcp.set_user_timeout(id, milliseconds(e.user_timeout_ms));
  if (e.notsent_lowat != UINT32_MAX) tcp.set_notsent_lowat(id, e.notsent_lowat);
}

long set_tcp_option(TcpLayer& tcp, SocketEntry& e, int name, int v) {
  switch (name) {
    case TCP_NODELAY:
      e.nodelay = v != 0;
      return tcp.set_nodelay(e.tcp, v != 0);
    case TCP_CORK:
      e.cork = v != 0;
      return tcp.set_cork(e.tcp, v != 0);
    case TCP_MAXSEG: {
      if (v < 88 || v > 32767) return -EINVAL;
      const int r = tcp.set_max_segment(e.tcp, static_cast<std::uint32_t>(v));
      if (r == 0) e.maxseg = v;
      return r;
    }
    case TCP_KEEPIDLE:
    case TCP_KEEPINTVL:
      if (v < 1 || v > 32767) return -EINVAL;  // seconds, Linux's MAX_TCP_KEEPIDLE/INTVL
      (name == TCP_KEEPIDLE ? e.keepidle_s : e.keepintvl_s) = v;
      return set_keepalive_options(tcp, e.tcp, e);
    case TCP_KEEPCNT:
      if (v < 1 || v > 127) return -EINVAL;  // Linux's MAX_TCP_KEEPCNT
      e.keepcnt = v;
      return set_keepalive_options(tcp, e.tcp, e);
    case TCP_USER_TIMEOUT:
      if (v < 0) return -EINVAL;  // milliseconds, 0 off
      e.user_timeout_ms = v;
      return tcp.set_user_timeout(e.tcp, milliseconds(v));
    case TCP_NOTSENT_LOWAT:
      // Kept as unsigned, as Linux does: -1 is UINT32_MAX, which is off.
      e.notsent_lowat = static_cast<std::uint32_t>(v);
      return tcp.set_notsent_lowat(e.tcp, e.notsent_lowat);
    default:
      return -ENOPROTOOPT;
  }
}

long get_tcp_option(TcpLayer& tcp, const SocketEntry& e, int name, int* v) {
  switch (name) {
    case TCP_NODELAY:
      *v = e.nodelay;
      return 0;
    case TCP_CORK:
      *v = e.cork;
      return 0;
    case TCP_MAXSEG: {
      // Connected: the MSS in use; before: what was set, or the default Linux reports.
      const Tcb* t = tcp.tcb(e.tcp);
      *v = t != nullptr && e.connected ? static_cast<int>(t->mss())
                                       : (e.maxseg != 0 ? e.maxseg : 536);
      return 0;
    }
    case TCP_KEEPIDLE:
      *v = keep_idle(e);
      return 0;
    case TCP_KEEPINTVL:
      *v = keep_intvl(e);
      return 0;
    case TCP_KEEPCNT:
      *v = keep_cnt(e);
      return 0;
    case TCP_USER_TIMEOUT:
      *v = e.user_timeout_ms;
      return 0;
    case TCP_NOTSENT_LOWAT:
      *v = static_cast<int>(e.notsent_lowat);
      return 0;
    default:
      return -ENOPROTOOPT;
  }
}

long get_tcp_info(TcpLayer& tcp, const SocketEntry& e, tcp_info* out) {
  std::memset(out, 0, sizeof *out);
  TcpInfo i;
  const int r = tcp.info(e.tcp, &i);
  if (r == -EBADF) return r;
  out->tcpi_state = linux_state(e.listening ? TcpState::kListen : i.state);
  if (r != 0) return 0;  // no connection yet: the state alone, as Linux
  if (i.timestamps) out->tcpi_options |= TCPI_OPT_TIMESTAMPS;
  if (i.sack) out->tcpi_options |= TCPI_OPT_SACK;
  if (i.ecn) out->tcpi_options |= TCPI_OPT_ECN;
  if (i.window_scaling) {
    out->tcpi_options |= TCPI_OPT_WSCALE;
    out->tcpi_snd_wscale = i.snd_wscale & 0xf;
    out->tcpi_rcv_wscale = i.rcv_wscale & 0xf;
  }
  out->tcpi_ca_state = i.in_recovery ? 3 /* TCP_CA_Recovery */ : 0;
  out->tcpi_retransmits = static_cast<std::uint8_t>(std::min<std::uint32_t>(i.retransmits, 255));
  out->tcpi_backoff = out->tcpi_retransmits;
  out->tcpi_rto = i.rto_us;
  out->tcpi_snd_mss = i.snd_mss;
  out->tcpi_rcv_mss = i.rcv_mss;
  out->tcpi_advmss = i.rcv_mss;
  const std::uint32_t mss = i.snd_mss != 0 ? i.snd_mss : 1;
  out->tcpi_unacked = (i.bytes_in_flight + mss - 1) / mss;  // segments, as Linux counts
  out->tcpi_rtt = i.rtt_us;
  out->tcpi_rttvar = i.rttvar_us;
  out->tcpi_snd_cwnd = (i.cwnd + mss - 1) / mss;
  out->tcpi_snd_ssthresh = i.ssthresh / mss;
  out->tcpi_rcv_space = i.rcv_wnd;
  out->tcpi_total_retrans = static_cast<std::uint32_t>(i.total_retransmits);
  out->tcpi_pmtu = i.snd_mss + 40;
  return 0;
}

}  // namespace shardtcp::sockets
