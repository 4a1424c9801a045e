#include <actr/error.hpp>
#include <actr/inproc_transport_manager.hpp>

#include "support/run_co.hpp"
#include "test_util.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {
pb::RpcEnvelope request(std::string id, std::int64_t timeout_ms = 1000, std::string payload = "ping") {
  pb::RpcEnvelope e;
  e.set_route_key("echo.Echo.Ping");
  e.set_request_id(std::move(id));
  e.set_timeout_ms(timeout_ms);
  e.set_payload(std::move(payload));
  return e;
}
}  // namespace

TEST(InprocTransportManager, RequestResponseRoundTripWithoutSerialization) {
  asio::io_context io;
  InprocTransportManager bridge;
  // The "workload" side: receive the request and answer it.
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto req = co_await bridge.recv(Clock::now() + 5s);
    EXPECT_TRUE(req);
    EXPECT_EQ(req->direction(), pb::DIRECTION_REQUEST);
    pb::RpcEnvelope resp;
    resp.set_request_id(req->request_id());
    resp.set_route_key(req->route_key());
    resp.set_timeout_ms(0);
    resp.set_direction(pb::DIRECTION_RESPONSE);
    resp.set_payload("pong:" + req->payload());
    EXPECT_TRUE(bridge.send_response(std::move(resp)));
  }, asio::use_future);
  auto r = run_co(io, bridge.send_request(PayloadType::RpcReliable, std::nullopt, request("r1")));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(std::string(r->begin(), r->end()), "pong:ping");
  EXPECT_EQ(bridge.pending_requests(), 0u);
}

// H-IN-2: the envelope's own timeout governs, not a hard-coded 30 s; the pending entry goes away.
TEST(InprocTransportManager, RequestTimesOutAfterEnvelopeTimeoutAndCleansUp) {
  asio::io_context io;
  InprocTransportManager bridge;
  const auto start = Clock::now();
  auto r = run_co(io, bridge.send_request(PayloadType::RpcReliable, std::nullopt, request("r2", 30)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::TimeoutError);
  EXPECT_LT(Clock::now() - start, 10s);
  EXPECT_EQ(bridge.pending_requests(), 0u);
  // The late answer is an orphan: rejected, never delivered as a request.
  pb::RpcEnvelope late;
  late.set_request_id("r2");
  late.set_route_key("x");
  late.set_timeout_ms(0);
  late.set_direction(pb::DIRECTION_RESPONSE);
  EXPECT_FALSE(bridge.send_response(late));
  auto original = run_co(io, bridge.recv(Clock::now() + 1s));  // the request itself is still queued
  ASSERT_TRUE(original);
  EXPECT_EQ(original->direction(), pb::DIRECTION_REQUEST);
  auto none = run_co(io, bridge.recv(Clock::now() + 20ms));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), NetworkError::TimeoutError);
}

TEST(InprocTransportManager, NonPositiveTimeoutAndUnknownChannelAreRejectedWithoutLeaks) {
  asio::io_context io;
  InprocTransportManager bridge;
  auto bad = run_co(io, bridge.send_request(PayloadType::RpcReliable, std::nullopt, request("r3", 0)));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), NetworkError::InvalidArgument);
  auto missing = run_co(io, bridge.send_request(PayloadType::StreamReliable, std::string("nope"), request("r4")));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), NetworkError::ChannelNotFound);
  auto no_id = run_co(io, bridge.send_request(PayloadType::StreamReliable, std::nullopt, request("r5")));
  ASSERT_FALSE(no_id);
  EXPECT_EQ(no_id.error(), NetworkError::InvalidArgument);
  EXPECT_EQ(bridge.pending_requests(), 0u);
}

TEST(InprocTransportManager, SignalLaneIsReceivedBeforeReliable) {
  asio::io_context io;
  InprocTransportManager bridge;
  auto tell = [](std::string id) {
    auto e = request(std::move(id));
    e.set_direction(pb::DIRECTION_TELL);
    return e;
  };
  ASSERT_TRUE(run_co(io, bridge.send_message(PayloadType::RpcReliable, std::nullopt, tell("rel"), Clock::now() + 1s)));
  ASSERT_TRUE(run_co(io, bridge.send_message(PayloadType::RpcSignal, std::nullopt, tell("sig"), Clock::now() + 1s)));
  EXPECT_EQ(run_co(io, bridge.recv(Clock::now() + 1s))->request_id(), "sig");
  EXPECT_EQ(run_co(io, bridge.recv(Clock::now() + 1s))->request_id(), "rel");
}

TEST(InprocTransportManager, StreamChannelsAndRemoteErrors) {
  asio::io_context io;
  InprocTransportManager bridge;
  bridge.create_channel("s1");
  auto chunk = request("c1");
  ASSERT_TRUE(run_co(io, bridge.send_message(PayloadType::StreamReliable, std::string("s1"), chunk, Clock::now() + 1s)));
  auto got = run_co(io, bridge.recv_channel("s1", Clock::now() + 1s));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->request_id(), "c1");
  // A handler error travels back as a typed error, not a timeout.
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto req = co_await bridge.recv(Clock::now() + 5s);
    pb::RpcEnvelope resp;
    resp.set_request_id(req->request_id());
    resp.set_route_key(req->route_key());
    resp.set_timeout_ms(0);
    resp.set_direction(pb::DIRECTION_RESPONSE);
    resp.mutable_error()->set_code(500);
    resp.mutable_error()->set_message("boom");
    EXPECT_TRUE(bridge.send_response(std::move(resp)));
  }, asio::use_future);
  auto r = run_co(io, bridge.send_request(PayloadType::RpcReliable, std::nullopt, request("e1")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::ProtocolError);
}

TEST(InprocTransportManager, CloseFailsPendingAndWakesReceivers) {
  asio::io_context io;
  InprocTransportManager bridge;
  std::optional<Result<Bytes>> pending;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    pending = co_await bridge.send_request(PayloadType::RpcReliable, std::nullopt, request("p1", 60000));
  }, asio::use_future);
  actr::testing::drain(io);
  ASSERT_FALSE(pending);
  bridge.close();
  actr::testing::drain(io);
  ASSERT_TRUE(pending);
  ASSERT_FALSE(*pending);
  EXPECT_EQ(pending->error(), NetworkError::ChannelClosed);
  (void)run_co(io, bridge.recv(Clock::now() + 1s));  // drains the queued request
  auto r = run_co(io, bridge.recv(Clock::now() + 1s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::ChannelClosed);
}
