#include <actr/error.hpp>
#include <actr/route_table.hpp>
#include <actr/unreachable_cache.hpp>
#include <actr/wire_pool.hpp>

#include "detail/asio.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace actr {

using namespace detail;

std::string_view to_string(SlotState s) noexcept {
  switch (s) {
    case SlotState::Empty: return "Empty";
    case SlotState::Connecting: return "Connecting";
    case SlotState::Ready: return "Ready";
    case SlotState::Failed: return "Failed";
  }
  return "Unknown";
}

namespace {
std::size_t idx(WireKind k) { return static_cast<std::size_t>(k); }
bool is_cancelled_state(asio::cancellation_state cs) { return cs.cancelled() != asio::cancellation_type::none; }
}  // namespace

std::shared_ptr<WirePool> WirePool::create(asio::any_io_executor ex, Dest dest, WirePoolConfig cfg,
                                           std::shared_ptr<EventBus> events) {
  Backoff::validate(cfg.connect_backoff);  // here, not in the connect task (see the header)
  return std::shared_ptr<WirePool>(new WirePool(std::move(ex), std::move(dest), cfg, std::move(events)));
}

WirePool::WirePool(asio::any_io_executor ex, Dest dest, WirePoolConfig cfg, std::shared_ptr<EventBus> events)
    : ex_(ex), dest_(std::move(dest)), cfg_(cfg), events_(std::move(events)), tasks_(ex) {}

WirePool::~WirePool() { abort(); }

void WirePool::emit(const WireIdentity& id, ConnectionState st, Error why) {
  if (events_) events_->publish(ConnectionEvent{dest_, id, st, why});
}

void WirePool::add_connection(std::shared_ptr<WireHandle> h) {
  std::shared_ptr<WireHandle> replaced;
  {
    std::lock_guard lk(mu_);
    if (!closed_) {
      auto& slot = slots_[idx(h->kind())];
      replaced = std::move(slot.handle);
      slot.take(h, SlotState::Connecting);  // standbys stay: they are live connections of the peer's
    } else {
      replaced = std::move(h);  // closed pool: the new handle is closed, never published
    }
  }
  if (replaced) retire(std::move(replaced));
  if (h) start(std::move(h));
}

bool WirePool::add_connection_smart(std::shared_ptr<WireHandle> h) {
  {
    std::lock_guard lk(mu_);
    if (holds_locked(h.get())) return true;
    auto& slot = slots_[idx(h->kind())];
    if (closed_ || slot.state == SlotState::Ready || slot.state == SlotState::Connecting) return false;
    slot.take(h, SlotState::Connecting);
  }
  start(std::move(h));
  return true;
}

bool WirePool::holds_locked(const WireHandle* h) const {
  const auto& s = slots_[idx(h->kind())];
  if (s.handle.get() == h) return true;
  for (const auto& w : s.standby)
    if (w.get() == h) return true;
  return false;
}

bool WirePool::adopt_inbound(std::shared_ptr<WireHandle> h) {
  if (!h->is_connected()) {  // not usable yet: connect it like a dialed wire (fills Empty/Failed only)
    return add_connection_smart(std::move(h));
  }
  std::vector<std::shared_ptr<WireHandle>> dead;
  bool ready_now = false;
  bool reconnect = false;
  {
    std::lock_guard lk(mu_);
    if (closed_) return false;
    if (holds_locked(h.get())) return true;
    auto& s = slots_[idx(h->kind())];
    const auto before = s.state;
    if (h->kind() == WireKind::WebRtc) {
      // One peer connection per pair: the newest replaces every older one.
      if (s.handle) dead.push_back(std::move(s.handle));
      for (auto& w : s.standby) dead.push_back(std::move(w));
      s.standby.clear();
      ready_now = true;
    } else if (s.state == SlotState::Connecting) {
      s.standby.push_back(h);  // our own dial decides; promoted if it fails
    } else {
      if (s.state == SlotState::Ready && s.handle) s.standby.push_back(std::move(s.handle));
      ready_now = true;
    }
    if (ready_now) {
      reconnect = note_ready_locked(h->kind(), before);
      s.take(h, SlotState::Ready);
    }
  }
  if (reconnect && cfg_.dial_metrics) cfg_.dial_metrics->record_reconnect(h->kind());
  for (auto& w : dead) {
    // A replaced WebRTC connection is gone like one that died: its session ends with Closed
    // (nothing else will say so — its own death no longer matches the pool).
    emit(w->identity(), ConnectionState::Closed, make_error_code(NetworkError::ConnectionClosed));
    retire(std::move(w));
  }
  watch(h);  // outside the lock: a wire that died meanwhile reports at once
  if (ready_now) {
    changes_.notify();
    emit(h->identity(), ConnectionState::Connected);
  }
  return true;
}

