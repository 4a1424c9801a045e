// Stress on a 2-thread io_context: cold-destination storms, with and without faults and closes.
// Runs in the ASan+UBSan suite and again under TSan (label "concurrency").
#include <actr/error.hpp>
#include <actr/outproc_transport_manager.hpp>

#include "core/test_util.hpp"
#include "support/run_co.hpp"
#include "support/memory_wire.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <cstdlib>
#include <map>
#include <thread>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

int rounds() {
  const char* r = std::getenv("ACTR_STRESS_ROUNDS");
  return r ? std::max(1, std::atoi(r)) : 3;
}

// Counts completions and lets the test thread wait for all of them, with a deadline.
struct Completions {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t done = 0;
  std::size_t ok = 0;
  std::size_t late = 0;
  std::size_t threw = 0;
  std::map<std::string, std::size_t> errors;

  void record(const Result<WireIdentity>& r, Deadline deadline) {
    // A typed failure must come by the deadline. The slack absorbs run-queue delay (10,000 sends
    // on 2 threads under a sanitizer on a shared machine); a hang overshoots it without bound.
    const bool is_late = Clock::now() > deadline + 10s;
    std::lock_guard lk(mu);
    ++done;
    if (r) ++ok;
    else ++errors[std::string(to_string(static_cast<NetworkError>(r.error().value())))];
    if (is_late) ++late;
    cv.notify_all();
  }
  void record_exception() {
    std::lock_guard lk(mu);
    ++done;
    ++threw;
    cv.notify_all();
  }
  bool wait_for(std::size_t n, std::chrono::seconds limit) {
    std::unique_lock lk(mu);
    return cv.wait_until(lk, Clock::now() + limit, [&] { return done >= n; });
  }
};

void spawn_send(asio::io_context& io, OutprocTransportManager& mgr, Dest d, const Bytes& msg, Deadline deadline,
                Completions& c) {
  asio::co_spawn(
      io,
      [&mgr, d, &msg, deadline, &c]() -> asio::awaitable<void> {
        auto r = co_await mgr.send_with_identity(d, PayloadType::RpcReliable, msg, deadline);
        c.record(r, deadline);
      },
      [&c](std::exception_ptr e) {
        if (e) c.record_exception();
      });
}

ManagerConfig config() {
  ManagerConfig cfg;
  cfg.pool = fast_pool();
  return cfg;
}

}  // namespace

// 10,000 concurrent first sends across 1,000 cold destinations: exactly one dial per destination
// and one connect per (destination, wire kind); every send completes before its deadline.
TEST(Stress, ColdStormDialsOncePerDestinationAndKind) {
  constexpr int kDests = 1000;
  constexpr int kSendsPerDest = 10;
  TwoThreads threads;
  auto builder = MemoryBuilder::create(std::make_shared<Inbox>(false));
  const Bytes msg = bytes("storm");
  for (int round = 0; round < rounds(); ++round) {
    auto mgr = std::make_unique<OutprocTransportManager>(threads.io.get_executor(), actor_id(0, "self"), builder,
                                                         config());
    Completions c;
    const auto before = builder->inbox()->count();
    const auto deadline = Clock::now() + 60s;
    for (int i = 0; i < kDests * kSendsPerDest; ++i)
      spawn_send(threads.io, *mgr, actor(static_cast<std::uint64_t>(round * kDests + i % kDests + 1)), msg, deadline, c);
    ASSERT_TRUE(c.wait_for(kDests * kSendsPerDest, 120s)) << "sends hung: " << c.done << " completed";
    EXPECT_EQ(c.ok, static_cast<std::size_t>(kDests * kSendsPerDest));
    EXPECT_EQ(c.late, 0u);
    EXPECT_EQ(c.threw, 0u);
    for (auto& [name, n] : c.errors) ADD_FAILURE() << n << " sends failed with " << name;
    EXPECT_EQ(builder->inbox()->count() - before, static_cast<std::uint64_t>(kDests * kSendsPerDest));
    EXPECT_EQ(mgr->dials_started(), static_cast<std::uint64_t>(kDests));
    for (int d = 0; d < kDests; ++d) {
      const auto dest = actor(static_cast<std::uint64_t>(round * kDests + d + 1));
      ASSERT_EQ(builder->dials(dest), 1u) << dest.to_string();
      ASSERT_EQ(builder->connects(dest, WireKind::WebRtc), 1u) << dest.to_string();
      ASSERT_EQ(builder->connects(dest, WireKind::WebSocket), 1u) << dest.to_string();
    }
    EXPECT_EQ(mgr->dest_count(), static_cast<std::size_t>(kDests));
    mgr.reset();  // destruction with live transports, on threads that keep running
  }
}

