// MetricsServer: a prometheus::Collectable that runs the library's pull collection into
// MetricFamily values at each scrape, served by prometheus::Exposer. Nothing is registered ahead
// of time: the library's counters are the only copy of the figures.
#include "metrics_http.hpp"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <limits>
#include <sstream>

namespace actr::cli {

namespace {

// The sink that turns the library's families into prometheus-cpp's.
class FamilyBuilder final : public Metrics {
 public:
  std::vector<prometheus::MetricFamily> families;

  void family(std::string_view name, std::string_view help, MetricType type) override {
    prometheus::MetricFamily f;
    f.name = std::string(name);
    f.help = std::string(help);
    f.type = type == MetricType::Counter ? prometheus::MetricType::Counter
             : type == MetricType::Gauge ? prometheus::MetricType::Gauge
                                         : prometheus::MetricType::Histogram;
    families.push_back(std::move(f));
  }

  void sample(std::span<const MetricLabel> labels, double value) override {
    if (families.empty()) return;  // a sample before any family breaks the contract: ignore it
    auto& m = add(labels);
    if (families.back().type == prometheus::MetricType::Counter) m.counter.value = value;
    else m.gauge.value = value;
  }

  void histogram(std::span<const MetricLabel> labels, const HistogramSnapshot& h) override {
    if (families.empty()) return;
    auto& m = add(labels);
    m.histogram.sample_count = h.count;
    m.histogram.sample_sum = h.sum;
    for (std::size_t i = 0; i < h.bounds.size() && i < h.cumulative.size(); ++i) {
      prometheus::ClientMetric::Bucket b;
      b.cumulative_count = h.cumulative[i];
      b.upper_bound = h.bounds[i];
      m.histogram.bucket.push_back(b);
    }
    prometheus::ClientMetric::Bucket inf;  // le="+Inf": every observation
    inf.cumulative_count = h.count;
    inf.upper_bound = std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(inf);
  }

 private:
  prometheus::ClientMetric& add(std::span<const MetricLabel> labels) {
    auto& m = families.back().metric.emplace_back();
    for (const auto& l : labels) m.label.push_back({std::string(l.name), std::string(l.value)});
    return m;
  }
};

std::vector<prometheus::MetricFamily> collect_families(const CollectFn& collect) {
  FamilyBuilder b;
  try {
    collect(b);
  } catch (const std::exception& e) {
    // An HTTP thread must not unwind into civetweb: the scrape gets what was written so far.
    spdlog::warn("actr: metrics collection failed: {}", e.what());
  }
  return std::move(b.families);
}

class Collector final : public prometheus::Collectable {
 public:
  explicit Collector(CollectFn f) : collect_(std::move(f)) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return collect_families(collect_); }

 private:
  CollectFn collect_;
};

}  // namespace

struct MetricsServer::Impl {
  std::shared_ptr<Collector> collector;   // the exposer holds it weakly
  std::unique_ptr<prometheus::Exposer> exposer;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl, std::uint16_t port) : impl_(std::move(impl)), port_(port) {}
MetricsServer::~MetricsServer() {
  if (impl_) impl_->exposer.reset();  // joins the HTTP threads before the collector goes
}

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& host, std::uint16_t port, CollectFn collect,
                                                    std::string& error) {
  auto impl = std::make_unique<Impl>();
  impl->collector = std::make_shared<Collector>(std::move(collect));
  try {
    // One HTTP thread: scrapes are rare and the collection is cheap.
    impl->exposer = std::make_unique<prometheus::Exposer>(host + ":" + std::to_string(port), 1);
  } catch (const std::exception& e) {
    error = "cannot listen on " + host + ":" + std::to_string(port) + " (" + e.what() + ")";
    return nullptr;
  }
  impl->exposer->RegisterCollectable(impl->collector);
  const auto ports = impl->exposer->GetListeningPorts();
  if (ports.empty()) {
    error = "no listening port on " + host + ":" + std::to_string(port);
    return nullptr;
  }
  const auto bound = static_cast<std::uint16_t>(ports.front());
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl), bound));
}

std::unique_ptr<MetricsServer> serve_metrics(const char* command, const std::string& host, std::uint16_t port,
                                             CollectFn collect) {
  std::string error;
  auto server = MetricsServer::start(host, port, std::move(collect), error);
  if (!server) {
    std::fprintf(stderr, "%s: --metrics: %s\n", command, error.c_str());
    return nullptr;
  }
  std::printf("metrics on http://%s:%u/metrics\n", host.c_str(), server->port());
  std::fflush(stdout);
  return server;
}

std::string render_prometheus(const CollectFn& collect) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, collect_families(collect));
  return out.str();
}

}  // namespace actr::cli
