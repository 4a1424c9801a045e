#include <actr/dest_transport.hpp>
#include <actr/error.hpp>

#include "support/memory_wire.hpp"
#include "support/run_co.hpp"
#include "test_util.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {
struct Fixture {
  asio::io_context io;
  std::shared_ptr<MemoryBuilder> builder = MemoryBuilder::create();
  std::shared_ptr<DestTransport> t;

  void build(FaultPlan plan = {}) {
    builder->set_default_plan(plan);
    auto hs = run_co(io, builder->create_connections(actor(1), WireKindSet::all()));
    t = DestTransport::create(io.get_executor(), actor(1), std::move(*hs), fast_pool());
  }
  std::shared_ptr<MemoryWire> wire(WireKind k) {
    for (auto& w : builder->wires(actor(1)))
      if (w->kind() == k) return w;
    return nullptr;
  }
  Result<WireIdentity> send(PayloadType pt = PayloadType::RpcReliable, std::chrono::milliseconds budget = 5s) {
    static const Bytes msg = bytes("hello");
    return run_co(io, DestTransport::send(t, pt, msg, Clock::now() + budget));
  }
};
}  // namespace

TEST(DestTransport, PrefersWebRtcForEveryDataClass) {
  Fixture f;
  f.build();
  for (auto pt : {PayloadType::RpcReliable, PayloadType::RpcSignal, PayloadType::StreamReliable,
                  PayloadType::StreamLatencyFirst}) {
    auto r = f.send(pt);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->kind, WireKind::WebRtc);
  }
  auto msgs = f.builder->inbox()->drain();
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[0].bytes, bytes("hello"));
}

TEST(DestTransport, MediaRtpHasNoRoute) {
  Fixture f;
  f.build();
  auto r = f.send(PayloadType::MediaRtp);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::NoRoute);
}

// §13 item 14: a Ready WebRTC wire that is dead without anyone being told (stale ready set)
// is evicted by identity on its closed-like error and the send falls back to WebSocket.
TEST(DestTransport, ClosedLikeErrorEvictsAndFallsBackToWebSocket) {
  Fixture f;
  f.build();
  ASSERT_TRUE(f.send());
  auto rtc = f.wire(WireKind::WebRtc);
  rtc->sever_silently();
  auto r = f.send();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->kind, WireKind::WebSocket);
  EXPECT_EQ(f.t->pool().state(WireKind::WebRtc), SlotState::Failed);
}

// A single broken DataChannel gets one fresh lane on the same wire; the wire is not evicted.
TEST(DestTransport, BrokenLaneRetriesOnceWithFreshLane) {
  Fixture f;
  f.build();
  ASSERT_TRUE(f.send());
  f.wire(WireKind::WebRtc)->break_lane(PayloadType::RpcReliable);
  auto r = f.send();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->kind, WireKind::WebRtc);
  EXPECT_EQ(f.t->pool().state(WireKind::WebRtc), SlotState::Ready);
}

TEST(DestTransport, APermanentConnectFailureIsTheAnswerAtOnceNotNoRouteOrRetries) {
  // A TLS refusal (the peer's certificate is not trusted) on every kind: one attempt each, and
  // the sender gets that error — not NoRoute, not the backoff's worth of retries.
  Fixture f;
  FaultPlan plan;
  plan.every_connect.kind = ConnectFault::Kind::Fail;
  plan.every_connect.error = make_error_code(NetworkError::TlsCertificateUntrusted);
  f.build(plan);
  auto r = f.send(PayloadType::RpcReliable, 60s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::TlsCertificateUntrusted);
  EXPECT_EQ(f.t->pool().connect_attempts(WireKind::WebSocket), 1u);
  EXPECT_EQ(f.t->pool().connect_attempts(WireKind::WebRtc), 1u);
  EXPECT_EQ(f.t->pool().permanent_failure(), NetworkError::TlsCertificateUntrusted);
}

