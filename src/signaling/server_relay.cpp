// Actor to actor through the server: relays (forwarded unchanged, credential included), the
// WebRTC role decision for a pair, who negotiated with whom (contacts), and the notices the
// server sends those contacts (PeerRestarted, PeerGone). A target registered on another server
// of the cluster is reached through the engine (server_cluster.cpp).
#include "signaling/server_impl.hpp"

namespace actr {

using namespace actr::detail;
using namespace actr::sig;

void SignalingServer::Impl::handle_relay(const std::shared_ptr<Session>& s, const pb::SignalingEnvelope& env) {
  const auto& rid = env.envelope_id();
  const auto& r = env.actr_relay();
  auto src = authenticate(*s, r.source(), r.credential());
  if (!src) {
    refuse(s, rid, static_cast<SignalingErrc>(src.error().value()), src.error().message());
    return;
  }
  const ActrId target = sig::from_pb(r.target());
  if (target == *src) {
    refuse(s, rid, SignalingErrc::InvalidArgument, "relay to self");
    return;
  }
  switch (r.payload_case()) {
    case pb::ActrRelay::PAYLOAD_NOT_SET:
      refuse(s, rid, SignalingErrc::Malformed, "relay without a payload");
      return;
    case pb::ActrRelay::kRoleAssignment:
      refuse(s, rid, SignalingErrc::InvalidArgument, "role assignments are decided by the server");
      return;
    case pb::ActrRelay::kPeerRestarted:
      refuse(s, rid, SignalingErrc::InvalidArgument, "peer_restarted is the server's to send");
      return;
    case pb::ActrRelay::kPeerGone:
      refuse(s, rid, SignalingErrc::InvalidArgument, "peer_gone is the server's to send");
      return;
    case pb::ActrRelay::kRoleNegotiation:
    case pb::ActrRelay::kIceCandidate:
    case pb::ActrRelay::kSessionDescription:
    case pb::ActrRelay::kIceRestartRequest:
    case pb::ActrRelay::kSetupRefused:
      break;
  }
  if (r.has_role_negotiation() &&
      (sig::from_pb(r.role_negotiation().from()) != *src || sig::from_pb(r.role_negotiation().to()) != target)) {
    refuse(s, rid, SignalingErrc::InvalidArgument, "role negotiation from/to must match source/target");
    return;
  }
  auto to = session_of(target);
  if (to && r.has_role_negotiation()) {
    handle_role(s, env, *src, target, to);
    return;
  }
  // Forward as a new envelope: the server's id, no reply_for (a peer cannot answer our client's
  // pending requests). The relay itself is forwarded unchanged, credential included, as actrix
  // does: the target checks the source's credential before it sets up a connection with it.
  auto out = sig::make_envelope(envelope_id());
  if (env.has_traceparent()) out.set_traceparent(env.traceparent());
  if (env.has_tracestate()) out.set_tracestate(env.tracestate());
  *out.mutable_actr_relay() = r;
  if (!to && cluster) {
    relay_remote(s, env, target, std::move(out));
    return;
  }
  if (!to) {
    refuse(s, rid, SignalingErrc::UnknownTarget, target.to_string() + " is not registered");
    return;
  }
  if (!deliver(to, out)) {
    refuse(s, rid, SignalingErrc::UnknownTarget, target.to_string() + " dropped (too slow or gone)");
    return;
  }
  relayed.fetch_add(1);
}

void SignalingServer::Impl::handle_role(const std::shared_ptr<Session>& s, const pb::SignalingEnvelope& env,
                                        const ActrId& src, const ActrId& target, const std::shared_ptr<Session>& to) {
  const bool src_offers = sig::offers(src, target, s->answer, to->answer);
  note_contacts(src, target);
  auto to_initiator = assignment(target, src, src_offers);
  to_initiator.set_reply_for(env.envelope_id());
  if (!deliver(to, assignment(src, target, !src_offers))) {
    refuse(s, env.envelope_id(), SignalingErrc::UnknownTarget, target.to_string() + " dropped (too slow or gone)");
    return;
  }
  (void)deliver(s, to_initiator);
  relayed.fetch_add(2);
}

// Each side gets a relay whose source is the *other* party (reference §12.3), so the receiver
// resolves the peer as the source.
pb::SignalingEnvelope SignalingServer::Impl::assignment(const ActrId& peer, const ActrId& self_id, bool is_offerer) {
  auto e = server_relay(peer, self_id);
  e.mutable_actr_relay()->mutable_role_assignment()->set_is_offerer(is_offerer);
  return e;
}

void SignalingServer::Impl::note_contacts(const ActrId& a, const ActrId& b) {
  {
    std::lock_guard lk(mu);
    add_contact_locked(a, b);
    add_contact_locked(b, a);
  }
  if (cluster) {  // kept in the engine too: either may come back through another server
    cluster->add_contact(a, b);
    cluster->add_contact(b, a);
  }
}

pb::SignalingEnvelope SignalingServer::Impl::server_relay(const ActrId& source, const ActrId& target) {
  auto e = sig::make_envelope(envelope_id());
  auto* r = e.mutable_actr_relay();
  sig::to_pb(source, r->mutable_source());
  sig::blank(r->mutable_credential());  // the server has no credential to give
  sig::to_pb(target, r->mutable_target());
  return e;
}

void SignalingServer::Impl::add_contact_locked(const ActrId& a, const ActrId& b) {
  constexpr std::size_t per_id = 256, ids = 65536;
  if (contacts.size() >= ids && !contacts.count(a)) {
    // Forget the ids that are not registered now; they are the least likely to come back.
    std::erase_if(contacts, [&](const auto& kv) { return !entries.count(kv.first); });
    if (contacts.size() >= ids) return;
  }
  auto& c = contacts[a];
  c.seen = Clock::now();
  auto& list = c.peers;
  if (std::find(list.begin(), list.end(), b) != list.end()) return;
  if (list.size() >= per_id) list.pop_front();
  list.push_back(b);
}

pb::SignalingEnvelope SignalingServer::Impl::notice(const ActrId& about, const ActrId& to, Notice what) {
  auto e = server_relay(about, to);
  if (what == Notice::Restarted)
    e.mutable_actr_relay()->mutable_peer_restarted();
  else
    e.mutable_actr_relay()->mutable_peer_gone();
  return e;
}

void SignalingServer::Impl::announce(const ActrId& id, Notice what) {
  if (cluster && cluster->up()) {  // its contacts may be on any server
    tasks.spawn("signaling-announce",
                [self = shared_from_this(), id, what]() { return self->announce_from_engine(id, what); });
    return;
  }
  announce_local(id, what);
}

void SignalingServer::Impl::announce_local(const ActrId& id, Notice what) {
  std::vector<std::pair<ActrId, std::shared_ptr<Session>>> told;
  {
    std::lock_guard lk(mu);
    auto it = contacts.find(id);
    if (it == contacts.end()) return;
    for (const auto& peer : it->second.peers)
      if (auto e = entries.find(peer); e != entries.end()) told.emplace_back(peer, e->second.session);
  }
  for (auto& [peer, session] : told)
    if (deliver(session, notice(id, peer, what))) relayed.fetch_add(1);
  if (!told.empty())
    spdlog::info("actr signal: {} {}; told {} peer(s)", id.to_string(),
                 what == Notice::Restarted ? "restarted" : "left", told.size());
}

}  // namespace actr
