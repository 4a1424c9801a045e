#include <actr/detail/async_queue.hpp>
#include <actr/error.hpp>
#include <actr/node.hpp>
#include <actr/route_table.hpp>
#include <actr/rpc_error_code.hpp>
#include <actr/rpc_correlation.hpp>
#include <actr/unreachable_cache.hpp>

#include "detail/asio.hpp"
#include "node/inbound.hpp"
#include "node/node_identity.hpp"
#include "node/node_impl.hpp"

#include <spdlog/spdlog.h>

#include <deque>
#include <random>
#include <unordered_map>

namespace actr {

using namespace detail;
using node::DedupEntry;
using node::Inbound;

namespace {
// Dedup is per peer: two peers may well pick the same request_id, and one must never read the
// other's answer. The key is the peer's id and the request id, joined by a byte no id contains.
std::string dedup_key(const ActrId& peer, const std::string& request_id) {
  auto k = peer.to_string();
  k.push_back('\0');
  k += request_id;
  return k;
}

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    auto v = rng();
    for (int i = 0; i < 16; ++i) id[static_cast<std::size_t>(half * 16 + i)] = kHex[(v >> (i * 4)) & 0xf];
  }
  return id;
}

Bytes encode(const google::protobuf::MessageLite& m) {
  Bytes b(m.ByteSizeLong());
  m.SerializeToArray(b.data(), static_cast<int>(b.size()));
  return b;
}
}  // namespace

asio::awaitable<void> Node::Impl::rpc_worker() {
  auto self = shared_from_this();
  for (;;) {
    auto in = co_await rpc_q.pop(Clock::now() + std::chrono::hours(24));
    if (!in) {
      if (in.error() == NetworkError::ChannelClosed || in.error() == NetworkCondition::Cancelled) co_return;
      continue;
    }
    if (in->env.direction() == pb::DIRECTION_TELL) {
      TellHandler h;
      {
        std::lock_guard lk(mu);
        ++stats.tells;
        h = on_tell;
      }
      if (h) h(in->from, in->env);
      continue;
    }
    // Requests run concurrently: a slow handler must not hold up the next request.
    (void)tasks.spawn("request", [self, r = std::move(*in)]() mutable -> asio::awaitable<void> {
      co_await self->handle_request(std::move(r));
    });
  }
}

asio::awaitable<void> Node::Impl::stream_worker(AsyncQueue<Inbound>& q) {
  auto self = shared_from_this();
  for (;;) {
    auto in = co_await q.pop(Clock::now() + std::chrono::hours(24));
    if (!in) {
      if (in.error() == NetworkError::ChannelClosed || in.error() == NetworkCondition::Cancelled) co_return;
      continue;
    }
    ChunkHandler h;
    {
      std::lock_guard lk(mu);
      ++stats.chunks;
      h = on_chunk;
    }
    if (h) h(in->from, in->pt, in->chunk);
  }
}

void Node::Impl::expire_dedup_locked(Clock::time_point now) {
  // Oldest completed entries leave first: past the TTL, or while the cache is over its byte cap.
  // In-flight entries are never evicted (a retry must not run the handler twice).
  while (!dedup_expiry.empty() &&
         (now - dedup_expiry.front().first > cfg.dedup_ttl || dedup_bytes > cfg.dedup_max_bytes)) {
    auto it = dedup.find(dedup_expiry.front().second);
    if (it != dedup.end() && it->second->response && it->second->completed == dedup_expiry.front().first) {
      dedup_bytes -= it->second->response->size();
      dedup.erase(it);
    }
    dedup_expiry.pop_front();
  }
}

asio::awaitable<void> Node::Impl::handle_request(Inbound in) {
  const std::string id = in.env.request_id();
  const std::string key = dedup_key(in.from, id);
  std::shared_ptr<DedupEntry> entry;
  bool original = false;
  RequestHandler handler;
  {
    std::lock_guard lk(mu);
    expire_dedup_locked(Clock::now());
    auto& e = dedup[key];
    if (!e) {
      e = std::make_shared<DedupEntry>();
      original = true;
      ++stats.requests;
    } else {
      ++stats.duplicates;
    }
    entry = e;
    handler = on_request;
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max<std::int64_t>(in.env.timeout_ms(), 1));
  Bytes bytes;
  if (original) {
    pb::RpcEnvelope resp;
    resp.set_route_key(in.env.route_key());
    resp.set_request_id(id);
    resp.set_direction(pb::DIRECTION_RESPONSE);
    resp.set_timeout_ms(0);
    if (in.env.has_traceparent()) resp.set_traceparent(in.env.traceparent());
    Result<Bytes> r = make_error_code(NetworkError::NotImplemented);
    if (handler) {
      try {
        r = co_await handler(in.from, in.env);
      } catch (const std::exception& e) {
        spdlog::error("actr: request handler for {} threw: {}", in.env.route_key(), e.what());
        r = make_error_code(NetworkError::Internal);
      }
    }
    if (r) {
      resp.set_payload(r->data(), r->size());
    } else {
      // The caller gets a typed error instead of waiting for its deadline (H-RPC-2).
      // actr HEAD's code table, so an actr caller reads the same error we mean (W13).
      resp.mutable_error()->set_code(static_cast<std::uint32_t>(to_rpc_error_code(r.error())));
      resp.mutable_error()->set_message(r.error().message());
    }
    bytes = encode(resp);
    {
      std::lock_guard lk(mu);
      entry->response = bytes;
      entry->completed = Clock::now();
      dedup_bytes += bytes.size();
      dedup_expiry.emplace_back(entry->completed, key);
      expire_dedup_locked(entry->completed);
    }
    entry->done.notify();
  } else {
    // A retry of a request still running: wait for the original's answer, never run it twice.
    for (;;) {
      const auto seen = entry->done.version();
      {
        std::lock_guard lk(mu);
        if (entry->response) {
          bytes = *entry->response;
          break;
        }
      }
      auto w = co_await entry->done.async_wait_change(seen, deadline);
      if (!w) co_return;
    }
  }
  auto sent = co_await reply(in, std::move(bytes), deadline);
  if (!sent) spdlog::info("actr: response to {} not delivered: {}", in.from.to_string(), sent.error().message());
}

