#include <actr/error.hpp>
#include <actr/outproc_transport_manager.hpp>

#include "support/memory_wire.hpp"
#include "support/run_co.hpp"
#include "test_util.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <stdexcept>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {
ManagerConfig fast_config() {
  ManagerConfig c;
  c.pool = fast_pool();
  c.close_timeout = 500ms;
  return c;
}

struct Fixture {
  asio::io_context io;
  std::shared_ptr<MemoryBuilder> builder = MemoryBuilder::create();
  std::unique_ptr<OutprocTransportManager> mgr =
      std::make_unique<OutprocTransportManager>(io.get_executor(), actor_id(0, "self"), builder, fast_config());
  Bytes msg = bytes("payload");

  // Starts a send in the background; its result lands in the returned slot.
  std::shared_ptr<std::optional<Result<void>>> spawn_send(Dest d, std::chrono::milliseconds budget = 1h) {
    auto out = std::make_shared<std::optional<Result<void>>>();
    asio::co_spawn(io, [this, d, budget, out]() -> asio::awaitable<void> {
      auto r = co_await mgr->send_with_identity(d, PayloadType::RpcReliable, msg, Clock::now() + budget);
      *out = r ? Result<void>() : Result<void>(r.error());
    }, asio::use_future);
    return out;
  }

};
}  // namespace

TEST(OutprocTransportManager, NewManagerIsEmpty) {
  Fixture f;
  EXPECT_EQ(f.mgr->dest_count(), 0u);
  EXPECT_TRUE(f.mgr->list_dests().empty());
  EXPECT_FALSE(f.mgr->has_dest(Dest::shell()));
  EXPECT_EQ(f.mgr->local_id(), actor_id(0, "self"));
}

TEST(OutprocTransportManager, SendCreatesTransportLazilyAndDelivers) {
  Fixture f;
  auto r = run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(f.mgr->has_dest(actor(1)));
  EXPECT_EQ(f.mgr->dest_count(), 1u);
  EXPECT_EQ(f.mgr->list_dests(), std::vector<Dest>{actor(1)});
  auto got = f.builder->inbox()->drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, f.msg);
  EXPECT_EQ(got[0].dest, actor(1));
}

TEST(OutprocTransportManager, ConcurrentFirstSendsShareOneDial) {
  Fixture f;
  auto gate = std::make_shared<Gate>();
  FaultPlan plan;
  plan.builder_gate = gate;
  f.builder->set_default_plan(plan);
  std::vector<std::shared_ptr<std::optional<Result<void>>>> sends;
  for (int i = 0; i < 100; ++i) sends.push_back(f.spawn_send(actor(1)));
  actr::testing::drain(f.io);
  EXPECT_TRUE(f.mgr->is_connecting(actor(1)));
  gate->open();
  run_until(f.io, [&] { return std::all_of(sends.begin(), sends.end(), [](auto& s) { return s->has_value(); }); });
  for (auto& s : sends) EXPECT_TRUE(**s);
  EXPECT_EQ(f.builder->dials(actor(1)), 1u);
  EXPECT_EQ(f.builder->connects(actor(1), WireKind::WebRtc), 1u);
  EXPECT_EQ(f.builder->connects(actor(1), WireKind::WebSocket), 1u);
  EXPECT_EQ(f.builder->inbox()->count(), 100u);
}

// A waiter that arrives after the dial finished still gets the transport (level-triggered; the
// original's late waiter waited forever for a notification that had already fired).
TEST(OutprocTransportManager, LateJoinerSeesFinishedDial) {
  Fixture f;
  auto first = run_co(f.io, f.mgr->get_or_create_transport(actor(1)));
  ASSERT_TRUE(first);
  auto late = run_co(f.io, f.mgr->get_or_create_transport(actor(1), Clock::now() + 50ms));
  ASSERT_TRUE(late);
  EXPECT_EQ(*first, *late);
  EXPECT_EQ(f.builder->dials(actor(1)), 1u);
}

