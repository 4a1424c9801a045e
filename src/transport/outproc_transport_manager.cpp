#include <actr/error.hpp>
#include <actr/outproc_transport_manager.hpp>
#include <actr/unreachable_cache.hpp>

#include "detail/asio.hpp"

#include <spdlog/spdlog.h>

#include <unordered_map>
#include <variant>

namespace actr {

using namespace detail;

// One in-flight dial. Level-triggered: `result` is set once, under the manager lock, and
// `done.notify()` follows; a waiter that arrives after the dial finished reads `result` directly.
struct DialSlot {
  explicit DialSlot(Dest d) : dest(std::move(d)) {}
  const Dest dest;
  std::optional<Result<std::shared_ptr<DestTransport>>> result;  // guarded by Impl::mu
  std::size_t waiters = 0;                                        // guarded by Impl::mu
  TaskGroup::TaskId task = 0;                                     // guarded by Impl::mu
  Notifier done;
};

struct OutprocTransportManager::Impl : std::enable_shared_from_this<Impl> {
  using Entry = std::variant<std::shared_ptr<DialSlot>, std::shared_ptr<DestTransport>>;

  Impl(asio::any_io_executor e, ActrId id, std::shared_ptr<WireBuilder> b, ManagerConfig c,
       std::shared_ptr<EventBus> ev)
      : ex(e), local_id(std::move(id)), builder(std::move(b)), cfg(c),
        events(ev ? std::move(ev) : std::make_shared<EventBus>()), tasks(e) {}

  const asio::any_io_executor ex;
  const ActrId local_id;
  const std::shared_ptr<WireBuilder> builder;
  const ManagerConfig cfg;
  const std::shared_ptr<EventBus> events;
  TaskGroup tasks;
  std::atomic<std::uint64_t> dials{0};

  // Lock order: Impl::mu is taken first and alone; no other lock (pool, wire, notifier, task
  // group) is acquired while it is held, except TaskGroup/Notifier leaf locks via cancel/notify
  // calls made after it is released. Nothing is awaited while it is held.
  mutable std::mutex mu;
  std::unordered_map<Dest, Entry> map;
  std::unordered_map<Dest, int> closing;
  UnreachableCache unreachable{cfg.unreachable};  // destinations whose dials were just refused
  bool stopped = false;

  std::shared_ptr<DestTransport> find_transport(const Dest& d) const {
    std::lock_guard lk(mu);
    auto it = map.find(d);
    if (it == map.end()) return nullptr;
    auto* t = std::get_if<std::shared_ptr<DestTransport>>(&it->second);
    return t ? *t : nullptr;
  }

  // Sets the slot's result if nobody did yet and removes it from the map if it is still there.
  // Returns the dial task to cancel (0 if none). Caller holds `mu`.
  TaskGroup::TaskId resolve_locked(const std::shared_ptr<DialSlot>& slot, Error why) {
    if (slot->result) return 0;
    slot->result = Result<std::shared_ptr<DestTransport>>(why);
    auto it = map.find(slot->dest);
    if (it != map.end()) {
      auto* s = std::get_if<std::shared_ptr<DialSlot>>(&it->second);
      if (s && *s == slot) map.erase(it);
    }
    return slot->task;
  }

  void resolve(const std::shared_ptr<DialSlot>& slot, Error why) {
    TaskGroup::TaskId task = 0;
    {
      std::lock_guard lk(mu);
      task = resolve_locked(slot, why);
    }
    slot->done.notify();
    if (task) tasks.cancel(task);
  }

  static asio::awaitable<Result<std::shared_ptr<DestTransport>>> get_or_create(std::shared_ptr<Impl> self, Dest dest,
                                                                               Deadline deadline);
  static asio::awaitable<Result<std::shared_ptr<DestTransport>>> wait_slot(std::shared_ptr<Impl> self,
                                                                           std::shared_ptr<DialSlot> slot,
                                                                           Deadline deadline);
  static asio::awaitable<void> dial(std::shared_ptr<Impl> self, std::shared_ptr<DialSlot> slot);
  static asio::awaitable<Result<WireIdentity>> send(std::shared_ptr<Impl> self, std::optional<Dest> dest,
                                                    std::shared_ptr<DestTransport> t, PayloadType pt,
                                                    ConstBytes bytes, Deadline deadline);
  static asio::awaitable<Result<WireIdentity>> send_fast(std::shared_ptr<DestTransport> t, ReadyLane rl, PayloadType pt,
                                                         ConstBytes bytes, Deadline deadline);
  static asio::awaitable<void> health_loop(std::shared_ptr<Impl> self, std::chrono::milliseconds interval);
  static asio::awaitable<void> check_once(std::shared_ptr<Impl> self);

