// Two nodes over real WebSocket on 127.0.0.1: RPC, tells, stream chunks, errors, dedup.
#include <actr/detail/notifier.hpp>
#include <actr/error.hpp>
#include <actr/node.hpp>

#include "core/test_util.hpp"
#include "support/run_co.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <vector>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {
NodeConfig config(std::uint64_t serial) {
  NodeConfig c;
  c.id = actor_id(serial, "node");
  c.wires.ws.keepalive_interval = 1000ms;
  c.manager.send_timeout = 3s;
  return c;
}

struct Pair {
  asio::io_context io;
  Node a{io.get_executor(), config(1)};
  Node b{io.get_executor(), config(2)};
  std::atomic<int> handled{0};
  Pair() {
    auto pa = a.start();
    auto pb_ = b.start();
    EXPECT_TRUE(pa && pb_);
    a.set_peer_address(b.id(), "ws://127.0.0.1:" + std::to_string(*pb_) + "/");
    b.set_peer_address(a.id(), "ws://127.0.0.1:" + std::to_string(*pa) + "/");
    b.on_request([this](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
      ++handled;
      if (req.route_key() == "fail") co_return make_error_code(NetworkError::PermissionError);
      Bytes out(req.payload().begin(), req.payload().end());
      co_return out;
    });
  }
  ~Pair() {
    run_co(io, a.stop());
    run_co(io, b.stop());
  }

};
}  // namespace

TEST(Node, CallEchoesOnBothRpcClasses) {
  Pair p;
  for (auto pt : {PayloadType::RpcReliable, PayloadType::RpcSignal}) {
    auto r = run_co(p.io, p.a.call(p.b.id(), "echo.Echo.Ping", bytes("ping"), 2000ms, pt));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(*r, bytes("ping"));
  }
  EXPECT_EQ(p.handled.load(), 2);
  EXPECT_EQ(p.a.stats().responses, 2u);
}

TEST(Node, HandlerErrorComesBackTypedNotAsTimeout) {
  Pair p;
  const auto start = Clock::now();
  auto r = run_co(p.io, p.a.call(p.b.id(), "fail", bytes("x"), 5000ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::PermissionError);
  EXPECT_LT(Clock::now() - start, 4000ms);
}

TEST(Node, TellsAndStreamChunksArrive) {
  Pair p;
  std::vector<std::string> tells;
  std::vector<std::pair<PayloadType, std::uint64_t>> chunks;
  p.b.on_tell([&](const ActrId& from, const pb::RpcEnvelope& t) {
    EXPECT_EQ(from, p.a.id());
    tells.push_back(t.payload());
  });
  p.b.on_chunk([&](const ActrId&, PayloadType pt, const pb::DataStream& c) { chunks.emplace_back(pt, c.sequence()); });
  ASSERT_TRUE(run_co(p.io, p.a.tell(p.b.id(), "log.Log.Write", bytes("hello"))));
  for (std::uint64_t i = 0; i < 5; ++i) {
    pb::DataStream c;
    c.set_stream_id("s");
    c.set_sequence(i);
    c.set_payload("chunk");
    ASSERT_TRUE(run_co(p.io, p.a.send_chunk(p.b.id(), i % 2 ? PayloadType::StreamLatencyFirst : PayloadType::StreamReliable, c)));
  }
  run_until(p.io, [&] { return tells.size() == 1 && chunks.size() == 5; });
  EXPECT_EQ(tells[0], "hello");
  EXPECT_EQ(p.handled.load(), 0);  // a tell never reaches the request handler
  EXPECT_EQ(p.a.stats().orphans, 0u);  // and never produces a response
}

TEST(Node, PeerRepliesOverTheConnectionItAcceptedWithoutDialing) {
  Pair p;
  ASSERT_TRUE(run_co(p.io, p.a.call(p.b.id(), "echo", bytes("1"), 2000ms)));
  // b answered a's request: it must have used a's connection, not dialed a second one.
  EXPECT_EQ(p.b.manager().dials_started(), 0u);
}

TEST(Node, CallsToAnUnknownPeerFailTyped) {
  Pair p;
  auto r = run_co(p.io, p.a.call(actor_id(99, "ghost"), "echo", bytes("x"), 1000ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::ConfigurationError);
}

// §13 item 21: a retried request (same request_id) must not run the handler twice; the copy is
// answered from the dedup cache. The caller's second response is an orphan and is dropped.
TEST(Node, RetriedRequestRunsHandlerOnce) {
  Pair p;
  pb::RpcEnvelope env;
  env.set_route_key("echo");
  env.set_request_id("same-id");
  env.set_direction(pb::DIRECTION_REQUEST);
  env.set_timeout_ms(2000);
  env.set_payload("once");
  Bytes raw(env.ByteSizeLong());
  env.SerializeToArray(raw.data(), static_cast<int>(raw.size()));
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(run_co(p.io, p.a.manager().send(Dest::actor(p.b.id()), PayloadType::RpcReliable, raw)));
  run_until(p.io, [&] { return p.a.stats().orphans == 2; });  // nobody on a registered "same-id"
  EXPECT_EQ(p.handled.load(), 1);
  EXPECT_EQ(p.b.stats().duplicates, 1u);
}

// Requests run on a pool of workers that grows while all are busy: eight handlers held open do
// not stop a ninth request from being answered, and once the load is gone the extra workers
// retire, back to the one permanent worker.
TEST(Node, HeldHandlersDoNotHoldUpOthersAndIdleWorkersRetire) {
  asio::io_context io;
  auto cb = config(2);
  cb.request_worker_idle = 50ms;
  Node a{io.get_executor(), config(1)};
  Node b{io.get_executor(), cb};
  auto pa = a.start();
  auto pb_ = b.start();
  ASSERT_TRUE(pa && pb_);
  a.set_peer_address(b.id(), "ws://127.0.0.1:" + std::to_string(*pb_) + "/");
  EXPECT_EQ(b.stats().request_workers, 1u);
  detail::Notifier release;
  const auto closed = release.version();
  b.on_request([&](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
    if (req.route_key() == "held") (void)co_await release.async_wait_change(closed, Clock::now() + 10s);
    co_return Bytes(req.payload().begin(), req.payload().end());
  });
  constexpr int kHeld = 8;
  std::atomic<int> held_done{0};
  std::vector<std::future<void>> held;
  for (int i = 0; i < kHeld; ++i)
    held.push_back(asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      auto r = co_await a.call(b.id(), "held", bytes("h"), 10000ms);
      if (r) ++held_done;
    }, asio::use_future));
  run_until(io, [&] { return b.stats().request_workers > kHeld; });
  auto quick = run_co(io, a.call(b.id(), "quick", bytes("q"), 5000ms));
  ASSERT_TRUE(quick) << quick.error().message();
  EXPECT_EQ(held_done.load(), 0);  // answered while all eight were still held
  release.notify();
  run_until(io, [&] { return held_done.load() == kHeld; });
  run_until(io, [&] { return b.stats().request_workers == 1u; });
  auto again = run_co(io, a.call(b.id(), "quick", bytes("q"), 5000ms));  // the permanent one still serves
  EXPECT_TRUE(again);
  run_co(io, a.stop());
  run_co(io, b.stop());
}

