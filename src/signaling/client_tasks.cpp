// The signaling client's background tasks: the supervisor (first dial, reconnect with jittered
// backoff, re-registration) and the heartbeat, both owned by the client's TaskGroup; and the
// shutdown shared by close() and the destructor.
#include "signaling/client_impl.hpp"
#include "signaling/url_identity.hpp"

#include <spdlog/spdlog.h>

namespace actr {

using namespace actr::detail;
using namespace actr::sig;
using std::chrono::milliseconds;

// Dials urls[i], registers again if we have an identity, and publishes the link. Runs on the
// supervisor's strand, which becomes the link's strand.
asio::awaitable<Result<void>> SignalingClient::Impl::attach(std::size_t which) {
  std::string u;
  std::optional<std::pair<ActrId, Credential>> present;  // the identity for the URL
  {
    std::lock_guard lk(mu);
    if (closed) co_return make_error_code(NetworkError::ShuttingDown);
    if (which >= urls.size()) co_return make_error_code(NetworkError::InvalidOperation);
    u = urls[which];
    if (identity && identity->credential) {
      auto cred = from_pb(*identity->credential);
      // An expired credential would only earn a 401; without it an open server still serves us.
      if (auto claims = cred.unverified_claims(); claims && claims->expires_at > unix_now())
        present.emplace(identity->id, std::move(cred));
    }
  }
  const std::string bare = cfg.webrtc_answer ? with_answer_role(u) : u;
  // Into a local first: GCC 12 double-frees a conditional temporary inside a co_await's arguments.
  std::string first_url =
      present ? with_identity(u, present->first, present->second, cfg.webrtc_answer, instance) : bare;
  auto dialed = co_await ws::dial(std::move(first_url), {}, link_cfg);
  if (!dialed && dialed.error() == NetworkError::AuthenticationError && cfg.reacquire) {
    // actr PR #398: 401 means "get a credential again" — from whoever issues ours (the AIS).
    spdlog::info("actr: signaling server refused our credential (HTTP 401); acquiring a new one");
    auto fresh = co_await cfg.reacquire();
    std::optional<std::pair<ActrId, Credential>> again;
    {
      std::lock_guard lk(mu);
      if (fresh && identity) {
        identity->credential.emplace();
        to_pb(*fresh, &*identity->credential);
        again.emplace(identity->id, *fresh);
      }
    }
    if (!fresh) spdlog::warn("actr: no new credential: {}", fresh.error().message());
    if (again) {
      std::string next_url = with_identity(u, again->first, again->second, cfg.webrtc_answer, instance);
      dialed = co_await ws::dial(std::move(next_url), {}, link_cfg);
    }
  } else if (!dialed && present && dialed.error() == NetworkError::AuthenticationError) {
    // The server does not take our credential (e.g. it restarted with a new key). An open server
    // serves us without one (we register again); one that requires identity refuses again.
    spdlog::info("actr: signaling server refused the credential of {} (HTTP 401); dialing without it",
                 present->first.to_string());
    {
      std::lock_guard lk(mu);
      if (identity && identity->id == present->first) identity->credential.reset();
    }
    dialed = co_await ws::dial(bare, {}, link_cfg);
  }
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
  l->start([weak, ep](ConstBytes d, bool binary) {
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
    if (!closed) {
      link = l;
      if (linked && current != which) switches.fetch_add(1);
      current = which;
      linked = true;
    }
  }
  if (is_closed()) {
    l->abort();
    co_return make_error_code(NetworkError::ShuttingDown);
  }
  set_state(SignalingState::Connected);
  co_return ok();
}

// Within a round the dials follow each other without a pause: another server being down says
// nothing about the next one, and a failover should take one dial, not one backoff step per
// server. The backoff paces whole rounds (the caller).
asio::awaitable<Result<void>> SignalingClient::Impl::attach_round(std::size_t start) {
  std::size_t n = 0;
  {
    std::lock_guard lk(mu);
    n = urls.size();
  }
  if (n == 0) co_return make_error_code(NetworkError::InvalidOperation);
  Error first_terminal, last;
  bool all_terminal = true;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (start + k) % n;
    auto a = co_await attach(i);
    if (a) co_return ok();
    const bool stop = co_await was_cancelled();
    if (stop || is_closed()) co_return make_error_code(NetworkError::ShuttingDown);
    last = a.error();
    if (!is_terminal_dial_failure(last)) all_terminal = false;
    else if (!first_terminal) first_terminal = last;
    if (n > 1) {
      std::string u;
      {
        std::lock_guard lk(mu);
        if (i < urls.size()) u = urls[i];
      }
      spdlog::info("actr: signaling server {} failed ({}){}", u, last.message(),
                   k + 1 < n ? "; trying the next one" : "");
    }
  }
  // One server that refuses us terminally (its certificate, HTTP 403) while another is merely
  // down is not a reason to stop trying: the other may come back.
  co_return all_terminal ? first_terminal : last;
}

asio::awaitable<void> SignalingClient::Impl::supervise(std::shared_ptr<AsyncQueue<FirstAttempt>> first) {
  auto self = shared_from_this();
  co_await asio::this_coro::throw_if_cancelled(false);
  auto r = co_await attach_round(0);
  note_dial(r ? Error{} : r.error());
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
      (void)co_await changed.async_wait_change(seen, kNoDeadline);
      const bool stop = co_await was_cancelled();
      if (stop) co_return;
    }
    std::string where;
    std::size_t next = 0;
    {
      std::lock_guard lk(mu);
      where = urls[current];
      next = (current + 1) % urls.size();  // the server that dropped us is tried last
    }
    if (!cfg.reconnect) {
      set_state(SignalingState::Disconnected);
      co_return;
    }
    set_state(SignalingState::Reconnecting);
    spdlog::info("actr: signaling link to {} lost; reconnecting", where);
    Backoff backoff(cfg.reconnect_backoff);
    const auto since = Clock::now();
    for (;;) {
      auto delay = backoff.next_delay(std::chrono::duration_cast<milliseconds>(Clock::now() - since));
      if (!delay) {
        spdlog::warn("actr: signaling reconnect (from {}) gave up after {} rounds", where, backoff.attempts());
        set_state(SignalingState::Disconnected);
        co_return;
      }
      if (delay->count() > 0) {
        timer.expires_after(*delay);
        (void)co_await timer.async_wait(use_ec);
      }
      const bool stop = co_await was_cancelled();
      if (stop || is_closed()) co_return;
      auto a = co_await attach_round(next);
      note_dial(a ? Error{} : a.error());
      if (a) break;
      const bool stop_after = co_await was_cancelled();
      if (stop_after || is_closed()) co_return;
      if (is_terminal_dial_failure(a.error())) {
        // The server's certificate is not (or no longer) acceptable, or the server knows us and
        // will not have us (HTTP 403) — every server, if there are several: retrying cannot fix
        // it, and a quiet retry loop would hide the cause. Terminal; terminal_error() says why.
        // Logged once.
        spdlog::error("actr: signaling reconnect (from {}) refused ({}); not retrying", where, a.error().message());
        set_state(SignalingState::Disconnected);
        co_return;
      }
      spdlog::info("actr: signaling reconnect (from {}) failed: {}", where, a.error().message());
    }
  }
}

