// render_prometheus: the library's pull collection turned into prometheus-cpp's MetricFamily
// values and written by its TextSerializer (the text format is theirs, kept in step with
// Prometheus; the HTTP serving is ours, metrics_http.cpp). Nothing is registered ahead of time:
// the library's counters are the only copy of the figures.
#include "metrics_http.hpp"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <spdlog/spdlog.h>

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
    // The HTTP thread must not unwind: the scrape gets what was written so far.
    spdlog::warn("actr: metrics collection failed: {}", e.what());
  }
  return std::move(b.families);
}


}  // namespace

std::string render_prometheus(const CollectFn& collect) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, collect_families(collect));
  return out.str();
}

}  // namespace actr::cli
