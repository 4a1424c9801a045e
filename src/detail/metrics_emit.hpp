#pragma once
// Private: shorthands for writing families into an `actr::Metrics` sink (node_metrics.cpp,
// signaling_metrics.cpp), so each figure is one line there.

#include <actr/metrics.hpp>

#include <array>
#include <initializer_list>
#include <string_view>
#include <utility>

namespace actr::detail {

// A family of one sample without labels.
inline void metric(Metrics& m, std::string_view name, std::string_view help, MetricType type, double value) {
  m.family(name, help, type);
  m.sample({}, value);
}

// A family whose samples differ in one label: `samples` are (label value, value) pairs.
inline void metric_by(Metrics& m, std::string_view name, std::string_view help, MetricType type,
                      std::string_view label, std::initializer_list<std::pair<std::string_view, double>> samples) {
  m.family(name, help, type);
  for (const auto& [v, x] : samples) {
    const std::array<MetricLabel, 1> l{MetricLabel{label, v}};
    m.sample(l, x);
  }
}

inline double num(std::uint64_t v) { return static_cast<double>(v); }

}  // namespace actr::detail
