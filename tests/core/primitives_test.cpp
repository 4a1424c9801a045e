// Notifier, TaskGroup, EventBus, AsyncQueue, RpcCorrelation.
#include <actr/connection_event.hpp>
#include <actr/detail/async_queue.hpp>
#include <actr/detail/notifier.hpp>
#include <actr/detail/task_group.hpp>
#include <actr/error.hpp>
#include <actr/rpc_correlation.hpp>

#include "support/run_co.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <vector>

using namespace actr;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using actr::testing::drain;
using actr::testing::run_co;

// The original's tokio Notify drops a notify_waiters() that happens before notified() is called
// (H-MGR-1). Ours is level-triggered: a waiter that read the version before the change returns
// at once even though it starts waiting after the notification.
TEST(Notifier, ChangeBeforeWaitIsNotLost) {
  asio::io_context io;
  detail::Notifier n;
  const auto seen = n.version();
  n.notify();  // the "creator" finishes in the gap between the waiter's read and its wait
  auto r = run_co(io, n.async_wait_change(seen, Clock::now() + 1h), 2000ms);
  EXPECT_TRUE(r);
  EXPECT_EQ(n.waiter_count(), 0u);
}

TEST(Notifier, WaitsUntilNotifiedFromAnotherCoroutine) {
  asio::io_context io;
  detail::Notifier n;
  bool woke = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto r = co_await n.async_wait_change(n.version(), Clock::now() + 1h);
    woke = static_cast<bool>(r);
  }, asio::use_future);
  drain(io);
  EXPECT_FALSE(woke);
  EXPECT_EQ(n.waiter_count(), 1u);
  n.notify();
  drain(io);
  EXPECT_TRUE(woke);
  EXPECT_EQ(n.waiter_count(), 0u);
}

TEST(Notifier, DeadlineGivesTimeoutError) {
  asio::io_context io;
  detail::Notifier n;
  auto r = run_co(io, n.async_wait_change(n.version(), Clock::now() + 20ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::TimeoutError);
  EXPECT_EQ(n.waiter_count(), 0u);
}

TEST(Notifier, PerOperationCancellationGivesCancelled) {
  asio::io_context io;
  detail::Notifier n;
  auto body = [&]() -> asio::awaitable<Result<void>> {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer t(co_await asio::this_coro::executor, 10ms);
    auto r = co_await (n.async_wait_change(n.version(), Clock::now() + 1h) || t.async_wait(asio::use_awaitable));
    if (r.index() == 0) co_return std::get<0>(r);
    co_return make_error_code(NetworkError::Cancelled);
  };
  auto r = run_co(io, body());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkCondition::Cancelled);
  EXPECT_EQ(n.waiter_count(), 0u);
}

// kNoDeadline arms no timer: a notify still wakes the wait, and the owner's cancellation ends it.
TEST(Notifier, NoDeadlineWaitEndsOnNotifyAndOnTheOwnersCancellation) {
  asio::io_context io;
  detail::Notifier n;
  detail::TaskGroup g(io.get_executor());
  std::vector<Result<void>> results;
  for (int i = 0; i < 2; ++i)
    (void)g.spawn("waiter", [&]() -> asio::awaitable<void> {
      auto r = co_await n.async_wait_change(n.version(), kNoDeadline);
      results.push_back(r);
    });
  drain(io);
  ASSERT_EQ(n.waiter_count(), 2u);
  n.notify();
  drain(io);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0]);
  EXPECT_TRUE(results[1]);
  (void)g.spawn("parked", [&]() -> asio::awaitable<void> {
    auto r = co_await n.async_wait_change(n.version(), kNoDeadline);
    results.push_back(r);
  });
  drain(io);
  EXPECT_EQ(n.waiter_count(), 1u);  // the list kept working after the copy-and-clear notify
  g.cancel_all();
  auto idle = run_co(io, g.async_wait_idle(Clock::now() + 5s));
  EXPECT_TRUE(idle);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_FALSE(results[2]);
  EXPECT_EQ(results[2].error(), NetworkCondition::Cancelled);
  EXPECT_EQ(n.waiter_count(), 0u);
}