  void evict_if_same(const Dest& dest, const std::shared_ptr<DestTransport>& t);
  // When every wire of `t` is gone, remove it (if still current) so the next send dials afresh.
  void evict_when_exhausted(const Dest& dest, const std::shared_ptr<DestTransport>& t) {
    std::weak_ptr<Impl> weak_self = weak_from_this();
    std::weak_ptr<DestTransport> weak_t = t;
    t->pool().set_on_exhausted([weak_self, weak_t, dest] {
      auto s = weak_self.lock();
      auto tt = weak_t.lock();
      if (s && tt) s->evict_if_same(dest, tt);
    });
  }
  void shutdown();
};

asio::awaitable<Result<std::shared_ptr<DestTransport>>> OutprocTransportManager::Impl::get_or_create(
    std::shared_ptr<Impl> self, Dest dest, Deadline deadline) {
  std::shared_ptr<DialSlot> slot;
  bool creator = false;
  {
    std::lock_guard lk(self->mu);
    if (self->stopped) co_return make_error_code(NetworkError::ShuttingDown);
    if (self->closing.contains(dest)) co_return make_error_code(NetworkError::ConnectionClosed);
    auto it = self->map.find(dest);
    if (it != self->map.end()) {
      if (auto* t = std::get_if<std::shared_ptr<DestTransport>>(&it->second)) co_return *t;
      slot = std::get<std::shared_ptr<DialSlot>>(it->second);
    } else {
      // Creator and joiner are decided atomically here; the dial itself runs as a task owned by
      // the manager, so no caller's fate (timeout, cancellation) can strand the others (H-MGR-2/3).
      slot = std::make_shared<DialSlot>(dest);
      self->map.emplace(dest, slot);
      creator = true;
    }
    ++slot->waiters;
  }
  if (creator) {
    self->dials.fetch_add(1, std::memory_order_relaxed);
    auto id = self->tasks.spawn("dial", [self, slot]() -> asio::awaitable<void> { co_await dial(self, slot); });
    bool cancel_now = false;
    {
      std::lock_guard lk(self->mu);
      slot->task = id;
      cancel_now = slot->result.has_value();  // every waiter left before we stored the id
    }
    if (id == 0) self->resolve(slot, make_error_code(NetworkError::ShuttingDown));
    else if (cancel_now) self->tasks.cancel(id);
  }
  co_return co_await wait_slot(self, std::move(slot), deadline);
}

asio::awaitable<Result<std::shared_ptr<DestTransport>>> OutprocTransportManager::Impl::wait_slot(
    std::shared_ptr<Impl> self, std::shared_ptr<DialSlot> slot, Deadline deadline) {
  for (;;) {
    const auto seen = slot->done.version();
    {
      std::lock_guard lk(self->mu);
      if (slot->result) {
        --slot->waiters;
        co_return *slot->result;
      }
    }
    auto w = co_await slot->done.async_wait_change(seen, deadline);
    if (w) continue;
    // Giving up (deadline or cancellation). The last waiter out cancels the dial.
    TaskGroup::TaskId task = 0;
    {
      std::lock_guard lk(self->mu);
      if (slot->result) {  // it finished meanwhile: level-triggered, take it
        --slot->waiters;
        co_return *slot->result;
      }
      if (--slot->waiters == 0) task = self->resolve_locked(slot, make_error_code(NetworkError::Cancelled));
    }
    if (task) {
      slot->done.notify();
      self->tasks.cancel(task);
    }
    co_return w.error();
  }
}

asio::awaitable<void> OutprocTransportManager::Impl::dial(std::shared_ptr<Impl> self, std::shared_ptr<DialSlot> slot) {
  co_await asio::this_coro::throw_if_cancelled(false);
  auto cs = co_await asio::this_coro::cancellation_state;
  // If this frame is destroyed without finishing (executor destroyed, exception), the waiters
  // are failed instead of left hanging.
  struct FailWaitersOnExit {
    Impl* impl;
    std::shared_ptr<DialSlot> slot;
    ~FailWaitersOnExit() { impl->resolve(slot, make_error_code(NetworkError::Cancelled)); }
  } guard{self.get(), slot};

  asio::steady_timer bound(co_await asio::this_coro::executor, self->cfg.dial_timeout);
  auto r = co_await (self->builder->create_connections(slot->dest, WireKindSet::all()) || bound.async_wait(use_ec));
  Result<std::vector<std::shared_ptr<WireHandle>>> handles =
      r.index() == 0 ? std::get<0>(std::move(r)) : make_error_code(NetworkError::TimeoutError);
  if (cs.cancelled() != asio::cancellation_type::none) handles = make_error_code(NetworkError::Cancelled);
  if (handles && handles->empty()) handles = make_error_code(NetworkError::ConfigurationError);
  if (!handles) {
    self->resolve(slot, handles.error());
    co_return;
  }

  // The peer connected to us while we dialed (adopt_inbound installed a transport around its
  // connection): our wires join that transport instead of replacing it.
  std::shared_ptr<DestTransport> joined;
  {
    std::lock_guard lk(self->mu);
    auto it = self->map.find(slot->dest);
    if (!self->stopped && slot->result && *slot->result && it != self->map.end() &&
        std::get_if<std::shared_ptr<DestTransport>>(&it->second) &&
        std::get<std::shared_ptr<DestTransport>>(it->second) == **slot->result &&
        cs.cancelled() == asio::cancellation_type::none)
      joined = **slot->result;
  }
  if (joined) {
    for (auto& h : *handles) {
      if (joined->pool().add_connection_smart(h)) continue;
      asio::steady_timer b(co_await asio::this_coro::executor, self->cfg.pool.close_timeout);
      co_await (h->close() || b.async_wait(use_ec));
    }
    co_return;
  }

  auto transport = DestTransport::create(self->ex, slot->dest, std::move(*handles), self->cfg.pool, self->events);
  self->evict_when_exhausted(slot->dest, transport);

  bool published = false;
  {
    std::lock_guard lk(self->mu);
    auto it = self->map.find(slot->dest);
    // Publish only into our own slot: a close_transport/close_all/shutdown that ran meanwhile
    // removed it, and the destination must not come back from this dial (H-MGR-4/8).
    if (!self->stopped && !slot->result && it != self->map.end() &&
        std::get_if<std::shared_ptr<DialSlot>>(&it->second) &&
        std::get<std::shared_ptr<DialSlot>>(it->second) == slot && cs.cancelled() == asio::cancellation_type::none) {
      it->second = transport;
      slot->result = transport;
      published = true;
    }
  }
  if (!published) {
    self->resolve(slot, make_error_code(NetworkError::ConnectionClosed));
    co_await transport->close();
    co_return;
  }
  slot->done.notify();
  // All wires may have failed before the exhaustion callback could find us in the map.
  if (!transport->has_live_candidate()) self->evict_if_same(slot->dest, transport);
}

void OutprocTransportManager::Impl::evict_if_same(const Dest& dest, const std::shared_ptr<DestTransport>& t) {
  {
    std::lock_guard lk(mu);
    auto it = map.find(dest);
    if (it == map.end()) return;
    auto* cur = std::get_if<std::shared_ptr<DestTransport>>(&it->second);
    if (!cur || *cur != t) return;
    map.erase(it);
  }
  spdlog::debug("actr: evicting transport of {} (no live wire)", dest.to_string());
  // Senders still parked on it learn the real cause: no candidate left, or the permanent
  // failure (e.g. a TLS refusal) that ended a kind's attempts.
  auto why = t->pool().permanent_failure();
  if (!why) why = make_error_code(NetworkError::NoRoute);
  auto id = tasks.spawn("close-transport", [t, why]() -> asio::awaitable<void> {
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await t->close(why);
  });
  if (id == 0) t->abort();
}

asio::awaitable<Result<WireIdentity>> OutprocTransportManager::Impl::send(std::shared_ptr<Impl> self,
                                                                         std::optional<Dest> dest,
                                                                         std::shared_ptr<DestTransport> t,
                                                                         PayloadType pt, ConstBytes bytes,
                                                                         Deadline deadline) {
  // A destination with a Ready wire is up whatever the cache says; otherwise one that refused
  // us a moment ago fails at once (NetworkUnreachable) until a probe finds it back.
  const bool gated = !t || t->pool().snapshot().ready.empty();
  const Dest key = t ? t->dest() : *dest;
  if (gated) {
    std::lock_guard lk(self->mu);
    if (auto refused = self->unreachable.admit(key, Clock::now())) co_return *refused;
  }
  Result<WireIdentity> r = make_error_code(NetworkError::NoRoute);
  if (!t) {
    auto got = co_await get_or_create(self, std::move(*dest), deadline);
    if (got) t = std::move(*got);
    else r = got.error();
  }
  if (t) r = co_await DestTransport::send(t, pt, bytes, deadline);
  if (gated) {
    {
      std::lock_guard lk(self->mu);
      self->unreachable.settle(key, r ? Error{} : r.error(), Clock::now());
    }
    // Nothing listens there: drop the transport, so the cache's probe dials afresh instead of
    // meeting the pool's own backoff.
    if (!r && t && is_refusal(r.error())) self->evict_if_same(key, t);
  }
  co_return r;
}

// Fast path: one lane send on a cached Ready lane. Only a closed-like failure (the wire died
// under us) falls back to the full path, which evicts it and picks the next wire.
asio::awaitable<Result<WireIdentity>> OutprocTransportManager::Impl::send_fast(std::shared_ptr<DestTransport> t,
                                                                              ReadyLane rl, PayloadType pt,
                                                                              ConstBytes bytes, Deadline deadline) {
  auto r = co_await rl.lane->send(bytes);
  if (r) co_return rl.wire->identity();
  if (!is_closed_like(r.error())) co_return r.error();
  t->pool().drop_cached_lane(rl.wire->identity(), pt);
  co_return co_await DestTransport::send(std::move(t), pt, bytes, deadline);
}

void OutprocTransportManager::Impl::shutdown() {
  std::vector<std::shared_ptr<DialSlot>> slots;
  std::vector<std::shared_ptr<DestTransport>> transports;
  {
    std::lock_guard lk(mu);
    stopped = true;
    for (auto& [d, e] : map) {
      if (auto* s = std::get_if<std::shared_ptr<DialSlot>>(&e)) {
        slots.push_back(*s);
        if (!(*s)->result) (*s)->result = Result<std::shared_ptr<DestTransport>>(make_error_code(NetworkError::ShuttingDown));
      } else {
        transports.push_back(std::get<std::shared_ptr<DestTransport>>(e));
      }
    }
    map.clear();
  }
  for (auto& s : slots) s->done.notify();
  tasks.close();
  for (auto& t : transports) t->abort();
}

asio::awaitable<void> OutprocTransportManager::Impl::check_once(std::shared_ptr<Impl> self) {
  std::vector<std::pair<Dest, std::shared_ptr<DestTransport>>> snapshot;
  {
    std::lock_guard lk(self->mu);
    for (auto& [d, e] : self->map)
      if (auto* t = std::get_if<std::shared_ptr<DestTransport>>(&e)) snapshot.emplace_back(d, *t);
  }
  auto ex = co_await asio::this_coro::executor;
  for (auto& [dest, t] : snapshot) {
    try {
      if (!t->has_healthy_connection() && !t->has_live_candidate()) {
        self->evict_if_same(dest, t);
      } else if (!t->failed_kinds().empty()) {
        asio::steady_timer bound(ex, self->cfg.dial_timeout);
        auto r = co_await (DestTransport::retry_failed_connections(t, self->builder) || bound.async_wait(use_ec));
        if (r.index() == 0 && !std::get<0>(r))
          spdlog::info("actr: repairing {} failed: {}", dest.to_string(), std::get<0>(r).error().message());
      }
    } catch (const std::exception& e) {
      spdlog::error("actr: health check of {} threw: {}", dest.to_string(), e.what());
    }
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) co_return;
  }
}

