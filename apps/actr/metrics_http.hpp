#pragma once
// `--metrics HOST:PORT` of `actr node` and `actr signal`: the library's figures
// (include/actr/metrics.hpp) in Prometheus text format on http://HOST:PORT/metrics, served by
// prometheus-cpp's Exposer (civetweb). prometheus-cpp stays inside the `actr` program: the
// library only knows the `Metrics` sink.
#include <actr/metrics.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace actr::cli {

/// Writes one collection into a sink (e.g. `collect_metrics(node, out)`). Runs on an HTTP thread
/// of the exporter, concurrently with the program: it must be thread-safe and must not throw.
using CollectFn = std::function<void(Metrics&)>;

/// An HTTP listener serving `collect`'s figures on GET /metrics until it is destroyed (the
/// destructor stops its threads; destroy it before what `collect` reads).
class MetricsServer {
 public:
  /// Binds `host:port` (an IPv4 address; port 0 picks a free port). On failure returns null
  /// and says why in `error`.
  static std::unique_ptr<MetricsServer> start(const std::string& host, std::uint16_t port, CollectFn collect,
                                              std::string& error);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// The bound port.
  std::uint16_t port() const noexcept { return port_; }

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl, std::uint16_t port);
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_;
};

/// For `--metrics` of a command: starts a MetricsServer and prints "metrics on
/// http://HOST:PORT/metrics" on stdout (scripts and tests read the bound port there), or says on
/// stderr why it could not (then null).
std::unique_ptr<MetricsServer> serve_metrics(const char* command, const std::string& host, std::uint16_t port,
                                             CollectFn collect);

/// The Prometheus text exposition of one collection (what GET /metrics returns, less the
/// exporter's own `exposer_*` families).
std::string render_prometheus(const CollectFn& collect);

}  // namespace actr::cli