// A kind that had a Ready wire, lost it and has one again (our dial or the peer's) reconnected;
// a newer inbound WebSocket connection beside a Ready one is not a reconnect. Caller holds mu_.
bool WirePool::note_ready_locked(WireKind kind, SlotState before) {
  const bool again = was_ready_[idx(kind)] && before != SlotState::Ready;
  was_ready_[idx(kind)] = true;
  return again;
}

std::size_t WirePool::standby_count(WireKind kind) const {
  std::lock_guard lk(mu_);
  std::size_t n = 0;
  for (const auto& w : slots_[idx(kind)].standby) n += w->is_connected() ? 1 : 0;
  return n;
}

// The newest connected standby takes the slot (Ready); dead ones found on the way are handed back
// for closing. Caller holds mu_.
bool WirePool::promote_locked(Slot& s, std::vector<std::shared_ptr<WireHandle>>& dead) {
  while (!s.standby.empty()) {
    auto w = std::move(s.standby.back());
    s.standby.pop_back();
    if (!w->is_connected()) {
      dead.push_back(std::move(w));
      continue;
    }
    const auto attempts = s.attempts;
    s.take(std::move(w), SlotState::Ready);
    s.attempts = attempts;
    return true;
  }
  return false;
}

void WirePool::watch(const std::shared_ptr<WireHandle>& h) {
  std::weak_ptr<WirePool> weak = weak_from_this();
  h->set_on_closed([weak](const WireIdentity& id, Error why) {
    if (auto self = weak.lock()) self->mark_closed_if_same(id, why);
  });
}

WirePool::Refusal WirePool::record_refusal(const std::shared_ptr<WireHandle>& h, const Error& why) {
  std::lock_guard lk(mu_);
  auto& s = slots_[idx(h->kind())];
  if (closed_ || s.handle != h || s.state != SlotState::Connecting) return Refusal::Gone;
  if (!s.standby.empty()) return Refusal::StandbyCarriesOn;
  s.refusal = why;
  return Refusal::Noted;
}

// Publishes Connecting and starts the connect task; the slot already holds `h`.
void WirePool::start(std::shared_ptr<WireHandle> h) {
  watch(h);
  changes_.notify();
  emit(h->identity(), ConnectionState::Connecting);
  auto id = tasks_.spawn("connect", [self = shared_from_this(), h]() -> asio::awaitable<void> {
    co_await self->connect_loop(h);
  });
  if (id == 0) abort();  // raced with abort(): nothing may stay Connecting without a task
}

