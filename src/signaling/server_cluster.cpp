// Several signaling servers on one engine (`SignalingServerConfig::cluster`, docs/scale.md).
// Each server still holds its own clients' connections; the engine holds who is registered
// where. What crosses servers:
// - a registration: claimed in the engine after the local checks (`claim_in_engine`); refused if
//   another server's actor holds the id and the client cannot prove to be it;
// - a relay to an actor of another server: published to that server's channel, found by the
//   target's registration in one script (the lookup and the publish are atomic); one engine
//   connection per server and one subscriber keep the order per pair of actors;
// - a role negotiation: decided by the target's server, which alone knows whether its actor
//   asked to answer;
// - the notices (PeerRestarted, PeerGone): sent to the contacts the engine remembers.
// Engine callbacks run on `cluster_strand`, in the order the engine delivered them.
#include "signaling/server_impl.hpp"

namespace actr {

using namespace actr::sig;
namespace asio = boost::asio;

void SignalingServer::Impl::start_cluster() {
  std::weak_ptr<Impl> weak = shared_from_this();
  ClusterEngineConfig cc{.url = *cfg.cluster, .ttl = cfg.cluster_ttl, .contact_ttl = cfg.contact_ttl};
  cluster = std::make_unique<ClusterEngine>(
      cluster_strand, cc,
      [weak, strand = cluster_strand](pb::ClusterMessage m) {
        asio::post(strand, [weak, m = std::move(m)]() {
          if (auto impl = weak.lock()) impl->on_cluster(m);
        });
      },
      [weak, strand = cluster_strand]() {
        // Connected (again): the engine may have restarted empty; write our registrations back.
        asio::post(strand, [weak]() {
          if (auto impl = weak.lock()) impl->refresh_cluster();
        });
      });
  spdlog::info("actr signal: cluster server {} on {}", cluster->server_id(), *cfg.cluster);
  cluster->start();
  tasks.spawn("signaling-cluster", [self = shared_from_this()]() { return self->cluster_refresher(); });
}

sig::ClaimRequest SignalingServer::Impl::claim_request_locked(const ActrId& id, const Entry& e) const {
  return sig::ClaimRequest{.id = id,
                           .instance = e.session->instance.value_or(""),
                           .ws_address = e.ws_address,
                           .credential = e.credential,
                           .answers = e.session->answer,
                           .force = false,
                           .previous = std::nullopt};
}

asio::awaitable<std::optional<std::string>> SignalingServer::Impl::claim_in_engine(const std::shared_ptr<Session>& s,
                                                                                   const ActrId& id, bool proven,
                                                                                   std::optional<Bytes> presented,
                                                                                   Taken& t) {
  sig::ClaimRequest req;
  {
    std::lock_guard lk(mu);
    auto e = entries.find(id);
    if (e == entries.end() || e->second.session != s) co_return std::nullopt;  // replaced here meanwhile
    req = claim_request_locked(id, e->second);
  }
  req.force = proven;
  req.previous = presented;
  auto r = co_await cluster->claim(req);
  if (!r) {
    // Degraded, not refused: this server serves its own clients; the refresher writes the
    // registration once the engine answers again.
    if (const auto nth = reported.tick())
      spdlog::warn("actr signal: cluster engine did not take the registration of {}: {} ({} so far)", id.to_string(),
                   r.error().message(), nth);
    co_return std::nullopt;
  }
  if (r->held_elsewhere) {
    cluster_refused.fetch_add(1);
    {
      std::lock_guard lk(mu);
      auto e = entries.find(id);
      if (e != entries.end() && e->second.session == s) {
        entries.erase(e);
        by_session.erase(s->id);
      }
    }
    co_return id.to_string() + " is registered through another server";
  }
  if (!r->holder.empty() && r->holder != cluster->server_id()) {
    // It was held through another server: the same process moving (its instance, or else the
    // credential it presents, is the one held there) or a new one; that server lets it go.
    if (s->instance && !r->previous_instance.empty())
      t.new_process = *s->instance != r->previous_instance;
    else
      t.new_process = !presented || *presented != r->previous_credential;
    pb::ClusterMessage m;
    m.set_target(id.to_string());
    m.mutable_taken()->set_by_server(cluster->server_id());
    cluster->publish(r->holder, m);
  }
  co_return std::nullopt;
}

void SignalingServer::Impl::refresh_cluster() {
  std::vector<std::pair<sig::ClaimRequest, std::shared_ptr<Session>>> mine;
  {
    std::lock_guard lk(mu);
    mine.reserve(entries.size());
    for (const auto& [id, e] : entries) mine.emplace_back(claim_request_locked(id, e), e.session);
  }
  std::weak_ptr<Impl> weak = shared_from_this();
  for (auto& [req, session] : mine) {
    cluster->claim(req, [weak, id = req.id, session](Result<ClaimResult> r) {
      auto impl = weak.lock();
      if (impl && r && r->held_elsewhere) impl->evict(id, "is registered through another server now", session);
    });
  }
}

asio::awaitable<void> SignalingServer::Impl::cluster_refresher() {
  auto self = shared_from_this();
  co_await asio::this_coro::throw_if_cancelled(false);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto period = std::max(cfg.cluster_ttl / 3, std::chrono::milliseconds{10});
  for (;;) {
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(detail::use_ec);
    if (ec || closed.load()) co_return;
    if (cluster->up()) refresh_cluster();
  }
}

void SignalingServer::Impl::on_cluster(const pb::ClusterMessage& m) {
  auto target = ActrId::parse(m.target());
  if (!target || closed.load()) return;
  switch (m.kind_case()) {
    case pb::ClusterMessage::kDeliver:
      // Gone from here since the sender looked it up: dropped, as a relay to a client whose
      // queue is full is (the sender's set-up times out and retries).
      if (auto to = session_of(*target); to && deliver(to, m.deliver())) relayed.fetch_add(1);
      return;
    case pb::ClusterMessage::kRole:
      remote_role(*target, m.role());
      return;
    case pb::ClusterMessage::kTaken:
      if (m.taken().by_server() != cluster->server_id()) evict(*target, "registered again through another server");
      return;
    case pb::ClusterMessage::KIND_NOT_SET:
      return;
  }
}

void SignalingServer::Impl::relay_remote(const std::shared_ptr<Session>& s, const pb::SignalingEnvelope& env,
                                         const ActrId& target, pb::SignalingEnvelope forwarded) {
  pb::ClusterMessage m;
  m.set_target(target.to_string());
  if (env.actr_relay().has_role_negotiation()) {
    auto* role = m.mutable_role();
    *role->mutable_negotiation() = env;
    role->set_initiator_answers(s->answer);
  } else {
    *m.mutable_deliver() = std::move(forwarded);
  }
  std::weak_ptr<Impl> weak = shared_from_this();
  cluster->route(target, m, [weak, s, rid = env.envelope_id(), target](bool delivered) {
    auto impl = weak.lock();
    if (!impl) return;
    if (delivered)
      impl->relayed.fetch_add(1);
    else
      impl->refuse(s, rid, SignalingErrc::UnknownTarget, target.to_string() + " is not registered");
  });
}

void SignalingServer::Impl::remote_role(const ActrId& target, const pb::ClusterRole& role) {
  const auto& env = role.negotiation();
  const ActrId src = sig::from_pb(env.actr_relay().source());
  auto to = session_of(target);
  if (!to) {
    errors_sent.fetch_add(1);
    send_anywhere(src, "",
                  sig::make_error(envelope_id(), env.envelope_id(), SignalingErrc::UnknownTarget,
                                  target.to_string() + " is not registered"));
    return;
  }
  const bool src_offers = sig::offers(src, target, role.initiator_answers(), to->answer);
  note_contacts(src, target);
  if (deliver(to, assignment(src, target, !src_offers))) relayed.fetch_add(1);
  auto to_initiator = assignment(target, src, src_offers);
  to_initiator.set_reply_for(env.envelope_id());
  send_anywhere(src, "", std::move(to_initiator));
}

void SignalingServer::Impl::send_anywhere(const ActrId& target, const std::string& server, pb::SignalingEnvelope e) {
  if (auto to = session_of(target)) {
    if (deliver(to, e)) relayed.fetch_add(1);
    return;
  }
  if (!cluster) return;
  pb::ClusterMessage m;
  m.set_target(target.to_string());
  *m.mutable_deliver() = std::move(e);
  if (!server.empty()) {
    cluster->publish(server, m);
    return;
  }
  cluster->route(target, m, [](bool) {});
}

asio::awaitable<void> SignalingServer::Impl::announce_from_engine(ActrId id, Notice what) {
  auto self = shared_from_this();
  auto peers = co_await cluster->contacts(id);
  if (!peers) {
    announce_local(id, what);  // the engine went away meanwhile: those we know of
    co_return;
  }
  for (const auto& [peer, server] : *peers) send_anywhere(peer, server, notice(id, peer, what));
  if (!peers->empty())
    spdlog::info("actr signal: {} {}; told {} peer(s) through the cluster", id.to_string(),
                 what == Notice::Restarted ? "restarted" : "left", peers->size());
}

}  // namespace actr
