#pragma once
/// @file
/// `OutprocTransportManager`: one lazily created `DestTransport` per destination, with
/// single-flight dialing, bounded waits and identity-checked cleanup.

#include <actr/connection_event.hpp>
#include <actr/dest_transport.hpp>
#include <actr/detail/clock.hpp>
#include <actr/types.hpp>
#include <actr/unreachable_cache.hpp>
#include <actr/wire.hpp>
#include <actr/wire_pool.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <utility>
#include <cstdint>
#include <memory>
#include <vector>

namespace actr {

struct ManagerConfig {
  std::chrono::milliseconds send_timeout{10000};  ///< default deadline of `send` (dial + wire wait)
  std::chrono::milliseconds dial_timeout{30000};  ///< bound on one `WireBuilder::create_connections`
  std::chrono::milliseconds close_timeout{2000};  ///< bound on closing all transports in `close_all`
  WirePoolConfig pool;                            ///< per-destination wire pool settings
  /// Fail fast: after a destination refuses a dial (`is_refusal`), sends to it fail at once
  /// with `NetworkUnreachable` until a probe, after a jittered backoff, reaches it again.
  UnreachableConfig unreachable;
};

/// Stops a health checker when destroyed (or on `stop()`).
class HealthChecker {
 public:
  HealthChecker() = default;
  HealthChecker(HealthChecker&& o) noexcept : stop_(std::move(o.stop_)) { o.stop_ = nullptr; }
  HealthChecker& operator=(HealthChecker&& o) noexcept {
    stop();
    stop_ = std::move(o.stop_);
    o.stop_ = nullptr;
    return *this;
  }
  ~HealthChecker() { stop(); }
  /// Cancels the checker task. Idempotent.
  void stop() {
    if (stop_) std::exchange(stop_, nullptr)();
  }
  bool active() const noexcept { return static_cast<bool>(stop_); }

 private:
  friend class OutprocTransportManager;
  explicit HealthChecker(std::function<void()> stop) : stop_(std::move(stop)) {}
  std::function<void()> stop_;
};

/// Cross-process transport manager: routes messages to destinations over their wires.
///
/// For each `Dest` it creates a `DestTransport` on first use. However many senders race, one
/// dial (one `WireBuilder::create_connections`) runs per destination; every sender waits on the
/// same level-triggered result with its own deadline. A sender that gives up does not cancel the
/// dial; the last one leaving does. `close_transport` cancels an in-flight dial and the
/// destination does not come back from it. No lock is held across I/O or event delivery.
///
/// Thread safety: all members may be called from any thread; coroutines may run on any executor.
/// Destruction cancels every background task (dials, pool connects, health checker) and
/// releases every wire without waiting; call `close_all()` first for a graceful close.
class OutprocTransportManager {
 public:
  /// Throws std::invalid_argument if a backoff of `cfg` is invalid (`Backoff::validate`).
  OutprocTransportManager(boost::asio::any_io_executor ex, ActrId local_id, std::shared_ptr<WireBuilder> builder,
                          ManagerConfig cfg = {}, std::shared_ptr<EventBus> events = nullptr);
  OutprocTransportManager(const OutprocTransportManager&) = delete;
  OutprocTransportManager& operator=(const OutprocTransportManager&) = delete;
  ~OutprocTransportManager();

  /// The transport for `dest`, dialing it if needed. Waits at most until `deadline`
  /// (default: now + `send_timeout`). Errors: `TimeoutError`, `Cancelled` (per-operation
  /// cancellation, or the dial was cancelled), `ConnectionClosed` (the destination is being or was
  /// closed meanwhile), `ShuttingDown`, and the builder's errors (`ConfigurationError` if it
  /// returned no wire).
  boost::asio::awaitable<Result<std::shared_ptr<DestTransport>>> get_or_create_transport(
      Dest dest, std::optional<Deadline> deadline = std::nullopt);

