#pragma once
/// @file
/// Connection events and their fan-out. Delivery is lossless and per-subscriber ordered: a slow
/// subscriber delays only itself and never makes another one (or itself) miss an event — the
/// original's broadcast channel dropped events on lag and killed its cleanup listener (H-EVT-2).

#include <actr/types.hpp>
#include <actr/wire.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace actr {

/// State of one wire, as seen by its pool.
enum class ConnectionState : std::uint8_t { New, Connecting, Connected, Disconnected, Failed, Closed };
std::string_view to_string(ConnectionState s) noexcept;

/// Something happened to one wire of one destination. `wire.session_id` tells which connection
/// instance it concerns; act on an event only if that session is still the current one.
struct ConnectionEvent {
  Dest dest;
  WireIdentity wire;
  ConnectionState state = ConnectionState::New;
  Error error;  ///< why, for Failed/Disconnected/Closed; empty otherwise

  /// True for events after which the wire is gone (Closed, Failed).
  bool should_trigger_cleanup() const noexcept {
    return state == ConnectionState::Closed || state == ConnectionState::Failed;
  }
  std::string to_string() const;
};

/// Fan-out of `ConnectionEvent`s to subscribers.
///
/// Each subscriber has its own FIFO queue (unbounded; its high-water mark is observable) and its
/// own executor; `publish` appends to every queue and schedules a drain with `post`, so subscriber
/// code never runs inside `publish` and never under a lock of the publisher.
/// Thread safety: all members may be called from any thread.
class EventBus {
 public:
  using Handler = std::function<void(const ConnectionEvent&)>;
  class Subscription;

  EventBus() = default;
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  /// Delivers every event published after this call to `handler`, in order, on `ex`.
  /// Delivery stops when the returned subscription is destroyed or reset.
  [[nodiscard]] Subscription subscribe(boost::asio::any_io_executor ex, Handler handler);
  /// Queues `ev` for every subscriber. Never blocks on a subscriber.
  void publish(const ConnectionEvent& ev);
  std::size_t subscriber_count() const;

  struct Subscriber;

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Subscriber>> subs_;
};

/// RAII handle of one subscription.
class EventBus::Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&&) noexcept = default;
  Subscription& operator=(Subscription&& o) noexcept {
    reset();
    sub_ = std::move(o.sub_);
    return *this;
  }
  ~Subscription() { reset(); }
  /// Stops delivery; events still queued are discarded. Idempotent.
  void reset();
  /// Largest number of events that waited in this subscriber's queue at once.
  std::size_t high_water_mark() const;

 private:
  friend class EventBus;
  explicit Subscription(std::shared_ptr<Subscriber> sub) : sub_(std::move(sub)) {}
  std::shared_ptr<Subscriber> sub_;
};

}  // namespace actr