asio::awaitable<void> OutprocTransportManager::Impl::health_loop(std::shared_ptr<Impl> self,
                                                                 std::chrono::milliseconds interval) {
  co_await asio::this_coro::throw_if_cancelled(false);
  auto cs = co_await asio::this_coro::cancellation_state;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(interval);
    co_await timer.async_wait(use_ec);
    if (cs.cancelled() != asio::cancellation_type::none) co_return;
    try {
      co_await check_once(self);
    } catch (const std::exception& e) {
      // Never exit on a per-round failure (reference §13 item 1).
      spdlog::error("actr: health check round failed: {}", e.what());
    }
  }
}

// ---- public API -------------------------------------------------------------------------------

namespace {
// A bad backoff would otherwise throw inside a pool's background connect task, leaving its slot
// Connecting until every sender's deadline: refuse it here, where the caller sees it. Every
// manager counts its dials (`dial_metrics()`), in the caller's sink if it gave one.
const ManagerConfig& checked(ManagerConfig& c) {
  Backoff::validate(c.pool.connect_backoff);
  Backoff::validate(c.unreachable.backoff);
  if (!c.pool.dial_metrics) c.pool.dial_metrics = std::make_shared<DialMetrics>();
  return c;
}
}  // namespace

OutprocTransportManager::OutprocTransportManager(asio::any_io_executor ex, ActrId local_id,
                                                 std::shared_ptr<WireBuilder> builder, ManagerConfig cfg,
                                                 std::shared_ptr<EventBus> events)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(local_id), std::move(builder), checked(cfg),
                                   std::move(events))) {}

