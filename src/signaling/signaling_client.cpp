// The signaling client: requests correlated by envelope id, inbound envelopes sorted into
// pending replies and bounded inboxes, and the public API. Not a Beast TU: the WebSocket is a
// `ws::Connection`. The background tasks are in client_tasks.cpp.
#include "signaling/client_impl.hpp"
#include <actr/detail/log_limit.hpp>

#include <spdlog/spdlog.h>

namespace actr {

using namespace actr::detail;
using namespace actr::sig;
using std::chrono::milliseconds;

// Sends `env` on `l` and waits for the envelope whose reply_for names it.
asio::awaitable<Result<pb::SignalingEnvelope>> SignalingClient::Impl::request(pb::SignalingEnvelope env,
                                                                              std::shared_ptr<ws::Connection> l,
                                                                              std::uint64_t ep) {
  auto self = shared_from_this();
  const std::string id = env.envelope_id();
  auto p = std::make_shared<Pending>(ep);
  {
    std::lock_guard lk(mu);
    if (closed) co_return closed_error();
    if (!l) co_return closed_error();
    pending[id] = p;
  }
  struct Forget {  // the entry leaves the map on every exit path
    Impl* impl;
    const std::string& id;
    const std::shared_ptr<Pending>& p;
    ~Forget() {
      std::lock_guard lk(impl->mu);
      auto it = impl->pending.find(id);
      if (it != impl->pending.end() && it->second == p) impl->pending.erase(it);
    }
  } forget{this, id, p};
  auto sent = l->send(sig::encode(env));
  if (!sent) co_return sent.error();
  auto r = co_await p->reply.pop(Clock::now() + cfg.request_timeout);
  if (!r) co_return r.error() == NetworkError::ChannelClosed ? closed_error() : r.error();
  co_return std::move(*r);
}

// Fills source + credential. Errors: NotRegistered before a successful registration.
Result<void> SignalingClient::Impl::sign_locked(pb::ActrId* source, pb::AIdCredential* cred) const {
  if (!identity || !identity->credential) return make_error_code(SignalingErrc::NotRegistered);
  sig::to_pb(identity->id, source);
  *cred = *identity->credential;
  return ok();
}

asio::awaitable<Result<void>> SignalingClient::Impl::do_register(Identity want, std::uint64_t gen,
                                                                std::shared_ptr<ws::Connection> l, std::uint64_t ep) {
  auto env = sig::make_envelope(next_id());
  auto* req = env.mutable_peer_to_server()->mutable_register_request();
  sig::to_pb(want.id, req->mutable_actr_id());
  if (want.ws_address) req->set_ws_address(*want.ws_address);
  if (want.credential) *req->mutable_previous_credential() = *want.credential;
  auto r = co_await request(std::move(env), std::move(l), ep);
  if (!r) co_return r.error();
  auto reply = server_reply(*r);
  if (!reply) co_return reply.error();
  if (!reply->has_register_response()) co_return protocol_error();
  const auto& rr = reply->register_response();
  if (rr.has_error()) co_return signaling_error_from_wire(rr.error().code());
  if (!rr.has_success()) co_return protocol_error();
  {
    std::lock_guard lk(mu);
    if (closed) co_return closed_error();
    if (identity_gen != gen) co_return make_error_code(NetworkError::Cancelled);  // superseded
    want.credential = rr.success().credential();
    // Renew with three quarters of the credential's life gone (HEAD renews before expiry too);
    // the claims are the server's own, read here only for their expiry.
    const auto& c = rr.success().credential();
    auto claims = IdentityClaims::from_protobuf(ConstBytes(reinterpret_cast<const std::uint8_t*>(c.claims().data()), c.claims().size()));
    const auto now = unix_now();
    want.renew_at = claims && claims->expires_at > now ? now + (claims->expires_at - now) * 3 / 4 : 0;
    if (rr.success().has_signing_pubkey()) {
      const auto& pk = rr.success().signing_pubkey();
      auto vk = VerifyingKey::from_raw(rr.success().signing_key_id(),
                                       ConstBytes(reinterpret_cast<const std::uint8_t*>(pk.data()), pk.size()));
      if (vk) server_key = std::move(*vk);
    }
    identity = std::move(want);
    const milliseconds suggested(rr.success().heartbeat_interval_ms());
    heartbeat = suggested.count() > 0 && suggested < cfg.heartbeat_interval ? suggested : cfg.heartbeat_interval;
  }
  registrations.fetch_add(1);
  changed.notify();
  co_return ok();
}

// ---- inbound (on the link's strand) ------------------------------------------------------------

void SignalingClient::Impl::on_message(std::uint64_t ep, ConstBytes data, bool binary) {
  last_inbound.store(Clock::now().time_since_epoch().count());
  if (!binary) {
    spdlog::warn("actr: signaling server sent a text frame; ignored");
    return;
  }
  std::string id;
  auto env = sig::decode(data, &id);
  if (!env) {
    static detail::LogLimiter bad;
    if (const auto nth = bad.tick())
      spdlog::warn("actr: bad envelope from the signaling server ({}); ignored ({} so far)", env.error().message(), nth);
    return;
  }
  if (env->has_reply_for()) {
    std::shared_ptr<Pending> p;
    {
      std::lock_guard lk(mu);
      if (auto it = pending.find(env->reply_for()); it != pending.end()) {
        p = it->second;
        pending.erase(it);
      }
    }
    if (p) {
      (void)p->reply.try_push(std::move(*env));
      return;
    }
  }
  {
    std::lock_guard lk(mu);
    if (ep != epoch) return;  // a push on a link we already replaced
  }
  if (env->has_actr_relay()) {
    deliver_relay(env->actr_relay());
  } else if (env->has_envelope_error()) {
    const auto code = signaling_error_from_wire(env->envelope_error().code());
    if (code == SignalingErrc::NotRegistered) rereg.notify();  // e.g. expired: register again
    spdlog::debug("actr: signaling error for '{}': {}", env->reply_for(), env->envelope_error().message());
    if (!errors.try_push(SignalingErrorEvent{env->reply_for(), code, env->envelope_error().message()}))
      dropped.fetch_add(1);
  }  // anything else is a late reply to a request that gave up
}

// Role assignments, peer restarts and departures come from the server; every other payload was written by
// the peer and carries its credential, forwarded unchanged by the server.
bool SignalingClient::Impl::relay_verified(const pb::ActrRelay& relay, const ActrId& from) {
  std::shared_ptr<KeyRing> keys;
  std::optional<VerifyingKey> server;
  {
    std::lock_guard lk(mu);
    keys = relay_keys;
    if (relay_trust_server_key) server = server_key;
  }
  if (!keys || relay.has_peer_restarted() || relay.has_peer_gone()) return true;
  if (!relay.has_credential()) return false;
  const Credential cred = sig::from_pb(relay.credential());
  auto claims = keys->verify(cred, from);
  if (!claims && claims.error() == NetworkError::UnknownSigningKey && server && server->key_id() == cred.key_id) {
    keys->add(*server);
    claims = keys->verify(cred, from);
  }
  return static_cast<bool>(claims);
}

void SignalingClient::Impl::deliver_relay(const pb::ActrRelay& relay) {
  const ActrId from = sig::from_pb(relay.source());
  if (relay.has_role_assignment()) {
    const auto& a = relay.role_assignment();
    if (!roles.try_push(RoleAssignmentEvent{from, a.is_offerer(), a.remote_fixed()})) dropped.fetch_add(1);
    return;
  }
  if (!relay_verified(relay, from)) {
    const auto nth = refused_relays.fetch_add(1) + 1;
    if (detail::nth_is_logged(nth))
      spdlog::warn("actr: relayed signal from {} without a valid credential; dropped ({} so far)", from.to_string(), nth);
    return;
  }
  auto s = sig::from_relay(relay);
  if (!s) {
    static detail::LogLimiter unsupported;
    if (const auto nth = unsupported.tick())
      spdlog::info("actr: unsupported relay payload from {}; ignored ({} so far)", from.to_string(), nth);
    return;
  }
  std::shared_ptr<SignalInbox> box;
  {
    std::lock_guard lk(mu);
    if (auto it = inboxes.find(from); it != inboxes.end()) box = it->second;
  }
  auto& q = box ? *box : default_inbox;
  if (!q.try_push(InboundSignal{from, std::move(*s)})) {
    dropped.fetch_add(1);
    if (const auto nth = dropped.load(); detail::nth_is_logged(nth))
      spdlog::warn("actr: inbox for {} is full; signal dropped ({} so far)", from.to_string(), nth);
  }
}

// The link of epoch `ep` died: its pending requests fail now, not at their deadlines.
void SignalingClient::Impl::on_closed(std::uint64_t ep, const Error& why) {
  std::vector<std::shared_ptr<Pending>> failed;
  {
    std::lock_guard lk(mu);
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->second->epoch == ep) {
        failed.push_back(it->second);
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    if (ep == epoch) link.reset();
  }
  spdlog::debug("actr: signaling link {} closed: {}", ep, why.message());
  for (auto& p : failed) p->reply.close();
  changed.notify();
}

// ---- public ----------------------------------------------------------------------------------------

SignalingClient::SignalingClient(asio::any_io_executor ex, SignalingClientConfig cfg)
    : impl_((Backoff::validate(cfg.reconnect_backoff), std::make_shared<Impl>(std::move(ex), std::move(cfg)))) {}

SignalingClient::~SignalingClient() {
  if (auto l = impl_->shutdown()) l->abort();
}

asio::awaitable<Result<void>> SignalingClient::register_actor(ActrId id, std::optional<std::string> ws_address) {
  auto impl = impl_;
  std::shared_ptr<ws::Connection> l;
  std::uint64_t ep = 0, gen = 0;
  Identity want{std::move(id), std::move(ws_address), std::nullopt};
  {
    std::lock_guard lk(impl->mu);
    if (impl->closed) co_return make_error_code(NetworkError::ShuttingDown);
    if (impl->identity && impl->identity->id != want.id) co_return make_error_code(NetworkError::InvalidOperation);
    if (impl->identity) want.credential = impl->identity->credential;
    l = impl->link;
    ep = impl->epoch;
    gen = ++impl->identity_gen;
  }
  if (!l) co_return closed_error();
  co_return co_await impl->do_register(std::move(want), gen, std::move(l), ep);
}

Result<void> SignalingClient::use_identity(ActrId id, Credential credential, std::optional<std::string> ws_address) {
  auto impl = impl_;
  std::lock_guard lk(impl->mu);
  if (impl->closed) return make_error_code(NetworkError::ShuttingDown);
  if (impl->identity && impl->identity->id != id) return make_error_code(NetworkError::InvalidOperation);
  if (!ws_address && impl->identity) ws_address = impl->identity->ws_address;
  Identity want{std::move(id), std::move(ws_address), pb::AIdCredential{}};
  sig::to_pb(credential, &*want.credential);
  const auto claims = credential.unverified_claims();
  const auto now = unix_now();
  want.renew_at = claims && claims->expires_at > now ? now + (claims->expires_at - now) * 3 / 4 : 0;
  impl->identity = std::move(want);
  ++impl->identity_gen;
  return ok();
}

asio::awaitable<Result<void>> SignalingClient::unregister() {
  auto impl = impl_;
  std::shared_ptr<ws::Connection> l;
  auto env = sig::make_envelope(impl->next_id());
  {
    std::lock_guard lk(impl->mu);
    auto* m = env.mutable_actr_to_server();
    if (impl->sign_locked(m->mutable_source(), m->mutable_credential())) l = impl->link;
    if (impl->identity) sig::to_pb(impl->identity->id, m->mutable_unregister_request()->mutable_actr_id());
    m->mutable_unregister_request()->set_reason("unregister");
    impl->identity.reset();
    ++impl->identity_gen;
  }
  if (l) (void)l->send(sig::encode(env));  // fire and forget, as actr
  co_return ok();
}

// discover, route_candidates, signing_key: client_queries.cpp.

asio::awaitable<Result<bool>> SignalingClient::negotiate_role(const ActrId& peer) {
  auto impl = impl_;
  auto env = sig::make_envelope(impl->next_id());
  std::shared_ptr<ws::Connection> l;
  std::uint64_t ep = 0;
  {
    std::lock_guard lk(impl->mu);
    auto* relay = env.mutable_actr_relay();
    auto s = impl->sign_locked(relay->mutable_source(), relay->mutable_credential());
    if (!s) co_return bool_error(s.error());
    sig::to_pb(peer, relay->mutable_target());
    auto* rn = relay->mutable_role_negotiation();
    *rn->mutable_from() = relay->source();
    *rn->mutable_to() = relay->target();
    rn->set_realm_id(impl->identity->id.realm.realm_id);
    l = impl->link;
    ep = impl->epoch;
  }
  auto r = co_await impl->request(std::move(env), std::move(l), ep);
  if (!r) co_return bool_error(r.error());
  if (r->has_envelope_error()) co_return bool_error(signaling_error_from_wire(r->envelope_error().code()));
  if (!r->has_actr_relay() || !r->actr_relay().has_role_assignment()) co_return bool_error(protocol_error());
  co_return r->actr_relay().role_assignment().is_offerer();
}

asio::awaitable<Result<void>> SignalingClient::send_signal(const ActrId& to, PeerSignal signal) {
  auto impl = impl_;
  auto env = sig::make_envelope(impl->next_id());
  auto* relay = env.mutable_actr_relay();
  auto filled = sig::to_relay(signal, relay);
  if (!filled) co_return filled.error();
  sig::to_pb(to, relay->mutable_target());
  std::shared_ptr<ws::Connection> l;
  {
    std::lock_guard lk(impl->mu);
    if (impl->closed || !impl->link) co_return closed_error();
    if (!impl->sign_locked(relay->mutable_source(), relay->mutable_credential()))
      co_return make_error_code(NetworkError::InvalidOperation);
    l = impl->link;
  }
  co_return l->send(sig::encode(env));
}

asio::awaitable<Result<InboundSignal>> SignalingClient::next_signal(Deadline deadline) {
  auto impl = impl_;
  co_return co_await impl->default_inbox.pop(deadline);
}

std::shared_ptr<SignalInbox> SignalingClient::open_inbox(const ActrId& peer) {
  std::lock_guard lk(impl_->mu);
  auto& box = impl_->inboxes[peer];
  if (!box) {
    box = std::make_shared<SignalInbox>(impl_->cfg.inbox_capacity);
    if (impl_->closed) box->close();
  }
  return box;
}

void SignalingClient::close_inbox(const ActrId& peer) {
  std::shared_ptr<SignalInbox> box;
  {
    std::lock_guard lk(impl_->mu);
    auto it = impl_->inboxes.find(peer);
    if (it == impl_->inboxes.end()) return;
    box = std::move(it->second);
    impl_->inboxes.erase(it);
  }
  box->close();
}

asio::awaitable<Result<RoleAssignmentEvent>> SignalingClient::next_role_assignment(Deadline deadline) {
  auto impl = impl_;
  co_return co_await impl->roles.pop(deadline);
}

asio::awaitable<Result<SignalingErrorEvent>> SignalingClient::next_error(Deadline deadline) {
  auto impl = impl_;
  co_return co_await impl->errors.pop(deadline);
}

asio::awaitable<Result<void>> SignalingClient::wait_registered(std::uint64_t seen, Deadline deadline) {
  auto impl = impl_;
  for (;;) {
    const auto v = impl->changed.version();
    if (impl->registrations.load() > seen) co_return ok();
    if (impl->is_closed()) co_return make_error_code(NetworkError::ShuttingDown);
    {
      std::lock_guard lk(impl->mu);  // impl, not this: the client may go away while we wait
      if (impl->terminal) co_return impl->terminal;
    }
    auto w = co_await impl->changed.async_wait_change(v, deadline);
    if (!w) co_return w.error();
  }
}

std::uint64_t SignalingClient::registrations() const noexcept { return impl_->registrations.load(); }
std::optional<Credential> SignalingClient::credential() const {
  std::lock_guard lk(impl_->mu);
  if (!impl_->identity || !impl_->identity->credential) return std::nullopt;
  return sig::from_pb(*impl_->identity->credential);
}

std::optional<VerifyingKey> SignalingClient::server_signing_key() const {
  std::lock_guard lk(impl_->mu);
  return impl_->server_key;
}

Error SignalingClient::terminal_error() const {
  std::lock_guard lk(impl_->mu);
  return impl_->terminal;
}

SignalingState SignalingClient::state() const noexcept { return impl_->state.load(); }
void SignalingClient::verify_relays(std::shared_ptr<KeyRing> keys, bool trust_server_key) {
  std::lock_guard lk(impl_->mu);
  impl_->relay_keys = std::move(keys);
  impl_->relay_trust_server_key = trust_server_key;
}

std::uint64_t SignalingClient::refused_relays() const noexcept { return impl_->refused_relays.load(); }
std::uint64_t SignalingClient::dropped_signals() const noexcept { return impl_->dropped.load(); }
std::uint64_t SignalingClient::pongs() const noexcept { return impl_->pongs.load(); }

asio::awaitable<void> SignalingClient::close() {
  auto impl = impl_;
  auto l = impl->shutdown();
  const auto deadline = Clock::now() + impl->cfg.close_timeout;
  if (l) l->close();
  (void)co_await impl->tasks.async_wait_idle(deadline);
  if (l) {
    auto done = co_await l->wait_closed(deadline);
    if (!done) l->abort();
  }
}

}  // namespace actr
