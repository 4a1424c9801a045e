// The WebRTC wire, recovery: a dropped connection is rebuilt by the offerer (restart offers with
// backoff, cut short by the answerer's restart requests) until `recovery_timeout`, then the wire
// reports closed. webrtcbin 1.22 cannot restart ICE in place: every attempt is a new connection.
#include "wire/webrtc/rtc_wire.hpp"

#include <actr/backoff.hpp>
#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace actr {

using namespace detail;
using Impl = WebRtcWire::Impl;
using Phase = Impl::Phase;

void Impl::report_connection_lost() {
  std::weak_ptr<Impl> weak = weak_from_this();
  asio::post(strand, [weak] {
    auto self = weak.lock();
    if (!self) return;
    Later later;
    {
      std::lock_guard lk(self->mu);
      self->enter_recovery_locked(later, false);
    }
    run(later);
  });
}

void Impl::enter_recovery_locked(Later& later, bool by_remote_offer) {
  if (phase != Phase::Open) return;
  phase = Phase::Recovering;
  connected.store(false, std::memory_order_release);
  if (gen) gen->lost = true;
  const auto now = Clock::now();
  recovery_deadline = now + cfg.recovery_timeout;
  answerer_request_due = by_remote_offer ? now + cfg.restart_attempt_timeout : now;
  restart_requested = false;
  spdlog::info("actr: webrtc[{}] connection lost; recovering ({} ms at most)", session, cfg.recovery_timeout.count());
  later.push_back([this] {
    notify_all();
    auto self = shared_from_this();
    tasks.spawn("webrtc-recovery", [self]() -> asio::awaitable<void> {
      if (self->offerer) {
        co_await self->recover_as_offerer();
      } else {
        co_await self->recover_as_answerer();
      }
    });
  });
}

// Waits until `done()` (checked under mu) or `until`. Returns false on cancellation.
asio::awaitable<bool> Impl::wait_change(Deadline until, std::function<bool()> done) {
  for (;;) {
    const auto seen = changed.version();
    {
      std::lock_guard lk(mu);
      if (done()) co_return true;
    }
    auto w = co_await changed.async_wait_change(seen, until);
    if (!w) co_return w.error() != NetworkError::Cancelled;
  }
}

asio::awaitable<void> Impl::recover_as_offerer() {
  Backoff backoff(cfg.restart_backoff);
  Deadline deadline;
  {
    std::lock_guard lk(mu);
    deadline = recovery_deadline;
  }
  auto recovering = [this] { return phase == Phase::Recovering; };
  Deadline last_offer{};
  for (;;) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (last_offer != Deadline{} && now < last_offer + cfg.restart_min_interval) {
      const bool alive = co_await wait_change(std::min(last_offer + cfg.restart_min_interval, deadline),
                                              [&] { return !recovering(); });
      if (!alive) co_return;
      continue;
    }
    Later later;
    std::shared_ptr<Gen> g;
    {
      std::lock_guard lk(mu);
      if (!recovering()) co_return;
      restart_requested = false;
      g = new_gen_locked(true, later);
    }
    run(later);
    last_offer = Clock::now();
    if (!invoke([pc = g->pc] { pc->start(); })) break;
    // This attempt: until the channels open, it fails, or its time is up.
    const auto attempt_end = std::min(last_offer + cfg.restart_attempt_timeout, deadline);
    const bool attempted = co_await wait_change(attempt_end, [&] { return !recovering() || bool(g->failure); });
    if (!attempted) co_return;
    {
      std::lock_guard lk(mu);
      if (!recovering()) co_return;
    }
    // Failed or timed out: back off, unless the answerer asks for a restart now.
    const auto delay = backoff.next_delay().value_or(cfg.restart_backoff.max);
    const bool waited = co_await wait_change(std::min(Clock::now() + delay, deadline),
                                             [&] { return !recovering() || restart_requested; });
    if (!waited) co_return;
  }
  Later later;
  {
    std::lock_guard lk(mu);
    if (recovering()) {
      spdlog::info("actr: webrtc[{}] recovery gave up after {} ms", session, cfg.recovery_timeout.count());
      die_locked(later, make_error_code(NetworkError::PeerConnectionClosed));
    }
  }
  run(later);
}

asio::awaitable<void> Impl::recover_as_answerer() {
  for (;;) {
    Deadline deadline, due;
    {
      std::lock_guard lk(mu);
      if (phase != Phase::Recovering) co_return;
      deadline = recovery_deadline;
      due = answerer_request_due;
    }
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (now >= due) {
      PeerSignal s;
      s.kind = PeerSignal::Kind::IceRestartRequest;
      s.reason = "connection lost";
      push_signal(std::move(s));
      std::lock_guard lk(mu);
      answerer_request_due = now + std::max(cfg.restart_min_interval, cfg.restart_attempt_timeout);
      continue;
    }
    const bool waited = co_await wait_change(std::min(due, deadline), [this] { return phase != Phase::Recovering; });
    if (!waited) co_return;
  }
  Later later;
  {
    std::lock_guard lk(mu);
    if (phase == Phase::Recovering) die_locked(later, make_error_code(NetworkError::PeerConnectionClosed));
  }
  run(later);
}

}  // namespace actr