TEST(TaskGroup, CancelAllStopsHangingTasksAndWaitIdleCompletes) {
  asio::io_context io;
  detail::TaskGroup g(io.get_executor());
  int finished = 0;
  for (int i = 0; i < 3; ++i) {
    auto id = g.spawn("hang", [&]() -> asio::awaitable<void> {
      asio::steady_timer t(co_await asio::this_coro::executor, Clock::time_point::max());
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      ++finished;
    });
    EXPECT_NE(id, 0u);
  }
  drain(io);
  EXPECT_EQ(g.size(), 3u);
  g.cancel_all();
  auto r = run_co(io, g.async_wait_idle(Clock::now() + 5s));
  EXPECT_TRUE(r);
  EXPECT_EQ(finished, 3);
  EXPECT_EQ(g.size(), 0u);
}

TEST(TaskGroup, CancelBeforeFirstStepStillCancels) {
  asio::io_context io;
  detail::TaskGroup g(io.get_executor());
  bool ran = false;
  auto id = g.spawn("never", [&]() -> asio::awaitable<void> {
    ran = true;
    co_return;
  });
  g.cancel(id);  // before the executor ever ran the task
  drain(io);
  EXPECT_FALSE(ran);
  EXPECT_EQ(g.size(), 0u);
}

TEST(TaskGroup, ThrowingTaskIsReportedAndGroupKeepsWorking) {
  asio::io_context io;
  detail::TaskGroup g(io.get_executor());
  (void)g.spawn("boom", []() -> asio::awaitable<void> {
    throw std::runtime_error("boom");
    co_return;
  });
  int ran = 0;
  (void)g.spawn("ok", [&]() -> asio::awaitable<void> {
    ++ran;
    co_return;
  });
  drain(io);
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(g.size(), 0u);
}

TEST(TaskGroup, ClosedGroupRefusesNewTasks) {
  asio::io_context io;
  detail::TaskGroup g(io.get_executor());
  g.close();
  EXPECT_EQ(g.spawn("late", []() -> asio::awaitable<void> { co_return; }), 0u);
  EXPECT_TRUE(g.is_closed());
}

// H-EVT-2: the original's cleanup listener died on the first Lagged. Here a subscriber that
// cannot keep up loses nothing and sees events in order.
TEST(EventBus, SlowSubscriberLosesNothingAndKeepsOrder) {
  asio::io_context io;
  EventBus bus;
  std::vector<std::uint64_t> seen;
  auto sub = bus.subscribe(io.get_executor(), [&](const ConnectionEvent& ev) { seen.push_back(ev.wire.session_id); });
  for (std::uint64_t i = 1; i <= 5000; ++i)
    bus.publish(ConnectionEvent{Dest::local(), WireIdentity{WireKind::WebSocket, i}, ConnectionState::Closed, {}});
  EXPECT_TRUE(seen.empty());  // never delivered inline in publish
  drain(io);
  ASSERT_EQ(seen.size(), 5000u);
  for (std::uint64_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i + 1);
  EXPECT_GE(sub.high_water_mark(), 5000u);
}

TEST(EventBus, ThrowingSubscriberKeepsReceivingAndResetStops) {
  asio::io_context io;
  EventBus bus;
  int calls = 0;
  auto sub = bus.subscribe(io.get_executor(), [&](const ConnectionEvent&) {
    ++calls;
    throw std::runtime_error("subscriber bug");
  });
  bus.publish({Dest::local(), {}, ConnectionState::Failed, {}});
  bus.publish({Dest::local(), {}, ConnectionState::Closed, {}});
  drain(io);
  EXPECT_EQ(calls, 2);
  sub.reset();
  bus.publish({Dest::local(), {}, ConnectionState::Closed, {}});
  drain(io);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(bus.subscriber_count(), 0u);
}

