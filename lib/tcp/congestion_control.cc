#include "tcp/congestion_control.h"

namespace shardtcp {

namespace {

std::variant<Cubic, NewReno> make_impl(CongestionAlgorithm algo, std::uint32_t mss) {
  if (algo == CongestionAlgorithm::kNewReno) return NewReno(mss);
  return Cubic(mss);
}

}  // namespace

CongestionController::CongestionController(CongestionAlgorithm algo, std::uint32_t mss)
    : impl_(make_impl(algo, mss)) {}

void CongestionController::reset(CongestionAlgorithm algo, std::uint32_t mss) {
  impl_ = make_impl(algo, mss);
}

std::unique_ptr<CongestionControl> make_congestion_control(CongestionAlgorithm algo,
                                                           std::uint32_t mss) {
  return std::make_unique<CongestionController>(algo, mss);
}

}  // namespace shardtcp
