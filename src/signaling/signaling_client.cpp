// The signaling client: requests correlated by envelope id, a supervisor that reconnects and
// re-registers, a heartbeat, and inbound relays sorted into bounded inboxes. Not a Beast TU: the
// WebSocket is a `sig::Link`.
#include <actr/detail/task_group.hpp>
#include <actr/error.hpp>
#include <actr/signaling_client.hpp>

#include "detail/asio.hpp"
#include "signaling/envelope.hpp"
#include "signaling/ws_link.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace actr {

using namespace actr::detail;
using std::chrono::milliseconds;

namespace {
struct Pending {
  explicit Pending(std::uint64_t e) : epoch(e) {}
  const std::uint64_t epoch;  // the link the request went out on
  AsyncQueue<pb::SignalingEnvelope> reply{1};  // closed (without a reply) when the link drops
};

// The outcome of connect()'s first dial. Not constructible from an Error on purpose: a queue item
// that is would make `Result<item>` ambiguous.
class FirstAttempt {
 public:
  static FirstAttempt of(Error e) {
    FirstAttempt f;
    f.ec_ = e;
    return f;
  }
  const Error& ec() const { return ec_; }

 private:
  Error ec_;
};

struct Identity {
  ActrId id;
  std::optional<std::string> ws_address;
  std::optional<pb::AIdCredential> credential;  // set once the server accepted it
};

Error closed_error() { return make_error_code(NetworkError::ConnectionClosed); }
Error protocol_error() { return make_error_code(NetworkError::ProtocolError); }
// Result<bool> cannot be built from an error_code implicitly (error_code converts to bool).
Result<bool> bool_error(const Error& e) { return Result<bool>(boost::system::in_place_error, e); }

// The server's answer to a request, or the error it sent instead.
Result<pb::SignalingToActr> server_reply(const pb::SignalingEnvelope& env) {
  if (env.has_envelope_error()) return signaling_error_from_wire(env.envelope_error().code());
  if (!env.has_server_to_actr()) return protocol_error();
  return env.server_to_actr();
}

asio::awaitable<bool> was_cancelled() {
  auto cs = co_await asio::this_coro::cancellation_state;
  co_return cs.cancelled() != asio::cancellation_type::none;
}
}  // namespace

