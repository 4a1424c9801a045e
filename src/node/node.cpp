#include <actr/detail/async_queue.hpp>
#include <actr/error.hpp>
#include <actr/hex.hpp>
#include <actr/node.hpp>
#include <actr/route_table.hpp>
#include <actr/rpc_error_code.hpp>
#include <actr/rpc_correlation.hpp>
#include <actr/unreachable_cache.hpp>

#include "detail/asio.hpp"
#include "node/inbound.hpp"
#include "node/outbound.hpp"
#include "node/node_identity.hpp"
#include "node/node_impl.hpp"

#include <spdlog/spdlog.h>

#include <deque>
#include <unordered_map>

namespace actr {

using namespace detail;
using node::Inbound;

namespace {
std::string new_request_id() { return random_hex(32); }

}  // namespace

// An answer goes back on the connection that carried its request (actr HEAD's gate "uses the
// same connection for the responses"): on WebRTC on its RPC_RELIABLE channel (HEAD sends every
// RESPONSE there), on WebSocket in the request's own class (one socket; HEAD's client reads both
// RPC classes). Only when that connection is gone does it go through the manager (another live
// wire to the peer, or a dial), on RPC_RELIABLE.
asio::awaitable<Result<void>> Node::Impl::reply(const Inbound& in, ConstBytes bytes, Deadline deadline) {
  if (auto wire = in.via.lock(); wire && wire->is_connected()) {
    auto lane = wire->get_lane(wire->kind() == WireKind::WebRtc ? PayloadType::RpcReliable : in.pt);
    if (lane) {
      auto r = co_await (*lane)->send(bytes);
      if (r) {
        count_sent(wire->kind(), bytes.size());
        co_return ok();
      }
      if (!is_closed_like(r.error())) co_return r.error();
    }
    spdlog::debug("actr: connection of {} closed before its answer; routing it", in.from.to_string());
  }
  co_return co_await send_with_retry(in.from, PayloadType::RpcReliable, bytes, deadline);
}

asio::awaitable<Result<void>> Node::Impl::send_with_retry(const ActrId& to, PayloadType pt, ConstBytes bytes,
                                                         Deadline deadline) {
  const auto policy = cfg.retry_sends ? retry_policy(pt) : RetryPolicy{};
  auto delay = policy.initial_delay;
  const Dest dest = Dest::actor(to);
  for (std::uint32_t attempt = 1;; ++attempt) {
    auto r = co_await manager->send_with_identity(dest, pt, bytes, deadline);
    if (r) {
      count_sent(r->kind, bytes.size());
      co_return ok();
    }
    // A refusal is not retried here: the manager's unreachable cache owns when to try that
    // destination again, and the caller learns at once that nothing is there.
    if (!is_transient(r.error()) || is_refusal(r.error()) || attempt >= policy.max_attempts ||
        Clock::now() + delay >= deadline)
      co_return r.error();
    asio::steady_timer t(co_await asio::this_coro::executor, delay);
    co_await t.async_wait(use_ec);
    delay = std::min(delay * 2, policy.max_delay);
  }
}


// ---- public -----------------------------------------------------------------------------------

Node::Node(asio::any_io_executor ex, NodeConfig cfg) : impl_(std::make_shared<Impl>(ex, std::move(cfg))) {
  std::weak_ptr<Impl> weak = impl_;
  FrameHandler frames = [weak](const std::shared_ptr<WireHandle>& wire, const ActrId& peer, PayloadType pt,
                               ConstBytes payload) -> asio::awaitable<Result<void>> {
    auto self = weak.lock();
    if (!self) co_return make_error_code(NetworkError::ShuttingDown);
    {
      const bool rtc = wire && wire->kind() == WireKind::WebRtc;
      std::lock_guard lk(self->mu);
      ++(rtc ? self->stats.frames_webrtc : self->stats.frames_websocket);
      (rtc ? self->stats.bytes_in_webrtc : self->stats.bytes_in_websocket) += payload.size();
    }
    node::Inbound in{peer, pt, wire, {}, {}, {}};
    auto done = self->receive_now(wire, payload, in);
    if (done) co_return *done;
    co_return co_await self->receive_later(wire, std::move(in), payload.size());
  };
  // A wire the peer opened to us (WebSocket gate, or WebRTC set up at its request) belongs to
  // that peer's transport from now on, like the wires we dial: one owner per peer. Only a node
  // that is stopping (or a destination being closed) refuses it; the gate or the coordinator
  // then closes it with everything else.
  auto inbound = [weak](const ActrId& peer, const std::shared_ptr<WireHandle>& wire) {
    auto self = weak.lock();
    if (!self) return;
    if (!self->manager->adopt_inbound(Dest::actor(peer), wire))
      spdlog::debug("actr: inbound {} wire from {} not adopted (closing)", to_string(wire->kind()), peer.to_string());
  };
  auto& c = impl_->cfg;
  impl_->budgets = node::apply_limits(c);
  if (c.signal_url) {
    impl_->signaling = std::make_shared<SignalingClient>(ex, c.signaling);
    c.wires.discovery = impl_->signaling;
    if (c.wires.kinds.contains(WireKind::WebRtc)) {
      WebRtcCoordinatorConfig wc;
      wc.rtc = c.webrtc;
      wc.max_setups = c.max_webrtc_setups;
      impl_->coordinator = WebRtcCoordinator::create(ex, c.id, impl_->signaling, wc, frames, inbound);
      // GStreamer's first initialisation can take seconds (plugin registry); do it now rather than
      // on the I/O thread when the first peer connection is built (it would stall every wire).
      (void)WebRtcRuntime::process_default();
      c.wires.webrtc = impl_->coordinator;
    }
  }
  impl_->trusted = configure_identity(c, impl_->signaling);
  impl_->builder = std::make_shared<DefaultWireBuilder>(ex, c.id, c.wires, frames);
  impl_->manager = std::make_unique<OutprocTransportManager>(ex, c.id, impl_->builder, c.manager);
  impl_->wire_log_sub = impl_->manager->events().subscribe(
      ex, [log = impl_->wire_log](const ConnectionEvent& ev) { log->record(ev); });
  if (impl_->coordinator) {
    // A peer back as a new process is worth dialing at once, whatever its last refusal said, on
    // every kind: its WebRTC wire may never have been built while it was away.
    impl_->coordinator->set_on_peer_restarted([weak](const ActrId& peer) {
      if (auto self = weak.lock()) {
        self->manager->reset_unreachable(Dest::actor(peer));
        self->manager->repair(Dest::actor(peer));
      }
    });
  }
  if (c.listen) {
    auto gate_cfg = c.wires.ws;
    gate_cfg.tls = c.listen_tls;  // wires.ws.tls is the dialing side's context
    impl_->gate = std::make_unique<WebSocketServer>(ex, gate_cfg, frames, inbound);
  }
}

Node::~Node() {
  impl_->rpc_q.close();
  impl_->stream_q.close();
  impl_->latency_q.close();
  impl_->tasks.close();
}

Result<std::uint16_t> Node::start() {
  auto self = impl_;
  bool first_start = false;
  {
    std::lock_guard lk(self->mu);
    first_start = self->workers.total == 0;  // start() again must not add a second permanent worker
    if (first_start) self->workers.total = 1;
  }
  if (first_start) self->spawn_request_worker(true);
  (void)self->tasks.spawn("stream-worker", [self]() -> asio::awaitable<void> { co_await self->stream_worker(self->stream_q); });
  (void)self->tasks.spawn("latency-worker",
                          [self]() -> asio::awaitable<void> { co_await self->stream_worker(self->latency_q); });
  if (self->cfg.health_check_interval.count() > 0 && !self->health.active())
    self->health = self->manager->spawn_health_checker(self->cfg.health_check_interval);
  std::uint16_t port = 0;
  if (self->gate) {
    auto p = self->gate->listen(self->cfg.listen_host, self->cfg.listen_port);
    if (!p) return p;
    port = *p;
  }
  if (self->signaling) {
    std::optional<std::string> ws_address;
    if (port != 0)
      ws_address = (self->cfg.listen_tls ? "wss://" : "ws://") + self->cfg.listen_host + ":" + std::to_string(port) + "/";
    if (self->coordinator) self->coordinator->start();
    // An identity from the AIS or a file goes into the signaling URL (HEAD's way), so a server
    // that requires identity registers us before the upgrade completes.
    if (self->cfg.identity.credential) {
      if (auto u = self->signaling->use_identity(self->cfg.id, *self->cfg.identity.credential, ws_address); !u)
        spdlog::warn("actr: node {}: credential not used for signaling: {}", self->cfg.id.to_string(), u.error().message());
    }
    (void)self->tasks.spawn("signaling-register", [self, ws_address]() -> asio::awaitable<void> {
      // The signaling client reconnects by itself once connected; the first connect and the
      // registration are retried here until they succeed or the node stops.
      Backoff backoff(self->cfg.signaling.reconnect_backoff);
      for (;;) {
        auto c = co_await self->signaling->connect(split_signal_urls(*self->cfg.signal_url));
        if (c || c.error() == make_error_code(NetworkError::InvalidOperation)) {
          auto r = co_await self->signaling->register_actor(self->cfg.id, ws_address);
          if (r) co_return;
          spdlog::warn("actr: registration with {} failed: {}", *self->cfg.signal_url, r.error().message());
        } else if (is_tls_failure(c.error()) || c.error() == make_error_code(NetworkError::PermissionError)) {
          // Terminal: the certificate will not become trusted by waiting, nor will a server that
          // refused us (HTTP 403) change its mind. wait_registered() reports the error (the CLI
          // exits with it).
          spdlog::error("actr: signaling {} refused ({}); not retrying", *self->cfg.signal_url, c.error().message());
          co_return;
        } else {
          spdlog::info("actr: signaling {} unreachable: {}", *self->cfg.signal_url, c.error().message());
        }
        asio::steady_timer t(co_await asio::this_coro::executor, backoff.next_delay().value_or(std::chrono::seconds(5)));
        auto [ec] = co_await t.async_wait(use_ec);
        if (ec) co_return;
      }
    });
  }
  return port;
}

asio::awaitable<void> Node::stop() {
  auto self = impl_;
  self->rpc_q.close();
  self->stream_q.close();
  self->latency_q.close();
  self->correlation.fail_where([](const Dest&) { return true; }, make_error_code(NetworkError::ShuttingDown));
  self->tasks.cancel_all();
  self->health.stop();
  if (self->coordinator) co_await self->coordinator->stop();
  if (self->signaling) co_await self->signaling->close();
  if (self->gate) co_await self->gate->close();
  (void)co_await self->manager->close_all();
  (void)co_await self->tasks.async_wait_idle(Clock::now() + std::chrono::seconds(2));
}

void Node::on_request(RequestHandler h) {
  std::lock_guard lk(impl_->mu);
  impl_->on_request = std::move(h);
}
void Node::on_tell(TellHandler h) {
  std::lock_guard lk(impl_->mu);
  impl_->on_tell = std::move(h);
}
void Node::on_chunk(ChunkHandler h) {
  std::lock_guard lk(impl_->mu);
  impl_->on_chunk = std::move(h);
}

asio::awaitable<Result<Bytes>> Node::call(ActrId to, std::string route_key, Bytes payload,
                                          std::chrono::milliseconds timeout, PayloadType pt) {
  auto self = impl_;
  if (!is_rpc(pt) || timeout.count() <= 0) co_return make_error_code(NetworkError::InvalidArgument);
  pb::RpcEnvelope env;
  env.set_route_key(std::move(route_key));
  env.set_request_id(new_request_id());
  env.set_direction(pb::DIRECTION_REQUEST);
  env.set_timeout_ms(timeout.count());
  const auto deadline = Clock::now() + timeout;
  // Registered before sending: a fast response cannot arrive unannounced. Retries reuse the same
  // request_id, so the receiver's dedup answers them without running the handler twice.
  auto pending = self->correlation.register_request(env.request_id(), Dest::actor(to));
  const Bytes request = node::encode_envelope(env, payload);
  auto sent = co_await self->send_with_retry(to, pt, request, deadline);
  if (!sent) co_return sent.error();
  Result<Bytes> r = make_error_code(NetworkError::TimeoutError);
  for (;;) {
    const auto resend = self->cfg.resend_after;
    const auto step = resend.count() > 0 ? std::min(deadline, Clock::now() + resend) : deadline;
    r = co_await pending.wait(step);
    if (r || r.error() != make_error_code(NetworkError::TimeoutError) || Clock::now() >= deadline) break;
    // No answer yet: the request or its response may have died with a wire (a WebRTC
    // DataChannel closing under it). Send it again — same request_id, so the receiver runs the
    // handler at most once and answers from its dedup cache — over whatever wire is up now.
    auto again = co_await self->send_with_retry(to, pt, request, deadline);
    if (!again && is_refusal(again.error())) {
      // No wire is up and the peer refuses dials (or is marked down): nothing can carry an
      // answer now, so the caller hears that rather than waiting out its deadline.
      r = again.error();
      break;
    }
  }
  if (!r) {
    if (auto remote = pending.remote_error()) {
      spdlog::debug("actr: {} answered {} with error {}: {}", to.to_string(), env.route_key(), remote->code,
                    remote->message);
      co_return make_error_code(from_rpc_error_code(remote->code));
    }
    co_return r.error();
  }
  co_return std::move(*r);
}

asio::awaitable<Result<void>> Node::tell(ActrId to, std::string route_key, Bytes payload, PayloadType pt) {
  if (!is_rpc(pt)) co_return make_error_code(NetworkError::InvalidArgument);
  pb::RpcEnvelope env;
  env.set_route_key(std::move(route_key));
  env.set_request_id(new_request_id());
  env.set_direction(pb::DIRECTION_TELL);
  env.set_timeout_ms(0);
  const Bytes encoded = node::encode_envelope(env, payload);  // lives across the send, which borrows it
  co_return co_await impl_->send_with_retry(to, pt, encoded, Clock::now() + impl_->cfg.manager.send_timeout);
}

asio::awaitable<Result<void>> Node::send_chunk(ActrId to, PayloadType pt, pb::DataStream chunk) {
  if (!is_stream(pt)) co_return make_error_code(NetworkError::InvalidArgument);
  const Bytes encoded = node::encode(chunk);
  co_return co_await impl_->send_with_retry(to, pt, encoded, Clock::now() + impl_->cfg.manager.send_timeout);
}

std::shared_ptr<SignalingClient> Node::signaling() const { return impl_->signaling; }

asio::awaitable<Result<void>> Node::wait_registered(Deadline deadline) {
  auto sig = impl_->signaling;
  if (!sig || sig->registrations() > 0) co_return ok();
  co_return co_await sig->wait_registered(0, deadline);
}

void Node::set_peer_address(const ActrId& peer, std::string url) { impl_->builder->set_address(peer, std::move(url)); }
OutprocTransportManager& Node::manager() { return *impl_->manager; }
std::shared_ptr<KeyRing> Node::trusted_keys() const { return impl_->trusted; }
std::uint64_t Node::unauthorized() const { return impl_->gate ? impl_->gate->unauthorized() : 0; }
Node::Held Node::held() const {
  const auto& b = impl_->budgets;
  Held h{b.reassembly->held(), b.reassembly->peak(), b.send->held(), b.send->peak(), b.inflight->held(),
         b.inflight->peak(), b.reassembly->refused() + b.send->refused() + b.inflight->refused(), 0, 0};
  h.read_pauses = impl_->work_waits.load(std::memory_order_relaxed);
  if (impl_->gate) h.stalls = impl_->gate->limits().stalls;
  return h;
}
const ActrId& Node::id() const { return impl_->cfg.id; }
Node::Stats Node::stats() const {
  Stats st;
  {
    std::lock_guard lk(impl_->mu);
    st = impl_->stats;
    st.request_workers = impl_->workers.total;
  }
  st.rpc_queued = impl_->rpc_q.size();
  st.stream_queued = impl_->stream_q.size();
  st.latency_queued = impl_->latency_q.size();
  return st;
}

}  // namespace actr