OutprocTransportManager::~OutprocTransportManager() { impl_->shutdown(); }

asio::awaitable<Result<std::shared_ptr<DestTransport>>> OutprocTransportManager::get_or_create_transport(
    Dest dest, std::optional<Deadline> deadline) {
  return Impl::get_or_create(impl_, std::move(dest), deadline.value_or(Clock::now() + impl_->cfg.send_timeout));
}

asio::awaitable<Result<WireIdentity>> OutprocTransportManager::send_with_identity(const Dest& dest, PayloadType pt,
                                                                                  ConstBytes bytes, Deadline deadline) {
  // Not a coroutine: `dest` is only read here, before anything suspends. On the fast path
  // (transport exists) no Dest is copied.
  auto t = impl_->find_transport(dest);
  if (t) {
    if (auto rl = t->pool().ready_lane(pt); rl.lane) return Impl::send_fast(std::move(t), std::move(rl), pt, bytes, deadline);
  }
  std::optional<Dest> d;
  if (!t) d = dest;
  return Impl::send(impl_, std::move(d), std::move(t), pt, bytes, deadline);
}

namespace {
// As Impl::send_fast, for `send`: the deadline clock is read only if the fast path fails.
asio::awaitable<Result<void>> send_fast_void(std::shared_ptr<DestTransport> t, ReadyLane rl, PayloadType pt,
                                             ConstBytes bytes, std::chrono::milliseconds timeout) {
  auto r = co_await rl.lane->send(bytes);
  if (r || !is_closed_like(r.error())) co_return r;
  t->pool().drop_cached_lane(rl.wire->identity(), pt);
  auto full = co_await DestTransport::send(std::move(t), pt, bytes, Clock::now() + timeout);
  if (!full) co_return full.error();
  co_return ok();
}
}  // namespace

