#pragma once
// A `Metrics` sink for tests (include/actr/metrics.hpp): checks the sink contract as it is called
// (a family before its samples; samples for counters and gauges, histograms for histograms) and
// keeps every figure under "family{label=value,...,}".

#include <actr/metrics.hpp>

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace actr::testing {

struct MetricsRecorder final : Metrics {
  std::vector<std::string> families;  // in the order announced
  std::map<std::string, MetricType> types;
  std::map<std::string, double> samples;
  std::map<std::string, HistogramSnapshot> histograms;

  void family(std::string_view name, std::string_view, MetricType type) override {
    current_ = std::string(name);
    families.push_back(current_);
    types[current_] = type;
  }
  void sample(std::span<const MetricLabel> labels, double v) override {
    EXPECT_FALSE(current_.empty());
    EXPECT_NE(types[current_], MetricType::Histogram) << current_;
    samples[key(labels)] = v;
  }
  void histogram(std::span<const MetricLabel> labels, const HistogramSnapshot& h) override {
    EXPECT_EQ(types[current_], MetricType::Histogram) << current_;
    histograms[key(labels)] = h;
  }
  /// A sample's value, 0 if absent.
  double at(const std::string& k) const {
    auto it = samples.find(k);
    return it == samples.end() ? 0 : it->second;
  }
  /// Every sample, one per line (for failure messages).
  std::string dump() const {
    std::string all;
    for (const auto& [k, v] : samples) all += k + " " + std::to_string(v) + "\n";
    return all;
  }

 private:
  std::string key(std::span<const MetricLabel> labels) const {
    std::string k = current_ + "{";
    for (const auto& l : labels) k += std::string(l.name) + "=" + std::string(l.value) + ",";
    return k + "}";
  }
  std::string current_;
};

}  // namespace actr::testing
