// Which offloads a port runs with, as a counter group ("port_offloads": 1 on, 0 off),
// so an operator (telemetry, shardtcp_counter) sees what the device negotiated and
// therefore what the stack does in software.
#pragma once

#include <cstdint>
#include <iterator>

#include "common/counters.h"
#include "port/packet_port.h"

namespace shardtcp {

enum class PortOffloadGauge : std::uint8_t {
  kRxIpv4Cksum,
  kRxL4Cksum,
  kRxLro,
  kTxIpv4Cksum,
  kTxL4Cksum,
  kTxTso,
  kTxMultiSeg,
  kRssActive,
  kTxZeroCopy,
  kCount
};

inline constexpr const char* kPortOffloadGaugeNames[] = {
    "rx_ipv4_cksum", "rx_l4_cksum",  "rx_lro",     "tx_ipv4_cksum", "tx_l4_cksum",
    "tx_tso",        "tx_multi_seg", "rss_active", "tx_zero_copy",
};
static_assert(std::size(kPortOffloadGaugeNames) ==
              static_cast<std::size_t>(PortOffloadGauge::kCount));

inline void set_port_offload_gauges(CounterGroup& g, const PortInfo& p) {
  g.set(PortOffloadGauge::kRxIpv4Cksum, p.rx_ipv4_cksum);
  g.set(PortOffloadGauge::kRxL4Cksum, p.rx_l4_cksum);
  g.set(PortOffloadGauge::kRxLro, p.rx_lro);
  g.set(PortOffloadGauge::kTxIpv4Cksum, p.tx_ipv4_cksum);
  g.set(PortOffloadGauge::kTxL4Cksum, p.tx_l4_cksum);
  g.set(PortOffloadGauge::kTxTso, p.tx_tso);
  g.set(PortOffloadGauge::kTxMultiSeg, p.tx_multi_seg);
  g.set(PortOffloadGauge::kRssActive, p.rss_active);
  g.set(PortOffloadGauge::kTxZeroCopy, p.tx_zero_copy);
}

}  // namespace shardtcp