TEST(AsyncQueue, BackpressureAndDropNewest) {
  asio::io_context io;
  detail::AsyncQueue<int> q(2);
  EXPECT_TRUE(q.try_push(1));
  EXPECT_TRUE(q.try_push(2));
  auto full = q.try_push(3);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error(), NetworkError::QueueFull);
  // A blocking push waits for room and times out if none comes.
  auto timed = run_co(io, q.push(3, Clock::now() + 20ms));
  ASSERT_FALSE(timed);
  EXPECT_EQ(timed.error(), NetworkError::TimeoutError);
  bool pushed = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { pushed = static_cast<bool>(co_await q.push(3, Clock::now() + 1h)); },
                 asio::use_future);
  drain(io);
  EXPECT_FALSE(pushed);
  EXPECT_EQ(*q.try_pop(), 1);
  drain(io);
  EXPECT_TRUE(pushed);
  EXPECT_EQ(*run_co(io, q.pop(Clock::now() + 1s)), 2);
  EXPECT_EQ(*run_co(io, q.pop(Clock::now() + 1s)), 3);
  q.close();
  auto closed = run_co(io, q.pop(Clock::now() + 1s));
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error(), NetworkError::ChannelClosed);
}

TEST(RpcCorrelation, GuardRemovesEntryOnEveryExit) {
  asio::io_context io;
  RpcCorrelation c;
  {
    auto p = c.register_request("a", Dest::local());
    EXPECT_EQ(c.size(), 1u);
    auto r = run_co(io, p.wait(Clock::now() + 10ms));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), NetworkError::TimeoutError);
    EXPECT_EQ(c.size(), 1u);  // still registered until the guard goes
  }
  EXPECT_EQ(c.size(), 0u);
  // A response after the caller left is an orphan, never a request (H-RPC-1).
  EXPECT_EQ(c.complete("a", Bytes{1}), RpcCorrelation::Completion::Orphan);
}

TEST(RpcCorrelation, CompleteBeforeWaitAndRemoteError) {
  asio::io_context io;
  RpcCorrelation c;
  auto p = c.register_request("x", Dest::local());
  EXPECT_EQ(c.complete("x", Bytes{7, 8}), RpcCorrelation::Completion::Completed);
  auto r = run_co(io, p.wait(Clock::now() + 1s));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (Bytes{7, 8}));
  auto q = c.register_request("y", Dest::local());
  EXPECT_EQ(c.complete_error("y", RemoteError{42, "handler failed"}), RpcCorrelation::Completion::Completed);
  auto e = run_co(io, q.wait(Clock::now() + 1s));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error(), NetworkError::ProtocolError);
  ASSERT_TRUE(q.remote_error());
  EXPECT_EQ(q.remote_error()->code, 42u);
  EXPECT_EQ(q.remote_error()->message, "handler failed");
}

TEST(RpcCorrelation, FailWhereOnlyMatchingAndDuplicateOverwrites) {
  asio::io_context io;
  RpcCorrelation c;
  ActrId a{Realm{1}, 1, {"acme", "a", "1"}};
  ActrId b{Realm{1}, 2, {"acme", "b", "1"}};
  auto pa = c.register_request("1", Dest::actor(a));
  auto pb = c.register_request("2", Dest::actor(b));
  EXPECT_EQ(c.fail_where([&](const Dest& d) { return d == Dest::actor(a); }, make_error_code(NetworkError::ConnectionClosed)),
            1u);
  auto ra = run_co(io, pa.wait(Clock::now() + 1s));
  ASSERT_FALSE(ra);
  EXPECT_EQ(ra.error(), NetworkError::ConnectionClosed);
  EXPECT_EQ(c.size(), 1u);
  auto pb2 = c.register_request("2", Dest::actor(b));  // duplicate id: the older waiter is failed
  auto rb = run_co(io, pb.wait(Clock::now() + 1s));
  ASSERT_FALSE(rb);
  EXPECT_EQ(rb.error(), NetworkError::Cancelled);
  EXPECT_EQ(c.size(), 1u);
}