  /// Sends one encoded message to `dest` (dialing if needed), within `send_timeout`.
  /// Errors: those of `get_or_create_transport` and of `DestTransport::send`.
  /// `bytes` must stay valid until completion. Cancellation: per-operation.
  boost::asio::awaitable<Result<void>> send(const Dest& dest, PayloadType pt, ConstBytes bytes);
  /// As `send`, with an explicit deadline, returning the identity of the wire that took it.
  boost::asio::awaitable<Result<WireIdentity>> send_with_identity(const Dest& dest, PayloadType pt, ConstBytes bytes,
                                                                  Deadline deadline);

  /// Removes `dest`: cancels its dial (waiters get `ConnectionClosed`) or closes its transport.
  /// While it runs, sends to `dest` fail with `ConnectionClosed` (`is_closing`). Idempotent.
  boost::asio::awaitable<Result<void>> close_transport(Dest dest);
  /// Closes the transport of `dest` only if it is still `expected` (identity-checked cleanup).
  boost::asio::awaitable<bool> close_transport_if_current(Dest dest, std::shared_ptr<DestTransport> expected);
  /// Removes every destination: cancels every dial and closes every transport concurrently,
  /// within `close_timeout`. No lock is held while closing. The manager stays usable.
  boost::asio::awaitable<Result<void>> close_all();

  /// Hands over a wire the peer opened to us (accepted WebSocket, WebRTC set up at its request):
  /// from now on the destination's transport owns it like the wires it dialed, so replies and
  /// traffic to that peer need no dial and one place decides which wire carries them. With no
  /// transport for `dest` one is built around the wire; with a transport the pool adopts it
  /// (`WirePool::adopt_inbound`: the newest WebSocket connection carries our traffic, older
  /// ones stay open as standbys; a new WebRTC connection replaces the old); with a dial in flight
  /// the transport built around the wire replaces the dial slot and its waiters get it at once
  /// (the dial's wires join it when the dial ends). Returns false only while the manager is
  /// stopped or `dest` is being closed; the caller then closes the wire with everything else.
  bool adopt_inbound(const Dest& dest, std::shared_ptr<WireHandle> wire);

  /// True while `dest` is marked unreachable: its last dial was refused and no probe has
  /// reached it since (sends fail at once with `NetworkUnreachable`; one probe per backoff step).
  bool is_unreachable(const Dest& dest) const;
  /// Clears that mark: the next send dials at once (an operator knows the peer is back).
  void reset_unreachable(const Dest& dest);
  /// Asks the builder now, in the background (bounded by `dial_timeout`), for every wire kind
  /// `dest`'s transport lacks — Failed, or never built (e.g. WebRTC to a peer that was not
  /// registered with signaling when the transport was made) — instead of at the next health
  /// check, which rebuilds Failed kinds only. While a dial to `dest` is in flight, the repair
  /// waits for it and then fills what it could not build. No-op with neither a transport nor a
  /// dial for `dest`.
  void repair(const Dest& dest);

  bool is_closing(const Dest& dest) const;
  std::size_t dest_count() const;
  std::vector<Dest> list_dests() const;
  /// True if `dest` has a transport or a dial in flight.
  bool has_dest(const Dest& dest) const;
  /// True if a dial for `dest` is in flight.
  bool is_connecting(const Dest& dest) const;
  const ActrId& local_id() const noexcept;

  /// Starts a periodic check: a transport with no healthy and no connecting wire is removed
  /// (identity-checked) and closed; a healthy one gets its Failed wire kinds rebuilt. The first
  /// check runs after one `interval`. Survives any per-destination error.
  [[nodiscard]] HealthChecker spawn_health_checker(std::chrono::milliseconds interval);

  /// Connection events of every wire this manager owns.
  EventBus& events() noexcept;
  /// Dials started so far (builder calls made by get_or_create), for tests and metrics.
  std::uint64_t dials_started() const noexcept;
  /// Where this manager's pools count their dial attempts (`cfg.pool.dial_metrics`, or one it made).
  const std::shared_ptr<DialMetrics>& dial_metrics() const noexcept;
  /// The transports it holds now (not the dials in flight), for metrics and status pages.
  std::vector<std::shared_ptr<DestTransport>> transports() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace actr
