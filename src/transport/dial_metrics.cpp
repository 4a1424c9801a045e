// DialMetrics: counts kept under one mutex. A dial is milliseconds of network work; a lock per
// attempt costs nothing next to it and keeps the histogram, its count and its sum consistent.
#include <actr/metrics.hpp>

#include <algorithm>

namespace actr {

void DialMetrics::record(WireKind kind, std::chrono::nanoseconds took, const Error& result) {
  const double seconds = std::chrono::duration<double>(took).count();
  // First bucket whose bound holds it; past the last bound it counts only in `count` (+Inf).
  const auto b = static_cast<std::size_t>(std::lower_bound(kBounds.begin(), kBounds.end(), seconds) - kBounds.begin());
  const bool failed = result.failed();
  std::string cause = failed ? error_name(result) : std::string();
  std::lock_guard lk(mu_);
  auto& c = kinds_[static_cast<std::size_t>(kind)];
  if (b < c.buckets.size()) ++c.buckets[b];
  ++c.count;
  c.sum += seconds;
  if (failed) ++c.failed[std::move(cause)];
  else ++c.connected;
}

void DialMetrics::record_reconnect(WireKind kind) {
  std::lock_guard lk(mu_);
  ++kinds_[static_cast<std::size_t>(kind)].reconnects;
}

std::array<DialMetrics::Kind, kWireKindCount> DialMetrics::snapshot() const {
  std::array<Kind, kWireKindCount> out;
  std::lock_guard lk(mu_);
  for (std::size_t k = 0; k < kWireKindCount; ++k) {
    const auto& c = kinds_[k];
    auto& h = out[k].duration;
    h.bounds.assign(kBounds.begin(), kBounds.end());
    std::uint64_t running = 0;
    for (auto n : c.buckets) h.cumulative.push_back(running += n);
    h.count = c.count;
    h.sum = c.sum;
    out[k].connected = c.connected;
    out[k].failed = c.failed;
    out[k].reconnects = c.reconnects;
  }
  return out;
}

}  // namespace actr
