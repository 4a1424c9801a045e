#include <actr/connection_event.hpp>

#include "detail/asio.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

namespace actr {

std::string_view to_string(ConnectionState s) noexcept {
  switch (s) {
    case ConnectionState::New: return "New";
    case ConnectionState::Connecting: return "Connecting";
    case ConnectionState::Connected: return "Connected";
    case ConnectionState::Disconnected: return "Disconnected";
    case ConnectionState::Failed: return "Failed";
    case ConnectionState::Closed: return "Closed";
  }
  return "Unknown";
}

std::string ConnectionEvent::to_string() const {
  return fmt::format("{} {}#{} {}{}{}", dest.to_string(), actr::to_string(wire.kind), wire.session_id,
                     actr::to_string(state), error ? ": " : "", error ? error.message() : "");
}

struct EventBus::Subscriber {
  Subscriber(boost::asio::any_io_executor e, Handler h) : ex(std::move(e)), handler(std::move(h)) {}
  boost::asio::any_io_executor ex;
  Handler handler;
  std::atomic<bool> active{true};
  std::mutex mu;
  std::deque<ConnectionEvent> queue;
  bool draining = false;
  std::size_t high_water = 0;

  void push(const ConnectionEvent& ev, const std::shared_ptr<Subscriber>& self) {
    bool schedule = false;
    {
      std::lock_guard lk(mu);
      queue.push_back(ev);
      high_water = std::max(high_water, queue.size());
      if (!draining) draining = schedule = true;
    }
    if (schedule) boost::asio::post(ex, [self] { self->drain(); });
  }

  // One drain runs at a time per subscriber, which keeps delivery in publish order.
  void drain() {
    for (;;) {
      std::deque<ConnectionEvent> batch;
      {
        std::lock_guard lk(mu);
        if (queue.empty() || !active.load(std::memory_order_acquire)) {
          queue.clear();
          draining = false;
          return;
        }
        batch.swap(queue);
      }
      for (const auto& ev : batch) {
        if (!active.load(std::memory_order_acquire)) break;
        try {
          handler(ev);
        } catch (const std::exception& e) {
          // A throwing subscriber must not stop delivery of later events (H-EVT-2).
          spdlog::error("actr: event subscriber threw on '{}': {}", ev.to_string(), e.what());
        }
      }
    }
  }
};

EventBus::Subscription EventBus::subscribe(boost::asio::any_io_executor ex, Handler handler) {
  auto sub = std::make_shared<Subscriber>(std::move(ex), std::move(handler));
  std::lock_guard lk(mu_);
  subs_.push_back(sub);
  return Subscription(sub);
}

void EventBus::publish(const ConnectionEvent& ev) {
  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    std::lock_guard lk(mu_);
    std::erase_if(subs_, [](const auto& s) { return !s->active.load(std::memory_order_acquire); });
    targets = subs_;
  }
  for (auto& s : targets) s->push(ev, s);
}

std::size_t EventBus::subscriber_count() const {
  std::lock_guard lk(mu_);
  return static_cast<std::size_t>(std::count_if(
      subs_.begin(), subs_.end(), [](const auto& s) { return s->active.load(std::memory_order_acquire); }));
}

void EventBus::Subscription::reset() {
  if (sub_) {
    sub_->active.store(false, std::memory_order_release);
    sub_.reset();
  }
}

std::size_t EventBus::Subscription::high_water_mark() const {
  if (!sub_) return 0;
  std::lock_guard lk(sub_->mu);
  return sub_->high_water;
}

}  // namespace actr
