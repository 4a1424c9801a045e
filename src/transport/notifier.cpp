#include <actr/detail/notifier.hpp>
#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <iterator>
#include <system_error>

namespace actr::detail {

// A waiter is a one-slot concurrent channel: `try_send` from any thread is safe and buffers the
// wake-up, so a notify that races the start of the receive is never lost.
struct Notifier::Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : ch(ex, 1) {}
  asio::experimental::concurrent_channel<void(boost::system::error_code)> ch;
};

void Notifier::notify() {
  // Copied out and cleared rather than swapped: the waiter list keeps its capacity, so a
  // notifier that wakes one waiter per message does not allocate per message.
  boost::container::small_vector<std::shared_ptr<Waiter>, 4> woken;
  {
    std::lock_guard lk(core_->mu);
    core_->version.fetch_add(1, std::memory_order_acq_rel);
    if (core_->waiters.empty()) return;
    woken.assign(std::make_move_iterator(core_->waiters.begin()), std::make_move_iterator(core_->waiters.end()));
    core_->waiters.clear();
  }
  for (auto& w : woken) w->ch.try_send(boost::system::error_code{});
}

std::size_t Notifier::waiter_count() const {
  std::lock_guard lk(core_->mu);
  return core_->waiters.size();
}

void Notifier::Core::remove(const std::shared_ptr<Waiter>& w) {
  std::lock_guard lk(mu);
  auto it = std::find(waiters.begin(), waiters.end(), w);
  if (it != waiters.end()) waiters.erase(it);
}

asio::awaitable<Result<void>> Notifier::async_wait_change(std::uint64_t seen, Deadline deadline) {
  auto core = core_;
  auto ex = co_await asio::this_coro::executor;
  auto w = std::make_shared<Waiter>(ex);
  {
    std::lock_guard lk(core->mu);
    if (core->version.load(std::memory_order_acquire) != seen) co_return ok();
    core->waiters.push_back(w);
  }
  // Unlinks the waiter on every exit, including destruction of this frame while parked.
  struct Unlink {
    std::shared_ptr<Core> core;
    std::shared_ptr<Waiter> w;
    ~Unlink() { core->remove(w); }
  } unlink{core, w};
  bool timed_out = false;
  try {
    if (deadline == kNoDeadline) {
      // An owned wait (a worker's, a writer's): no timer and no parallel group to set up.
      auto [ec] = co_await w->ch.async_receive(use_ec);
      (void)ec;
    } else {
      // The deadline is one more sender on the waiter's channel: no parallel group (it spawned a
      // coroutine per operand, per wait). The timer is cancelled when this frame ends; its handler
      // holds the waiter, not the frame.
      asio::steady_timer timer(ex, deadline);
      timer.async_wait([w](const boost::system::error_code& ec) {
        if (!ec) w->ch.try_send(asio::error::timed_out);
      });
      auto [ec] = co_await w->ch.async_receive(use_ec);
      if (ec == asio::error::timed_out) timed_out = true;
    }
  } catch (const std::system_error&) {
    // The caller's coroutine was already cancelled: Asio refuses new co_awaits by throwing.
  }
  // Level-triggered: whatever woke us, a change that happened wins over timeout/cancellation.
  if (core->version.load(std::memory_order_acquire) != seen) co_return ok();
  if (timed_out) co_return make_error_code(NetworkError::TimeoutError);
  co_return make_error_code(NetworkError::Cancelled);
}

}  // namespace actr::detail