struct SignalingClient::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor e, SignalingClientConfig c)
      : ex(std::move(e)), cfg(std::move(c)),
        link_cfg{cfg.max_message_size, cfg.connect_timeout, cfg.keepalive_interval, cfg.close_timeout,
                 cfg.send_queue_limit},
        tasks(ex), default_inbox(cfg.inbox_capacity), roles(cfg.inbox_capacity), errors(cfg.inbox_capacity),
        heartbeat(cfg.heartbeat_interval) {}

  asio::any_io_executor ex;
  const SignalingClientConfig cfg;
  sig::LinkConfig link_cfg;
  TaskGroup tasks;  // supervisor, heartbeat
  SignalInbox default_inbox;
  AsyncQueue<RoleAssignmentEvent> roles;
  AsyncQueue<SignalingErrorEvent> errors;
  Notifier changed;  // link, state, registrations or closed changed
  Notifier rereg;    // the server says we are not registered (any more)
  std::atomic<SignalingState> state{SignalingState::Disconnected};
  std::atomic<std::uint64_t> registrations{0}, dropped{0}, pongs{0}, next_env{1};

  mutable std::mutex mu;  // guards everything below; a leaf: no await, send or callback under it
  bool closed = false;
  bool started = false;
  std::string url;
  std::shared_ptr<sig::Link> link;  // where sends go; registered whenever we have an identity
  std::uint64_t epoch = 0;          // the newest link; inbound pushes from older links are ignored
  std::uint64_t epochs = 0;
  std::optional<Identity> identity;
  std::uint64_t identity_gen = 0;  // bumped by register_actor/unregister: older registrations lose
  milliseconds heartbeat;
  std::unordered_map<std::string, std::shared_ptr<Pending>> pending;
  std::unordered_map<ActrId, std::shared_ptr<SignalInbox>> inboxes;

  std::string next_id() { return "env-" + std::to_string(next_env.fetch_add(1)); }
  void set_state(SignalingState s) {
    state.store(s);
    changed.notify();
  }
  bool is_closed() const {
    std::lock_guard lk(mu);
    return closed;
  }

  // Sends `env` on `l` and waits for the envelope whose reply_for names it.
  asio::awaitable<Result<pb::SignalingEnvelope>> request(pb::SignalingEnvelope env, std::shared_ptr<sig::Link> l,
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
  Result<void> sign_locked(pb::ActrId* source, pb::AIdCredential* cred) const {
    if (!identity || !identity->credential) return make_error_code(SignalingErrc::NotRegistered);
    sig::to_pb(identity->id, source);
    *cred = *identity->credential;
    return ok();
  }

  asio::awaitable<Result<void>> do_register(Identity want, std::uint64_t gen, std::shared_ptr<sig::Link> l,
                                            std::uint64_t ep) {
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
      identity = std::move(want);
      const milliseconds suggested(rr.success().heartbeat_interval_ms());
      heartbeat = suggested.count() > 0 && suggested < cfg.heartbeat_interval ? suggested : cfg.heartbeat_interval;
    }
    registrations.fetch_add(1);
    changed.notify();
    co_return ok();
  }

  // ---- inbound (on the link's strand) ----------------------------------------------------------

  void on_message(std::uint64_t ep, const Bytes& data, bool binary) {
    if (!binary) {
      spdlog::warn("actr: signaling server sent a text frame; ignored");
      return;
    }
    std::string id;
    auto env = sig::decode(data, &id);
    if (!env) {
      spdlog::warn("actr: bad envelope from the signaling server ({}); ignored", env.error().message());
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

  void deliver_relay(const pb::ActrRelay& relay) {
    const ActrId from = sig::from_pb(relay.source());
    if (relay.has_role_assignment()) {
      const auto& a = relay.role_assignment();
      if (!roles.try_push(RoleAssignmentEvent{from, a.is_offerer(), a.remote_fixed()})) dropped.fetch_add(1);
      return;
    }
    auto s = sig::from_relay(relay);
    if (!s) {
      spdlog::info("actr: unsupported relay payload from {}; ignored", from.to_string());
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
      spdlog::warn("actr: inbox for {} is full; signal dropped", from.to_string());
    }
  }

  // The link of epoch `ep` died: its pending requests fail now, not at their deadlines.
  void on_closed(std::uint64_t ep, const Error& why) {
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

  // ---- tasks -----------------------------------------------------------------------------------

  // Dials, registers again if we have an identity, and publishes the link. Runs on the
  // supervisor's strand, which becomes the link's strand.
  asio::awaitable<Result<void>> attach() {
    std::string u;
    {
      std::lock_guard lk(mu);
      if (closed) co_return make_error_code(NetworkError::ShuttingDown);
      u = url;
    }
    auto dialed = co_await sig::dial_link(u, link_cfg);
    if (!dialed) co_return dialed.error();
    auto l = *dialed;
    std::uint64_t ep = 0, gen = 0;
    std::optional<Identity> who;
    {
      std::lock_guard lk(mu);
      if (!closed) {
        ep = epoch = ++epochs;
        who = identity;
        gen = identity_gen;
      }
    }
    const bool cancelled = co_await was_cancelled();
    if (ep == 0 || cancelled) {
      l->abort();
      co_return make_error_code(NetworkError::ShuttingDown);
    }
    std::weak_ptr<Impl> weak = shared_from_this();
    l->start([weak, ep](Bytes d, bool binary) {
               if (auto i = weak.lock()) i->on_message(ep, d, binary);
             },
             [weak, ep](const Error& why) {
               if (auto i = weak.lock()) i->on_closed(ep, why);
             });
    if (who) {
      auto r = co_await do_register(*who, gen, l, ep);
      // Cancelled without our task being cancelled: a newer register_actor/unregister won.
      const bool stop = co_await was_cancelled();
      if (!r && (r.error() != NetworkError::Cancelled || stop)) {
        l->abort();
        co_return r.error();
      }
    }
    {
      std::lock_guard lk(mu);
      if (!closed) link = l;
    }
    if (is_closed()) {
      l->abort();
      co_return make_error_code(NetworkError::ShuttingDown);
    }
    set_state(SignalingState::Connected);
    co_return ok();
  }

  asio::awaitable<void> supervise(std::shared_ptr<AsyncQueue<FirstAttempt>> first) {
    auto self = shared_from_this();
    co_await asio::this_coro::throw_if_cancelled(false);
    auto r = co_await attach();
    (void)first->try_push(FirstAttempt::of(r ? Error{} : r.error()));
    if (!r) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
      for (;;) {  // until the link drops
        const auto seen = changed.version();
        {
          std::lock_guard lk(mu);
          if (closed) co_return;
          if (!link) break;
        }
        (void)co_await changed.async_wait_change(seen, Clock::now() + std::chrono::hours(24));
        const bool stop = co_await was_cancelled();
        if (stop) co_return;
      }
      if (!cfg.reconnect) {
        set_state(SignalingState::Disconnected);
        co_return;
      }
      set_state(SignalingState::Reconnecting);
      spdlog::info("actr: signaling link to {} lost; reconnecting", url);
      Backoff backoff(cfg.reconnect_backoff);
      const auto since = Clock::now();
      for (;;) {
        auto delay = backoff.next_delay(std::chrono::duration_cast<milliseconds>(Clock::now() - since));
        if (!delay) {
          spdlog::warn("actr: signaling reconnect to {} gave up after {} attempts", url, backoff.attempts());
          set_state(SignalingState::Disconnected);
          co_return;
        }
        if (delay->count() > 0) {
          timer.expires_after(*delay);
          (void)co_await timer.async_wait(use_ec);
        }
        const bool stop = co_await was_cancelled();
        if (stop || is_closed()) co_return;
        auto a = co_await attach();
        if (a) break;
        const bool stop_after = co_await was_cancelled();
        if (stop_after || is_closed()) co_return;
        spdlog::info("actr: signaling reconnect to {} failed: {}", url, a.error().message());
      }
    }
  }

  asio::awaitable<void> heartbeat_loop() {
    auto self = shared_from_this();
    co_await asio::this_coro::throw_if_cancelled(false);
    for (;;) {
      milliseconds interval;
      {
        std::lock_guard lk(mu);
        if (closed) co_return;
        interval = heartbeat;
      }
      const auto seen = rereg.version();
      auto woke = co_await rereg.async_wait_change(seen, Clock::now() + interval);
      const bool stop = co_await was_cancelled();
      if (stop) co_return;
      bool again = static_cast<bool>(woke);  // the server asked us to register again
      std::shared_ptr<sig::Link> l;
      std::uint64_t ep = 0, gen = 0;
      Identity who;
      auto ping = sig::make_envelope(next_id());
      {
        std::lock_guard lk(mu);
        if (closed) co_return;
        auto* m = ping.mutable_actr_to_server();
        if (!link || !sign_locked(m->mutable_source(), m->mutable_credential())) continue;
        m->mutable_ping();
        l = link;
        ep = epoch;
        gen = identity_gen;
        who = *identity;
      }
      if (!again) {
        auto r = co_await request(std::move(ping), l, ep);
        const bool stop_ping = co_await was_cancelled();
        if (stop_ping) co_return;
        if (!r) {
          if (r.error() == NetworkError::TimeoutError) {
            spdlog::warn("actr: signaling server did not answer a heartbeat; reconnecting");
            l->abort();
          }
          continue;
        }
        auto reply = server_reply(*r);
        if (reply && reply->has_pong()) {
          pongs.fetch_add(1);
          changed.notify();
          continue;
        }
        again = !reply && reply.error() == SignalingErrc::NotRegistered;
      }
      if (again) {
        auto r = co_await do_register(std::move(who), gen, l, ep);
        const bool stop_reg = co_await was_cancelled();
        if (stop_reg) co_return;
        if (!r) spdlog::warn("actr: signaling re-registration failed: {}", r.error().message());
      }
    }
  }

  // Marks the client closed and releases everything that can be released without waiting.
  // Returns the link to close (null on a second call).
  std::shared_ptr<sig::Link> shutdown() {
    std::shared_ptr<sig::Link> l;
    std::vector<std::shared_ptr<Pending>> failed;
    std::vector<std::shared_ptr<SignalInbox>> boxes;
    {
      std::lock_guard lk(mu);
      if (closed) return nullptr;
      closed = true;
      l = std::move(link);
      for (auto& [id, p] : pending) failed.push_back(p);
      pending.clear();
      for (auto& [id, b] : inboxes) boxes.push_back(b);
      inboxes.clear();
    }
    tasks.close();
    for (auto& p : failed) p->reply.close();
    for (auto& b : boxes) b->close();
    default_inbox.close();
    roles.close();
    errors.close();
    set_state(SignalingState::Closed);
    rereg.notify();
    return l;
  }
};

// ---- public ----------------------------------------------------------------------------------------

SignalingClient::SignalingClient(asio::any_io_executor ex, SignalingClientConfig cfg)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(cfg))) {}