asio::awaitable<void> WirePool::connect_loop(std::shared_ptr<WireHandle> h) {
  co_await asio::this_coro::throw_if_cancelled(false);
  auto cs = co_await asio::this_coro::cancellation_state;
  auto ex = co_await asio::this_coro::executor;
  const auto k = idx(h->kind());
  Backoff backoff(cfg_.connect_backoff);
  const auto started = Clock::now();
  Error last = make_error_code(NetworkError::ConnectionError);

  auto still_connecting = [&] {
    std::lock_guard lk(mu_);
    return !closed_ && slots_[k].handle == h && slots_[k].state == SlotState::Connecting;
  };

  for (;;) {
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    auto delay = backoff.next_delay(elapsed);
    if (!delay || is_cancelled_state(cs)) break;
    if (delay->count() > 0) {
      asio::steady_timer t(ex, *delay);
      co_await t.async_wait(use_ec);
      if (is_cancelled_state(cs)) break;
    }
    if (!still_connecting()) co_return;  // replaced or closed: its new owner handles the handle
    {
      std::lock_guard lk(mu_);
      ++slots_[k].attempts;
    }
    asio::steady_timer timeout(ex, cfg_.connect_timeout);
    const auto attempt_started = Clock::now();
    auto r = co_await (h->connect() || timeout.async_wait(use_ec));
    Result<void> res = r.index() == 0 ? std::get<0>(r) : Result<void>(make_error_code(NetworkError::TimeoutError));
    if (cfg_.dial_metrics)
      cfg_.dial_metrics->record(h->kind(), Clock::now() - attempt_started, res ? Error{} : res.error());
    if (res) {
      bool published = false;
      bool reconnect = false;
      {
        std::lock_guard lk(mu_);
        // Publish only if nobody closed the pool or replaced the handle meanwhile (H-WP-1).
        if (!closed_ && slots_[k].handle == h && slots_[k].state == SlotState::Connecting) {
          slots_[k].state = SlotState::Ready;
          slots_[k].refusal = {};
          published = true;
          reconnect = note_ready_locked(h->kind(), SlotState::Connecting);
        }
      }
      if (reconnect && cfg_.dial_metrics) cfg_.dial_metrics->record_reconnect(h->kind());
      if (published) {
        changes_.notify();
        emit(h->identity(), ConnectionState::Connected);
      } else {
        co_await close_handle(h);
      }
      co_return;
    }
    last = res.error();
    spdlog::debug("actr: connect {} {} failed: {}", dest_.to_string(), to_string(h->kind()), last.message());
    if (is_cancelled_state(cs)) break;
    // Nothing listens there now: senders stop waiting for this kind (they get the refusal at
    // once) while the attempts go on in the background for a peer that is coming back.
    if (is_refusal(last)) {
      const auto noted = record_refusal(h, last);
      if (noted == Refusal::Noted) changes_.notify();
      if (noted == Refusal::StandbyCarriesOn) break;  // below: the peer's own connection takes the slot
    }
    // Retrying cannot fix a permanent failure (a certificate the dialer does not trust, a bad
    // URL): give up at once, so senders get the cause now instead of after the backoff or
    // as their own deadline.
    if (last == NetworkCondition::Permanent) {
      std::lock_guard lk(mu_);
      permanent_failure_ = last;
      break;
    }
  }
  if (is_cancelled_state(cs)) last = make_error_code(NetworkError::Cancelled);

  bool failed = false;
  bool promoted = false;
  bool exhausted = false;
  std::vector<std::shared_ptr<WireHandle>> dead;
  {
    std::lock_guard lk(mu_);
    if (slots_[k].handle == h && slots_[k].state == SlotState::Connecting) {
      slots_[k].handle.reset();
      // The peer's own connection, waiting as a standby, carries on where our dial failed.
      promoted = promote_locked(slots_[k], dead);
      if (!promoted) slots_[k].state = SlotState::Failed;
      failed = !promoted;
      exhausted = exhausted_locked();
    }
  }
  for (auto& w : dead) retire(std::move(w));
  if (promoted) {
    changes_.notify();
    emit(h->identity(), ConnectionState::Failed, last);
  } else if (failed) {
    // Published, unlike the original, so waiting senders re-evaluate instead of hanging (§13 item 22).
    changes_.notify();
    emit(h->identity(), ConnectionState::Failed, last);
    after_failure(exhausted);
  }
  co_await close_handle(h);
}

asio::awaitable<void> WirePool::close_handle(std::shared_ptr<WireHandle> h) const {
  asio::steady_timer bound(co_await asio::this_coro::executor, cfg_.close_timeout);
  try {
    co_await (h->close() || bound.async_wait(use_ec));
  } catch (const std::exception& e) {
    spdlog::warn("actr: closing {} wire of {}: {}", to_string(h->kind()), dest_.to_string(), e.what());
  }
}

void WirePool::retire(std::shared_ptr<WireHandle> h) {
  h->begin_close();  // the close below runs later; until then the wire must not look usable
  auto id = tasks_.spawn("close-wire", [self = shared_from_this(), h]() -> asio::awaitable<void> {
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await self->close_handle(h);
  });
  // id == 0: the pool is shut down; dropping the last reference releases the wire's resources.
  (void)id;
}