TEST(OutprocTransportManager, WaiterDeadlineDoesNotCancelSharedDialButLastWaiterLeavingDoes) {
  Fixture f;
  FaultPlan plan;
  plan.builder_hang = true;
  f.builder->set_default_plan(plan);
  auto impatient = f.spawn_send(actor(1), 20ms);
  auto patient = f.spawn_send(actor(1), 1500ms);  // far beyond the impatient one, even on a loaded CI box
  run_until(f.io, [&] { return impatient->has_value(); });
  ASSERT_FALSE(**impatient);
  EXPECT_EQ((*impatient)->error(), NetworkError::TimeoutError);
  actr::testing::drain(f.io);
  EXPECT_EQ(f.builder->cancelled_dials(), 0u);  // the patient waiter still wants it
  EXPECT_TRUE(f.mgr->is_connecting(actor(1)));
  run_until(f.io, [&] { return patient->has_value() && f.builder->cancelled_dials() == 1; });
  EXPECT_EQ((*patient)->error(), NetworkError::TimeoutError);
  EXPECT_FALSE(f.mgr->has_dest(actor(1)));  // the abandoned dial left no stale slot
  EXPECT_EQ(f.builder->dials(actor(1)), 1u);
}

TEST(OutprocTransportManager, CloseTransportDuringDialCancelsItAndDestDoesNotComeBack) {
  Fixture f;
  // The builder ignores cancellation and completes successfully later: the worst case.
  auto gate = std::make_shared<Gate>();
  FaultPlan plan;
  plan.builder_gate = gate;
  f.builder->set_default_plan(plan);
  auto waiter = f.spawn_send(actor(1));
  actr::testing::drain(f.io);
  ASSERT_TRUE(f.mgr->is_connecting(actor(1)));
  auto closed = run_co(f.io, f.mgr->close_transport(actor(1)));
  EXPECT_TRUE(closed);
  actr::testing::drain(f.io);
  ASSERT_TRUE(waiter->has_value());
  EXPECT_EQ((*waiter)->error(), NetworkError::ConnectionClosed);
  EXPECT_FALSE(f.mgr->has_dest(actor(1)));
  gate->open();  // the late dial finishes: it must not resurrect the destination (H-MGR-4)
  run_until(f.io, [&] { return gate->waiting.load() == 0; });
  actr::testing::drain(f.io);
  EXPECT_FALSE(f.mgr->has_dest(actor(1)));
  EXPECT_EQ(f.mgr->dest_count(), 0u);
  for (auto& w : f.builder->wires(actor(1))) EXPECT_GE(w->close_calls(), 1u);  // built, then closed
}

TEST(OutprocTransportManager, CloseTransportClosesWiresAndIsIdempotent) {
  Fixture f;
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg)));
  EXPECT_TRUE(run_co(f.io, f.mgr->close_transport(actor(1))));
  EXPECT_TRUE(run_co(f.io, f.mgr->close_transport(actor(1))));
  EXPECT_FALSE(f.mgr->has_dest(actor(1)));
  EXPECT_FALSE(f.mgr->is_closing(actor(1)));
  for (auto& w : f.builder->wires(actor(1))) EXPECT_GE(w->close_calls(), 1u);
  // A later send builds a fresh transport.
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg)));
  EXPECT_EQ(f.builder->dials(actor(1)), 2u);
}

TEST(OutprocTransportManager, SendsDuringCloseFailWithConnectionClosed) {
  Fixture f;
  auto close_gate = std::make_shared<Gate>();
  FaultPlan plan;
  plan.close_gate = close_gate;
  f.builder->set_default_plan(plan);
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg)));
  bool closed = false;
  asio::co_spawn(f.io, [&]() -> asio::awaitable<void> {
    (void)co_await f.mgr->close_transport(actor(1));
    closed = true;
  }, asio::use_future);
  actr::testing::drain(f.io);
  ASSERT_TRUE(f.mgr->is_closing(actor(1)));
  auto r = run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::ConnectionClosed);
  close_gate->open();
  run_until(f.io, [&] { return closed; });
  EXPECT_FALSE(f.mgr->is_closing(actor(1)));
}

