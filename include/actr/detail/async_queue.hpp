#pragma once
/// @file
/// `AsyncQueue<T>`: bounded multi-producer multi-consumer queue for coroutines, with deadlines.

#include <actr/detail/clock.hpp>
#include <actr/detail/notifier.hpp>
#include <actr/error.hpp>
#include <actr/result.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace actr::detail {

/// Bounded FIFO. `push` waits for room (backpressure) until its deadline; `try_push` refuses
/// (`QueueFull`) instead, which gives a drop-newest policy; `pop` waits for an item. `close()`
/// wakes everyone: pushes fail with `ChannelClosed`, pops drain what is left and then fail.
/// Items are moved, never copied. Thread safety: all members may be called from any thread.
template <class T>
class AsyncQueue {
 public:
  explicit AsyncQueue(std::size_t capacity) : capacity_(capacity) {}

  Result<void> try_push(T v) { return try_push_from(v); }

  /// As `try_push`, but `v` is moved in only on success: refused, it is left to the caller (who
  /// may then `push` it and wait).
  Result<void> try_push_from(T& v) {
    {
      std::lock_guard lk(mu_);
      if (closed_) return make_error_code(NetworkError::ChannelClosed);
      if (items_.size() >= capacity_) return make_error_code(NetworkError::QueueFull);
      items_.push_back(std::move(v));
    }
    readable_.notify();
    return ok();
  }

  boost::asio::awaitable<Result<void>> push(T v, Deadline deadline) {
    for (;;) {
      const auto seen = writable_.version();
      {
        std::lock_guard lk(mu_);
        if (closed_) co_return make_error_code(NetworkError::ChannelClosed);
        if (items_.size() < capacity_) {
          items_.push_back(std::move(v));
          break;
        }
      }
      auto w = co_await writable_.async_wait_change(seen, deadline);
      if (!w) co_return w.error();
    }
    readable_.notify();
    co_return ok();
  }

  std::optional<T> try_pop() {
    std::optional<T> out;
    {
      std::lock_guard lk(mu_);
      if (items_.empty()) return out;
      out.emplace(std::move(items_.front()));
      items_.pop_front();
    }
    writable_.notify();
    return out;
  }

  boost::asio::awaitable<Result<T>> pop(Deadline deadline) {
    for (;;) {
      const auto seen = readable_.version();
      {
        std::unique_lock lk(mu_);
        if (!items_.empty()) {
          T v = std::move(items_.front());
          items_.pop_front();
          lk.unlock();
          writable_.notify();
          co_return v;
        }
        if (closed_) co_return make_error_code(NetworkError::ChannelClosed);
      }
      auto w = co_await readable_.async_wait_change(seen, deadline);
      if (!w) co_return w.error();
    }
  }

  /// Version of the "something became readable" signal, for callers that multiplex queues.
  Notifier& readable() noexcept { return readable_; }

  void close() {
    {
      std::lock_guard lk(mu_);
      closed_ = true;
    }
    readable_.notify();
    writable_.notify();
  }

  std::size_t size() const {
    std::lock_guard lk(mu_);
    return items_.size();
  }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::deque<T> items_;
  bool closed_ = false;
  Notifier readable_;
  Notifier writable_;
};

}  // namespace actr::detail
