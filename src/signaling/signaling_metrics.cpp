// collect_metrics(const SignalingServer&): the server's counters (SignalingServer::stats()) as
// metric families. Names and meanings: docs/operations.md; keep the two in step.
#include <actr/metrics.hpp>
#include <actr/signaling.hpp>

#include "detail/metrics_emit.hpp"

namespace actr {

void collect_metrics(const SignalingServer& server, Metrics& out) {
  using detail::metric;
  using detail::num;
  constexpr auto C = MetricType::Counter;
  constexpr auto G = MetricType::Gauge;
  const auto st = server.stats();
  metric(out, "actr_signaling_connections", "Open client connections (WebSocket)", G, num(st.connections));
  metric(out, "actr_signaling_registered", "Live registrations", G, num(st.registered));
  metric(out, "actr_signaling_registrations_total", "Registrations accepted (re-registrations too)", C,
         num(st.registrations));
  metric(out, "actr_signaling_expired_total", "Registrations expired by silence", C, num(st.expired));
  metric(out, "actr_signaling_relayed_total", "Relayed envelopes delivered to their target's queue", C,
         num(st.relayed));
  metric(out, "actr_signaling_errors_sent_total", "Error envelopes and error responses sent", C, num(st.errors_sent));
  metric(out, "actr_signaling_slow_dropped_total", "Clients disconnected because their queue was full", C,
         num(st.slow_dropped));
  metric(out, "actr_signaling_ais_issued_total", "Identities issued by POST /ais/register and /ais/renew", C,
         num(st.ais_issued));
  metric(out, "actr_signaling_ais_refused_total", "AIS requests answered with an error status", C,
         num(st.ais_refused));
  metric(out, "actr_signaling_ip_refused_total", "Connections refused by the per-address limits", C,
         num(st.ip_refused));
  metric(out, "actr_signaling_ip_tracked", "Peer addresses the per-address limits remember", G, num(st.ip_tracked));
  metric(out, "actr_signaling_contacts", "Ids whose WebRTC negotiation partners are remembered", G, num(st.contacts));
  metric(out, "actr_signaling_ais_addresses", "Addresses from /ais/register kept for a first connection", G,
         num(st.ais_addresses));
  metric(out, "actr_signaling_cluster_up", "1 while connected to the cluster engine (--cluster)", G,
         num(st.cluster_up ? 1 : 0));
  metric(out, "actr_signaling_cluster_connects_total", "Times the cluster engine connection was established", C,
         num(st.cluster_connects));
  metric(out, "actr_signaling_cluster_published_total", "Messages published to other servers of the cluster", C,
         num(st.cluster_published));
  metric(out, "actr_signaling_cluster_received_total", "Messages from other servers of the cluster", C,
         num(st.cluster_received));
  metric(out, "actr_signaling_cluster_refused_total",
         "Registrations refused because another server's actor holds the id", C, num(st.cluster_refused));
}

}  // namespace actr
