// /api/state: node_status() and the counters as JSON. Names are lower case, as in the metrics'
// label values; nothing in it changes unless the node's state does (no "now" field), so an event
// stream sends it only on a change.
#include "status_json.hpp"

#include <actr/error.hpp>
#include <actr/node.hpp>
#include <actr/node_status.hpp>
#include <actr/signaling.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>

namespace actr::cli {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}
std::string kind_name(WireKind k) { return k == WireKind::WebRtc ? "webrtc" : "websocket"; }
std::string dest_name(const Dest& d) {
  const auto* id = d.as_actor_id();
  return id ? id->to_string() : d.to_string();
}

}  // namespace

std::string node_state_json(Node& node) {
  // Events older than the last 100 stay out of the page's payload (the log keeps 256).
  const auto& log = node.wire_events();
  const auto last = log.last_seq();
  const auto s = node_status(node, last > 100 ? last - 100 : 0);
  nlohmann::json j;
  j["kind"] = "node";
  j["id"] = s.id.to_string();
  auto& dests = j["destinations"] = nlohmann::json::array();
  for (const auto& d : s.destinations) {
    nlohmann::json wires = nlohmann::json::array();
    for (const auto& w : d.wires) {
      nlohmann::json routes = nlohmann::json::array();
      for (auto pt : w.routes) routes.push_back(std::string(to_string(pt)));
      wires.push_back({{"kind", kind_name(w.kind)},
                       {"state", lower(to_string(w.state))},
                       {"standby", w.standby},
                       {"routes", std::move(routes)}});
    }
    dests.push_back({{"id", dest_name(d.dest)}, {"unreachable", d.unreachable}, {"wires", std::move(wires)}});
  }
  auto& events = j["events"] = nlohmann::json::array();
  for (const auto& e : s.events) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(e.at.time_since_epoch()).count();
    events.push_back({{"seq", e.seq},
                      {"time_ms", ms},
                      {"peer", dest_name(e.dest)},
                      {"kind", kind_name(e.wire.kind)},
                      {"session", e.wire.session_id},
                      {"state", lower(to_string(e.state))},
                      {"error", e.error}});
  }
  const auto st = node.stats();
  j["messages"] = {{"received", {{"websocket", st.frames_websocket}, {"webrtc", st.frames_webrtc}}},
                   {"sent", {{"websocket", st.sent_websocket}, {"webrtc", st.sent_webrtc}}}};
  const auto rtc = node.webrtc_stats();
  j["webrtc"] = rtc ? nlohmann::json{{"setups_outbound", rtc->outbound_wires},
                                     {"setups_inbound", rtc->inbound_wires},
                                     {"setups_failed", rtc->setups_failed}}
                    : nlohmann::json(nullptr);
  return j.dump();
}

std::string signal_state_json(const SignalingServer& server) {
  const auto st = server.stats();
  nlohmann::json j;
  j["kind"] = "signal";
  j["signaling"] = {{"connections", st.connections},     {"registered", st.registered},
                    {"registrations", st.registrations}, {"relayed", st.relayed},
                    {"errors_sent", st.errors_sent},     {"slow_dropped", st.slow_dropped},
                    {"expired", st.expired},             {"identity_refused", st.identity_refused}};
  j["cluster"] = {{"up", st.cluster_up},
                  {"connects", st.cluster_connects},
                  {"published", st.cluster_published},
                  {"received", st.cluster_received},
                  {"refused", st.cluster_refused}};
  return j.dump();
}

}  // namespace actr::cli