TEST(OutprocTransportManager, CloseAllCancelsDialsClosesTransportsAndHoldsNoLock) {
  Fixture f;
  auto close_gate = std::make_shared<Gate>();
  FaultPlan slow_close;
  slow_close.close_gate = close_gate;
  f.builder->set_plan(actor(1), slow_close);
  FaultPlan hang;
  hang.builder_hang = true;
  f.builder->set_plan(actor(2), hang);
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg)));
  auto dialing = f.spawn_send(actor(2));
  actr::testing::drain(f.io);
  bool done = false;
  asio::co_spawn(f.io, [&]() -> asio::awaitable<void> {
    (void)co_await f.mgr->close_all();
    done = true;
  }, asio::use_future);
  actr::testing::drain(f.io);
  EXPECT_FALSE(done);  // stuck in actor(1)'s slow wire close...
  // ...yet the manager is fully usable meanwhile: no lock is held across that I/O (H-MGR-7).
  EXPECT_EQ(f.mgr->dest_count(), 0u);
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(3), PayloadType::RpcReliable, f.msg)));
  ASSERT_TRUE(dialing->has_value());
  EXPECT_EQ((*dialing)->error(), NetworkError::ConnectionClosed);
  EXPECT_EQ(f.builder->cancelled_dials(), 1u);
  close_gate->open();
  run_until(f.io, [&] { return done; });
  EXPECT_TRUE(f.mgr->has_dest(actor(3)));
}

TEST(OutprocTransportManager, CloseAllIsBoundedWhenAWireNeverCloses) {
  Fixture f;
  FaultPlan stuck;
  stuck.close_gate = std::make_shared<Gate>();  // never opened
  f.builder->set_default_plan(stuck);
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg)));
  auto start = Clock::now();
  auto r = run_co(f.io, f.mgr->close_all(), 10000ms);
  EXPECT_TRUE(r);
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_EQ(f.mgr->dest_count(), 0u);
}

// A creator destroyed mid-dial (manager destroyed) fails its waiters instead of stranding them.
TEST(OutprocTransportManager, DestroyingManagerFailsWaitersAndLeavesNoTaskRunning) {
  Fixture f;
  FaultPlan hang;
  hang.builder_hang = true;
  f.builder->set_plan(actor(2), hang);
  FaultPlan connect_hang;
  connect_hang.every_connect.kind = ConnectFault::Kind::Hang;
  f.builder->set_plan(actor(3), connect_hang);
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg)));
  auto waiter = f.spawn_send(actor(2));
  auto get3 = f.spawn_send(actor(3), 1h);
  auto checker = f.mgr->spawn_health_checker(10ms);
  actr::testing::drain(f.io);
  f.mgr.reset();
  // Every task (dial, pool connects, health checker) ends; run() returns once no work is left.
  f.io.restart();
  const auto start = Clock::now();
  f.io.run_for(5s);
  EXPECT_TRUE(f.io.stopped()) << "work left after the manager was destroyed";
  EXPECT_LT(Clock::now() - start, 5s);
  ASSERT_TRUE(waiter->has_value());
  EXPECT_FALSE(**waiter);
  ASSERT_TRUE(get3->has_value());
  EXPECT_FALSE(**get3);
  EXPECT_EQ(f.builder->cancelled_dials(), 1u);
  EXPECT_EQ(f.builder->live_wire_objects(), 0u);  // every wire released
}