namespace {
asio::awaitable<Result<void>> drop_identity(asio::awaitable<Result<WireIdentity>> a) {
  auto r = co_await std::move(a);
  if (!r) co_return r.error();
  co_return ok();
}
}  // namespace

asio::awaitable<Result<void>> OutprocTransportManager::send(const Dest& dest, PayloadType pt, ConstBytes bytes) {
  // Connected destination with a Ready lane: one map lookup, one pool lock, one extra frame.
  if (auto t = impl_->find_transport(dest)) {
    if (auto rl = t->pool().ready_lane(pt); rl.lane)
      return send_fast_void(std::move(t), std::move(rl), pt, bytes, impl_->cfg.send_timeout);
  }
  return drop_identity(send_with_identity(dest, pt, bytes, Clock::now() + impl_->cfg.send_timeout));
}

asio::awaitable<Result<void>> OutprocTransportManager::close_transport(Dest dest) {
  auto self = impl_;
  std::shared_ptr<DialSlot> slot;
  std::shared_ptr<DestTransport> t;
  TaskGroup::TaskId task = 0;
  {
    std::lock_guard lk(self->mu);
    ++self->closing[dest];
    auto it = self->map.find(dest);
    if (it != self->map.end()) {
      if (auto* s = std::get_if<std::shared_ptr<DialSlot>>(&it->second)) {
        slot = *s;
        task = self->resolve_locked(slot, make_error_code(NetworkError::ConnectionClosed));
      } else {
        t = std::get<std::shared_ptr<DestTransport>>(it->second);
        self->map.erase(it);
      }
    }
  }
  struct Unmark {
    Impl* impl;
    const Dest& d;
    ~Unmark() {
      std::lock_guard lk(impl->mu);
      if (--impl->closing[d] == 0) impl->closing.erase(d);
    }
  } unmark{self.get(), dest};
  if (slot) {
    slot->done.notify();
    if (task) self->tasks.cancel(task);
  }
  if (t) co_await t->close();
  co_return ok();
}