asio::awaitable<void> SignalingClient::Impl::heartbeat_loop() {
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
    std::shared_ptr<ws::Connection> l;
    std::uint64_t ep = 0, gen = 0;
    Identity who;
    auto ping = sig::make_envelope(next_id());
    {
      std::lock_guard lk(mu);
      if (closed) co_return;
      auto* m = ping.mutable_actr_to_server();
      if (!link || !sign_locked(m->mutable_source(), m->mutable_credential())) continue;
      sig::fill_ping(m->mutable_ping());
      l = link;
      ep = epoch;
      gen = identity_gen;
      who = *identity;
      // Renewal: registering again on this connection gets a fresh credential.
      if (who.renew_at != 0 && unix_now() >= who.renew_at) again = true;
    }
    if (!again) {
      auto r = co_await request(std::move(ping), l, ep);
      const bool stop_ping = co_await was_cancelled();
      if (stop_ping) co_return;
      if (!r) {
        // As actr: the link is dead when *nothing* arrived for a whole request timeout; a late
        // pong on a busy link is not a reason to drop it.
        const auto heard = Clock::time_point(Clock::duration(last_inbound.load()));
        if (r.error() == NetworkError::TimeoutError && Clock::now() - heard >= cfg.request_timeout) {
          spdlog::warn("actr: nothing from the signaling server for {} ms; reconnecting", cfg.request_timeout.count());
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
      again = !reply && (reply.error() == SignalingErrc::NotRegistered || reply.error() == SignalingErrc::BadCredential);
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
std::shared_ptr<ws::Connection> SignalingClient::Impl::shutdown() {
  std::shared_ptr<ws::Connection> l;
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

}  // namespace actr