TEST(OutprocTransportManager, ExhaustedTransportIsEvictedAndNextSendRedials) {
  Fixture f;
  FaultPlan fail;
  fail.every_connect.kind = ConnectFault::Kind::Fail;
  f.builder->set_default_plan(fail);
  auto r = run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::NoRoute);
  run_until(f.io, [&] { return !f.mgr->has_dest(actor(1)); });
  f.builder->set_default_plan({});
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg)));
  EXPECT_EQ(f.builder->dials(actor(1)), 2u);
}

TEST(OutprocTransportManager, BuilderErrorsAreTypedAndEmptyResultIsConfigurationError) {
  Fixture f;
  FaultPlan err;
  err.builder_error = make_error_code(NetworkError::ServiceDiscoveryError);
  f.builder->set_plan(actor(1), err);
  FaultPlan none;
  none.kinds = WireKindSet{};
  f.builder->set_plan(actor(2), none);
  auto r1 = run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg));
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error(), NetworkError::ServiceDiscoveryError);
  auto r2 = run_co(f.io, f.mgr->send(actor(2), PayloadType::RpcReliable, f.msg));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error(), NetworkError::ConfigurationError);
  EXPECT_EQ(f.mgr->dest_count(), 0u);  // failed dials leave nothing behind
}

// H-MGR-10: cleanup is identity-checked; a stale reference never removes a newer transport.
TEST(OutprocTransportManager, StaleCloseDoesNotRemoveReplacement) {
  Fixture f;
  auto old_t = run_co(f.io, f.mgr->get_or_create_transport(actor(1)));
  ASSERT_TRUE(old_t);
  ASSERT_TRUE(run_co(f.io, f.mgr->close_transport(actor(1))));
  auto new_t = run_co(f.io, f.mgr->get_or_create_transport(actor(1)));
  ASSERT_TRUE(new_t);
  EXPECT_FALSE(run_co(f.io, f.mgr->close_transport_if_current(actor(1), *old_t)));
  EXPECT_TRUE(f.mgr->has_dest(actor(1)));
  // The old transport's wires dying late must not evict the new transport either.
  for (auto& w : f.builder->wires(actor(1))) w->drop();  // drops old (already closed) and new wires
  auto again = run_co(f.io, f.mgr->get_or_create_transport(actor(1)));
  ASSERT_TRUE(again);
  EXPECT_TRUE(run_co(f.io, f.mgr->close_transport_if_current(actor(1), *again)));
}

TEST(OutprocTransportManager, HealthCheckerRepairsFailedKindAndEvictsDeadTransport) {
  Fixture f;
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg)));
  auto checker = f.mgr->spawn_health_checker(5ms);
  std::shared_ptr<MemoryWire> rtc;
  for (auto& w : f.builder->wires(actor(1)))
    if (w->kind() == WireKind::WebRtc) rtc = w;
  rtc->drop();
  run_until(f.io, [&] { return f.builder->connects(actor(1), WireKind::WebRtc) == 2; });
  auto t = run_co(f.io, f.mgr->get_or_create_transport(actor(1)));
  ASSERT_TRUE(t);
  run_until(f.io, [&] { return (*t)->pool().state(WireKind::WebRtc) == SlotState::Ready; });
  EXPECT_EQ(f.builder->dials(actor(1)), 2u);  // one dial + one repair of the WebRTC kind only
  EXPECT_EQ(f.builder->connects(actor(1), WireKind::WebSocket), 1u);
  checker.stop();
}

