#pragma once
/// @file
/// `TaskGroup`: owner of background coroutines. Every background task in actr-transport belongs to
/// exactly one group, and the group's owner stops it (house style R7/R9: no `detached`).

#include <actr/detail/clock.hpp>
#include <actr/detail/notifier.hpp>
#include <actr/result.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace actr::detail {

/// Runs coroutines on private strands of one executor, cancels them on request, and lets the
/// owner wait (with a deadline) until they have all finished.
///
/// Each task runs on its own strand, so the terminal cancellation the group emits is delivered
/// on the task's strand (Asio cancellation signals are not thread-safe). A task's exception is
/// logged, never swallowed silently, and never escapes into the executor.
///
/// Destruction cancels every task but does not wait: tasks must hold (by shared_ptr) whatever
/// they touch. Use `close()` + `async_wait_idle()` for a bounded, awaited shutdown.
/// Thread safety: all members may be called from any thread.
class TaskGroup {
 public:
  using TaskId = std::uint64_t;
  using Body = std::function<boost::asio::awaitable<void>()>;

  explicit TaskGroup(boost::asio::any_io_executor ex);
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  ~TaskGroup();

  /// Starts `body()` on a fresh strand. Returns 0 (and starts nothing) once the group is closed.
  /// `body` is kept alive in the coroutine frame until the task ends, so a capturing lambda that
  /// returns `awaitable<void>` is safe here.
  TaskId spawn(std::string name, Body body);

  /// Requests terminal cancellation of one task. No-op if it already finished.
  void cancel(TaskId id);
  /// Requests terminal cancellation of every running task.
  void cancel_all();
  /// Refuses new tasks and cancels the running ones. Idempotent.
  void close();
  bool is_closed() const;

  /// Number of tasks still running.
  std::size_t size() const;
  /// Completes when no task is running (success) or at `deadline` (`TimeoutError`).
  boost::asio::awaitable<Result<void>> async_wait_idle(Deadline deadline);

  const boost::asio::any_io_executor& executor() const noexcept { return ex_; }

 private:
  struct State;
  boost::asio::any_io_executor ex_;
  std::shared_ptr<State> state_;
};

}  // namespace actr::detail