SignalingClient::~SignalingClient() {
  if (auto l = impl_->shutdown()) l->abort();
}

asio::awaitable<Result<void>> SignalingClient::connect(std::string url) {
  auto impl = impl_;
  {
    std::lock_guard lk(impl->mu);
    if (impl->closed) co_return make_error_code(NetworkError::ShuttingDown);
    if (impl->started) co_return make_error_code(NetworkError::InvalidOperation);
    impl->started = true;
    impl->url = std::move(url);
  }
  auto first = std::make_shared<AsyncQueue<FirstAttempt>>(1);
  const auto id = impl->tasks.spawn("signaling-supervisor", [impl, first]() { return impl->supervise(first); });
  if (id == 0) co_return make_error_code(NetworkError::ShuttingDown);
  // The dial is bounded by connect_timeout inside; the margin only covers scheduling.
  auto r = co_await first->pop(Clock::now() + impl->cfg.connect_timeout + milliseconds{1000});
  const Error failed = r ? r->ec() : r.error();
  if (failed) {
    impl->tasks.cancel(id);
    std::lock_guard lk(impl->mu);
    impl->started = false;
    co_return failed;
  }
  impl->tasks.spawn("signaling-heartbeat", [impl]() { return impl->heartbeat_loop(); });
  co_return ok();
}

