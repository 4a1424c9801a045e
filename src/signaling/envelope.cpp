#include "signaling/envelope.hpp"

#include <actr/error.hpp>

#include <climits>
#include <tuple>
#include <string>

namespace actr {
namespace {

// error_category's destructor is protected and non-virtual by design (see src/error.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class signaling_error_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "actr.signaling"; }
  std::string message(int ev) const override {
    switch (static_cast<SignalingErrc>(ev)) {
      case SignalingErrc::Malformed: return "malformed signaling envelope";
      case SignalingErrc::UnsupportedVersion: return "unsupported signaling envelope version";
      case SignalingErrc::NotRegistered: return "not registered with the signaling server";
      case SignalingErrc::SourceMismatch: return "source is not the actor registered on this connection";
      case SignalingErrc::BadCredential: return "bad signaling credential";
      case SignalingErrc::UnknownTarget: return "relay target is not registered";
      case SignalingErrc::NotFound: return "actor not found";
      case SignalingErrc::AlreadyRegistered: return "actor already registered from another connection";
      case SignalingErrc::InvalidArgument: return "invalid signaling request";
      case SignalingErrc::Internal: return "signaling server internal error";
    }
    return "unknown signaling error " + std::to_string(ev);
  }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& signaling_error_category() noexcept {
  static const signaling_error_category_impl instance;
  return instance;
}

}  // namespace actr

namespace actr::sig {

void to_pb(const ActrId& id, pb::ActrId* out) {
  out->mutable_realm()->set_realm_id(id.realm.realm_id);
  out->set_serial_number(id.serial_number);
  auto* t = out->mutable_type();
  t->set_manufacturer(id.type.manufacturer);
  t->set_name(id.type.name);
  t->set_version(id.type.version);
}

ActrId from_pb(const pb::ActrId& id) {
  return ActrId{Realm{id.realm().realm_id()}, id.serial_number(),
                ActrType{id.type().manufacturer(), id.type().name(), id.type().version()}};
}

void to_pb(const Credential& c, pb::AIdCredential* out) {
  out->set_key_id(c.key_id);
  out->set_claims(c.claims.data(), c.claims.size());
  out->set_signature(c.signature.data(), c.signature.size());
}

Credential from_pb(const pb::AIdCredential& c) {
  return Credential{c.key_id(), Bytes(c.claims().begin(), c.claims().end()),
                    Bytes(c.signature().begin(), c.signature().end())};
}

void blank(pb::AIdCredential* c) {
  c->set_key_id(0);
  c->set_claims("");
  c->set_signature("");
}

void fill_ping(pb::Ping* p) {
  p->set_availability(pb::FULL);
  p->set_power_reserve(1.0F);
  p->set_mailbox_backlog(0.0F);
}

pb::SignalingEnvelope make_envelope(std::string id) {
  pb::SignalingEnvelope env;
  env.set_envelope_version(kEnvelopeVersion);
  env.set_envelope_id(std::move(id));
  return env;
}

pb::SignalingEnvelope make_error(std::string id, const std::string& reply_for, SignalingErrc code, std::string message) {
  auto env = make_envelope(std::move(id));
  if (!reply_for.empty()) env.set_reply_for(reply_for);
  auto* e = env.mutable_envelope_error();
  e->set_code(static_cast<std::uint32_t>(code));
  e->set_message(std::move(message));
  return env;
}

Bytes encode(const pb::SignalingEnvelope& env) {
  Bytes out(env.ByteSizeLong());
  // Cannot fail for an initialized message and a buffer of exactly its size.
  env.SerializeToArray(out.data(), static_cast<int>(out.size()));
  return out;
}

Result<pb::SignalingEnvelope> decode(ConstBytes bytes, std::string* id_out) {
  const Error malformed = make_error_code(SignalingErrc::Malformed);
  if (bytes.size() > static_cast<std::size_t>(INT_MAX)) return malformed;
  pb::SignalingEnvelope env;
  // Partial parse + IsInitialized: same acceptance as ParseFromArray, without libprotobuf logging
  // an ERROR line per bad client, and the id of an incomplete envelope stays readable.
  if (!env.ParsePartialFromArray(bytes.data(), static_cast<int>(bytes.size()))) return malformed;
  if (id_out != nullptr && env.has_envelope_id()) *id_out = env.envelope_id();
  if (!env.IsInitialized()) return malformed;
  if (env.envelope_version() != kEnvelopeVersion) return make_error_code(SignalingErrc::UnsupportedVersion);
  if (env.flow_case() == pb::SignalingEnvelope::FLOW_NOT_SET) return malformed;
  return env;
}

Result<void> to_relay(const PeerSignal& s, pb::ActrRelay* relay) {
  using K = PeerSignal::Kind;
  auto sdp = [&](pb::SessionDescription::Type type) {
    auto* d = relay->mutable_session_description();
    d->set_type(type);
    d->set_sdp(s.sdp);
    if (!s.sdp_exchange_id.empty()) d->set_sdp_exchange_id(s.sdp_exchange_id);
  };
  switch (s.kind) {
    case K::Offer: sdp(pb::SessionDescription::OFFER); return ok();
    case K::Answer: sdp(pb::SessionDescription::ANSWER); return ok();
    case K::IceRestartOffer: sdp(pb::SessionDescription::ICE_RESTART_OFFER); return ok();
    case K::IceCandidate: {
      auto* c = relay->mutable_ice_candidate();
      c->set_candidate(s.candidate);
      if (s.sdp_mid) c->set_sdp_mid(*s.sdp_mid);
      if (s.sdp_mline_index) c->set_sdp_mline_index(*s.sdp_mline_index);
      if (s.username_fragment) c->set_username_fragment(*s.username_fragment);
      return ok();
    }
    case K::IceRestartRequest: {
      auto* r = relay->mutable_ice_restart_request();
      if (!s.reason.empty()) r->set_reason(s.reason);
      return ok();
    }
    case K::SetupRefused: {
      auto* r = relay->mutable_setup_refused();
      if (!s.reason.empty()) r->set_reason(s.reason);
      return ok();
    }
    case K::PeerRestarted:
    case K::PeerGone:
      break;  // the server's to say, not a client's
  }
  return make_error_code(NetworkError::InvalidArgument);
}

std::optional<PeerSignal> from_relay(const pb::ActrRelay& relay) {
  using K = PeerSignal::Kind;
  PeerSignal s;
  switch (relay.payload_case()) {
    case pb::ActrRelay::kSessionDescription: {
      const auto& d = relay.session_description();
      switch (d.type()) {
        case pb::SessionDescription::OFFER: s.kind = K::Offer; break;
        case pb::SessionDescription::ANSWER: s.kind = K::Answer; break;
        case pb::SessionDescription::ICE_RESTART_OFFER: s.kind = K::IceRestartOffer; break;
        case pb::SessionDescription::RENEGOTIATION_OFFER: return std::nullopt;  // not supported (as actr)
      }
      s.sdp = d.sdp();
      s.sdp_exchange_id = d.sdp_exchange_id();
      return s;
    }
    case pb::ActrRelay::kIceCandidate: {
      const auto& c = relay.ice_candidate();
      s.kind = K::IceCandidate;
      s.candidate = c.candidate();
      if (c.has_sdp_mid()) s.sdp_mid = c.sdp_mid();
      if (c.has_sdp_mline_index()) s.sdp_mline_index = c.sdp_mline_index();
      if (c.has_username_fragment()) s.username_fragment = c.username_fragment();
      return s;
    }
    case pb::ActrRelay::kIceRestartRequest:
      s.kind = K::IceRestartRequest;
      s.reason = relay.ice_restart_request().reason();
      return s;
    case pb::ActrRelay::kPeerRestarted:
      s.kind = K::PeerRestarted;
      return s;
    case pb::ActrRelay::kPeerGone:
      s.kind = K::PeerGone;
      return s;
    case pb::ActrRelay::kSetupRefused:
      s.kind = K::SetupRefused;
      s.reason = relay.setup_refused().reason();
      return s;
    case pb::ActrRelay::kRoleNegotiation:
    case pb::ActrRelay::kRoleAssignment:
    case pb::ActrRelay::PAYLOAD_NOT_SET:
      return std::nullopt;
  }
  return std::nullopt;
}

bool offers(const ActrId& self, const ActrId& peer, bool self_answers, bool peer_answers) noexcept {
  if (self_answers != peer_answers) return peer_answers;
  auto key = [](const ActrId& a) {
    return std::tie(a.realm.realm_id, a.serial_number, a.type.manufacturer, a.type.name);
  };
  if (key(self) != key(peer)) return key(self) > key(peer);
  return self > peer;
}

}  // namespace actr::sig
