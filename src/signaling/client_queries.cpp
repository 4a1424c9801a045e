// The signaling client's queries to the server (ActrToSignaling → SignalingToActr): where one
// actor is (our LocateRequest), the actors of a type (HEAD's RouteCandidatesRequest) and a
// verifying key by id (HEAD's GetSigningKeyRequest).
#include "signaling/client_impl.hpp"

namespace actr {

using namespace actr::detail;
using namespace actr::sig;

asio::awaitable<Result<pb::SignalingToActr>> SignalingClient::Impl::ask(std::function<void(pb::ActrToSignaling*)> fill) {
  auto env = sig::make_envelope(next_id());
  std::shared_ptr<ws::Connection> l;
  std::uint64_t ep = 0;
  {
    std::lock_guard lk(mu);
    auto* m = env.mutable_actr_to_server();
    auto s = sign_locked(m->mutable_source(), m->mutable_credential());
    if (!s) co_return s.error();
    fill(m);
    l = link;
    ep = epoch;
  }
  auto r = co_await request(std::move(env), std::move(l), ep);
  if (!r) co_return r.error();
  co_return server_reply(*r);
}

asio::awaitable<Result<ActorLocation>> SignalingClient::discover(const ActrId& target) {
  auto impl = impl_;
  auto reply = co_await impl->ask([&target](pb::ActrToSignaling* m) {
    sig::to_pb(target, m->mutable_locate_request()->mutable_target());
  });
  if (!reply) co_return reply.error();
  if (!reply->has_locate_response()) co_return protocol_error();
  const auto& lr = reply->locate_response();
  if (lr.has_error()) co_return signaling_error_from_wire(lr.error().code());
  if (!lr.has_success()) co_return protocol_error();
  ActorLocation loc{sig::from_pb(lr.success().actr_id()), std::nullopt};
  if (lr.success().has_ws_address()) loc.ws_address = lr.success().ws_address();
  co_return loc;
}

asio::awaitable<Result<std::vector<ActorLocation>>> SignalingClient::route_candidates(ActrType type,
                                                                                      std::uint32_t count) {
  auto impl = impl_;
  auto reply = co_await impl->ask([&type, count](pb::ActrToSignaling* m) {
    auto* q = m->mutable_route_candidates_request();
    q->mutable_target_type()->set_manufacturer(type.manufacturer);
    q->mutable_target_type()->set_name(type.name);
    q->mutable_target_type()->set_version(type.version);
    q->mutable_criteria()->set_candidate_count(count);
    q->set_client_fingerprint("");
  });
  if (!reply) co_return reply.error();
  if (!reply->has_route_candidates_response()) co_return protocol_error();
  const auto& rc = reply->route_candidates_response();
  if (rc.has_error()) co_return signaling_error_from_wire(rc.error().code());
  if (!rc.has_success()) co_return protocol_error();
  std::vector<ActorLocation> out;
  for (const auto& c : rc.success().candidates()) out.push_back(ActorLocation{sig::from_pb(c), std::nullopt});
  for (const auto& e : rc.success().ws_address_map()) {
    const ActrId id = sig::from_pb(e.candidate_id());
    for (auto& loc : out)
      if (loc.id == id && e.has_ws_address()) loc.ws_address = e.ws_address();
  }
  co_return out;
}

asio::awaitable<Result<VerifyingKey>> SignalingClient::signing_key(std::uint32_t key_id) {
  auto impl = impl_;
  auto reply = co_await impl->ask([key_id](pb::ActrToSignaling* m) {
    m->mutable_get_signing_key_request()->set_key_id(key_id);
  });
  if (!reply) co_return reply.error();
  if (!reply->has_get_signing_key_response()) co_return protocol_error();
  const auto& k = reply->get_signing_key_response();
  co_return VerifyingKey::from_raw(k.key_id(), ConstBytes(reinterpret_cast<const std::uint8_t*>(k.pubkey().data()),
                                                          k.pubkey().size()));
}

}  // namespace actr
