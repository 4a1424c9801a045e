#pragma once
// Private: turns `NodeConfig::identity` into WebSocket settings — what our dials send as
// X-Actr-Credential and what the node's gate checks (docs/security.md).

#include <actr/identity.hpp>
#include <actr/node.hpp>
#include <actr/signaling_client.hpp>

#include <memory>

namespace actr {

/// Sets `cfg.wires.ws.credential_source` (the signaling-issued credential, else
/// `identity.credential`) unless already set, and with `identity.require` the gate's
/// `identity_keys` (and `fetch_key`: the key `signaling` names, when trusted). Returns the gate's
/// key ring, or null when identity is not required. With `identity.require`, `signaling` also
/// delivers only relays whose credential that key ring (and the server's key, when trusted) verifies.
std::shared_ptr<KeyRing> configure_identity(NodeConfig& cfg, const std::shared_ptr<SignalingClient>& signaling);

}  // namespace actr