asio::awaitable<Result<void>> SignalingClient::register_actor(ActrId id, std::optional<std::string> ws_address) {
  auto impl = impl_;
  std::shared_ptr<sig::Link> l;
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

asio::awaitable<Result<void>> SignalingClient::unregister() {
  auto impl = impl_;
  std::shared_ptr<sig::Link> l;
  auto env = sig::make_envelope(impl->next_id());
  {
    std::lock_guard lk(impl->mu);
    auto* m = env.mutable_actr_to_server();
    if (impl->sign_locked(m->mutable_source(), m->mutable_credential())) l = impl->link;
    m->mutable_unregister_request()->set_reason("unregister");
    impl->identity.reset();
    ++impl->identity_gen;
  }
  if (l) (void)l->send(sig::encode(env));  // fire and forget, as actr
  co_return ok();
}

asio::awaitable<Result<ActorLocation>> SignalingClient::discover(const ActrId& target) {
  auto impl = impl_;
  auto env = sig::make_envelope(impl->next_id());
  std::shared_ptr<sig::Link> l;
  std::uint64_t ep = 0;
  {
    std::lock_guard lk(impl->mu);
    auto* m = env.mutable_actr_to_server();
    auto s = impl->sign_locked(m->mutable_source(), m->mutable_credential());
    if (!s) co_return s.error();
    sig::to_pb(target, m->mutable_discovery_request()->mutable_target());
    l = impl->link;
    ep = impl->epoch;
  }
  auto r = co_await impl->request(std::move(env), std::move(l), ep);
  if (!r) co_return r.error();
  auto reply = server_reply(*r);
  if (!reply) co_return reply.error();
  if (!reply->has_discovery_response()) co_return protocol_error();
  const auto& dr = reply->discovery_response();
  if (dr.has_error()) co_return signaling_error_from_wire(dr.error().code());
  if (!dr.has_success()) co_return protocol_error();
  ActorLocation loc{sig::from_pb(dr.success().actr_id()), std::nullopt};
  if (dr.success().has_ws_address()) loc.ws_address = dr.success().ws_address();
  co_return loc;
}

asio::awaitable<Result<bool>> SignalingClient::negotiate_role(const ActrId& peer) {
  auto impl = impl_;
  auto env = sig::make_envelope(impl->next_id());
  std::shared_ptr<sig::Link> l;
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
  std::shared_ptr<sig::Link> l;
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
    auto w = co_await impl->changed.async_wait_change(v, deadline);
    if (!w) co_return w.error();
  }
}

std::uint64_t SignalingClient::registrations() const noexcept { return impl_->registrations.load(); }
SignalingState SignalingClient::state() const noexcept { return impl_->state.load(); }
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