asio::awaitable<bool> OutprocTransportManager::close_transport_if_current(Dest dest,
                                                                          std::shared_ptr<DestTransport> expected) {
  {
    std::lock_guard lk(impl_->mu);
    auto it = impl_->map.find(dest);
    if (it == impl_->map.end()) co_return false;
    auto* cur = std::get_if<std::shared_ptr<DestTransport>>(&it->second);
    if (!cur || *cur != expected) co_return false;
    impl_->map.erase(it);
  }
  co_await expected->close();
  co_return true;
}

asio::awaitable<Result<void>> OutprocTransportManager::close_all() {
  auto self = impl_;
  std::vector<std::shared_ptr<DialSlot>> slots;
  std::vector<std::shared_ptr<DestTransport>> transports;
  std::vector<TaskGroup::TaskId> dial_tasks;
  {
    std::lock_guard lk(self->mu);
    for (auto& [d, e] : self->map) {
      if (auto* s = std::get_if<std::shared_ptr<DialSlot>>(&e)) {
        slots.push_back(*s);
        if (!(*s)->result) {
          (*s)->result = Result<std::shared_ptr<DestTransport>>(make_error_code(NetworkError::ConnectionClosed));
          if ((*s)->task) dial_tasks.push_back((*s)->task);
        }
      } else {
        transports.push_back(std::get<std::shared_ptr<DestTransport>>(e));
      }
    }
    self->map.clear();
  }
  for (auto& s : slots) s->done.notify();
  for (auto id : dial_tasks) self->tasks.cancel(id);
  // Close concurrently, outside the lock, bounded as a whole (H-MGR-7).
  TaskGroup closers(self->ex);
  for (auto& t : transports)
    (void)closers.spawn("close-transport", [t]() -> asio::awaitable<void> {
      co_await asio::this_coro::throw_if_cancelled(false);
      co_await t->close();
    });
  auto r = co_await closers.async_wait_idle(Clock::now() + self->cfg.close_timeout);
  if (!r) {
    spdlog::warn("actr: close_all: {} transports did not close within the bound; aborting them", closers.size());
    for (auto& t : transports) t->abort();
  }
  co_return ok();
}

bool OutprocTransportManager::is_unreachable(const Dest& dest) const {
  std::lock_guard lk(impl_->mu);
  return impl_->unreachable.contains(dest);
}

void OutprocTransportManager::reset_unreachable(const Dest& dest) {
  std::lock_guard lk(impl_->mu);
  impl_->unreachable.forget(dest);
}

void OutprocTransportManager::repair(const Dest& dest) {
  auto self = impl_;
  std::shared_ptr<DestTransport> t;
  {
    std::lock_guard lk(self->mu);
    auto it = self->map.find(dest);
    if (self->stopped || it == self->map.end()) return;
    if (auto* tp = std::get_if<std::shared_ptr<DestTransport>>(&it->second)) t = *tp;
  }
  if (t && t->missing_kinds().empty()) return;
  // A dial in flight (no transport yet) was started while the peer was away: the kinds it
  // fails to build would stay missing, since the health checker rebuilds failed kinds only. The
  // repair joins that dial and fills them in once its transport is installed.
  (void)self->tasks.spawn("repair", [self, t, dest]() mutable -> asio::awaitable<void> {
    const auto deadline = Clock::now() + self->cfg.dial_timeout;
    if (!t) {
      auto joined = co_await Impl::get_or_create(self, dest, deadline);
      if (!joined) co_return;  // the dial failed: the next send dials afresh
      t = std::move(*joined);
      if (t->missing_kinds().empty()) co_return;
    }
    asio::steady_timer bound(co_await asio::this_coro::executor, deadline);
    auto r = co_await (DestTransport::fill_missing_connections(t, self->builder) || bound.async_wait(use_ec));
    if (r.index() == 0 && !std::get<0>(r))
      spdlog::info("actr: repairing {} failed: {}", dest.to_string(), std::get<0>(r).error().message());
  });
}