std::shared_ptr<WireHandle> WirePool::get_connection(WireKind kind) const {
  std::lock_guard lk(mu_);
  const auto& s = slots_[idx(kind)];
  return s.state == SlotState::Ready ? s.handle : nullptr;
}

ReadyLane WirePool::ready_lane(PayloadType pt) {
  const auto p = static_cast<std::size_t>(pt);
  for (WireKind kind : route_for(pt)) {
    std::shared_ptr<WireHandle> h;
    {
      std::lock_guard lk(mu_);
      auto& s = slots_[idx(kind)];
      if (s.state != SlotState::Ready) continue;
      if (s.lanes[p]) return {s.handle, s.lanes[p]};
      h = s.handle;
    }
    // get_lane takes the wire's own lock: never while holding ours.
    auto lane = h->get_lane(pt);
    if (!lane) return {};
    {
      std::lock_guard lk(mu_);
      auto& s = slots_[idx(kind)];
      if (s.state == SlotState::Ready && s.handle == h) s.lanes[p] = *lane;
    }
    return {std::move(h), std::move(*lane)};
  }
  return {};
}

void WirePool::drop_cached_lane(const WireIdentity& id, PayloadType pt) {
  std::lock_guard lk(mu_);
  auto& s = slots_[idx(id.kind)];
  if (s.handle && s.handle->identity() == id) s.lanes[static_cast<std::size_t>(pt)].reset();
}

SlotState WirePool::state(WireKind kind) const {
  std::lock_guard lk(mu_);
  return slots_[idx(kind)].state;
}

std::uint32_t WirePool::connect_attempts(WireKind kind) const {
  std::lock_guard lk(mu_);
  return slots_[idx(kind)].attempts;
}

Error WirePool::permanent_failure() const {
  std::lock_guard lk(mu_);
  return permanent_failure_;
}

PoolSnapshot WirePool::snapshot() const {
  PoolSnapshot snap;
  snap.version = changes_.version();  // read before the state: see Notifier's protocol
  std::lock_guard lk(mu_);
  snap.closed = closed_;
  for (std::size_t i = 0; i < kWireKindCount; ++i) {
    auto k = static_cast<WireKind>(i);
    if (slots_[i].state == SlotState::Ready) {
      snap.ready.add(k);
      snap.live.add(k);
    } else if (slots_[i].state == SlotState::Connecting) {
      snap.live.add(k);
      if (slots_[i].refusal) {
        snap.refused.add(k);
        snap.refusal = slots_[i].refusal;
      }
    }
  }
  return snap;
}

asio::awaitable<Result<void>> WirePool::async_wait_change(std::uint64_t seen, Deadline deadline) {
  return changes_.async_wait_change(seen, deadline);
}

bool WirePool::has_live_candidate(WireKindSet kinds) const { return snapshot().live.intersects(kinds); }

bool WirePool::connection_matches_identity(const WireIdentity& id) const {
  std::lock_guard lk(mu_);
  const auto& s = slots_[idx(id.kind)];
  return s.state == SlotState::Ready && s.handle && s.handle->identity() == id;
}

bool WirePool::exhausted_locked() const {
  for (const auto& s : slots_)
    if (s.state == SlotState::Ready || s.state == SlotState::Connecting) return false;
  return true;
}

void WirePool::after_failure(bool exhausted) {
  if (!exhausted) return;
  std::function<void()> cb;
  {
    std::lock_guard lk(mu_);
    cb = on_exhausted_;
  }
  if (cb) cb();
}

std::shared_ptr<WireHandle> WirePool::take_standby_locked(Slot& s, const WireIdentity& id) {
  auto it = std::find_if(s.standby.begin(), s.standby.end(), [&](const auto& w) { return w->identity() == id; });
  if (it == s.standby.end()) return nullptr;
  auto h = std::move(*it);
  s.standby.erase(it);
  return h;
}

