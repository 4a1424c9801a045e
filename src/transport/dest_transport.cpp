#include <actr/dest_transport.hpp>
#include <actr/error.hpp>
#include <actr/route_table.hpp>

#include "detail/asio.hpp"

#include <spdlog/spdlog.h>

namespace actr {

using namespace detail;

std::shared_ptr<DestTransport> DestTransport::create(asio::any_io_executor ex, Dest dest,
                                                     std::vector<std::shared_ptr<WireHandle>> handles,
                                                     WirePoolConfig cfg, std::shared_ptr<EventBus> events) {
  auto pool = WirePool::create(std::move(ex), std::move(dest), cfg, std::move(events));
  for (auto& h : handles) pool->add_connection(std::move(h));
  return std::shared_ptr<DestTransport>(new DestTransport(std::move(pool)));
}

DestTransport::~DestTransport() { pool_->abort(); }

namespace {

enum class Attempt { Sent, Failed, Evicted };

// One send on one Ready wire. Returns Evicted when the wire proved dead (closed-like) so the
// caller re-evaluates the route; the message was not sent in that case.
asio::awaitable<std::pair<Attempt, Result<void>>> send_on(WirePool& pool, const std::shared_ptr<WireHandle>& h,
                                                          PayloadType pt, ConstBytes bytes) {
  auto lane = h->get_lane(pt);
  if (lane) {
    auto r = co_await (*lane)->send(bytes);
    if (r || !is_closed_like(r.error())) co_return std::pair{r ? Attempt::Sent : Attempt::Failed, r};
    // The seam lets a wire rebuild one lane alone (`invalidate_lane`): one fresh lane before giving
    // up the wire. Today's WebRTC wire looks its DataChannel up on every send and dies as a whole,
    // so there the second try fails the same way and the wire is evicted below.
    if (h->kind() == WireKind::WebRtc) {
      h->invalidate_lane(pt);
      pool.drop_cached_lane(h->identity(), pt);
      auto again = h->get_lane(pt);
      if (again) {
        auto r2 = co_await (*again)->send(bytes);
        if (r2 || !is_closed_like(r2.error())) co_return std::pair{r2 ? Attempt::Sent : Attempt::Failed, r2};
      }
    }
    pool.mark_closed_if_same(h->identity(), r.error());
    co_return std::pair{Attempt::Evicted, r};
  }
  if (is_closed_like(lane.error())) {
    h->invalidate_lane(pt);
    pool.drop_cached_lane(h->identity(), pt);
    pool.mark_closed_if_same(h->identity(), lane.error());
    co_return std::pair{Attempt::Evicted, Result<void>(lane.error())};
  }
  co_return std::pair{Attempt::Failed, Result<void>(lane.error())};
}

}  // namespace

asio::awaitable<Result<WireIdentity>> DestTransport::send(std::shared_ptr<DestTransport> self, PayloadType pt,
                                                          ConstBytes bytes, Deadline deadline) {
  const auto route = route_for(pt);
  if (route.empty()) co_return make_error_code(NetworkError::NoRoute);
  const WireKindSet candidates = route_kinds(pt);
  WirePool& pool = *self->pool_;

  for (;;) {
    const PoolSnapshot snap = pool.snapshot();
    if (snap.closed) co_return pool.close_reason();
    bool evicted = false;
    Error last_error;
    for (WireKind kind : route) {
      if (!snap.ready.contains(kind)) continue;
      auto h = pool.get_connection(kind);
      if (!h) {
        evicted = true;  // changed since the snapshot: look again
        break;
      }
      auto [outcome, r] = co_await send_on(pool, h, pt, bytes);
      if (outcome == Attempt::Sent) co_return h->identity();
      if (outcome == Attempt::Evicted) {
        evicted = true;
        break;
      }
      // This wire cannot take the message now — it does not carry pt (NoRoute), or it failed
      // transiently (a WebRTC wire restarting its peer connection): try the next kind, so the
      // class falls back to WebSocket per the route table. Other failures are the caller's answer.
      if (!r && r.error() != make_error_code(NetworkError::NoRoute) && !is_transient(r.error())) co_return r.error();
      last_error = r.error();
    }
    if (evicted) continue;
    // Worth waiting for: a kind still connecting whose last attempt was not refused. A refused
    // kind retries after a backoff, longer than a caller should wait to learn nothing is there.
    bool connecting = false;
    for (WireKind kind : route)
      connecting = connecting || (snap.live.contains(kind) && !snap.ready.contains(kind) && !snap.refused.contains(kind));
    // Every Ready kind failed transiently. If another candidate is still connecting, wait for it
    // (below); otherwise the transient error is the answer (the caller's retry policy decides).
    if (last_error && last_error != make_error_code(NetworkError::NoRoute) && !connecting) co_return last_error;
    if (!snap.ready.intersects(candidates) && !connecting && snap.refused.intersects(candidates)) {
      co_return snap.refusal;  // typed (connection refused, host unreachable), at once
    }
    if (!snap.live.intersects(candidates)) {
      spdlog::debug("actr: send to {}: all transport candidates exhausted", pool.dest().to_string());
      // A kind that gave up on a permanent failure says why (a TLS refusal is not "no route").
      if (auto why = pool.permanent_failure()) co_return why;
      co_return make_error_code(NetworkError::NoRoute);
    }
    if (Clock::now() >= deadline) co_return make_error_code(NetworkError::TimeoutError);
    auto w = co_await pool.async_wait_change(snap.version, deadline);
    if (!w) co_return w.error();
  }
}

asio::awaitable<Result<void>> DestTransport::retry_failed_connections(std::shared_ptr<DestTransport> self,
                                                                      std::shared_ptr<WireBuilder> builder) {
  const WireKindSet wanted = self->failed_kinds();
  co_return co_await build_into(std::move(self), std::move(builder), wanted);
}

asio::awaitable<Result<void>> DestTransport::fill_missing_connections(std::shared_ptr<DestTransport> self,
                                                                      std::shared_ptr<WireBuilder> builder) {
  const WireKindSet wanted = self->missing_kinds();
  co_return co_await build_into(std::move(self), std::move(builder), wanted);
}

asio::awaitable<Result<void>> DestTransport::build_into(std::shared_ptr<DestTransport> self,
                                                        std::shared_ptr<WireBuilder> builder, WireKindSet wanted) {
  if (wanted.empty() || self->is_closed()) co_return ok();
  auto handles = co_await builder->create_connections(self->dest(), wanted);
  if (!handles) co_return handles.error();
  if (handles->empty()) co_return make_error_code(NetworkError::ConfigurationError);
  for (auto& h : *handles) {
    if (!wanted.contains(h->kind()) || !self->pool_->add_connection_smart(h)) {
      // Not needed after all (a concurrent repair won): close instead of leaking (reference §4.3).
      asio::steady_timer bound(co_await asio::this_coro::executor, std::chrono::seconds{1});
      co_await (h->close() || bound.async_wait(use_ec));
    }
  }
  co_return ok();
}

bool DestTransport::has_healthy_connection() const {
  for (std::size_t i = 0; i < kWireKindCount; ++i) {
    auto h = pool_->get_connection(static_cast<WireKind>(i));
    if (h && h->is_connected()) return true;
  }
  return false;
}

bool DestTransport::has_live_candidate() const { return !pool_->snapshot().live.empty(); }

WireKindSet DestTransport::failed_kinds() const {
  WireKindSet s;
  for (std::size_t i = 0; i < kWireKindCount; ++i) {
    auto k = static_cast<WireKind>(i);
    auto st = pool_->state(k);
    if (st == SlotState::Failed) s.add(k);
  }
  return s;
}

WireKindSet DestTransport::missing_kinds() const {
  WireKindSet s;
  for (std::size_t i = 0; i < kWireKindCount; ++i) {
    auto k = static_cast<WireKind>(i);
    auto st = pool_->state(k);
    if (st == SlotState::Failed || st == SlotState::Empty) s.add(k);
  }
  return s;
}

void DestTransport::close_connection(WireKind kind) {
  pool_->mark_closed(kind, make_error_code(NetworkError::ConnectionClosed));
}

asio::awaitable<void> DestTransport::close(Error why) { co_await pool_->close_all(why); }

void DestTransport::abort() { pool_->abort(); }

}  // namespace actr
