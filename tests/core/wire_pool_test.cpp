#include <actr/dest_transport.hpp>
#include <actr/error.hpp>
#include <actr/wire_pool.hpp>

#include "support/memory_wire.hpp"
#include "support/run_co.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {
std::shared_ptr<MemoryWire> make_wire(const std::shared_ptr<MemoryBuilder>& b, WireKind k, FaultPlan plan = {}) {
  return std::make_shared<MemoryWire>(k, actor(1), b, std::move(plan), b->inbox(), false);
}
// Runs until the pool has no Connecting slot left.
void settle(asio::io_context& io, WirePool& pool) {
  run_co(io, [&]() -> asio::awaitable<void> {
    while (pool.snapshot().live != pool.snapshot().ready)
      (void)co_await pool.async_wait_change(pool.snapshot().version, Clock::now() + 5s);
  }());
}
// A pool for actor 1 with fast timings, its executor and a builder of in-memory wires.
class WirePoolTest : public ::testing::Test {
 protected:
  asio::io_context io;
  std::shared_ptr<MemoryBuilder> b = MemoryBuilder::create();
  std::shared_ptr<WirePool> pool = WirePool::create(io.get_executor(), actor(1), fast_pool());
};
}  // namespace

TEST(WirePool, NewPoolIsOpenAndEmpty) {
  asio::io_context io;
  auto pool = WirePool::create(io.get_executor(), actor(1));
  auto s = pool->snapshot();
  EXPECT_FALSE(s.closed);
  EXPECT_TRUE(s.ready.empty());
  EXPECT_FALSE(pool->has_live_candidate(WireKindSet::all()));
}

TEST(WirePool, SuccessfulConnectBecomesReadyAndPublishes) {
  asio::io_context io;
  auto b = MemoryBuilder::create();
  auto bus = std::make_shared<EventBus>();
  std::vector<ConnectionState> states;
  auto sub = bus->subscribe(io.get_executor(), [&](const ConnectionEvent& e) { states.push_back(e.state); });
  auto pool = WirePool::create(io.get_executor(), actor(1), fast_pool(), bus);
  auto w = make_wire(b, WireKind::WebSocket);
  const auto v0 = pool->version();
  pool->add_connection(w);
  EXPECT_EQ(pool->state(WireKind::WebSocket), SlotState::Connecting);  // set before the task runs
  EXPECT_TRUE(pool->has_live_candidate({WireKind::WebSocket}));
  settle(io, *pool);
  EXPECT_EQ(pool->state(WireKind::WebSocket), SlotState::Ready);
  EXPECT_GT(pool->version(), v0);
  EXPECT_EQ(pool->get_connection(WireKind::WebSocket), w);
  actr::testing::drain(io);
  EXPECT_EQ(states, (std::vector{ConnectionState::Connecting, ConnectionState::Connected}));
}

TEST(WirePool, FailureIsPublishedAfterBackoffAttemptsAndFiresExhausted) {
  asio::io_context io;
  auto b = MemoryBuilder::create();
  FaultPlan plan;
  plan.every_connect.kind = ConnectFault::Kind::Fail;
  auto pool = WirePool::create(io.get_executor(), actor(1), fast_pool());
  int exhausted = 0;
  pool->set_on_exhausted([&] { ++exhausted; });
  auto w = make_wire(b, WireKind::WebSocket, plan);
  pool->add_connection(w);
  settle(io, *pool);
  EXPECT_EQ(pool->state(WireKind::WebSocket), SlotState::Failed);
  EXPECT_EQ(pool->connect_attempts(WireKind::WebSocket), 3u);
  EXPECT_FALSE(pool->has_live_candidate(WireKindSet::all()));
  EXPECT_EQ(exhausted, 1);
  actr::testing::drain(io);
  EXPECT_GE(w->close_calls(), 1u);  // a handle that gave up is closed, not leaked
}

TEST(WirePool, RetriesUntilAnAttemptSucceeds) {
  asio::io_context io;
  auto b = MemoryBuilder::create();
  FaultPlan plan;
  plan.connect_attempt[1] = ConnectFault{ConnectFault::Kind::Fail, make_error_code(NetworkError::ConnectionError), nullptr};
  plan.connect_attempt[2] = ConnectFault{ConnectFault::Kind::Fail, make_error_code(NetworkError::ConnectionError), nullptr};
  auto pool = WirePool::create(io.get_executor(), actor(1), fast_pool());
  pool->add_connection(make_wire(b, WireKind::WebRtc, plan));
  settle(io, *pool);
  EXPECT_EQ(pool->state(WireKind::WebRtc), SlotState::Ready);
  EXPECT_EQ(pool->connect_attempts(WireKind::WebRtc), 3u);
}