// Moves a live slot to Failed (only if it still holds `expected`, when given) unless a standby
// can take its place; `expected` may also name a standby, which is just removed. Then — outside
// the lock — publishes, reports, closes the handles and checks for exhaustion.
bool WirePool::fail_slot(WireKind kind, const WireIdentity* expected, Error why) {
  std::shared_ptr<WireHandle> h;
  std::vector<std::shared_ptr<WireHandle>> dead;
  bool exhausted = false;
  bool promoted = false;
  {
    std::lock_guard lk(mu_);
    if (closed_) return false;
    auto& s = slots_[idx(kind)];
    if (expected) h = take_standby_locked(s, *expected);
    if (!h) {
      if (s.state == SlotState::Empty || s.state == SlotState::Failed) return false;
      if (expected && (s.state != SlotState::Ready || !s.handle || !(s.handle->identity() == *expected))) return false;
      h = std::move(s.handle);
      s.lanes = {};
      if (!expected) {  // an explicit close of the kind closes its standbys too
        for (auto& w : s.standby) dead.push_back(std::move(w));
        s.standby.clear();
      }
      promoted = promote_locked(s, dead);
      if (!promoted) s.state = SlotState::Failed;
      exhausted = exhausted_locked();
    } else {
      // A standby died: nothing a sender sees changed.
      h->begin_close();
    }
  }
  for (auto& w : dead) retire(std::move(w));
  changes_.notify();
  if (h) {
    emit(h->identity(), ConnectionState::Closed, why);
    retire(std::move(h));
  }
  after_failure(exhausted);
  return true;
}

bool WirePool::mark_closed_if_same(const WireIdentity& id, Error why) { return fail_slot(id.kind, &id, why); }

void WirePool::mark_closed(WireKind kind, Error why) { (void)fail_slot(kind, nullptr, why); }

std::vector<std::shared_ptr<WireHandle>> WirePool::take_all_locked() {
  std::vector<std::shared_ptr<WireHandle>> hs;
  for (auto& s : slots_) {
    if (s.handle) hs.push_back(std::move(s.handle));
    for (auto& w : s.standby) hs.push_back(std::move(w));
    s = Slot{};
  }
  on_exhausted_ = nullptr;
  return hs;
}

asio::awaitable<void> WirePool::close_all(Error why) {
  try {
    co_await close_all_impl(why);
  } catch (const std::exception&) {
    abort();  // the caller's coroutine was cancelled mid-close: finish synchronously
  }
}

asio::awaitable<void> WirePool::close_all_impl(Error why) {
  auto self = shared_from_this();
  std::vector<std::shared_ptr<WireHandle>> hs;
  {
    std::lock_guard lk(mu_);
    if (closed_) co_return;
    closed_ = true;
    close_reason_ = why ? why : make_error_code(NetworkError::ConnectionClosed);
    hs = take_all_locked();
  }
  changes_.notify();
  for (auto& h : hs) emit(h->identity(), ConnectionState::Closed);
  tasks_.cancel_all();
  for (auto& h : hs) co_await close_handle(h);
  auto r = co_await tasks_.async_wait_idle(Clock::now() + cfg_.close_timeout);
  if (!r) spdlog::warn("actr: {} pool tasks still running after close of {}", tasks_.size(), dest_.to_string());
  tasks_.close();
}

void WirePool::abort() {
  std::vector<std::shared_ptr<WireHandle>> hs;
  bool was_open = false;
  {
    std::lock_guard lk(mu_);
    was_open = !closed_;
    closed_ = true;
    if (!close_reason_) close_reason_ = make_error_code(NetworkError::ConnectionClosed);
    hs = take_all_locked();
  }
  tasks_.close();
  if (was_open) changes_.notify();
  // hs released here: a WireHandle's destructor releases its resources without awaiting.
}

Error WirePool::close_reason() const {
  std::lock_guard lk(mu_);
  return close_reason_;
}

bool WirePool::is_closed() const {
  std::lock_guard lk(mu_);
  return closed_;
}

void WirePool::set_on_exhausted(std::function<void()> cb) {
  std::lock_guard lk(mu_);
  on_exhausted_ = std::move(cb);
}

}  // namespace actr
