#pragma once
// Private: building and checking signaling envelopes, shared by the server and the client.

#include <actr/identity.hpp>
#include <actr/peer_signal.hpp>
#include <actr/result.hpp>
#include <actr/signaling.hpp>
#include <actr/types.hpp>

#include "signaling.pb.h"

#include <cstdint>
#include <optional>
#include <string>

namespace actr::sig {

inline constexpr std::uint32_t kEnvelopeVersion = 2;

/// Longest `ws_address` accepted at registration (RegisterRequest and /ais/register).
inline constexpr std::size_t kMaxWsAddress = 1024;
/// Discovery hands the address to every peer that asks, which dials it: true if `a` is a URL our
/// own dial accepts (ws:// or wss://, a host, a numeric port, no control characters or spaces)
/// of at most `kMaxWsAddress` bytes.
bool plausible_ws_address(const std::string& a);

void to_pb(const ActrId& id, pb::ActrId* out);
ActrId from_pb(const pb::ActrId& id);
void to_pb(const Credential& c, pb::AIdCredential* out);
Credential from_pb(const pb::AIdCredential& c);
/// Empties a credential (key id 0, no claims, no signature): relays the server forwards or makes
/// carry none, as a credential is a bearer proof of its holder, never handed to another actor.
void blank(pb::AIdCredential* c);

/// A heartbeat's load report: always "full service" (HEAD's fields are required; we measure none).
void fill_ping(pb::Ping* p);

/// A new envelope: version 2, the given id, no flow yet.
pb::SignalingEnvelope make_envelope(std::string id);
/// An `EnvelopeError` envelope answering `reply_for` (omitted when empty).
pb::SignalingEnvelope make_error(std::string id, const std::string& reply_for, SignalingErrc code, std::string message);
Bytes encode(const pb::SignalingEnvelope& env);

/// Strict decode: the bytes parse, every required field is present, the version is 2 and a flow
/// is set. Errors: `SignalingErrc::Malformed` / `UnsupportedVersion`. `id_out` receives the
/// envelope id whenever the bytes carried one, so even a refused envelope can be answered.
Result<pb::SignalingEnvelope> decode(ConstBytes bytes, std::string* id_out);

/// Fills the payload of `relay` from `s`. Errors: `InvalidArgument` for an unknown kind.
Result<void> to_relay(const PeerSignal& s, pb::ActrRelay* relay);
/// The `PeerSignal` carried by `relay`, or nullopt for payloads that are not one (role
/// negotiation/assignment, RENEGOTIATION_OFFER, none).
std::optional<PeerSignal> from_relay(const pb::ActrRelay& relay);

/// The server's role rule, actrix's (server.rs): when exactly one side asked to answer
/// (`webrtc_role=answer`), the other offers; otherwise the side with the greater (realm_id,
/// serial_number, manufacturer, name) offers, and a tie there falls back to the full id order
/// (version), so every distinct pair has exactly one offerer whoever asks.
bool offers(const ActrId& self, const ActrId& peer, bool self_answers = false, bool peer_answers = false) noexcept;

}  // namespace actr::sig