// A kind the builder could not build when the transport was made (WebRTC to a peer not yet
// registered with signaling) has an Empty slot, which the health checker never rebuilds: `repair`
// asks for it (the Node calls it when the peer registers anew). Found by `actr demo`: after a
// node's restart, WebRTC to it never came back.
TEST(OutprocTransportManager, RepairBuildsAKindThatWasNeverBuilt) {
  Fixture f;
  FaultPlan ws_only;
  ws_only.kinds = WireKindSet{WireKind::WebSocket};
  f.builder->set_plan(actor(1), ws_only);
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg)));
  auto t = run_co(f.io, f.mgr->get_or_create_transport(actor(1)));
  ASSERT_TRUE(t);
  EXPECT_EQ((*t)->pool().state(WireKind::WebRtc), SlotState::Empty);
  EXPECT_EQ((*t)->missing_kinds(), WireKindSet{WireKind::WebRtc});
  EXPECT_TRUE((*t)->failed_kinds().empty());  // what the health checker looks at

  f.builder->set_plan(actor(1), FaultPlan{});  // the peer can be reached over WebRTC now
  f.mgr->repair(actor(1));
  run_until(f.io, [&] { return (*t)->pool().state(WireKind::WebRtc) == SlotState::Ready; });
  EXPECT_EQ(f.builder->dials(actor(1)), 2u);
  EXPECT_EQ(f.builder->connects(actor(1), WireKind::WebSocket), 1u);  // the Ready kind is left alone
  f.mgr->repair(actor(2));  // no transport: nothing happens
  EXPECT_EQ(f.builder->dials(actor(2)), 0u);
}

// The peer came back while a dial to it was in flight (cli.demo: a call dialed the restarted
// node a millisecond before its registration, and the WebRTC part of that dial was refused). The
// repair used to find no transport yet and do nothing, so WebRTC stayed missing for good.
TEST(OutprocTransportManager, RepairDuringADialFillsWhatThatDialCouldNotBuild) {
  Fixture f;
  auto gate = std::make_shared<Gate>();
  FaultPlan ws_only;
  ws_only.kinds = WireKindSet{WireKind::WebSocket};
  ws_only.builder_gate = gate;
  f.builder->set_plan(actor(1), ws_only);
  auto sent = f.spawn_send(actor(1));
  actr::testing::drain(f.io);
  ASSERT_TRUE(f.mgr->is_connecting(actor(1)));
  f.builder->set_plan(actor(1), FaultPlan{});  // the peer can be reached over WebRTC now
  f.mgr->repair(actor(1));
  gate->open();
  run_until(f.io, [&] { return sent->has_value(); });
  EXPECT_TRUE(**sent);
  auto t = run_co(f.io, f.mgr->get_or_create_transport(actor(1)));
  ASSERT_TRUE(t);
  run_until(f.io, [&] { return (*t)->pool().state(WireKind::WebRtc) == SlotState::Ready; });
  EXPECT_EQ(f.builder->connects(actor(1), WireKind::WebSocket), 1u);
  EXPECT_EQ(f.builder->connects(actor(1), WireKind::WebRtc), 1u);
}

TEST(OutprocTransportManager, HealthCheckerSurvivesFailingRepairs) {
  Fixture f;
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg)));
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(2), PayloadType::RpcReliable, f.msg)));
  FaultPlan err;
  err.builder_error = make_error_code(NetworkError::SignalingError);
  f.builder->set_plan(actor(1), err);  // every repair of actor(1) fails
  auto checker = f.mgr->spawn_health_checker(5ms);
  for (auto& w : f.builder->wires(actor(1)))
    if (w->kind() == WireKind::WebRtc) w->drop();
  run_until(f.io, [&] { return f.builder->dials(actor(1)) >= 4; });  // it keeps trying, round after round
  for (auto& w : f.builder->wires(actor(2)))
    if (w->kind() == WireKind::WebRtc) w->drop();
  run_until(f.io, [&] { return f.builder->connects(actor(2), WireKind::WebRtc) == 2; });  // other dests still served
}

TEST(OutprocTransportManager, EventsCarrySessionIdsAndSubscriberMayCallBack) {
  Fixture f;
  std::vector<ConnectionEvent> events;
  std::size_t count_seen_in_handler = 99;
  auto sub = f.mgr->events().subscribe(f.io.get_executor(), [&](const ConnectionEvent& e) {
    events.push_back(e);
    count_seen_in_handler = f.mgr->dest_count();  // re-entering the manager from a handler is safe
  });
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg)));
  actr::testing::drain(f.io);
  ASSERT_GE(events.size(), 4u);  // Connecting + Connected for both kinds
  for (auto& e : events) {
    EXPECT_EQ(e.dest, actor(1));
    EXPECT_GT(e.wire.session_id, 0u);
  }
  EXPECT_EQ(count_seen_in_handler, 1u);
}

