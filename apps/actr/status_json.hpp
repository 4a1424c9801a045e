#pragma once
// The JSON of GET /api/state (schema: docs/operations.md, "Status page").
#include <string>

namespace actr {
class Node;
class SignalingServer;
}  // namespace actr

namespace actr::cli {

/// A node's destinations, wires, routes, recent wire events and message counts. Thread-safe.
std::string node_state_json(Node& node);
/// A signaling server's counters. Thread-safe.
std::string signal_state_json(const SignalingServer& server);

}  // namespace actr::cli
