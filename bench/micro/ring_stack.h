// A whole Stack on one end of a net_ring cable, as the two-stack instruction counters
// (rx_path_instr, tx_path_instr) build them, and a counter read from it.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "port/eal.h"
#include "port/ring_pair.h"
#include "shardtcp/stack.h"

namespace shardtcp::bench {

// A net_ring cable of `ring_size` descriptors named `name` for the two stacks of one
// phase; nullptr, said on stderr, on failure.
inline std::unique_ptr<RingCable> open_cable(const char* prog, const std::string& name,
                                             unsigned ring_size = 4096) {
  RingCableOptions co;
  co.name = name;
  co.ring_size = ring_size;
  auto cable = RingCable::create(co);
  if (!cable) {
    std::fprintf(stderr, "%s: %s\n", prog, cable.error().c_str());
    return nullptr;
  }
  return std::move(cable.value());
}

// Stack `n` of a cable on `device`, at `addr`/24, on the shared `pool` (net_ring carries
// the sender's mbufs to the receiver) and the virtual `clock`. `wrap` (may be empty)
// puts a port of the bench's own in front of the device; `tcp` is the layer's config.
inline std::unique_ptr<Stack> make_ring_stack(
    const char* prog, const std::string& device, rte_mempool* pool, Clock* clock, IpAddr addr,
    std::uint8_t n, TcpLayerConfig tcp,
    std::function<std::unique_ptr<PacketPort>(PacketPort& inner)> wrap = {}) {
  StackConfig c;
  c.device = device;
  c.mac = rte_ether_addr{{0x02, 0x73, 0x68, 0x64, 0x00, n}};
  c.pool = pool;
  c.clock = clock;
  c.options.addresses.push_back(InterfaceAddress{addr, 24});
  c.tcp = tcp;
  c.tcp.max_connections = 64;
  c.tcp.time_wait_capacity = 64;
  c.wrap_port = std::move(wrap);
  auto s = Stack::create(c);
  if (!s) {
    std::fprintf(stderr, "%s: stack on %s: %s\n", prog, device.c_str(), s.error().c_str());
    return nullptr;
  }
  return std::move(s.value());
}

// The instruction counters' start-up: the EAL on plain memory (valgrind runs it there)
// and a pool of `n_mbufs` named after the program; nullptr, said on stderr, on failure.
inline rte_mempool* start_eal_with_pool(const char* program, unsigned n_mbufs) {
  TestEalOptions eo;
  eo.file_prefix = std::string(program) + std::to_string(getpid());
  if (const Status st = eal_init(make_test_eal_args(eo, false)); !st) {
    std::fprintf(stderr, "%s: EAL: %s\n", program, st.message().c_str());
    return nullptr;
  }
  MbufPoolOptions po;
  po.n_mbufs = n_mbufs;
  auto pool = create_mbuf_pool(std::string(program) + "_pool", po);
  if (!pool) {
    std::fprintf(stderr, "%s: %s\n", program, pool.error().c_str());
    return nullptr;
  }
  return *pool;
}

inline std::uint64_t stack_counter(Stack& s, const std::string& name) {
  const auto all = s.counters().snapshot();
  const auto it = all.find(name);
  return it == all.end() ? 0 : it->second;
}

}  // namespace shardtcp::bench