// H-WP-1: a connect that completes after the pool was closed must close its wire, not publish it.
TEST(WirePool, LateConnectAfterCloseIsClosedNotPublished) {
  asio::io_context io;
  auto b = MemoryBuilder::create();
  auto gate = std::make_shared<Gate>();
  FaultPlan plan;
  plan.every_connect = ConnectFault{ConnectFault::Kind::Gate, {}, gate};
  auto cfg = fast_pool();
  cfg.close_timeout = 20ms;
  auto pool = WirePool::create(io.get_executor(), actor(1), cfg);
  auto w = make_wire(b, WireKind::WebSocket, plan);
  pool->add_connection(w);
  actr::testing::drain(io);
  ASSERT_EQ(gate->waiting.load(), 1);
  run_co(io, pool->close_all());  // the connect ignores cancellation; close is still bounded
  EXPECT_TRUE(pool->is_closed());
  const auto closes_before = w->close_calls();
  gate->open();
  actr::testing::drain(io);
  EXPECT_TRUE(pool->snapshot().ready.empty());
  EXPECT_EQ(pool->get_connection(WireKind::WebSocket), nullptr);
  EXPECT_GT(w->close_calls(), closes_before);
}

TEST_F(WirePoolTest, MarkClosedIfSameChecksIdentity) {
  auto old_wire = make_wire(b, WireKind::WebRtc);
  pool->add_connection(old_wire);
  settle(io, *pool);
  auto new_wire = make_wire(b, WireKind::WebRtc);
  pool->add_connection(new_wire);  // replaces (and closes) the old one
  settle(io, *pool);
  EXPECT_FALSE(pool->mark_closed_if_same(old_wire->identity(), make_error_code(NetworkError::ConnectionClosed)));
  EXPECT_EQ(pool->state(WireKind::WebRtc), SlotState::Ready);
  EXPECT_TRUE(pool->connection_matches_identity(new_wire->identity()));
  // A stale death notification of the old wire must not touch the new one either.
  old_wire->drop();
  EXPECT_EQ(pool->get_connection(WireKind::WebRtc), new_wire);
  EXPECT_TRUE(pool->mark_closed_if_same(new_wire->identity(), make_error_code(NetworkError::ConnectionClosed)));
  EXPECT_EQ(pool->state(WireKind::WebRtc), SlotState::Failed);
}

TEST_F(WirePoolTest, WireDeathMarksSlotFailed) {
  auto w = make_wire(b, WireKind::WebSocket);
  pool->add_connection(w);
  settle(io, *pool);
  const auto v = pool->version();
  w->drop();
  EXPECT_EQ(pool->state(WireKind::WebSocket), SlotState::Failed);
  EXPECT_GT(pool->version(), v);
}

TEST_F(WirePoolTest, AddConnectionSmartOnlyFillsFailedOrEmpty) {
  auto w1 = make_wire(b, WireKind::WebSocket);
  EXPECT_TRUE(pool->add_connection_smart(w1));
  EXPECT_FALSE(pool->add_connection_smart(make_wire(b, WireKind::WebSocket)));  // Connecting
  settle(io, *pool);
  EXPECT_FALSE(pool->add_connection_smart(make_wire(b, WireKind::WebSocket)));  // Ready
  w1->drop();
  auto w2 = make_wire(b, WireKind::WebSocket);
  EXPECT_TRUE(pool->add_connection_smart(w2));  // Failed
  settle(io, *pool);
  EXPECT_EQ(pool->get_connection(WireKind::WebSocket), w2);
}

// ---- inbound wires: one owner for every connection of a peer (issue 9) -------------------------

namespace {
std::shared_ptr<MemoryWire> inbound_wire(const std::shared_ptr<MemoryBuilder>& b, WireKind k) {
  return std::make_shared<MemoryWire>(k, actor(1), b, FaultPlan{}, b->inbox(), /*connected=*/true);
}
}  // namespace

TEST_F(WirePoolTest, NewestInboundWebSocketIsReadyAndTheOlderStaysOpenAsStandby) {
  auto older = inbound_wire(b, WireKind::WebSocket);
  auto newer = inbound_wire(b, WireKind::WebSocket);
  ASSERT_TRUE(pool->adopt_inbound(older));
  EXPECT_EQ(pool->get_connection(WireKind::WebSocket), older);  // Ready at once, no connect task
  ASSERT_TRUE(pool->adopt_inbound(newer));
  EXPECT_EQ(pool->get_connection(WireKind::WebSocket), newer);
  EXPECT_EQ(pool->standby_count(WireKind::WebSocket), 1u);
  EXPECT_TRUE(pool->adopt_inbound(newer));  // already held: a no-op
  EXPECT_EQ(pool->standby_count(WireKind::WebSocket), 1u);
  actr::testing::drain(io);
  EXPECT_EQ(older->close_calls(), 0u);  // the peer's older connection is not ours to close
  EXPECT_TRUE(older->is_connected());
}

