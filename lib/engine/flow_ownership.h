// Which engine owns a flow: owner = reta[toeplitz(key, tuple) % reta_size], the
// function a NIC's RSS applies to every received packet, computed here in software
// (rte_softrss) so that every engine, the port set-up and the active-open port search
// agree on it without talking to each other.
//
// Direction: the hash is over the packet *as the NIC receives it*: source = the peer,
// destination = us. A connection's owner is therefore the owner of its incoming
// tuple, whichever side opened it; owner(TcpTuple) takes the local/remote view and
// swaps it into the received direction, so an active open asks the same question the
// NIC will answer for the SYN-ACK.
//
// Immutable after construction: shared read-only by every engine.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "tcp/isn_generator.h"
#include "wire/ip_addr.h"

namespace shardtcp {

class FlowOwnership {
 public:
  // 40 bytes cover the longest input (IPv6 + ports: 36 bytes) plus the 4-byte window.
  static constexpr std::size_t kKeySize = 40;
  static constexpr std::uint16_t kDefaultRetaSize = 128;
  using Key = std::array<std::uint8_t, kKeySize>;
  // The key we program (the well-known Microsoft verification key: spreads well and
  // lets anyone check our hashes against published vectors).
  static const Key& default_key();

  // reta[i] = i % engines. reta_size: a power of two (the device's, when it has one).
  explicit FlowOwnership(std::uint16_t engines, std::uint16_t reta_size = kDefaultRetaSize,
                         const Key& key = default_key());
  // An explicit RETA (entries < engines, size a power of two).
  FlowOwnership(std::uint16_t engines, std::vector<std::uint16_t> reta, const Key& key);

  // Toeplitz hash of a received packet's tuple (src = sender, dst = receiver); ports in
  // host order. Both addresses must be of one family.
  std::uint32_t hash(const IpAddr& src, std::uint16_t sport, const IpAddr& dst,
                     std::uint16_t dport) const;
  // Hash of addresses only (what RSS uses for fragments and non-TCP/UDP IP).
  std::uint32_t hash_l3(const IpAddr& src, const IpAddr& dst) const;
  std::uint16_t engine_for_hash(std::uint32_t h) const { return reta_[h & (reta_.size() - 1)]; }

  // The engine a received packet with this tuple belongs to.
  std::uint16_t owner_of_received(const IpAddr& src, std::uint16_t sport, const IpAddr& dst,
                                  std::uint16_t dport) const {
    return engine_for_hash(hash(src, sport, dst, dport));
  }
  // The engine owning a connection (local = ours): the owner of its incoming packets.
  std::uint16_t owner(const TcpTuple& t) const {
    return owner_of_received(t.remote.addr, t.remote.port, t.local.addr, t.local.port);
  }

  std::uint16_t engines() const { return engines_; }
  std::span<const std::uint16_t> reta() const { return reta_; }
  const Key& key() const { return key_; }

 private:
  std::uint16_t engines_;
  std::vector<std::uint16_t> reta_;
  Key key_;
};

}  // namespace shardtcp