bool OutprocTransportManager::adopt_inbound(const Dest& dest, std::shared_ptr<WireHandle> wire) {
  auto self = impl_;
  {
    std::lock_guard lk(self->mu);
    self->unreachable.forget(dest);  // it just reached us
  }
  // Built outside the lock (it allocates and may start tasks), installed only if still needed.
  std::shared_ptr<DestTransport> fresh;
  for (int round = 0; round < 4; ++round) {
    std::shared_ptr<DestTransport> existing;
    std::shared_ptr<DialSlot> joined;
    bool installed = false;
    {
      std::lock_guard lk(self->mu);
      if (self->stopped || self->closing.contains(dest)) return false;
      auto it = self->map.find(dest);
      auto* t = it == self->map.end() ? nullptr : std::get_if<std::shared_ptr<DestTransport>>(&it->second);
      if (t) {
        existing = *t;
      } else if (fresh) {
        if (it == self->map.end()) {
          self->map.emplace(dest, fresh);
        } else {
          // A dial is in flight: the peer's connection is a live route now, so its waiters get
          // it at once; the dial goes on and adds its wires to this transport when it finishes.
          joined = std::get<std::shared_ptr<DialSlot>>(it->second);
          if (!joined->result) joined->result = fresh;
          it->second = fresh;
        }
        installed = true;
      }
    }
    if (installed) {
      if (joined) joined->done.notify();
      if (!fresh->has_live_candidate()) self->evict_if_same(dest, fresh);  // it died meanwhile
      return true;
    }
    if (existing) {
      if (existing->pool().adopt_inbound(wire)) {
        if (fresh) fresh->abort();  // built for nothing (a transport appeared meanwhile)
        return true;
      }
      self->evict_if_same(dest, existing);  // closed under us: replace it
      continue;
    }
    if (!fresh) {
      fresh = DestTransport::create(self->ex, dest, {}, self->cfg.pool, self->events);
      self->evict_when_exhausted(dest, fresh);
      if (!fresh->pool().adopt_inbound(wire)) return false;
    }
  }
  if (fresh) fresh->abort();
  return false;
}

bool OutprocTransportManager::is_closing(const Dest& dest) const {
  std::lock_guard lk(impl_->mu);
  return impl_->closing.contains(dest);
}

std::size_t OutprocTransportManager::dest_count() const {
  std::lock_guard lk(impl_->mu);
  return impl_->map.size();
}

std::vector<Dest> OutprocTransportManager::list_dests() const {
  std::lock_guard lk(impl_->mu);
  std::vector<Dest> out;
  out.reserve(impl_->map.size());
  for (auto& [d, e] : impl_->map) out.push_back(d);
  return out;
}

bool OutprocTransportManager::has_dest(const Dest& dest) const {
  std::lock_guard lk(impl_->mu);
  return impl_->map.contains(dest);
}

bool OutprocTransportManager::is_connecting(const Dest& dest) const {
  std::lock_guard lk(impl_->mu);
  auto it = impl_->map.find(dest);
  return it != impl_->map.end() && std::holds_alternative<std::shared_ptr<DialSlot>>(it->second);
}

const ActrId& OutprocTransportManager::local_id() const noexcept { return impl_->local_id; }

HealthChecker OutprocTransportManager::spawn_health_checker(std::chrono::milliseconds interval) {
  auto self = impl_;
  auto id = self->tasks.spawn("health-checker",
                              [self, interval]() -> asio::awaitable<void> { co_await Impl::health_loop(self, interval); });
  std::weak_ptr<Impl> weak = self;
  return HealthChecker([weak, id] {
    if (auto s = weak.lock()) s->tasks.cancel(id);
  });
}

EventBus& OutprocTransportManager::events() noexcept { return *impl_->events; }

std::uint64_t OutprocTransportManager::dials_started() const noexcept {
  return impl_->dials.load(std::memory_order_relaxed);
}

const std::shared_ptr<DialMetrics>& OutprocTransportManager::dial_metrics() const noexcept {
  return impl_->cfg.pool.dial_metrics;
}

std::vector<std::shared_ptr<DestTransport>> OutprocTransportManager::transports() const {
  std::lock_guard lk(impl_->mu);
  std::vector<std::shared_ptr<DestTransport>> out;
  out.reserve(impl_->map.size());
  for (auto& [d, e] : impl_->map)
    if (auto* t = std::get_if<std::shared_ptr<DestTransport>>(&e)) out.push_back(*t);
  return out;
}

}  // namespace actr
