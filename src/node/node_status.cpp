// node_status(Node&) and WireEventLog: a status page's view of a node, read from the same
// thread-safe accessors as collect_metrics (the manager's transports, each pool's slots).
#include <actr/node.hpp>
#include <actr/node_status.hpp>
#include <actr/route_table.hpp>

#include "node/node_impl.hpp"

#include <algorithm>

namespace actr {

void WireEventLog::record(const ConnectionEvent& ev) {
  WireEvent e;
  e.at = std::chrono::system_clock::now();
  e.dest = ev.dest;
  e.wire = ev.wire;
  e.state = ev.state;
  if (ev.error) e.error = error_name(ev.error);
  std::lock_guard lk(mu_);
  e.seq = next_++;
  ring_.push_back(std::move(e));
  if (ring_.size() > capacity_) ring_.pop_front();
}

std::vector<WireEvent> WireEventLog::since(std::uint64_t after) const {
  std::lock_guard lk(mu_);
  auto first = std::find_if(ring_.begin(), ring_.end(), [after](const WireEvent& e) { return e.seq > after; });
  return {first, ring_.end()};
}

std::uint64_t WireEventLog::last_seq() const {
  std::lock_guard lk(mu_);
  return next_ - 1;
}

const WireEventLog& Node::wire_events() const { return *impl_->wire_log; }

namespace {

constexpr std::array<WireKind, kWireKindCount> kKinds{WireKind::WebSocket, WireKind::WebRtc};
constexpr std::array<PayloadType, 4> kDataClasses{PayloadType::RpcReliable, PayloadType::RpcSignal,
                                                  PayloadType::StreamReliable, PayloadType::StreamLatencyFirst};

DestinationStatus destination(const OutprocTransportManager& m, const DestTransport& t) {
  DestinationStatus d{.dest = t.dest(), .wires = {}, .unreachable = m.is_unreachable(t.dest())};
  const auto& pool = t.pool();
  const auto snap = pool.snapshot();  // one consistent view of which kinds are Ready
  for (auto k : kKinds) {
    WireStatus w{.kind = k, .state = pool.state(k), .standby = pool.standby_count(k), .routes = {}};
    for (auto pt : kDataClasses) {
      const auto order = route_for(pt);
      auto first = std::find_if(order.begin(), order.end(), [&](WireKind c) { return snap.ready.contains(c); });
      if (first != order.end() && *first == k) w.routes.push_back(pt);
    }
    d.wires.push_back(std::move(w));
  }
  return d;
}

}  // namespace

NodeStatus node_status(Node& node, std::uint64_t events_after) {
  NodeStatus s{.id = node.id(), .destinations = {}, .events = node.wire_events().since(events_after)};
  auto& m = node.manager();
  for (const auto& t : m.transports()) s.destinations.push_back(destination(m, *t));
  std::sort(s.destinations.begin(), s.destinations.end(),
            [](const DestinationStatus& a, const DestinationStatus& b) { return a.dest < b.dest; });
  return s;
}

}  // namespace actr