TEST_F(WirePoolTest, ReadyWireDyingPromotesTheNewestLiveStandbyWithoutAGap) {
  bool exhausted = false;
  pool->set_on_exhausted([&] { exhausted = true; });
  auto w1 = inbound_wire(b, WireKind::WebSocket);
  auto w2 = inbound_wire(b, WireKind::WebSocket);
  auto w3 = inbound_wire(b, WireKind::WebSocket);
  for (auto& w : {w1, w2, w3}) ASSERT_TRUE(pool->adopt_inbound(w));
  w2->sever_silently();  // a dead standby is skipped, not promoted
  const auto v = pool->version();
  w3->drop();
  EXPECT_EQ(pool->state(WireKind::WebSocket), SlotState::Ready);
  EXPECT_EQ(pool->get_connection(WireKind::WebSocket), w1);
  EXPECT_GT(pool->version(), v);  // senders re-read the route
  EXPECT_FALSE(exhausted);
  w1->drop();
  EXPECT_EQ(pool->state(WireKind::WebSocket), SlotState::Failed);
  EXPECT_TRUE(exhausted);
}

TEST_F(WirePoolTest, StandbyDyingIsRemovedWithoutTouchingTheReadyWire) {
  auto older = inbound_wire(b, WireKind::WebSocket);
  auto newer = inbound_wire(b, WireKind::WebSocket);
  ASSERT_TRUE(pool->adopt_inbound(older));
  ASSERT_TRUE(pool->adopt_inbound(newer));
  older->drop();
  EXPECT_EQ(pool->standby_count(WireKind::WebSocket), 0u);
  EXPECT_EQ(pool->get_connection(WireKind::WebSocket), newer);
  actr::testing::drain(io);
  EXPECT_GE(older->close_calls(), 1u);  // the dead one is released
}

// A WebRTC connection replaced by a newer one from the same peer ends its session with Closed
// (its own death no longer matches the pool, so nothing else would say so), before the new one's
// Connected.
TEST(WirePool, ReplacedInboundWebRtcWireIsPublishedClosed) {
  asio::io_context io;
  auto b = MemoryBuilder::create();
  auto bus = std::make_shared<EventBus>();
  std::vector<std::pair<std::uint64_t, ConnectionState>> seen;
  auto sub = bus->subscribe(io.get_executor(), [&](const ConnectionEvent& e) { seen.emplace_back(e.wire.session_id, e.state); });
  auto pool = WirePool::create(io.get_executor(), actor(1), fast_pool(), bus);
  auto older = inbound_wire(b, WireKind::WebRtc);
  auto newer = inbound_wire(b, WireKind::WebRtc);
  ASSERT_TRUE(pool->adopt_inbound(older));
  ASSERT_TRUE(pool->adopt_inbound(newer));
  actr::testing::drain(io);
  const auto s1 = older->identity().session_id, s2 = newer->identity().session_id;
  EXPECT_EQ(seen, (std::vector<std::pair<std::uint64_t, ConnectionState>>{
                      {s1, ConnectionState::Connected}, {s1, ConnectionState::Closed}, {s2, ConnectionState::Connected}}));
  EXPECT_EQ(pool->get_connection(WireKind::WebRtc), newer);
}

TEST(WirePool, APermanentConnectFailureEndsTheAttemptsAtOnce) {
  asio::io_context io;
  auto b = MemoryBuilder::create();
  FaultPlan plan;
  plan.every_connect.kind = ConnectFault::Kind::Fail;
  plan.every_connect.error = make_error_code(NetworkError::TlsHostnameMismatch);
  auto pool = WirePool::create(io.get_executor(), actor(1), fast_pool());
  int exhausted = 0;
  pool->set_on_exhausted([&] { ++exhausted; });
  pool->add_connection(make_wire(b, WireKind::WebSocket, plan));
  settle(io, *pool);
  EXPECT_EQ(pool->state(WireKind::WebSocket), SlotState::Failed);
  EXPECT_EQ(pool->connect_attempts(WireKind::WebSocket), 1u);  // transient errors get 3
  EXPECT_EQ(pool->permanent_failure(), NetworkError::TlsHostnameMismatch);
  EXPECT_EQ(exhausted, 1);
}

