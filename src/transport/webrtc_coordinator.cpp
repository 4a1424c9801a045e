// The WebRTC coordinator: role negotiation, wire registry per peer, and routing of relayed
// signals. GStreamer-free: it only speaks to `WebRtcWire` and `SignalingClient`.
#include <actr/detail/task_group.hpp>
#include <actr/detail/log_limit.hpp>
#include <actr/error.hpp>
#include <actr/webrtc_coordinator.hpp>

#include "detail/asio.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>

namespace actr {

using namespace actr::detail;

struct WebRtcCoordinator::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor e, ActrId l, std::shared_ptr<SignalingClient> s, WebRtcCoordinatorConfig c, FrameHandler f,
       InboundHandler i)
      : ex(std::move(e)), local(std::move(l)), signaling(std::move(s)), cfg(std::move(c)), on_frame(std::move(f)),
        on_inbound(std::move(i)), tasks(ex) {}

  asio::any_io_executor ex;
  const ActrId local;
  const std::shared_ptr<SignalingClient> signaling;
  const WebRtcCoordinatorConfig cfg;
  const FrameHandler on_frame;
  const InboundHandler on_inbound;
  TaskGroup tasks;

  mutable std::mutex mu;  // leaf: guards wires, stats, started
  // The newest wire per peer; signals from that peer go to it. Dead wires are replaced.
  std::map<ActrId, std::weak_ptr<WebRtcWire>> wires;
  // Peers we are negotiating a role with: their signals wait here until our wire exists (the
  // peer's offer can overtake the server's reply to our negotiation).
  std::map<ActrId, std::vector<PeerSignal>> negotiating;
  // Wires the peer initiated (its offer, or its role negotiation making us offer) whose connect()
  // is still running. The peer may already send on them, so a dial to that peer must wait on the
  // same connection: failing instead loses the reply when WebRTC is the only wire to it (a
  // browser), and negotiating another one waits for an offer the peer never sends.
  std::map<ActrId, std::weak_ptr<WebRtcWire>> inbound_connecting;
  WebRtcCoordinatorStats stats;
  std::function<void(const ActrId&)> on_peer_restarted;  // set before start()
  std::size_t setting_up = 0;  // supervised set-ups still running (inbound and outbound)
  bool started = false;
  bool stopped = false;  // stop() ran: no new wire

  std::shared_ptr<WebRtcWire> make_wire(const ActrId& peer, bool offerer) {
    auto w = make_webrtc_wire(ex, cfg.rtc, local, peer, offerer, signaling, on_frame);
    std::lock_guard lk(mu);
    wires[peer] = w;
    return w;
  }

  std::shared_ptr<WebRtcWire> wire_for(const ActrId& peer) {
    std::lock_guard lk(mu);
    auto it = wires.find(peer);
    return it == wires.end() ? nullptr : it->second.lock();
  }

  // Closes a wire nobody may use any more, in the background (owned by `tasks`).
  void retire(std::shared_ptr<WebRtcWire> w) {
    (void)tasks.spawn("webrtc-retire", [w = std::move(w)]() -> asio::awaitable<void> { co_await w->close(); });
  }

  // Every wire the coordinator builds is connected here from birth, bounded by connect_timeout:
  // an offerer therefore always sends its offer (also when the pool that asked for it gave up
  // before connecting it), and an answerer whose offer never comes is closed and forgotten, so a
  // later offer or dial starts afresh instead of being routed to a wire nobody will use.
  // `inbound`: the peer initiated it; once open it goes to `on_inbound`. Returns false (the wire
  // is closed) once the coordinator is stopping.
  bool supervise(std::shared_ptr<WebRtcWire> w, const ActrId& peer, bool inbound) {
    {
      std::lock_guard lk(mu);
      ++setting_up;
      if (inbound) {
        ++stats.inbound_wires;
        inbound_connecting[peer] = w;
      }
    }
    auto self = shared_from_this();
    const auto id = tasks.spawn(inbound ? "webrtc-inbound" : "webrtc-setup", [self, w, peer,
                                                                             inbound]() -> asio::awaitable<void> {
      // stop() closes every wire; a cancelled set-up only has to leave.
      co_await asio::this_coro::throw_if_cancelled(false);
      auto r = co_await w->connect();
      {
        std::lock_guard lk(self->mu);
        --self->setting_up;
      }
      const bool cancelled = !r && r.error() == make_error_code(NetworkError::Cancelled);
      // Until the owner has been offered the wire, a dial to this peer waits on it (so it is
      // listed in `inbound_connecting` until after `on_inbound`).
      if (r && inbound && self->on_inbound) self->on_inbound(peer, w);
      self->forget(peer, w, inbound, !r);
      if (!r && !cancelled) {
        // A flood of offers that never complete fails here once per offer.
        static detail::LogLimiter failed;
        if (const auto nth = failed.tick())
          spdlog::info("actr: WebRTC set-up with {} ({}) failed: {} ({} so far)", peer.to_string(),
                       w->is_offerer() ? "offerer" : "answerer", r.error().message(), nth);
        co_await w->close();
      }
    });
    if (id == 0) {  // stopping: nobody may use it
      {
        std::lock_guard lk(mu);
        --setting_up;
      }
      forget(peer, w, inbound, true);
      w->begin_close();
      return false;
    }
    return true;
  }

  // Drops `w` from the set-up list (`inbound`) and, if `dead`, from the routing table, where
  // either still names it (a newer wire for the peer stays).
  void forget(const ActrId& peer, const std::shared_ptr<WebRtcWire>& w, bool inbound, bool dead) {
    std::lock_guard lk(mu);
    if (inbound)
      if (auto it = inbound_connecting.find(peer); it != inbound_connecting.end() && it->second.lock() == w)
        inbound_connecting.erase(it);
    if (dead) {
      ++stats.setups_failed;
      if (auto it = wires.find(peer); it != wires.end() && it->second.lock() == w) wires.erase(it);
    }
  }

  asio::awaitable<void> signal_loop() {
    for (;;) {
      auto in = co_await signaling->next_signal(kNoDeadline);
      if (!in) {
        if (in.error() == make_error_code(NetworkError::TimeoutError)) continue;
        co_return;  // closed or cancelled
      }
      if (in->signal.kind == PeerSignal::Kind::PeerRestarted) {
        forget_peer(in->from, true);
        if (on_peer_restarted) on_peer_restarted(in->from);
        continue;
      }
      if (in->signal.kind == PeerSignal::Kind::PeerGone) {
        forget_peer(in->from, false);
        continue;
      }
      std::shared_ptr<WebRtcWire> w;
      {
        std::lock_guard lk(mu);
        if (auto n = negotiating.find(in->from); n != negotiating.end()) {
          n->second.push_back(std::move(in->signal));
          continue;
        }
        if (auto it = wires.find(in->from); it != wires.end()) w = it->second.lock();
        if (w) ++stats.signals_routed;
      }
      // An offer opens a new peer connection unless an answerer is waiting for exactly that. An
      // answerer that already built a peer connection is not waiting: a plain offer then means
      // the peer started over (a restarted process), so it gets a fresh wire.
      const bool waiting = w && !w->is_offerer() && !w->is_connected() && w->stats().peer_connections == 0;
      if (in->signal.kind == PeerSignal::Kind::Offer && !waiting) {
        static detail::LogLimiter glare;
        if (w && w->is_offerer())  // cannot happen with one offerer per pair; answer anyway
          if (const auto nth = glare.tick())
            spdlog::warn("actr: offer from {} while offering to it; answering ({} so far)", in->from.to_string(), nth);
        // One set-up per peer: a newer offer replaces the one still in progress (its offerer
        // started over). Then the global bound: each set-up costs a peer connection and its
        // GStreamer threads, so a flood of offers is refused, typed, not built.
        replace_inbound_setup(in->from);
        if (!admit_setup(in->from)) continue;
        auto fresh = make_wire(in->from, false);
        fresh->handle_signal(std::move(in->signal));
        supervise(std::move(fresh), in->from, true);
        continue;
      }
      if (w) {
        w->handle_signal(std::move(in->signal));
      } else {
        std::lock_guard lk(mu);
        ++stats.signals_dropped;
      }
    }
  }

  // Retires the set-up the peer started earlier and that is still running, if any.
  void replace_inbound_setup(const ActrId& peer) {
    std::shared_ptr<WebRtcWire> older;
    {
      std::lock_guard lk(mu);
      auto it = inbound_connecting.find(peer);
      if (it == inbound_connecting.end()) return;
      older = it->second.lock();
      if (!older || older->is_connected()) return;
      inbound_connecting.erase(it);
      ++stats.setups_replaced;
    }
    retire(std::move(older));
  }

  // True if one more set-up may start now; otherwise tells the peer (SetupRefused) and counts it.
  bool admit_setup(const ActrId& peer) {
    std::uint64_t refused = 0;
    {
      std::lock_guard lk(mu);
      if (setting_up < cfg.max_setups) return true;
      refused = ++stats.setups_refused;
    }
    // One line per power of two: a flood is visible in the log without filling it.
    if (detail::nth_is_logged(refused))
      spdlog::warn("actr: WebRTC set-up from {} refused: {} set-ups in progress (max_setups); {} refused so far",
                   peer.to_string(), cfg.max_setups, refused);
    PeerSignal no;
    no.kind = PeerSignal::Kind::SetupRefused;
    no.reason = "answerer at its bound of " + std::to_string(cfg.max_setups) + " set-ups in progress";
    (void)tasks.spawn("webrtc-refuse", [sig = signaling, peer, no = std::move(no)]() mutable -> asio::awaitable<void> {
      (void)co_await sig->send_signal(peer, std::move(no));
    });
    return false;
  }

  // The peer's old process is gone (`restarted`), or the peer left signaling: its wires are dead
  // even if no timeout noticed yet. Closing them makes the manager fall back to another wire kind
  // now (which reports a dead peer as refused at once), and the next dial (the health checker's)
  // negotiates with the new process.
  void forget_peer(const ActrId& peer, bool restarted) {
    std::vector<std::shared_ptr<WebRtcWire>> dead;
    {
      std::lock_guard lk(mu);
      ++(restarted ? stats.peer_restarts : stats.peer_departures);
      if (auto n = negotiating.find(peer); n != negotiating.end()) n->second.clear();  // the old process's signals
      for (auto* m : {&wires, &inbound_connecting}) {
        if (auto it = m->find(peer); it != m->end()) {
          if (auto w = it->second.lock()) dead.push_back(std::move(w));
          m->erase(it);
        }
      }
    }
    if (restarted)
      spdlog::info("actr: {} restarted; closing {} WebRTC wire(s) to its old process", peer.to_string(), dead.size());
    else if (!dead.empty())
      spdlog::info("actr: {} left signaling; closing {} WebRTC wire(s) to it", peer.to_string(), dead.size());
    for (auto& w : dead)
      retire(w);
  }

  asio::awaitable<void> role_loop() {
    for (;;) {
      auto ev = co_await signaling->next_role_assignment(kNoDeadline);
      if (!ev) {
        if (ev.error() == make_error_code(NetworkError::TimeoutError)) continue;
        co_return;
      }
      // The peer negotiated with us. If we offer, we start a connection; as answerer we wait for
      // its offer (signal_loop).
      if (!ev->is_offerer) continue;
      {
        std::lock_guard lk(mu);
        if (negotiating.count(ev->peer)) continue;  // our own negotiation builds the wire
      }
      auto w = wire_for(ev->peer);
      if (w && w->is_offerer() && w->is_setting_up()) continue;  // ours is already on its way
      if (w) {
        // A peer negotiates only when it has no usable connection with us (it dropped this one,
        // or it is a new process): ours, open, restarting or closed, is dead to it and replaced.
        retire(w);
      }
      {
        // At the bound, no offer: the peer's answerer gives up after its connect timeout.
        std::lock_guard lk(mu);
        if (setting_up >= cfg.max_setups) {
          ++stats.setups_refused;
          continue;
        }
      }
      supervise(make_wire(ev->peer, true), ev->peer, true);
    }
  }
};

