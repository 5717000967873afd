#include "port/pcapng_capture_port.h"

#include <fcntl.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_version.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace shardtcp {

namespace {

constexpr std::uint16_t kMaxBurst = 64;

}  // namespace

Result<std::unique_ptr<PcapngCapturePort>> PcapngCapturePort::open(PacketPort& inner,
                                                                   const std::string& path,
                                                                   std::uint32_t snaplen) {
  using R = Result<std::unique_ptr<PcapngCapturePort>>;
  if (snaplen == 0 || snaplen > 65535 - 256) return R::failure("pcapng: snaplen out of range");
  const std::uint32_t room = rte_pcapng_mbuf_size(snaplen);
  if (room > UINT16_MAX) return R::failure("pcapng: snaplen too large for an mbuf");
  static std::atomic<unsigned> serial{0};
  const std::string pool_name = "pcapng" + std::to_string(serial.fetch_add(1));
  rte_mempool* pool = rte_pktmbuf_pool_create(pool_name.c_str(), 4095, 64, 0,
                                              static_cast<std::uint16_t>(room), SOCKET_ID_ANY);
  if (pool == nullptr) {
    return R::failure("pcapng: cannot create copy pool: " + std::string(rte_strerror(rte_errno)));
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    rte_mempool_free(pool);
    return R::failure("pcapng: cannot create " + path + ": " + std::strerror(errno));
  }
  const std::string app_name = std::string("shardtcp (") + rte_version() + ")";
  rte_pcapng_t* pc = rte_pcapng_fdopen(fd, nullptr, nullptr, app_name.c_str(), nullptr);
  if (pc == nullptr) {
    ::close(fd);
    rte_mempool_free(pool);
    return R::failure("pcapng: rte_pcapng_fdopen(" + path + ") failed: " + rte_strerror(rte_errno));
  }
  return R(std::unique_ptr<PcapngCapturePort>(new PcapngCapturePort(inner, pc, pool, snaplen)));
}

PcapngCapturePort::PcapngCapturePort(PacketPort& inner, rte_pcapng_t* pcapng, rte_mempool* pool,
                                     std::uint32_t snaplen)
    : inner_(inner), pcapng_(pcapng), pool_(pool), snaplen_(snaplen) {}

PcapngCapturePort::~PcapngCapturePort() {
  rte_pcapng_close(pcapng_);  // closes the file descriptor too
  rte_mempool_free(pool_);
}

void PcapngCapturePort::write_copies(rte_mbuf** copies, std::uint16_t n) {
  if (n == 0) return;
  // Queues share one file: serialise the writes (a debugging path, not the data path).
  rte_spinlock_lock(&lock_);
  const ssize_t w = rte_pcapng_write_packets(pcapng_, copies, n);
  if (w < 0) {
    missed_ += n;
  } else {
    written_ += n;
  }
  rte_spinlock_unlock(&lock_);
  rte_pktmbuf_free_bulk(copies, n);
}

void PcapngCapturePort::record(std::uint16_t queue, rte_mbuf* const* pkts, std::uint16_t n,
                               rte_pcapng_direction dir) {
  const std::uint16_t port_id = inner_.info().port_id;
  for (std::uint16_t done = 0; done < n;) {
    const std::uint16_t chunk = std::min<std::uint16_t>(n - done, kMaxBurst);
    rte_mbuf* copies[kMaxBurst];
    std::uint16_t nc = 0;
    const std::uint64_t tsc = rte_rdtsc();
    for (std::uint16_t i = 0; i < chunk; ++i) {
      rte_mbuf* c = rte_pcapng_copy(port_id, queue, pkts[done + i], pool_, snaplen_, tsc, dir);
      if (c == nullptr) {
        ++missed_;
      } else {
        copies[nc++] = c;
      }
    }
    write_copies(copies, nc);
    done += chunk;
  }
}

std::uint16_t PcapngCapturePort::rx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) {
  const std::uint16_t got = inner_.rx_burst(queue, pkts, n);
  if (got > 0) record(queue, pkts, got, RTE_PCAPNG_DIRECTION_IN);
  return got;
}

std::uint16_t PcapngCapturePort::tx_burst(std::uint16_t queue, rte_mbuf** pkts, std::uint16_t n) {
  // Frames belong to the inner port once sent, so copy them first and record only the
  // accepted prefix.
  rte_mbuf* copies[kMaxBurst];
  std::uint16_t total = 0;
  while (total < n) {
    const std::uint16_t chunk = std::min<std::uint16_t>(n - total, kMaxBurst);
    const std::uint64_t tsc = rte_rdtsc();
    const std::uint16_t port_id = inner_.info().port_id;
    for (std::uint16_t i = 0; i < chunk; ++i) {
      copies[i] = rte_pcapng_copy(port_id, queue, pkts[total + i], pool_, snaplen_, tsc,
                                  RTE_PCAPNG_DIRECTION_OUT);
    }
    const std::uint16_t sent = inner_.tx_burst(queue, pkts + total, chunk);
    std::uint16_t nc = 0;
    for (std::uint16_t i = 0; i < chunk; ++i) {
      if (i < sent && copies[i] != nullptr) {
        copies[nc++] = copies[i];
      } else {
        if (i < sent) ++missed_;
        rte_pktmbuf_free(copies[i]);  // null-safe
      }
    }
    write_copies(copies, nc);
    total += sent;
    if (sent < chunk) break;
  }
  return total;
}

}  // namespace shardtcp
