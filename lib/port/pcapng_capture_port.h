// Wraps any PacketPort and records every received and transmitted frame into a
// pcapng file (rte_pcapng), readable by tshark/Wireshark. RX frames are recorded as
// they come out of the inner port, TX frames as the inner port accepts them, so the
// file shows what crossed the wire below this wrapper (put it under a fault injector
// to see the impaired traffic, above it to see what the stack meant to send).
//
// A debugging tool: it copies each frame, and multiple queues share one file under a
// spinlock. rte_pcapng writes one interface block per ethdev that exists when the
// file is opened, so open the capture after creating the ports.
#pragma once

#include <rte_pcapng.h>
#include <rte_spinlock.h>

#include <memory>
#include <string>

#include "common/status.h"
#include "port/packet_port.h"

namespace shardtcp {

class PcapngCapturePort final : public PacketPort {
 public:
  // Creates (truncates) `path`. snaplen caps the bytes recorded per frame.
  static Result<std::unique_ptr<PcapngCapturePort>> open(PacketPort& inner, const std::string& path,
                                                         std::uint32_t snaplen = 9216);
  ~PcapngCapturePort() override;  // closes the file (flushes nothing: writes are synchronous)
  PcapngCapturePort(const PcapngCapturePort&) = delete;
  PcapngCapturePort& operator=(const PcapngCapturePort&) = delete;

  std::uint16_t rx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) override;
  std::uint16_t tx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) override;
  const PortInfo& info() const override { return inner_.info(); }

  std::uint64_t frames_written() const { return written_; }
  std::uint64_t frames_missed() const { return missed_; }  // copy or write failed

 private:
  PcapngCapturePort(PacketPort& inner, rte_pcapng_t* pcapng, rte_mempool* pool,
                    std::uint32_t snaplen);
  // Writes pcapng copies to the file and frees them.
  void write_copies(rte_mbuf** copies, std::uint16_t n);
  void record(std::uint16_t queue, rte_mbuf* const* pkts, std::uint16_t n,
              rte_pcapng_direction dir);

  PacketPort& inner_;
  rte_pcapng_t* pcapng_;
  rte_mempool* pool_;  // copies handed to rte_pcapng_write_packets
  std::uint32_t snaplen_;
  rte_spinlock_t lock_ = RTE_SPINLOCK_INITIALIZER;
  std::uint64_t written_ = 0;
  std::uint64_t missed_ = 0;
};

}  // namespace shardtcp