// The fast path sends on a cached lane; when that lane or its wire dies, the send still lands
// (fresh lane, then fallback to WebSocket) and the stale cache entry is not reused.
TEST(OutprocTransportManager, FastPathRecoversWhenCachedLaneOrWireDies) {
  Fixture f;
  auto send = [&] {
    return run_co(f.io, f.mgr->send_with_identity(actor(1), PayloadType::RpcReliable, f.msg, Clock::now() + 5s));
  };
  ASSERT_TRUE(send());
  std::shared_ptr<MemoryWire> rtc;
  for (auto& w : f.builder->wires(actor(1)))
    if (w->kind() == WireKind::WebRtc) rtc = w;
  rtc->break_lane(PayloadType::RpcReliable);
  auto r1 = send();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->kind, WireKind::WebRtc);
  EXPECT_EQ(rtc->failed_sends(), 2u);  // cached lane, then the wire's own copy of it
  auto r2 = run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg));
  ASSERT_TRUE(r2);
  EXPECT_EQ(rtc->failed_sends(), 2u);  // the stale cached lane was dropped, not tried again
  rtc->sever_silently();
  auto r3 = send();
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->kind, WireKind::WebSocket);
  ASSERT_TRUE(run_co(f.io, f.mgr->send(actor(1), PayloadType::RpcReliable, f.msg)));
  EXPECT_EQ(f.builder->inbox()->count(), 5u);
}

// A destination where nothing listens (every connect refused at once) must not cost its senders
// their deadlines: the first learns "connection refused" at once, the next ones "unreachable"
// without a dial, until a probe (or a reset) finds it back. Issue 11: "a dead peer costs every
// caller its whole deadline" (the old code answered TimeoutError here, after the 5 s budget).
TEST(OutprocTransportManager, ARefusedDestinationFailsAtOnceUntilAProbeFindsItBack) {
  asio::io_context io;
  auto builder = MemoryBuilder::create();
  ManagerConfig cfg = fast_config();
  cfg.pool.connect_backoff.initial = 1h;  // the pool's own next attempt never comes during the test
  cfg.pool.connect_backoff.max = 1h;
  OutprocTransportManager mgr(io.get_executor(), actor_id(0, "self"), builder, cfg);
  FaultPlan refused;
  refused.kinds = {WireKind::WebSocket};
  refused.every_connect.kind = ConnectFault::Kind::Fail;
  refused.every_connect.error = boost::asio::error::connection_refused;
  builder->set_default_plan(refused);
  const Bytes msg = bytes("m");
  auto send = [&] {
    return run_co(io, mgr.send_with_identity(actor(1), PayloadType::RpcReliable, msg, Clock::now() + 5s));
  };

  auto first = send();
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error(), boost::asio::error::connection_refused) << first.error().message();
  EXPECT_TRUE(mgr.is_unreachable(actor(1)));
  EXPECT_EQ(builder->dials(actor(1)), 1u);

  auto second = send();
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), make_error_code(NetworkError::NetworkUnreachable));
  EXPECT_EQ(builder->dials(actor(1)), 1u) << "a marked destination is not dialed again before its wait";
  EXPECT_EQ(builder->connects(actor(1), WireKind::WebSocket), 1u);

  // A reset lets the next send dial at once; still refused, it is marked again.
  mgr.reset_unreachable(actor(1));
  EXPECT_FALSE(mgr.is_unreachable(actor(1)));
  auto third = send();
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error(), boost::asio::error::connection_refused);
  EXPECT_EQ(builder->dials(actor(1)), 2u) << "the refused transport was dropped, so the retry dials afresh";

  // The peer is back: after a reset the send goes through and the mark is gone.
  FaultPlan back;
  back.kinds = {WireKind::WebSocket};
  builder->set_default_plan(back);
  mgr.reset_unreachable(actor(1));
  auto fourth = send();
  ASSERT_TRUE(fourth) << fourth.error().message();
  EXPECT_FALSE(mgr.is_unreachable(actor(1)));
  EXPECT_FALSE(mgr.is_unreachable(actor(2)));
  EXPECT_TRUE(run_co(io, mgr.close_all()));
}

