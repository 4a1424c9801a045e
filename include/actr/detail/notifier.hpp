#pragma once
/// @file
/// `Notifier`: a level-triggered, versioned wake-up ("eventcount") for coroutines.

#include <actr/detail/clock.hpp>
#include <actr/result.hpp>

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace actr::detail {

/// Level-triggered wake-up with a version counter. It replaces the original's edge-triggered
/// `Notify`, whose lost wakeup could hang a sender forever (reference H-MGR-1).
///
/// Protocol: a waiter reads `version()` *before* it inspects the guarded state; if the state is
/// not what it needs, it calls `async_wait_change(seen)`. A writer changes the state and *then*
/// calls `notify()`. A change that lands between the waiter's read and its wait has already bumped
/// the version, so the wait returns at once: no wakeup can be lost, and a late waiter never waits
/// for an event that already happened.
///
/// Thread safety: all members may be called from any thread.
class Notifier {
 public:
  Notifier() = default;
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  ~Notifier() = default;

  std::uint64_t version() const noexcept { return core_->version.load(std::memory_order_acquire); }

  /// Bumps the version and wakes every current waiter. Never blocks, never runs waiter code inline.
  void notify();

  /// Completes when `version() != seen` (success), when `deadline` passes
  /// (`NetworkError::TimeoutError`), or on per-operation cancellation (`NetworkError::Cancelled`).
  /// Cancellation: terminal/partial/total all cancel the wait; state is left unchanged.
  /// With `kNoDeadline` no timer is armed (the wait is one channel receive): only a change or
  /// cancellation ends it.
  boost::asio::awaitable<Result<void>> async_wait_change(std::uint64_t seen, Deadline deadline);

  /// Number of coroutines currently parked (for tests and leak checks).
  std::size_t waiter_count() const;

 private:
  struct Waiter;
  // Shared with parked waiters, so a waiter frame destroyed late (its executor shut down) can
  // still unlink itself safely.
  struct Core {
    std::mutex mu;
    std::atomic<std::uint64_t> version{0};
    std::vector<std::shared_ptr<Waiter>> waiters;
    void remove(const std::shared_ptr<Waiter>& w);
  };
  std::shared_ptr<Core> core_ = std::make_shared<Core>();
};

}  // namespace actr::detail