TEST(WirePool, InboundWhileOurDialConnectsWaitsAndTakesOverIfTheDialFails) {
  asio::io_context io;
  auto b = MemoryBuilder::create();
  FaultPlan fail;
  fail.every_connect.kind = ConnectFault::Kind::Fail;
  auto pool = WirePool::create(io.get_executor(), actor(1), fast_pool());
  auto dialed = make_wire(b, WireKind::WebSocket, fail);
  pool->add_connection(dialed);
  auto in = inbound_wire(b, WireKind::WebSocket);
  ASSERT_TRUE(pool->adopt_inbound(in));
  EXPECT_EQ(pool->state(WireKind::WebSocket), SlotState::Connecting);  // our dial decides first
  settle(io, *pool);
  EXPECT_EQ(pool->state(WireKind::WebSocket), SlotState::Ready);
  EXPECT_EQ(pool->get_connection(WireKind::WebSocket), in);
}

TEST_F(WirePoolTest, InboundWebRtcReplacesTheOldPeerConnectionAndClosesIt) {
  auto old_pc = inbound_wire(b, WireKind::WebRtc);
  auto new_pc = inbound_wire(b, WireKind::WebRtc);
  ASSERT_TRUE(pool->adopt_inbound(old_pc));
  ASSERT_TRUE(pool->adopt_inbound(new_pc));
  EXPECT_EQ(pool->get_connection(WireKind::WebRtc), new_pc);
  EXPECT_EQ(pool->standby_count(WireKind::WebRtc), 0u);
  EXPECT_FALSE(old_pc->is_connected());  // begin_close: nobody picks it up again
  actr::testing::drain(io);
  EXPECT_GE(old_pc->close_calls(), 1u);
}

TEST_F(WirePoolTest, ClosedPoolRefusesInboundAndCloseAllClosesStandbys) {
  auto w1 = inbound_wire(b, WireKind::WebSocket);
  auto w2 = inbound_wire(b, WireKind::WebSocket);
  ASSERT_TRUE(pool->adopt_inbound(w1));
  ASSERT_TRUE(pool->adopt_inbound(w2));
  run_co(io, pool->close_all());
  EXPECT_GE(w1->close_calls(), 1u);
  EXPECT_GE(w2->close_calls(), 1u);
  EXPECT_FALSE(pool->adopt_inbound(inbound_wire(b, WireKind::WebSocket)));
}

// Metrics (docs/operations.md): each connect attempt is counted with its outcome; a dial that
// connects a kind the pool had connected before is a reconnect, the first one is not.
TEST(WirePool, DialMetricsCountAttemptsFailuresAndReconnects) {
  asio::io_context io;
  auto b = MemoryBuilder::create();
  auto cfg = fast_pool();
  cfg.dial_metrics = std::make_shared<DialMetrics>();
  auto pool = WirePool::create(io.get_executor(), actor(1), cfg);
  auto first = make_wire(b, WireKind::WebSocket);
  pool->add_connection(first);
  settle(io, *pool);
  ASSERT_EQ(pool->state(WireKind::WebSocket), SlotState::Ready);
  EXPECT_TRUE(pool->mark_closed_if_same(first->identity(), make_error_code(NetworkError::ConnectionClosed)));
  FaultPlan refuse;
  refuse.every_connect.kind = ConnectFault::Kind::Fail;
  pool->add_connection(make_wire(b, WireKind::WebSocket, refuse));
  run_until(io, [&] { return pool->state(WireKind::WebSocket) == SlotState::Failed; });
  pool->add_connection(make_wire(b, WireKind::WebSocket));
  settle(io, *pool);
  ASSERT_EQ(pool->state(WireKind::WebSocket), SlotState::Ready);

  const auto ws = cfg.dial_metrics->snapshot()[static_cast<std::size_t>(WireKind::WebSocket)];
  EXPECT_EQ(ws.connected, 2u);
  EXPECT_EQ(ws.reconnects, 1u);
  ASSERT_EQ(ws.failed.size(), 1u);
  ASSERT_EQ(ws.failed.count("connection_error"), 1u);
  EXPECT_GE(ws.failed.at("connection_error"), 1u);
  EXPECT_EQ(ws.duration.count, 2u + ws.failed.at("connection_error"));
  EXPECT_EQ(ws.duration.cumulative.size(), DialMetrics::kBounds.size());
  EXPECT_LE(ws.duration.cumulative.back(), ws.duration.count);
  EXPECT_EQ(cfg.dial_metrics->snapshot()[static_cast<std::size_t>(WireKind::WebRtc)].duration.count, 0u);
  run_co(io, pool->close_all());
}