// The probe: once the mark's wait is over, one send dials again, and its success clears the mark.
TEST(OutprocTransportManager, AfterTheWaitOneSendProbesAndItsSuccessClearsTheMark) {
  asio::io_context io;
  auto builder = MemoryBuilder::create();
  ManagerConfig cfg = fast_config();
  cfg.pool.connect_backoff.initial = 1h;
  cfg.pool.connect_backoff.max = 1h;
  cfg.unreachable.backoff.initial = 1ms;
  cfg.unreachable.backoff.jitter = 0;
  OutprocTransportManager mgr(io.get_executor(), actor_id(0, "self"), builder, cfg);
  FaultPlan plan;
  plan.kinds = {WireKind::WebSocket};
  plan.connect_attempt[1].kind = ConnectFault::Kind::Fail;
  plan.connect_attempt[1].error = boost::asio::error::connection_refused;
  builder->set_default_plan(plan);
  const Bytes msg = bytes("m");
  auto first = run_co(io, mgr.send_with_identity(actor(1), PayloadType::RpcReliable, msg, Clock::now() + 5s));
  ASSERT_FALSE(first);
  ASSERT_TRUE(mgr.is_unreachable(actor(1)));
  // Each send either fails fast (still inside the 1 ms wait) or is the probe, which connects.
  Result<WireIdentity> r = make_error_code(NetworkError::NetworkUnreachable);
  const auto limit = Clock::now() + 10s;
  while (!r && Clock::now() < limit) {
    r = run_co(io, mgr.send_with_identity(actor(1), PayloadType::RpcReliable, msg, Clock::now() + 5s));
    if (!r) {
      ASSERT_EQ(r.error(), make_error_code(NetworkError::NetworkUnreachable)) << r.error().message();
    }
  }
  ASSERT_TRUE(r);
  EXPECT_FALSE(mgr.is_unreachable(actor(1)));
  EXPECT_EQ(builder->dials(actor(1)), 2u);
  EXPECT_TRUE(run_co(io, mgr.close_all()));
}

// A backoff with initial above max used to throw inside the pool's background connect task: the
// slot stayed Connecting and every sender waited its whole deadline. Now the manager (and a pool
// made directly) refuses the configuration where the caller sees it.
TEST(OutprocTransportManager, AnInvalidBackoffIsRefusedAtConstructionNotInABackgroundTask) {
  asio::io_context io;
  ManagerConfig bad = fast_config();
  bad.pool.connect_backoff.initial = 1h;
  bad.pool.connect_backoff.max = 1s;
  EXPECT_THROW(OutprocTransportManager(io.get_executor(), actor_id(0, "self"), MemoryBuilder::create(), bad),
               std::invalid_argument);
  ManagerConfig bad_cache = fast_config();
  bad_cache.unreachable.backoff.multiplier = 0.5;
  EXPECT_THROW(OutprocTransportManager(io.get_executor(), actor_id(0, "self"), MemoryBuilder::create(), bad_cache),
               std::invalid_argument);
  EXPECT_THROW(WirePool::create(io.get_executor(), actor(1), bad.pool), std::invalid_argument);
  EXPECT_NO_THROW(OutprocTransportManager(io.get_executor(), actor_id(0, "self"), MemoryBuilder::create(), fast_config()));
}
