#include <actr/route_table.hpp>

#include <array>

namespace actr {

namespace {
constexpr std::array<WireKind, 2> kDataRoute{WireKind::WebRtc, WireKind::WebSocket};
}  // namespace

std::span<const WireKind> route_for(PayloadType pt) noexcept {
  switch (pt) {
    case PayloadType::RpcReliable:
    case PayloadType::RpcSignal:
    case PayloadType::StreamReliable:
    case PayloadType::StreamLatencyFirst: return kDataRoute;
    case PayloadType::MediaRtp: return {};
  }
  return {};
}

WireKindSet route_kinds(PayloadType pt) noexcept {
  WireKindSet s;
  for (auto k : route_for(pt)) s.add(k);
  return s;
}

RetryPolicy retry_policy(PayloadType pt) noexcept {
  using std::chrono::milliseconds;
  switch (pt) {
    case PayloadType::RpcSignal: return {2, milliseconds{500}, milliseconds{500}};
    case PayloadType::RpcReliable: return {5, milliseconds{1000}, milliseconds{5000}};
    case PayloadType::StreamReliable:
    case PayloadType::StreamLatencyFirst:
    case PayloadType::MediaRtp: return {1, milliseconds{0}, milliseconds{0}};
  }
  return {};
}

}  // namespace actr
