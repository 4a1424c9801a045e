#pragma once
// `--metrics HOST:PORT` of `actr node` and `actr signal`: a small HTTP listener serving
//   GET /metrics     the library's figures (include/actr/metrics.hpp) in Prometheus text format
//   GET /            the status page (apps/actr/web/status.html, built into the program)
//   GET /api/state   the program's state as one JSON object
//   GET /api/events  the same object as Server-Sent Events, sent again whenever it changes
// Bounded (docs/operations.md, "Status page"): connections, request size and time, event streams.
// Beast and prometheus-cpp stay inside the .cpp files: the library only knows the `Metrics` sink.
#include <actr/metrics.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace actr::cli {

/// Writes one collection into a sink (e.g. `collect_metrics(node, out)`). Runs on the server's
/// HTTP thread, concurrently with the program: it must be thread-safe.
using CollectFn = std::function<void(Metrics&)>;
/// The state as one JSON object (text). Same thread rules as CollectFn.
using StateFn = std::function<std::string()>;

struct StatusServerLimits {
  std::size_t max_connections = 32;       ///< open HTTP connections; more are closed at once
  std::size_t max_event_streams = 8;      ///< of which /api/events streams; more get 503
  std::size_t max_request_bytes = 8192;   ///< request line + headers (+ body); more get 431/413
  int request_timeout_ms = 5000;          ///< to read one request, and to write one response
  int event_interval_ms = 500;            ///< how often an event stream looks for a change
};

/// The HTTP listener of `--metrics`, running on a thread of its own until it is destroyed (the
/// destructor stops and joins it, ending every connection; destroy it before what the callbacks
/// read).
class MetricsServer {
 public:
  /// Binds `host:port` (an IP address; port 0 picks a free port). `state` may be empty: then
  /// /, /api/state and /api/events answer 404. On failure returns null and says why in `error`.
  static std::unique_ptr<MetricsServer> start(const std::string& host, std::uint16_t port, CollectFn collect,
                                              StateFn state, std::string& error, StatusServerLimits limits = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// The bound port.
  std::uint16_t port() const noexcept { return port_; }

 private:
  struct Impl;
  MetricsServer(std::shared_ptr<Impl> impl, std::uint16_t port);
  std::shared_ptr<Impl> impl_;
  std::uint16_t port_;
};

/// For `--metrics` of a command: starts a MetricsServer and reports "metrics on
/// http://HOST:PORT/metrics" on stdout (as a JSON line with `json`; scripts and tests read the
/// bound port there), or says on stderr why it could not (then null).
std::unique_ptr<MetricsServer> serve_metrics(const char* command, const std::string& host, std::uint16_t port,
                                             CollectFn collect, StateFn state, bool json = false);

/// The Prometheus text exposition of one collection (what GET /metrics returns).
std::string render_prometheus(const CollectFn& collect);

/// The status page (apps/actr/web/status.html).
std::string_view status_page_html();

}  // namespace actr::cli
