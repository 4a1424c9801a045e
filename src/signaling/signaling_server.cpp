// The signaling and discovery server: accept loop, registry, dispatch of each client's envelopes,
// the public API. Identity is server_register.cpp, queries server_queries.cpp, relays and roles
// server_relay.cpp, several servers server_cluster.cpp. Each connection is a `ws::Connection`
// (the shared WebSocket layer, src/wire/websocket/ws_conn.hpp) on its own strand; its handler
// runs there, one message at a time, and never blocks on a client (every send is a bounded,
// non-waiting enqueue; only an engine round trip of a registration is awaited). The registry is
// one leaf mutex, never held across a send. Plain HTTP requests on the listener go to the AIS
// (ais_handler.cpp), which shares only the issuer.
#include "signaling/server_impl.hpp"

namespace actr {

using namespace actr::detail;
using namespace actr::sig;
using tcp = asio::ip::tcp;

// Session, Entry and Impl: server_impl.hpp.

// ---- accept, upgrade, expiry -------------------------------------------------------------------

asio::awaitable<void> SignalingServer::Impl::accept_loop(std::shared_ptr<tcp::acceptor> acceptor) {
  auto self = shared_from_this();
  co_await asio::this_coro::throw_if_cancelled(false);
  std::uint64_t failing = 0;  // consecutive accept failures
  for (;;) {
    auto [ec, sock] = co_await acceptor->async_accept(use_ec);
    if (closed.load()) break;
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      // e.g. EMFILE: keep serving, and say so once per power of two (not 20 lines a second).
      ++failing;
      if (detail::nth_is_logged(failing))
        spdlog::warn("actr signal: accept failed ({} in a row): {}", failing, ec.message());
      asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds{50});
      auto [pec] = co_await pause.async_wait(use_ec);
      if (pec) break;
      continue;
    }
    if (failing) spdlog::info("actr signal: accepting again after {} failed accepts", std::exchange(failing, 0));
    IpLimiter::Lease lease;
    const auto verdict = sig::admit(*ip_limiter, sock, lease);
    auto holder = std::make_shared<tcp::socket>(std::move(sock));
    if (verdict != IpVerdict::Admit) {
      const auto n = ip_refused.fetch_add(1) + 1;
      if (detail::nth_is_logged(n))
        spdlog::warn("actr signal: connection refused by the per-address limits ({}); {} refused so far",
                     to_string(verdict), n);
      tasks.spawn("signaling-refuse", [holder, verdict, tls = cfg.tls != nullptr]() {
        return sig::refuse(std::move(*holder), verdict, tls);
      });
      continue;
    }
    tasks.spawn("signaling-upgrade", [self, holder, lease]() { return self->upgrade(std::move(*holder), lease); });
  }
  boost::system::error_code ignored;
  acceptor->close(ignored);
}

asio::awaitable<void> SignalingServer::Impl::upgrade(tcp::socket accepted, IpLimiter::Lease lease) {
  auto self = shared_from_this();
  // The connection lives on this task's strand: move the accepted descriptor onto it, so the
  // group's cancellation and every later operation are on the same strand.
  auto strand = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  const auto protocol = accepted.local_endpoint(ec).protocol();
  if (ec) co_return;
  tcp::socket sock(strand);
  sock.assign(protocol, accepted.release(ec), ec);
  if (ec) co_return;
  ws::PlainHttp plain{.max_body = cfg.ais_max_body, .serve = [ais = ais](const ws::PlainRequest& r) {
                        return ais->serve(r);
                      }};
  // The URL identity is checked before the upgrade completes: a refused client gets HTTP 401.
  std::optional<sig::UrlIdentity> who;
  auto check = [this, &who](const ws::HeaderLookup& header) { return check_url(header, who); };
  auto link = co_await ws::accept(std::move(sock), link_cfg, std::move(check), std::move(plain));
  if (!link) {
    spdlog::debug("actr signal: upgrade failed: {}", link.error().message());
    co_return;
  }
  if (!*link) co_return;  // a plain HTTP request (the AIS), answered
  auto session = std::make_shared<Session>();
  session->id = next_session.fetch_add(1);
  session->link = *link;
  session->lease = std::move(lease);
  if (who) {
    session->url_id = who->id;
    session->answer = who->answer;
    session->instance = who->instance;
  }
  {
    std::lock_guard lk(mu);
    if (!closed.load()) sessions.emplace(session->id, session);
  }
  if (closed.load()) {
    session->link->abort();
    co_return;
  }
  std::optional<std::string> unbound;
  if (session->url_id) unbound = co_await bind_url(session, *who->credential);
  std::weak_ptr<Impl> weak = self;
  std::weak_ptr<Session> weak_session = session;
  session->link->start_async(
      [weak, weak_session](ConstBytes data, bool binary) -> asio::awaitable<Result<void>> {
        auto impl = weak.lock();
        auto s = weak_session.lock();
        if (impl && s) co_return co_await impl->on_message(std::move(s), data, binary);
        co_return Result<void>{};
      },
      [weak, weak_session](const Error&) {
        auto impl = weak.lock();
        auto s = weak_session.lock();
        if (impl && s) impl->on_closed(s);
      });
  if (unbound) {
    refuse(session, "", SignalingErrc::AlreadyRegistered, *unbound);
    session->link->close();
  }
}

