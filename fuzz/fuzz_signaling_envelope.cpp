// libFuzzer target: the signaling server's envelope handling up to its dispatch
// (src/signaling/envelope.hpp, as `SignalingServer::Impl::on_message` runs it): strict decode,
// the ids and relay payloads the handlers read, the role rule, and the refusal sent back with
// the id a hostile client chose. Invariants: a decoded envelope has version 2 and a flow; every
// refusal encodes and decodes again; PeerSignal <-> ActrRelay and ActrId <-> pb::ActrId round
// trips are exact; the role rule is a strict order.
#include "fuzz_check.hpp"

#include "signaling/envelope.hpp"

#include <actr/error.hpp>

#include <cstdint>

namespace {

namespace sig = actr::sig;
namespace pb = actr::pb;

actr::ActrId round_trip(const pb::ActrId& id) {
  const auto a = sig::from_pb(id);
  pb::ActrId again;
  sig::to_pb(a, &again);
  FUZZ_CHECK(sig::from_pb(again) == a);
  return a;
}

void check_roles(const actr::ActrId& a, const actr::ActrId& b) {
  FUZZ_CHECK(!sig::offers(a, a));
  if (a != b) FUZZ_CHECK(sig::offers(a, b) != sig::offers(b, a));
}

void check_relay(const pb::ActrRelay& r) {
  const auto src = round_trip(r.source());
  const auto dst = round_trip(r.target());
  check_roles(src, dst);
  if (r.has_role_negotiation()) check_roles(round_trip(r.role_negotiation().from()), round_trip(r.role_negotiation().to()));
  auto s = sig::from_relay(r);
  if (!s) return;
  pb::ActrRelay again;
  const auto put = sig::to_relay(*s, &again);
  if (s->kind == actr::PeerSignal::Kind::PeerRestarted) {
    FUZZ_CHECK(!put);  // the server's to say: a client cannot have it relayed
    return;
  }
  FUZZ_CHECK(put.has_value());
  auto back = sig::from_relay(again);
  FUZZ_CHECK(back && back->kind == s->kind && back->sdp == s->sdp && back->sdp_exchange_id == s->sdp_exchange_id &&
             back->candidate == s->candidate && back->sdp_mid == s->sdp_mid &&
             back->sdp_mline_index == s->sdp_mline_index && back->username_fragment == s->username_fragment &&
             back->reason == s->reason);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  actr::fuzz::forbid_protobuf_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string id;
  auto env = sig::decode(actr::ConstBytes(data, size), &id);
  if (!env) {
    const auto code = env.error();
    FUZZ_CHECK(code == actr::SignalingErrc::Malformed || code == actr::SignalingErrc::UnsupportedVersion);
    // The refusal carries the client's envelope id back as reply_for, whatever its bytes.
    auto refusal = sig::encode(sig::make_error("srv-1", id, static_cast<actr::SignalingErrc>(code.value()), code.message()));
    std::string id2;
    auto back = sig::decode(refusal, &id2);
    FUZZ_CHECK(back && id2 == "srv-1" && back->has_envelope_error());
    FUZZ_CHECK(id.empty() ? !back->has_reply_for() : back->reply_for() == id);
    return 0;
  }
  FUZZ_CHECK(env->envelope_version() == sig::kEnvelopeVersion);
  FUZZ_CHECK(env->flow_case() != pb::SignalingEnvelope::FLOW_NOT_SET);
  FUZZ_CHECK(id == env->envelope_id());
  switch (env->flow_case()) {
    case pb::SignalingEnvelope::kPeerToServer:
      if (env->peer_to_server().has_register_request()) round_trip(env->peer_to_server().register_request().actr_id());
      break;
    case pb::SignalingEnvelope::kActrToServer: {
      const auto& m = env->actr_to_server();
      round_trip(m.source());
      if (m.has_locate_request()) round_trip(m.locate_request().target());
      break;
    }
    case pb::SignalingEnvelope::kActrRelay: check_relay(env->actr_relay()); break;
    default: break;
  }
  // What the server forwards or answers is built from the decoded envelope: it must encode and
  // decode again unchanged.
  const auto bytes = sig::encode(*env);
  std::string id2;
  auto again = sig::decode(bytes, &id2);
  FUZZ_CHECK(again && id2 == id && sig::encode(*again) == bytes);
  return 0;
}
