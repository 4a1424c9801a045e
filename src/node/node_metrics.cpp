// collect_metrics(Node&): reads the counters the node already keeps (stats, held budgets, wire
// pools, dial metrics, the WebRTC coordinator) at collection time, so metrics cost nothing on
// the message path. Names and meanings: docs/operations.md; keep the two in step.
#include <actr/metrics.hpp>
#include <actr/node.hpp>

#include "detail/metrics_emit.hpp"
#include "node/node_impl.hpp"

namespace actr {

using detail::metric;
using detail::metric_by;
using detail::num;

std::optional<WebRtcCoordinatorStats> Node::webrtc_stats() const {
  if (!impl_->coordinator) return std::nullopt;
  return impl_->coordinator->stats();
}

namespace {

constexpr auto C = MetricType::Counter;
constexpr auto G = MetricType::Gauge;
constexpr std::array<WireKind, kWireKindCount> kKinds{WireKind::WebSocket, WireKind::WebRtc};
// Label values are lower case (Prometheus habit), unlike to_string(WireKind).
constexpr std::string_view kind_label(WireKind k) { return k == WireKind::WebRtc ? "webrtc" : "websocket"; }

void collect_dials(OutprocTransportManager& m, Metrics& out) {
  const auto dials = m.dial_metrics()->snapshot();
  out.family("actr_dial_duration_seconds", "Duration of wire connect attempts (successful or not)",
             MetricType::Histogram);
  for (auto k : kKinds) {
    const std::array<MetricLabel, 1> l{MetricLabel{"kind", kind_label(k)}};
    out.histogram(l, dials[static_cast<std::size_t>(k)].duration);
  }
  out.family("actr_dials_total", "Wire connect attempts", C);
  for (auto k : kKinds) {
    const std::array<MetricLabel, 1> l{MetricLabel{"kind", kind_label(k)}};
    out.sample(l, num(dials[static_cast<std::size_t>(k)].duration.count));
  }
  out.family("actr_dial_errors_total", "Failed wire connect attempts by cause", C);
  for (auto k : kKinds) {
    for (const auto& [cause, n] : dials[static_cast<std::size_t>(k)].failed) {
      const std::array<MetricLabel, 2> l{MetricLabel{"kind", kind_label(k)}, MetricLabel{"cause", cause}};
      out.sample(l, num(n));
    }
  }
  const auto& ws = dials[static_cast<std::size_t>(WireKind::WebSocket)];
  const auto& rtc = dials[static_cast<std::size_t>(WireKind::WebRtc)];
  metric_by(out, "actr_reconnects_total", "Wire kinds of a destination Ready again after they were lost",
            C, "kind", {{"websocket", num(ws.reconnects)}, {"webrtc", num(rtc.reconnects)}});
  metric(out, "actr_destination_dials_total", "Destinations dialed (wire builder calls)", C, num(m.dials_started()));
}

void collect_wires(OutprocTransportManager& m, Metrics& out) {
  // [kind][connecting, ready, failed, standby]
  std::array<std::array<std::uint64_t, 4>, kWireKindCount> n{};
  const auto transports = m.transports();
  for (const auto& t : transports) {
    const auto& pool = t->pool();
    for (auto k : kKinds) {
      auto& row = n[static_cast<std::size_t>(k)];
      switch (pool.state(k)) {
        case SlotState::Connecting: ++row[0]; break;
        case SlotState::Ready: ++row[1]; break;
        case SlotState::Failed: ++row[2]; break;
        case SlotState::Empty: break;
      }
      row[3] += pool.standby_count(k);
    }
  }
  metric(out, "actr_destinations", "Destinations with a transport", G, num(transports.size()));
  out.family("actr_wires", "Wires by kind and state (standby: older inbound WebSocket connections still open)", G);
  constexpr std::array<std::string_view, 4> kStates{"connecting", "ready", "failed", "standby"};
  for (auto k : kKinds) {
    for (std::size_t s = 0; s < kStates.size(); ++s) {
      const std::array<MetricLabel, 2> l{MetricLabel{"kind", kind_label(k)}, MetricLabel{"state", kStates[s]}};
      out.sample(l, num(n[static_cast<std::size_t>(k)][s]));
    }
  }
}

void collect_webrtc(const std::optional<WebRtcCoordinatorStats>& w, Metrics& out) {
  // Without WebRTC the families are announced with no samples.
  if (!w) {
    for (auto name : {"actr_webrtc_setups_total", "actr_webrtc_setup_failures_total", "actr_webrtc_peer_restarts_total",
                      "actr_webrtc_peer_departures_total", "actr_webrtc_signals_total"})
      out.family(name, "WebRTC (not enabled on this node)", C);
    return;
  }
  using S = WebRtcCoordinatorStats;
  auto v = [&](std::uint64_t S::*f) { return num((*w).*f); };
  metric_by(out, "actr_webrtc_setups_total", "WebRTC peer connections set up, by who started them", C, "direction",
            {{"outbound", v(&S::outbound_wires)}, {"inbound", v(&S::inbound_wires)}});
  metric_by(out, "actr_webrtc_setup_failures_total", "WebRTC set-ups that did not finish, by reason", C, "reason",
            {{"failed", v(&S::setups_failed)}, {"refused", v(&S::setups_refused)}, {"replaced", v(&S::setups_replaced)}});
  metric(out, "actr_webrtc_peer_restarts_total", "Peers that registered anew as a new process", C,
         v(&S::peer_restarts));
  metric(out, "actr_webrtc_peer_departures_total", "Peers that left signaling (their WebRTC wires closed)", C,
         v(&S::peer_departures));
  metric_by(out, "actr_webrtc_signals_total", "WebRTC signals relayed to us, by outcome", C, "result",
            {{"routed", v(&S::signals_routed)}, {"dropped", v(&S::signals_dropped)}});
}

}  // namespace

void collect_metrics(Node& node, Metrics& out) {
  const auto st = node.stats();
  const auto held = node.held();
  auto& cfg = node.impl_->cfg;

  metric_by(out, "actr_messages_received_total", "Inbound messages by the wire that carried them", C, "kind",
            {{"websocket", num(st.frames_websocket)}, {"webrtc", num(st.frames_webrtc)}});
  metric_by(out, "actr_messages_sent_total", "Outbound messages by the wire that took them", C, "kind",
            {{"websocket", num(st.sent_websocket)}, {"webrtc", num(st.sent_webrtc)}});
  metric_by(out, "actr_received_bytes_total", "Bytes of inbound messages (encoded), by wire", C, "kind",
            {{"websocket", num(st.bytes_in_websocket)}, {"webrtc", num(st.bytes_in_webrtc)}});
  metric_by(out, "actr_sent_bytes_total", "Bytes of outbound messages (encoded), by wire", C, "kind",
            {{"websocket", num(st.bytes_out_websocket)}, {"webrtc", num(st.bytes_out_webrtc)}});
  metric_by(out, "actr_inbound_total", "Inbound messages handled, by what they were", C, "type",
            {{"request", num(st.requests)}, {"tell", num(st.tells)}, {"chunk", num(st.chunks)},
             {"response", num(st.responses)}});
  metric_by(out, "actr_inbound_discarded_total", "Inbound messages dropped before a handler, by reason", C, "reason",
            {{"orphan_response", num(st.orphans)}, {"bad_direction", num(st.bad_direction)},
             {"malformed", num(st.malformed)}});
  metric(out, "actr_duplicate_requests_total", "Retried requests answered from the dedup cache", C,
         num(st.duplicates));

  metric_by(out, "actr_queue_depth", "Inbound messages waiting for a handler, per class queue", G, "class",
            {{"rpc", num(st.rpc_queued)}, {"stream_reliable", num(st.stream_queued)},
             {"stream_latency_first", num(st.latency_queued)}});
  metric_by(out, "actr_queue_capacity", "Capacity of each class queue", G, "class",
            {{"rpc", num(cfg.rpc_queue)}, {"stream_reliable", num(cfg.stream_queue)},
             {"stream_latency_first", num(cfg.latency_queue)}});
  metric_by(out, "actr_queue_dropped_total", "Messages dropped at a full class queue (the others apply backpressure)",
            C, "class", {{"rpc", 0}, {"stream_reliable", 0}, {"stream_latency_first", num(st.latency_dropped)}});

  metric_by(out, "actr_held_bytes", "Bytes held against the node's global budgets now", G, "budget",
            {{"reassembly", num(held.reassembly)}, {"send_queue", num(held.queued)}, {"inflight", num(held.inflight)}});
  metric_by(out, "actr_held_peak_bytes", "Most bytes held against each global budget so far", G, "budget",
            {{"reassembly", num(held.reassembly_peak)}, {"send_queue", num(held.queued_peak)},
             {"inflight", num(held.inflight_peak)}});
  metric(out, "actr_budget_refusals_total", "Acquisitions refused at a global budget", C, num(held.refused));
  metric(out, "actr_read_pauses_total", "Times a connection was not read: its in-flight budget was full", C,
         num(held.read_pauses));
  metric(out, "actr_stalled_connections_total", "Gate connections ended: the peer took nothing for 2 keepalives", C,
         num(held.stalls));
  metric(out, "actr_unauthorized_total", "Upgrades refused for identity (HTTP 401)", C, num(node.unauthorized()));

  auto& m = node.manager();
  collect_dials(m, out);
  collect_wires(m, out);
  collect_webrtc(node.webrtc_stats(), out);
  const auto sig = node.signaling();
  metric(out, "actr_signaling_client_registrations_total", "Successful registrations with the signaling server", C,
         sig ? num(sig->registrations()) : 0.0);
}

}  // namespace actr
