#include <actr/detail/notifier.hpp>
#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <algorithm>
#include <system_error>

namespace actr::detail {

// A waiter is a one-slot concurrent channel: `try_send` from any thread is safe and buffers the
// wake-up, so a notify that races the start of the receive is never lost.
struct Notifier::Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : ch(ex, 1) {}
  asio::experimental::concurrent_channel<void(boost::system::error_code)> ch;
};

Notifier::~Notifier() {
  // Waiters hold their own shared_ptr; wake them so none outlives us parked.
  notify();
}

void Notifier::notify() {
  std::vector<std::shared_ptr<Waiter>> woken;
  {
    std::lock_guard lk(mu_);
    version_.fetch_add(1, std::memory_order_acq_rel);
    woken.swap(waiters_);
  }
  for (auto& w : woken) w->ch.try_send(boost::system::error_code{});
}

std::size_t Notifier::waiter_count() const {
  std::lock_guard lk(mu_);
  return waiters_.size();
}

void Notifier::remove(const std::shared_ptr<Waiter>& w) {
  std::lock_guard lk(mu_);
  auto it = std::find(waiters_.begin(), waiters_.end(), w);
  if (it != waiters_.end()) waiters_.erase(it);
}

asio::awaitable<Result<void>> Notifier::async_wait_change(std::uint64_t seen, Deadline deadline) {
  auto ex = co_await asio::this_coro::executor;
  auto w = std::make_shared<Waiter>(ex);
  {
    std::lock_guard lk(mu_);
    if (version_.load(std::memory_order_acquire) != seen) co_return ok();
    waiters_.push_back(w);
  }
  asio::steady_timer timer(ex, deadline);
  bool timed_out = false;
  try {
    auto r = co_await (w->ch.async_receive(use_ec) || timer.async_wait(use_ec));
    if (r.index() == 1 && !std::get<0>(std::get<1>(r))) timed_out = true;
  } catch (const std::system_error&) {
    // The caller's coroutine was already cancelled: Asio refuses new co_awaits by throwing.
  }
  remove(w);
  // Level-triggered: whatever woke us, a change that happened wins over timeout/cancellation.
  if (version_.load(std::memory_order_acquire) != seen) co_return ok();
  if (timed_out) co_return make_error_code(NetworkError::TimeoutError);
  co_return make_error_code(NetworkError::Cancelled);
}

}  // namespace actr::detail
