#include <actr/detail/task_group.hpp>
#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <exception>
#include <map>

namespace actr::detail {

struct TaskGroup::State {
  struct Task {
    asio::any_io_executor strand;  // strand_of(ex_)
    std::shared_ptr<asio::cancellation_signal> signal;
    std::shared_ptr<std::atomic<bool>> cancelled;
    std::string name;
  };
  mutable std::mutex mu;
  std::map<TaskId, Task> tasks;
  TaskId next_id = 1;
  bool closed = false;
  Notifier changed;

  static void emit_cancel(const Task& t) {
    // A cancel that lands before the task's first step would find no slot handler installed yet;
    // the flag covers that window (the task checks it on the same strand before starting).
    t.cancelled->store(true, std::memory_order_release);
    // Cancellation signals are not thread-safe: emit on the task's own strand.
    asio::post(t.strand, [sig = t.signal] { sig->emit(asio::cancellation_type::terminal); });
  }
};

TaskGroup::TaskGroup(asio::any_io_executor ex) : ex_(std::move(ex)), state_(std::make_shared<State>()) {}

TaskGroup::~TaskGroup() { close(); }

TaskGroup::TaskId TaskGroup::spawn(std::string name, Body body) {
  auto strand = strand_of(ex_);
  auto signal = std::make_shared<asio::cancellation_signal>();
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  TaskId id = 0;
  {
    std::lock_guard lk(state_->mu);
    if (state_->closed) return 0;
    id = state_->next_id++;
    state_->tasks.emplace(id, State::Task{strand, signal, cancelled, name});
  }
  auto on_done = [st = state_, id, signal, name = std::move(name)](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("actr: background task '{}' failed: {}", name, ex.what());
      } catch (...) {
        spdlog::error("actr: background task '{}' failed with a non-standard exception", name);
      }
    }
    {
      std::lock_guard lk(st->mu);
      st->tasks.erase(id);
    }
    st->changed.notify();
  };
  auto run = [cancelled, body = std::move(body)]() -> asio::awaitable<void> {
    if (cancelled->load(std::memory_order_acquire)) co_return;
    co_await body();
  };
  asio::co_spawn(strand, std::move(run), asio::bind_cancellation_slot(signal->slot(), std::move(on_done)));
  return id;
}

void TaskGroup::cancel(TaskId id) {
  std::lock_guard lk(state_->mu);
  auto it = state_->tasks.find(id);
  if (it != state_->tasks.end()) State::emit_cancel(it->second);
}

void TaskGroup::cancel_all() {
  std::lock_guard lk(state_->mu);
  for (auto& [id, t] : state_->tasks) State::emit_cancel(t);
}

void TaskGroup::close() {
  {
    std::lock_guard lk(state_->mu);
    state_->closed = true;
  }
  cancel_all();
}

bool TaskGroup::is_closed() const {
  std::lock_guard lk(state_->mu);
  return state_->closed;
}

std::size_t TaskGroup::size() const {
  std::lock_guard lk(state_->mu);
  return state_->tasks.size();
}

asio::awaitable<Result<void>> TaskGroup::async_wait_idle(Deadline deadline) {
  auto st = state_;
  for (;;) {
    auto seen = st->changed.version();
    if (size() == 0) co_return ok();
    auto r = co_await st->changed.async_wait_change(seen, deadline);
    if (!r) co_return r;
  }
}

}  // namespace actr::detail
