// The eleven TCP connection states of RFC 9293 §3.3.2, in one enum so that every
// transition goes through Tcb::set_state() and can be traced and counted.
#pragma once

#include <cstdint>

namespace shardtcp {

enum class TcpState : std::uint8_t {
  kClosed,
  kListen,
  kSynSent,
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
};

const char* to_string(TcpState s);

// States in which both sides' sequence numbers are known (RFC 9293 "synchronized").
constexpr bool is_synchronized(TcpState s) {
  return s != TcpState::kClosed && s != TcpState::kListen && s != TcpState::kSynSent &&
         s != TcpState::kSynReceived;
}

// States in which received payload is still delivered to the application.
constexpr bool accepts_data(TcpState s) {
  return s == TcpState::kEstablished || s == TcpState::kFinWait1 || s == TcpState::kFinWait2;
}

// States in which we may still transmit new data.
constexpr bool can_send_data(TcpState s) {
  return s == TcpState::kEstablished || s == TcpState::kCloseWait;
}

}  // namespace shardtcp
