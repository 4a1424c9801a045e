#include "node/node_identity.hpp"

#include <spdlog/spdlog.h>

namespace actr {

std::shared_ptr<KeyRing> configure_identity(NodeConfig& c, const std::shared_ptr<SignalingClient>& signaling) {
  // Weak: the WebSocket config is copied into every wire, which must not keep the client alive.
  std::weak_ptr<SignalingClient> sig = signaling;
  if (!c.wires.ws.credential_source && (signaling || c.identity.credential)) {
    std::optional<std::string> fixed;
    if (c.identity.credential) fixed = c.identity.credential->to_base64();
    // Asked at every dial, so a renewed credential goes out from the next dial on.
    c.wires.ws.credential_source = [sig, fixed]() -> std::optional<std::string> {
      if (auto s = sig.lock())
        if (auto cred = s->credential()) return cred->to_base64();
      return fixed;
    };
  }
  if (!c.identity.require) return nullptr;
  auto trusted = std::make_shared<KeyRing>();
  for (const auto& k : c.identity.trusted_keys) trusted->add(k);
  c.wires.ws.identity_keys = trusted;
  if (signaling && c.identity.trust_signaling_key && !c.wires.ws.fetch_key) {
    // TODO(AIS step): ask the server (HEAD's GetSigningKey) for key ids it did not name at
    // registration; today only the key of our own latest RegisterOk is known.
    c.wires.ws.fetch_key = [sig](std::uint32_t key_id) -> std::optional<VerifyingKey> {
      auto s = sig.lock();
      auto key = s ? s->server_signing_key() : std::nullopt;
      if (key && key->key_id() == key_id) return key;
      return std::nullopt;
    };
  }
  // The WebRTC door: a peer's offer, answer and candidates reach our WebRTC wires only when the
  // credential its relays carry is valid for it, under the same keys as the gate.
  if (signaling) signaling->verify_relays(trusted, c.identity.trust_signaling_key);
  if (c.identity.trusted_keys.empty() && !c.wires.ws.fetch_key)
    spdlog::warn("actr: node {} requires identity but trusts no key: its gate will refuse every peer", c.id.to_string());
  return trusted;
}

}  // namespace actr
