#pragma once
/// @file
/// Metrics: what a running node or signaling server reports, for an exporter of the embedder's
/// choice (`actr node --metrics` / `actr signal --metrics` serve them in Prometheus text format;
/// docs/operations.md lists every family).
///
/// Pull design: the library keeps its counters where they already are (`Node::stats()`,
/// `Node::held()`, the wire pools, the WebRTC coordinator, `SignalingServer::stats()`) and
/// `collect_metrics` reads them when an exporter asks — nothing is added to the send path. The
/// only figures recorded as they happen are dial attempts and reconnects (`DialMetrics`): one
/// short lock per attempt, never per message.

#include <actr/error.hpp>
#include <actr/wire.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace actr {

class Node;
class SignalingServer;

enum class MetricType : std::uint8_t { Counter, Gauge, Histogram };

struct MetricLabel {
  std::string_view name;
  std::string_view value;
};

/// A histogram as Prometheus reads it: `cumulative[i]` observations were <= `bounds[i]` (seconds
/// for durations); `count` is every observation (the +Inf bucket), `sum` their total.
struct HistogramSnapshot {
  std::vector<double> bounds;
  std::vector<std::uint64_t> cumulative;
  std::uint64_t count = 0;
  double sum = 0;
};

/// Where `collect_metrics` writes: implement it to export the figures your own way. One collection
/// calls `family` once per metric family (each name once, in a fixed order), then `sample` (for
/// Counter and Gauge) or `histogram` (for Histogram) for each of that family's label sets, before
/// the next `family`. A family may have no samples (nothing of that kind happened yet). Names
/// follow Prometheus conventions (prefix `actr_`, `_total` counters, base units).
/// Called on the collecting thread; string views are valid only during the call.
class Metrics {
 public:
  virtual ~Metrics() = default;
  virtual void family(std::string_view name, std::string_view help, MetricType type) = 0;
  virtual void sample(std::span<const MetricLabel> labels, double value) = 0;
  virtual void histogram(std::span<const MetricLabel> labels, const HistogramSnapshot& h) = 0;
};

/// Dial attempts (`WireHandle::connect` calls of the wire pools), by wire kind: their duration,
/// successes, failures by cause (`error_name`: "connection_refused", "timeout_error", ...), and
/// reconnects (a destination's wire kind Ready again after it had one and lost it, whether our
/// dial or the peer's connection brought it back). An
/// `OutprocTransportManager` makes one and hands it to its pools (`WirePoolConfig::dial_metrics`).
/// Thread safety: all members may be called from any thread (one leaf mutex, held briefly).
class DialMetrics {
 public:
  /// Upper bounds of the duration buckets, in seconds.
  static constexpr std::array<double, 12> kBounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,   0.25,   0.5,   1.0,  2.5,   10.0};

  /// One attempt of `kind` that took `took` and ended with `result` (empty: connected).
  void record(WireKind kind, std::chrono::nanoseconds took, const Error& result);
  void record_reconnect(WireKind kind);

  struct Kind {
    HistogramSnapshot duration;
    std::uint64_t connected = 0;
    std::map<std::string, std::uint64_t> failed;  ///< by cause
    std::uint64_t reconnects = 0;
  };
  /// A consistent copy, indexed by `WireKind`.
  std::array<Kind, kWireKindCount> snapshot() const;

 private:
  struct Counts {
    std::array<std::uint64_t, kBounds.size()> buckets{};  // not cumulative
    std::uint64_t count = 0;
    double sum = 0;
    std::uint64_t connected = 0, reconnects = 0;
    std::map<std::string, std::uint64_t> failed;
  };
  mutable std::mutex mu_;
  std::array<Counts, kWireKindCount> kinds_;
};

/// Writes every figure of `node` (docs/operations.md, "Node metrics"). Thread-safe: `node` may be
/// running on other threads; call it from the exporter's thread while `node` exists.
void collect_metrics(Node& node, Metrics& out);
/// Writes every figure of `server` (docs/operations.md, "Signaling metrics"). Thread-safe.
void collect_metrics(const SignalingServer& server, Metrics& out);

}  // namespace actr
