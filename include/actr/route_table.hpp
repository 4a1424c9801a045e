#pragma once
/// @file
/// Which wires carry which `PayloadType`, in preference order, and how each class is retried
/// (reference §7.2).

#include <actr/types.hpp>
#include <actr/wire.hpp>

#include <chrono>
#include <cstdint>
#include <span>

namespace actr {

/// Wire kinds that may carry `pt`, most preferred first: every data class prefers its WebRTC
/// DataChannel and falls back to WebSocket; `MediaRtp` has no lane (empty → `NoRoute`).
std::span<const WireKind> route_for(PayloadType pt) noexcept;
/// The same kinds as a set.
WireKindSet route_kinds(PayloadType pt) noexcept;

/// Sender-side retry of a whole send, applied only to transient errors.
struct RetryPolicy {
  std::uint32_t max_attempts = 1;
  std::chrono::milliseconds initial_delay{0};
  std::chrono::milliseconds max_delay{0};
};
/// RpcSignal: 2 attempts, 500 ms; RpcReliable: 5 attempts, 1 s doubling to 5 s; streams and
/// media: no retry (retrying would reorder or duplicate data).
RetryPolicy retry_policy(PayloadType pt) noexcept;

}  // namespace actr
