#pragma once
/// @file
/// `WirePool`: the wires of one destination, one slot per `WireKind`.

#include <actr/backoff.hpp>
#include <actr/connection_event.hpp>
#include <actr/detail/clock.hpp>
#include <actr/detail/notifier.hpp>
#include <actr/detail/task_group.hpp>
#include <actr/metrics.hpp>
#include <actr/wire.hpp>

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace actr {

/// State of one slot. See docs/state-machines.md for the legal transitions.
enum class SlotState : std::uint8_t {
  Empty,       ///< no handle
  Connecting,  ///< handle owned; a connect task with backoff is running
  Ready,       ///< handle connected and usable; its death is observed (set_on_closed)
  Failed,      ///< gave up or died; the handle has been (or is being) closed
};
std::string_view to_string(SlotState s) noexcept;

struct WirePoolConfig {
  /// Attempts and delays of the background connect. Default: 3 attempts, 0 / ~1 s / ~2 s. A
  /// permanent failure (`NetworkCondition::Permanent`, e.g. a TLS refusal) ends them at once.
  BackoffConfig connect_backoff{.initial = std::chrono::milliseconds{1000},
                                .max = std::chrono::milliseconds{10000},
                                .multiplier = 2.0,
                                .jitter = 0.2,
                                .max_attempts = 3,
                                .max_total = std::nullopt,
                                .immediate_first_attempt = true};
  std::chrono::milliseconds connect_timeout{10000};  ///< bound on one `WireHandle::connect`
  std::chrono::milliseconds close_timeout{1000};     ///< bound on one `WireHandle::close`
  /// Where dial attempts are counted (null: nowhere). `OutprocTransportManager` sets its own.
  std::shared_ptr<DialMetrics> dial_metrics;
};

/// What a sender needs to decide: which kinds are Ready, which are still alive (Ready or
/// Connecting), and the version to wait on if neither helps.
struct PoolSnapshot {
  WireKindSet ready;
  WireKindSet live;
  /// Live kinds still Connecting whose last attempt was refused (`is_refusal`): their next
  /// attempt waits out a backoff, so a sender should not wait for them. `refusal` is the error.
  WireKindSet refused;
  Error refusal;
  std::uint64_t version = 0;
  bool closed = false;
};

/// A Ready wire and its lane for one `PayloadType` (the send fast path).
struct ReadyLane {
  std::shared_ptr<WireHandle> wire;
  std::shared_ptr<DataLane> lane;
};

/// Owns the wires of one destination and connects them in the background.
///
/// Every state change bumps a version and wakes waiters (level-triggered, so a sender that looks
/// after the change still sees it); Failed transitions are published too, so a sender never waits
/// for a wire that will not come. Removals are compare-and-set on `WireIdentity`.
/// A pool closed while a connect is in flight closes the late wire instead of publishing it.
///
/// Thread safety: all members may be called from any thread. Lock: one leaf mutex, never held
/// across a co_await, a callback or an event publish.
class WirePool : public std::enable_shared_from_this<WirePool> {
 public:
  /// Throws std::invalid_argument if `cfg.connect_backoff` is invalid (`Backoff::validate`): a
  /// bad one would otherwise fail the background connect and leave the slot Connecting.
  static std::shared_ptr<WirePool> create(boost::asio::any_io_executor ex, Dest dest,
                                          WirePoolConfig cfg = {},
                                          std::shared_ptr<EventBus> events = nullptr);
  ~WirePool();

  /// Puts `h` into its kind's slot as Connecting and connects it in the background. A handle
  /// already in the slot is closed. No-op (and `h` is closed) if the pool is closed.
  void add_connection(std::shared_ptr<WireHandle> h);
  /// Like `add_connection`, but only if the slot is Empty or Failed (atomic check-and-set).
  /// Returns false and leaves `h` to the caller otherwise. True, doing nothing, if the pool already
  /// holds `h` (the WebRTC coordinator hands a dial the connection the peer is opening to us).
  bool add_connection_smart(std::shared_ptr<WireHandle> h);
  /// Takes a wire the peer opened to us (accepted, usually already connected). Every live wire
  /// of the pool belongs to it from now on, inbound and outbound alike, and its death is observed.
  /// - WebSocket (a peer may hold several connections): the newest becomes the kind's Ready wire,
  ///   so traffic we originate uses it; the wire it displaces stays open as a *standby* (its
  ///   peer may still be sending on it and reading answers) and is promoted back at once if the
  ///   newer one dies. While the kind's own dial is Connecting the inbound wire waits as a standby
  ///   and is promoted if that dial fails.
  /// - WebRTC (one peer connection per pair; a plain offer replaces the connection): the new wire
  ///   becomes Ready and every older one of that kind is closed.
  /// Returns false (and leaves `h` to the caller) only if the pool is closed; true, doing
  /// nothing, if `h` is already in the pool.
  bool adopt_inbound(std::shared_ptr<WireHandle> h);
  /// Live standby wires of `kind` (older inbound connections still open).
  std::size_t standby_count(WireKind kind) const;

  /// The Ready handle of `kind`, or nullptr.
  std::shared_ptr<WireHandle> get_connection(WireKind kind) const;
  /// The lane of the first Ready wire in `route_for(pt)` order, cached per slot so a send on a
  /// connected destination takes one lock. Empty if no Ready wire yields a lane (the caller then
  /// takes the full path, which classifies and evicts).
  ReadyLane ready_lane(PayloadType pt);
  /// Forgets the cached lane of `pt` on the wire `id` (after `WireHandle::invalidate_lane`).
  void drop_cached_lane(const WireIdentity& id, PayloadType pt);
  SlotState state(WireKind kind) const;
  PoolSnapshot snapshot() const;
  std::uint64_t version() const noexcept { return changes_.version(); }
  /// Waits until the pool changes after `seen` (see `detail::Notifier`).
  boost::asio::awaitable<Result<void>> async_wait_change(std::uint64_t seen, Deadline deadline);

  /// True if any kind in `kinds` is Ready or Connecting.
  bool has_live_candidate(WireKindSet kinds) const;
  /// True if `id.kind`'s slot is Ready with exactly this identity.
  bool connection_matches_identity(const WireIdentity& id) const;
  /// The wire `id` died or is dropped; it is closed in the background. If it is the Ready wire,
  /// the newest connected standby of its kind takes its place (still Ready: senders never see a
  /// gap) or, with none, the slot goes Ready → Failed. If it is a standby, it is just removed.
  /// Returns false if no wire of the pool has that identity.
  bool mark_closed_if_same(const WireIdentity& id, Error why);
  /// Unconditionally fails `kind`'s slot (closing its handle). Used by explicit per-kind close.
  void mark_closed(WireKind kind, Error why);

  /// Closes every handle, cancels connect tasks and waits for them, all within `close_timeout`
  /// per handle plus the same again for the tasks. Idempotent; later calls return at once.
  /// `why` is what senders still waiting on the pool receive (default `ConnectionClosed`).
  boost::asio::awaitable<void> close_all(Error why = {});
  /// Synchronous last resort (destructors, cancelled closers): marks the pool closed, cancels its
  /// tasks and drops the handles without awaiting their close. Idempotent.
  void abort();
  bool is_closed() const;
  /// Why the pool was closed (`ConnectionClosed` unless the closer said otherwise).
  Error close_reason() const;
  /// The latest connect failure that ended a kind's attempts at once because retrying cannot fix
  /// it (`NetworkCondition::Permanent`, e.g. `TlsCertificateUntrusted`); empty if none. A sender
  /// left with no candidate reports it instead of `NoRoute`.
  Error permanent_failure() const;

  /// Called (outside any lock) each time a transition leaves no kind Ready or Connecting.
  void set_on_exhausted(std::function<void()> cb);

  const Dest& dest() const noexcept { return dest_; }
  /// Connect attempts started so far, per kind (for tests and metrics).
  std::uint32_t connect_attempts(WireKind kind) const;

 private:
  struct Slot {
    SlotState state = SlotState::Empty;
    std::shared_ptr<WireHandle> handle;
    std::uint32_t attempts = 0;
    std::array<std::shared_ptr<DataLane>, kPayloadTypeCount> lanes{};  // valid only while Ready
    std::vector<std::shared_ptr<WireHandle>> standby;  // older inbound wires, oldest first
    Error refusal;  // while Connecting: the last attempt was refused (see PoolSnapshot::refused)

    // `h` takes the slot afresh in state `st` (its attempts, lanes and refusal start over).
    void take(std::shared_ptr<WireHandle> h, SlotState st) {
      state = st;
      handle = std::move(h);
      attempts = 0;
      lanes = {};
      refusal = {};
    }
  };
  WirePool(boost::asio::any_io_executor ex, Dest dest, WirePoolConfig cfg, std::shared_ptr<EventBus> events);

  void start(std::shared_ptr<WireHandle> h);
  void watch(const std::shared_ptr<WireHandle>& h);
  bool promote_locked(Slot& s, std::vector<std::shared_ptr<WireHandle>>& dead);
  bool holds_locked(const WireHandle* h) const;
  bool note_ready_locked(WireKind kind, SlotState before);
  /// Removes and returns the standby of `s` with identity `id`, if any.
  static std::shared_ptr<WireHandle> take_standby_locked(Slot& s, const WireIdentity& id);
  boost::asio::awaitable<void> connect_loop(std::shared_ptr<WireHandle> h);
  /// Notes that `h`'s last attempt was refused: Gone if `h` no longer holds its slot,
  /// StandbyCarriesOn (nothing noted) if the peer's own connection waits as a standby.
  enum class Refusal { Noted, StandbyCarriesOn, Gone };
  Refusal record_refusal(const std::shared_ptr<WireHandle>& h, const Error& why);
  boost::asio::awaitable<void> close_all_impl(Error why);
  void retire(std::shared_ptr<WireHandle> h);
  std::vector<std::shared_ptr<WireHandle>> take_all_locked();
  boost::asio::awaitable<void> close_handle(std::shared_ptr<WireHandle> h) const;
  void emit(const WireIdentity& id, ConnectionState st, Error why = {});
  bool exhausted_locked() const;
  void after_failure(bool exhausted);
  bool fail_slot(WireKind kind, const WireIdentity* expected, Error why);

  boost::asio::any_io_executor ex_;
  const Dest dest_;
  const WirePoolConfig cfg_;
  std::shared_ptr<EventBus> events_;
  detail::TaskGroup tasks_;
  detail::Notifier changes_;

  mutable std::mutex mu_;
  std::array<Slot, kWireKindCount> slots_;
  std::array<bool, kWireKindCount> was_ready_{};  // that kind had a Ready wire before (reconnects)
  bool closed_ = false;
  Error close_reason_;
  Error permanent_failure_;
  std::function<void()> on_exhausted_;
};

}  // namespace actr