std::shared_ptr<WebRtcCoordinator> WebRtcCoordinator::create(asio::any_io_executor ex, ActrId local,
                                                             std::shared_ptr<SignalingClient> signaling,
                                                             WebRtcCoordinatorConfig cfg, FrameHandler on_frame,
                                                             InboundHandler on_inbound) {
  // Checked here: the wires are built on the dispatch task, where a throw would end it.
  Backoff::validate(cfg.rtc.restart_backoff);
  return std::shared_ptr<WebRtcCoordinator>(new WebRtcCoordinator(std::make_shared<Impl>(
      std::move(ex), std::move(local), std::move(signaling), std::move(cfg), std::move(on_frame), std::move(on_inbound))));
}

WebRtcCoordinator::WebRtcCoordinator(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebRtcCoordinator::~WebRtcCoordinator() { impl_->tasks.close(); }

void WebRtcCoordinator::set_on_peer_restarted(std::function<void(const ActrId& peer)> cb) {
  impl_->on_peer_restarted = std::move(cb);
}

void WebRtcCoordinator::start() {
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->started) return;
    impl_->started = true;
  }
  auto self = impl_;
  (void)self->tasks.spawn("webrtc-signals", [self]() -> asio::awaitable<void> { co_await self->signal_loop(); });
  (void)self->tasks.spawn("webrtc-roles", [self]() -> asio::awaitable<void> { co_await self->role_loop(); });
}