// An answer goes back on the connection that carried its request (actr HEAD's gate "uses the
// same connection for the responses"): on WebRTC on its RPC_RELIABLE channel (HEAD sends every
// RESPONSE there), on WebSocket in the request's own class (one socket; HEAD's client reads both
// RPC classes). Only when that connection is gone does it go through the manager (another live
// wire to the peer, or a dial), on RPC_RELIABLE.
asio::awaitable<Result<void>> Node::Impl::reply(const Inbound& in, Bytes bytes, Deadline deadline) {
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
  co_return co_await send_with_retry(in.from, PayloadType::RpcReliable, std::move(bytes), deadline);
}

asio::awaitable<Result<void>> Node::Impl::send_with_retry(const ActrId& to, PayloadType pt, Bytes bytes,
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
                               Bytes payload) -> asio::awaitable<Result<void>> {
    auto self = weak.lock();
    if (!self) co_return make_error_code(NetworkError::ShuttingDown);
    {
      const bool rtc = wire && wire->kind() == WireKind::WebRtc;
      std::lock_guard lk(self->mu);
      ++(rtc ? self->stats.frames_webrtc : self->stats.frames_websocket);
      (rtc ? self->stats.bytes_in_webrtc : self->stats.bytes_in_websocket) += payload.size();
    }
    co_return co_await self->on_frame(wire, peer, pt, std::move(payload));
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
    // A peer back as a new process is worth dialing at once, whatever its last refusal said.
    impl_->coordinator->set_on_peer_restarted([weak](const ActrId& peer) {
      if (auto self = weak.lock()) self->manager->reset_unreachable(Dest::actor(peer));
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
  (void)self->tasks.spawn("rpc-worker", [self]() -> asio::awaitable<void> { co_await self->rpc_worker(); });
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
    (void)self->tasks.spawn("signaling-register", [self, ws_address]() -> asio::awaitable<void> {
      // The signaling client reconnects by itself once connected; the first connect and the
      // registration are retried here until they succeed or the node stops.
      Backoff backoff(self->cfg.signaling.reconnect_backoff);
      for (;;) {
        auto c = co_await self->signaling->connect(*self->cfg.signal_url);
        if (c || c.error() == make_error_code(NetworkError::InvalidOperation)) {
          auto r = co_await self->signaling->register_actor(self->cfg.id, ws_address);
          if (r) co_return;
          spdlog::warn("actr: registration with {} failed: {}", *self->cfg.signal_url, r.error().message());
        } else if (is_tls_failure(c.error())) {
          // Terminal: the certificate will not become trusted by waiting. wait_registered()
          // reports the error (the CLI exits with it).
          spdlog::error("actr: signaling {} refused by TLS ({}); not retrying", *self->cfg.signal_url,
                        c.error().message());
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
  env.set_payload(payload.data(), payload.size());
  const auto deadline = Clock::now() + timeout;
  // Registered before sending: a fast response cannot arrive unannounced. Retries reuse the same
  // request_id, so the receiver's dedup answers them without running the handler twice.
  auto pending = self->correlation.register_request(env.request_id(), Dest::actor(to));
  const Bytes request = encode(env);
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
    (void)co_await self->send_with_retry(to, pt, request, deadline);
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
  env.set_payload(payload.data(), payload.size());
  co_return co_await impl_->send_with_retry(to, pt, encode(env), Clock::now() + impl_->cfg.manager.send_timeout);
}

asio::awaitable<Result<void>> Node::send_chunk(ActrId to, PayloadType pt, pb::DataStream chunk) {
  if (!is_stream(pt)) co_return make_error_code(NetworkError::InvalidArgument);
  co_return co_await impl_->send_with_retry(to, pt, encode(chunk), Clock::now() + impl_->cfg.manager.send_timeout);
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
  }
  st.rpc_queued = impl_->rpc_q.size();
  st.stream_queued = impl_->stream_q.size();
  st.latency_queued = impl_->latency_q.size();
  return st;
}

}  // namespace actr
