// Two nodes, one `actr signal` server (in process), on 127.0.0.1: the manager sets up a WebRTC
// wire through signaling next to the WebSocket one, every payload class rides its DataChannel,
// and (not yet passing, see the DISABLED_ test) when the WebRTC wire dies traffic carries on over
// WebSocket.
#include <actr/error.hpp>
#include <actr/node.hpp>
#include <actr/signaling.hpp>
#include <actr/webrtc.hpp>

#include "core/test_util.hpp"
#include "support/run_co.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

NodeConfig config(std::uint64_t serial, std::uint16_t signal_port) {
  NodeConfig c;
  c.id = actor_id(serial, "node");
  c.signal_url = "ws://127.0.0.1:" + std::to_string(signal_port) + "/";
  c.webrtc.local_addresses = {"127.0.0.1"};
  c.webrtc.recovery_timeout = 2000ms;
  c.wires.ws.keepalive_interval = 1000ms;
  c.manager.send_timeout = 5s;
  return c;
}

pb::DataStream chunk(std::uint64_t seq) {
  pb::DataStream c;
  c.set_stream_id("s");
  c.set_sequence(seq);
  c.set_payload("chunk");
  return c;
}

}  // namespace

TEST(NodeWebRtc, EveryClassRidesWebRtcThroughSignaling) {
  asio::io_context io;
  SignalingServer signal(io.get_executor());
  auto sp = signal.listen("127.0.0.1", 0);
  ASSERT_TRUE(sp);
  Node a(io.get_executor(), config(1, *sp));
  Node b(io.get_executor(), config(2, *sp));
  b.on_request([](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
    co_return Bytes(req.payload().begin(), req.payload().end());
  });
  std::uint64_t chunks = 0;
  b.on_chunk([&](const ActrId&, PayloadType, const pb::DataStream&) { ++chunks; });
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(b.start());
  ASSERT_TRUE(run_co(io, a.wait_registered(Clock::now() + 10s)));
  ASSERT_TRUE(run_co(io, b.wait_registered(Clock::now() + 10s)));

  // No address book: B's WebSocket address comes from discovery, its WebRTC wire from
  // signaling. Calls succeed from the first one (over whichever wire is Ready first).
  int calls = 0;
  while (b.stats().frames_webrtc == 0) {
    ASSERT_LT(calls, 2000) << "WebRTC never carried a message";
    auto r = run_co(io, a.call(b.id(), "echo", bytes("hello"), 5000ms));
    ASSERT_TRUE(r) << r.error().message();
    ++calls;
  }
  // Now every class rides WebRTC.
  const auto before = b.stats();
  for (auto pt : {PayloadType::RpcReliable, PayloadType::RpcSignal}) {
    auto r = run_co(io, a.call(b.id(), "echo", bytes("x"), 5000ms, pt));
    ASSERT_TRUE(r) << r.error().message();
  }
  ASSERT_TRUE(run_co(io, a.tell(b.id(), "log", bytes("t"))));
  ASSERT_TRUE(run_co(io, a.send_chunk(b.id(), PayloadType::StreamReliable, chunk(1))));
  ASSERT_TRUE(run_co(io, a.send_chunk(b.id(), PayloadType::StreamLatencyFirst, chunk(2))));
  run_until(io, [&] { return chunks == 2 && b.stats().tells == 1; });
  EXPECT_EQ(b.stats().frames_webrtc - before.frames_webrtc, 5u);
  EXPECT_EQ(b.stats().frames_websocket, before.frames_websocket);

  run_co(io, a.stop());
  run_co(io, b.stop());
  run_co(io, signal.close());
}

// The WebRTC wire of a connected pair dies: no reliable call fails (a request or response lost
// with the dying DataChannel is re-sent with the same request_id; the receiver's dedup keeps the
// handler to one run), WebSocket carries the traffic, and the health checker brings WebRTC back.
TEST(NodeWebRtc, ReliableCallsSurviveTheLossOfTheWebRtcWireAndWebRtcReturns) {
  asio::io_context io;
  SignalingServer signal(io.get_executor());
  auto sp = signal.listen("127.0.0.1", 0);
  ASSERT_TRUE(sp);
  Node a(io.get_executor(), config(1, *sp));
  Node b(io.get_executor(), config(2, *sp));
  b.on_request([](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
    co_return Bytes(req.payload().begin(), req.payload().end());
  });
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(b.start());
  ASSERT_TRUE(run_co(io, a.wait_registered(Clock::now() + 10s)));
  ASSERT_TRUE(run_co(io, b.wait_registered(Clock::now() + 10s)));
  for (int calls = 0; b.stats().frames_webrtc == 0; ++calls) {
    ASSERT_LT(calls, 2000);
    ASSERT_TRUE(run_co(io, a.call(b.id(), "echo", bytes("hello"), 5000ms)));
  }
  auto t = run_co(io, a.manager().get_or_create_transport(Dest::actor(b.id())));
  ASSERT_TRUE(t);
  (*t)->close_connection(WireKind::WebRtc);
  const auto ws_before = b.stats().frames_websocket;
  for (int i = 0; i < 20; ++i) {
    auto r = run_co(io, a.call(b.id(), "echo", bytes("during"), 5000ms));
    ASSERT_TRUE(r) << "call " << i << " failed during WebRTC loss: " << r.error().message() << " B ws/rtc "
                   << b.stats().frames_websocket << "/" << b.stats().frames_webrtc << " (ws before " << ws_before
                   << ") B requests " << b.stats().requests << " A ws/rtc " << a.stats().frames_websocket << "/"
                   << a.stats().frames_webrtc << " A responses " << a.stats().responses << " orphans " << a.stats().orphans;
  }
  EXPECT_GT(b.stats().frames_websocket, ws_before);
  // The health checker rebuilds the WebRTC wire; calls move back to it.
  const auto rtc_before = b.stats().frames_webrtc;
  for (int calls = 0; b.stats().frames_webrtc == rtc_before; ++calls) {
    ASSERT_LT(calls, 5000) << "WebRTC never came back";
    auto r = run_co(io, a.call(b.id(), "echo", bytes("after"), 5000ms));
    ASSERT_TRUE(r) << r.error().message();
  }
  run_co(io, a.stop());
  run_co(io, b.stop());
  run_co(io, signal.close());
}