asio::awaitable<void> SignalingServer::Impl::sweeper() {
  auto self = shared_from_this();
  co_await asio::this_coro::throw_if_cancelled(false);
  const auto period = std::max(cfg.registration_ttl / 4, std::chrono::milliseconds{5});
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(use_ec);
    if (ec || closed.load()) co_return;
    sweep();
  }
}

void SignalingServer::Impl::sweep() {
  std::vector<std::pair<ActrId, std::shared_ptr<Session>>> gone;
  const auto now = Clock::now();
  ip_limiter->sweep(now);  // addresses with nothing open and a full bucket are forgotten
  {
    std::lock_guard lk(mu);
    for (auto it = contacts.begin(); it != contacts.end();) {
      if (entries.count(it->first)) {
        (it++)->second.seen = now;
      } else if (now - it->second.seen > cfg.contact_ttl) {
        it = contacts.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = entries.begin(); it != entries.end();) {
      if (now - it->second.last_seen > cfg.registration_ttl) {
        gone.emplace_back(it->first, it->second.session);
        by_session.erase(it->second.session->id);
        it = entries.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [id, s] : gone) {
    expired.fetch_add(1);
    spdlog::info("actr signal: registration of {} expired", id.to_string());
    refuse(s, "", SignalingErrc::NotRegistered, "registration expired (no heartbeat)");
  }
}

void SignalingServer::Impl::on_closed(const std::shared_ptr<Session>& s) {
  end_registration(s);
  std::lock_guard lk(mu);
  sessions.erase(s->id);
}

void SignalingServer::Impl::end_registration(const std::shared_ptr<Session>& s) {
  std::optional<ActrId> gone;
  {
    std::lock_guard lk(mu);
    auto it = by_session.find(s->id);
    if (it == by_session.end()) return;
    // Compare-and-act: a newer connection may hold this id already (then nobody left).
    auto e = entries.find(it->second);
    if (e != entries.end() && e->second.session == s) {
      entries.erase(e);
      gone = it->second;
    }
    by_session.erase(it);
  }
  if (!gone || closed.load()) return;
  if (cluster && cluster->up()) {
    // Gone only if nobody holds it now: a client whose link to us broke may have registered
    // through another server before we noticed (then its peers must hear nothing).
    cluster->release(*gone, [weak = weak_from_this(), id = *gone](bool released) {
      auto self = weak.lock();
      if (self && released && !self->closed.load()) self->announce(id, Notice::Gone);
    });
    return;
  }
  announce(*gone, Notice::Gone);
}

void SignalingServer::Impl::evict(const ActrId& id, const std::string& why, const std::shared_ptr<Session>& only) {
  std::shared_ptr<Session> victim;
  {
    std::lock_guard lk(mu);
    auto e = entries.find(id);
    if (e == entries.end() || (only && e->second.session != only)) return;
    victim = e->second.session;
    by_session.erase(victim->id);
    entries.erase(e);
  }
  spdlog::info("actr signal: {} {}", id.to_string(), why);
  refuse(victim, "", SignalingErrc::NotRegistered, why);
  victim->link->close();
}

// ---- sending -------------------------------------------------------------------------------------

bool SignalingServer::Impl::deliver(const std::shared_ptr<Session>& s, const pb::SignalingEnvelope& env) {
  auto r = s->link->send(sig::encode(env));
  if (r) return true;
  if (r.error() == NetworkError::QueueFull) {
    slow_dropped.fetch_add(1);
    if (const auto nth = slow_dropped.load(); nth_is_logged(nth))
      spdlog::warn("actr signal: dropping connection {}: its outbound queue is full (it does not read); {} so far",
                   s->id, nth);
    s->link->abort();  // on_closed unregisters it
  }
  return false;
}

void SignalingServer::Impl::refuse(const std::shared_ptr<Session>& s, const std::string& reply_for, SignalingErrc code,
                                   std::string why) {
  errors_sent.fetch_add(1);
  (void)deliver(s, sig::make_error(envelope_id(), reply_for, code, std::move(why)));
}

// ---- handling ------------------------------------------------------------------------------------

asio::awaitable<Result<void>> SignalingServer::Impl::on_message(std::shared_ptr<Session> s, ConstBytes data,
                                                                bool binary) {
  if (!binary) {
    refuse(s, "", SignalingErrc::Malformed, "text frames are not accepted; send binary protobuf");
    co_return Result<void>{};
  }
  std::string id;
  auto env = sig::decode(data, &id);
  if (!env) {
    refuse(s, id, static_cast<SignalingErrc>(env.error().value()), env.error().message());
    co_return Result<void>{};
  }
  switch (env->flow_case()) {
    case pb::SignalingEnvelope::kPeerToServer:
      co_await handle_register(s, std::move(*env));
      co_return Result<void>{};
    case pb::SignalingEnvelope::kActrToServer: handle_actr(s, *env); co_return Result<void>{};
    case pb::SignalingEnvelope::kActrRelay: handle_relay(s, *env); co_return Result<void>{};
    case pb::SignalingEnvelope::kEnvelopeError:
      // Never answer an error with an error (no ping-pong between two confused ends).
      if (const auto nth = reported.tick())
        spdlog::info("actr signal: connection {} reports error {}: {} ({} so far)", s->id, env->envelope_error().code(),
                     env->envelope_error().message(), nth);
      co_return Result<void>{};
    case pb::SignalingEnvelope::kServerToActr:
    case pb::SignalingEnvelope::FLOW_NOT_SET:
      break;
  }
  refuse(s, env->envelope_id(), SignalingErrc::Malformed, "unexpected flow from a client");
  co_return Result<void>{};
}

std::shared_ptr<Session> SignalingServer::Impl::session_of(const ActrId& id) const {
  std::lock_guard lk(mu);
  auto it = entries.find(id);
  return it == entries.end() ? nullptr : it->second.session;
}

void SignalingServer::Impl::handle_actr(const std::shared_ptr<Session>& s, const pb::SignalingEnvelope& env) {
  const auto& rid = env.envelope_id();
  const auto& m = env.actr_to_server();
  auto src = authenticate(*s, m.source(), m.credential());
  if (!src) {
    refuse(s, rid, static_cast<SignalingErrc>(src.error().value()), src.error().message());
    return;
  }
  auto reply = sig::make_envelope(envelope_id());
  reply.set_reply_for(rid);
  auto* out = reply.mutable_server_to_actr();
  sig::to_pb(*src, out->mutable_target());
  switch (m.payload_case()) {
    case pb::ActrToSignaling::kPing: {
      auto* pong = out->mutable_pong();
      pong->set_seq(++s->pongs);  // handlers of one connection run on its strand
      const auto ms = cfg.heartbeat_interval.count();
      pong->set_suggest_interval_secs(static_cast<std::uint32_t>(std::max<long long>(1, (ms + 999) / 1000)));
      (void)deliver(s, reply);
      return;
    }
    case pb::ActrToSignaling::kUnregisterRequest: {
      if (sig::from_pb(m.unregister_request().actr_id()) != *src) {
        refuse(s, rid, SignalingErrc::SourceMismatch, "unregister_request.actr_id is not the source");
        return;
      }
      spdlog::info("actr signal: {} unregistered", src->to_string());
      end_registration(s);
      return;  // fire and forget, as actr
    }
    case pb::ActrToSignaling::kError:
      // Never answer an error with an error (no ping-pong between two confused ends).
      if (const auto nth = reported.tick())
        spdlog::info("actr signal: {} reports error {}: {} ({} so far)", src->to_string(), m.error().code(),
                     m.error().message(), nth);
      return;
    case pb::ActrToSignaling::kDiscoveryRequest:
    case pb::ActrToSignaling::kRouteCandidatesRequest:
    case pb::ActrToSignaling::kGetSigningKeyRequest:
    case pb::ActrToSignaling::kLocateRequest:
      if (cluster && !m.has_get_signing_key_request()) {  // every server's registrations
        tasks.spawn("signaling-query", [self = shared_from_this(), s, reply, src = *src, m]() mutable {
          return self->answer_from_engine(std::move(s), std::move(reply), std::move(src), std::move(m));
        });
      } else if (answer_query(*src, m, out)) {
        (void)deliver(s, reply);
      }
      return;
    case pb::ActrToSignaling::PAYLOAD_NOT_SET:
      break;
  }
  refuse(s, rid, SignalingErrc::Malformed, "actr_to_server without a payload");
}

// ---- public --------------------------------------------------------------------------------------

SignalingServer::SignalingServer(asio::any_io_executor ex, SignalingServerConfig cfg)
    : impl_(std::make_shared<Impl>(std::move(ex), cfg)) {}

SignalingServer::~SignalingServer() {
  impl_->closed.store(true);
  impl_->tasks.close();
  if (impl_->cluster) impl_->cluster->stop();
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lk(impl_->mu);
    for (auto& [id, s] : impl_->sessions) live.push_back(s);
  }
  for (auto& s : live) s->link->abort();
}

Result<std::uint16_t> SignalingServer::listen(const std::string& host, std::uint16_t port) {
  if (impl_->closed.load()) return make_error_code(NetworkError::ShuttingDown);
  if (impl_->cfg.cluster && !signaling_cluster_url_valid(*impl_->cfg.cluster))
    return make_error_code(NetworkError::InvalidArgument);
  if (impl_->listening.exchange(true)) return make_error_code(NetworkError::InvalidOperation);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return make_error_code(NetworkError::InvalidArgument);
  tcp::endpoint ep(addr, port);
  auto acceptor = std::make_shared<tcp::acceptor>(impl_->ex);
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ec;
  const auto bound = acceptor->local_endpoint(ec).port();
  if (ec) return ec;
  auto impl = impl_;
  if (impl->cfg.cluster) impl->start_cluster();  // before the first connection is accepted
  impl->tasks.spawn("signaling-accept", [impl, acceptor]() { return impl->accept_loop(acceptor); });
  impl->tasks.spawn("signaling-sweeper", [impl]() { return impl->sweeper(); });
  return bound;
}

asio::awaitable<void> SignalingServer::close() {
  auto impl = impl_;
  impl->closed.store(true);
  impl->tasks.close();
  const auto deadline = Clock::now() + impl->cfg.close_timeout;
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lk(impl->mu);
    for (auto& [id, s] : impl->sessions) live.push_back(s);
  }
  for (auto& s : live) s->link->close();
  // Our registrations are left in the engine: their clients move to another server with their
  // credentials (taking them over at once), or the records expire with `cluster_ttl`.
  if (impl->cluster) impl->cluster->stop();
  (void)co_await impl->tasks.async_wait_idle(deadline);
  for (auto& s : live) {
    auto done = co_await s->link->wait_closed(deadline);
    if (!done) s->link->abort();
  }
  // Every connection is closed now; their on_closed handlers may still be queued on their strands.
  std::lock_guard lk(impl->mu);
  impl->sessions.clear();
}

SignalingServerStats SignalingServer::stats() const {
  SignalingServerStats st;
  {
    std::lock_guard lk(impl_->mu);
    st.connections = impl_->sessions.size();
    st.registered = impl_->entries.size();
    st.contacts = impl_->contacts.size();
    st.ais_addresses = impl_->ais_addresses.size();
  }
  st.registrations = impl_->registrations.load();
  st.relayed = impl_->relayed.load();
  st.errors_sent = impl_->errors_sent.load();
  st.slow_dropped = impl_->slow_dropped.load();
  st.expired = impl_->expired.load();
  st.ais_issued = impl_->ais->issued();
  st.ais_refused = impl_->ais->refused();
  st.ip_refused = impl_->ip_refused.load();
  st.identity_refused = impl_->identity_refused.load();
  st.ip_tracked = impl_->ip_limiter->tracked();
  if (const auto& c = impl_->cluster) {
    st.cluster_up = c->up();
    st.cluster_connects = c->connects();
    st.cluster_published = c->published();
    st.cluster_received = c->received();
  }
  st.cluster_refused = impl_->cluster_refused.load();
  return st;
}

bool SignalingServer::is_registered(const ActrId& id) const { return impl_->session_of(id) != nullptr; }

std::shared_ptr<CredentialIssuer> SignalingServer::issuer() const { return impl_->issuer; }

}  // namespace actr