// The same storm with faults: a tenth of the destinations hang in the builder, a tenth fail
// every connect, and close_all/close_transport race the senders. Every send must complete,
// succeed or fail typed, by its deadline; afterwards nothing is left behind.
TEST(Stress, FaultyStormWithRacingClosesNeverHangs) {
  constexpr int kDests = 1000;
  constexpr int kSendsPerDest = 10;
  TwoThreads threads;
  auto builder = MemoryBuilder::create(std::make_shared<Inbox>(false));
  FaultPlan hang;
  hang.builder_hang = true;
  FaultPlan fail;
  fail.every_connect.kind = ConnectFault::Kind::Fail;
  for (int d = 0; d < kDests; ++d) {
    if (d % 10 == 1) builder->set_plan(actor(static_cast<std::uint64_t>(d + 1)), hang);
    if (d % 10 == 2) builder->set_plan(actor(static_cast<std::uint64_t>(d + 1)), fail);
  }
  const Bytes msg = bytes("faulty");
  for (int round = 0; round < rounds(); ++round) {
    OutprocTransportManager mgr(threads.io.get_executor(), actor_id(0, "self"), builder, config());
    Completions c;
    // Sends to hanging destinations get a short deadline (they must end with TimeoutError by it);
    // the others get a long one, so a slow sanitizer build still sees them succeed.
    const auto start = Clock::now();
    for (int i = 0; i < kDests * kSendsPerDest; ++i) {
      const bool hangs = (i % kDests) % 10 == 1;
      spawn_send(threads.io, mgr, actor(static_cast<std::uint64_t>(i % kDests + 1)), msg,
                 (hangs ? Clock::now() + 500ms : start + 60s), c);
      if (i == kDests * kSendsPerDest / 2) {
        asio::co_spawn(threads.io, [&mgr]() -> asio::awaitable<void> { (void)co_await mgr.close_all(); },
                       [&c](std::exception_ptr e) { if (e) c.record_exception(); });
      }
      if (i % 997 == 0) {
        asio::co_spawn(threads.io, [&mgr, i]() -> asio::awaitable<void> {
          (void)co_await mgr.close_transport(actor(static_cast<std::uint64_t>(i % kDests + 1)));
        }, [&c](std::exception_ptr e) { if (e) c.record_exception(); });
      }
    }
    ASSERT_TRUE(c.wait_for(kDests * kSendsPerDest, 120s)) << "sends hung: " << c.done << " completed";
    EXPECT_EQ(c.late, 0u);
    EXPECT_EQ(c.threw, 0u);
    EXPECT_GT(c.ok, 0u) << [&] { std::string s; for (auto& [k, v] : c.errors) s += k + "=" + std::to_string(v) + " "; return s; }();
    for (auto& [name, n] : c.errors) {
      const bool expected = name == "timeout_error" || name == "connection_closed" || name == "no_route" ||
                            name == "cancelled";
      EXPECT_TRUE(expected) << n << " sends failed with unexpected " << name;
    }
    // Quiesce: close everything and wait, with a deadline, for the manager to empty.
    std::promise<void> closed;
    asio::co_spawn(threads.io, [&mgr]() -> asio::awaitable<void> { (void)co_await mgr.close_all(); },
                   [&closed](std::exception_ptr) { closed.set_value(); });
    ASSERT_EQ(closed.get_future().wait_for(60s), std::future_status::ready);
    EXPECT_EQ(mgr.dest_count(), 0u);
  }
}