// Bad protobuf on a live connection costs only that message: it is dropped and counted, and the
// connection keeps serving (no reconnect: the caller dialed once).
TEST(Node, BadProtobufIsDroppedAndTheConnectionKeepsServing) {
  Pair p;
  ASSERT_TRUE(run_co(p.io, p.a.call(p.b.id(), "echo", bytes("before"), 2000ms)));
  Bytes garbage{0xff, 0xff, 0xff, 0x01};
  ASSERT_TRUE(run_co(p.io, p.a.manager().send(Dest::actor(p.b.id()), PayloadType::RpcReliable, garbage)));
  auto r = run_co(p.io, p.a.call(p.b.id(), "echo", bytes("after"), 2000ms));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, bytes("after"));
  EXPECT_EQ(p.b.stats().malformed, 1u);
  EXPECT_EQ(p.a.manager().dials_started(), 1u);
}

// One slow class never starves another: while the latency-first handler is stuck, its queue
// fills and drops the newest; requests and reliable stream chunks keep flowing. The receiving
// node runs on two threads so its stuck handler holds only one of them.
TEST(Node, StuckLatencyClassDropsNewestAndStarvesNobody) {
  asio::thread_pool server_threads(2);
  auto server_cfg = config(2);
  server_cfg.latency_queue = 8;
  Node b(server_threads.get_executor(), server_cfg);
  auto port = b.start();
  ASSERT_TRUE(port);
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<int> latency_seen{0}, reliable_seen{0};
  b.on_chunk([&](const ActrId&, PayloadType pt, const pb::DataStream&) {
    if (pt == PayloadType::StreamReliable) {
      ++reliable_seen;
      return;
    }
    // The first latency-first chunk blocks its worker (bounded, so a failing test cannot hang).
    if (latency_seen.fetch_add(1) == 0) (void)released.wait_for(20s);
  });
  b.on_request([](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
    co_return Bytes(req.payload().begin(), req.payload().end());
  });

  asio::io_context io;
  Node a(io.get_executor(), config(1));
  ASSERT_TRUE(a.start());
  a.set_peer_address(b.id(), "ws://127.0.0.1:" + std::to_string(*port) + "/");
  auto chunk = [](std::uint64_t seq) {
    pb::DataStream c;
    c.set_stream_id("s");
    c.set_sequence(seq);
    c.set_payload("x");
    return c;
  };
  constexpr int kLatency = 40;
  for (int i = 0; i < kLatency; ++i)
    ASSERT_TRUE(run_co(io, a.send_chunk(b.id(), PayloadType::StreamLatencyFirst, chunk(static_cast<std::uint64_t>(i)))));
  // Delivered in order behind them on the same connection: once this call is answered, every
  // latency chunk has been queued or dropped.
  auto r = run_co(io, a.call(b.id(), "echo", bytes("still served"), 5000ms));
  ASSERT_TRUE(r) << r.error().message();
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(run_co(io, a.send_chunk(b.id(), PayloadType::StreamReliable, chunk(static_cast<std::uint64_t>(i)))));
  run_until(io, [&] { return reliable_seen.load() == 20; });
  EXPECT_EQ(latency_seen.load(), 1);  // still stuck in the first one
  const auto dropped = b.stats().latency_dropped;
  EXPECT_GE(dropped, static_cast<std::uint64_t>(kLatency - 1 - 8));  // queue of 8 behind the stuck one
  release.set_value();
  run_until(io, [&] { return static_cast<std::uint64_t>(latency_seen.load()) + dropped == kLatency; });
  run_co(io, a.stop());
  std::promise<void> stopped;
  asio::co_spawn(server_threads, b.stop(), [&](std::exception_ptr) { stopped.set_value(); });
  ASSERT_EQ(stopped.get_future().wait_for(10s), std::future_status::ready);
}