TEST(DestTransport, AllCandidatesExhaustedIsNoRouteNotAHang) {
  Fixture f;
  FaultPlan plan;
  plan.every_connect.kind = ConnectFault::Kind::Fail;
  f.build(plan);
  auto start = Clock::now();
  auto r = f.send(PayloadType::RpcReliable, 60s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::NoRoute);
  EXPECT_LT(Clock::now() - start, 30s);  // returned on exhaustion, far before its deadline
}

TEST(DestTransport, WaitForConnectingWireIsBoundedByDeadline) {
  Fixture f;
  FaultPlan plan;
  plan.every_connect.kind = ConnectFault::Kind::Hang;
  f.build(plan);
  auto r = f.send(PayloadType::RpcReliable, 30ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::TimeoutError);
}

TEST(DestTransport, SenderWaitingForAConnectingWireIsWokenWhenItBecomesReady) {
  Fixture f;
  auto gate = std::make_shared<Gate>();
  FaultPlan plan;
  plan.every_connect = ConnectFault{ConnectFault::Kind::Gate, {}, gate};
  f.build(plan);
  std::optional<Result<WireIdentity>> got;
  static const Bytes msg = bytes("x");
  asio::co_spawn(f.io, [&]() -> asio::awaitable<void> {
    got = co_await DestTransport::send(f.t, PayloadType::RpcReliable, msg, Clock::now() + 1h);
  }, asio::use_future);
  actr::testing::drain(f.io);
  EXPECT_FALSE(got);
  gate->open();
  run_co(f.io, [&]() -> asio::awaitable<void> {
    while (!got) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  }());
  ASSERT_TRUE(*got);
}

TEST(DestTransport, NonClosedLikeErrorIsReturnedWithoutEviction) {
  // A ProtocolError whose text happens to contain "closed" is not closed-like (H-DT-2).
  Error e = make_error_code(NetworkError::DataChannelError);
  EXPECT_FALSE(is_closed_like(e));
  Fixture f;
  f.build();
  ASSERT_TRUE(f.send());
  EXPECT_EQ(f.t->pool().state(WireKind::WebRtc), SlotState::Ready);
}

TEST(DestTransport, CloseWakesWaitersAndIsIdempotent) {
  Fixture f;
  FaultPlan plan;
  plan.every_connect.kind = ConnectFault::Kind::Hang;
  f.build(plan);
  std::optional<Result<WireIdentity>> got;
  static const Bytes msg = bytes("x");
  asio::co_spawn(f.io, [&]() -> asio::awaitable<void> {
    got = co_await DestTransport::send(f.t, PayloadType::RpcReliable, msg, Clock::now() + 1h);
  }, asio::use_future);
  actr::testing::drain(f.io);
  EXPECT_FALSE(got);
  run_co(f.io, f.t->close());
  run_co(f.io, f.t->close());
  actr::testing::drain(f.io);
  ASSERT_TRUE(got);
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error(), NetworkError::ConnectionClosed);
  EXPECT_EQ(f.builder->cancelled_connects(), 2u);  // both hanging connects were cancelled
}

TEST(DestTransport, RetryFailedConnectionsRebuildsOnlyFailedKinds) {
  Fixture f;
  f.build();
  ASSERT_TRUE(f.send());
  f.wire(WireKind::WebRtc)->drop();
  EXPECT_EQ(f.t->failed_kinds(), WireKindSet{WireKind::WebRtc});
  EXPECT_TRUE(f.t->has_healthy_connection());
  auto r = run_co(f.io, DestTransport::retry_failed_connections(f.t, f.builder));
  ASSERT_TRUE(r);
  auto sent = f.send();
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->kind, WireKind::WebRtc);
  EXPECT_EQ(f.builder->connects(actor(1), WireKind::WebSocket), 1u);  // untouched
  EXPECT_EQ(f.builder->connects(actor(1), WireKind::WebRtc), 2u);
}

TEST(DestTransport, CloseConnectionClosesOnlyThatKind) {
  Fixture f;
  f.build();
  ASSERT_TRUE(f.send());
  f.t->close_connection(WireKind::WebRtc);
  auto r = f.send();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, WireKind::WebSocket);
  actr::testing::drain(f.io);
  EXPECT_EQ(f.wire(WireKind::WebSocket)->close_calls(), 0u);
}