asio::awaitable<void> WebRtcCoordinator::stop() {
  auto self = impl_;
  std::vector<std::shared_ptr<WebRtcWire>> live;
  {
    std::lock_guard lk(self->mu);
    self->stopped = true;
    for (auto* m : {&self->wires, &self->inbound_connecting})
      for (auto& [peer, w] : *m)
        if (auto s = w.lock()) live.push_back(std::move(s));
    self->wires.clear();
    self->inbound_connecting.clear();
  }
  self->tasks.close();  // ends the loops and every set-up; no new task starts
  // All wires at once: each close is bounded by close_timeout, so the whole stop is too (one
  // after another, a node with many set-ups in flight would not stop in time).
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());
  TaskGroup closers(self->ex);
  for (auto& w : live)
    (void)closers.spawn("webrtc-close", [w]() -> asio::awaitable<void> { co_await w->close(); });
  const auto bound = Clock::now() + self->cfg.rtc.close_timeout + std::chrono::milliseconds(100);
  (void)co_await closers.async_wait_idle(bound);
  closers.close();
  (void)co_await self->tasks.async_wait_idle(Clock::now() + std::chrono::milliseconds(200));
}

asio::awaitable<Result<std::shared_ptr<WireHandle>>> WebRtcCoordinator::create_wire(const ActrId& peer) {
  auto self = impl_;
  {
    // The peer's own connection, still connecting or just connected but not yet handed to the
    // manager by `on_inbound` (its first request can arrive, and be answered, before that):
    // the dial waits on it (see `inbound_connecting`).
    std::lock_guard lk(self->mu);
    if (auto it = self->inbound_connecting.find(peer); it != self->inbound_connecting.end())
      if (auto w = it->second.lock()) co_return std::static_pointer_cast<WireHandle>(w);
  }
  // A connected wire its owner did not keep (the peer's connection, left receive-only when our own
  // dial won): the dial gets it. One the owner dropped reports not connected (`begin_close`).
  auto existing = self->wire_for(peer);
  if (existing && existing->is_connected()) co_return std::static_pointer_cast<WireHandle>(existing);
  if (existing && !existing->is_offerer() && existing->stats().peer_connections == 0) {
    // Our answerer from an earlier negotiation is waiting for this peer's offer; a second one would race it.
    co_return make_error_code(NetworkError::ConnectionError);
  }
  {
    std::lock_guard lk(self->mu);
    if (self->stopped) co_return make_error_code(NetworkError::ShuttingDown);
    if (!self->negotiating.try_emplace(peer).second) co_return make_error_code(NetworkError::ConnectionError);
  }
  // However the negotiation ends (also by cancellation or an exception), the peer leaves
  // `negotiating`: an entry left behind would swallow every later signal from it.
  std::vector<PeerSignal> early;
  auto end_negotiation = [self, peer, &early, done = false]() mutable {
    if (std::exchange(done, true)) return;
    std::lock_guard lk(self->mu);
    if (auto n = self->negotiating.find(peer); n != self->negotiating.end()) {
      early = std::move(n->second);
      self->negotiating.erase(n);
    }
  };
  struct Guard {
    decltype(end_negotiation)& f;
    ~Guard() { f(); }
  } guard{end_negotiation};
  asio::steady_timer bound(self->ex, self->cfg.negotiate_timeout);
  auto role = co_await (self->signaling->negotiate_role(peer) || bound.async_wait(use_ec));
  end_negotiation();
  Result<bool> is_offerer = role.index() == 1
                                ? Result<bool>(boost::system::in_place_error, make_error_code(NetworkError::TimeoutError))
                                : std::get<0>(std::move(role));
  if (!is_offerer) {
    // The peer's own attempt must not be lost with ours: answer an offer that arrived meanwhile.
    if (!early.empty() && early.front().kind == PeerSignal::Kind::Offer) {
      auto w = self->make_wire(peer, false);
      for (auto& sig : early) w->handle_signal(std::move(sig));
      self->supervise(std::move(w), peer, true);
    }
    co_return is_offerer.error();
  }
  auto w = self->make_wire(peer, *is_offerer);
  for (auto& sig : early) w->handle_signal(std::move(sig));
  // Set up from now on, whether or not the caller ever connects it (see `supervise`).
  if (!self->supervise(w, peer, false)) co_return make_error_code(NetworkError::ShuttingDown);
  {
    std::lock_guard lk(self->mu);
    ++self->stats.outbound_wires;
  }
  co_return std::static_pointer_cast<WireHandle>(w);
}

WebRtcCoordinatorStats WebRtcCoordinator::stats() const {
  std::lock_guard lk(impl_->mu);
  return impl_->stats;
}

}  // namespace actr
