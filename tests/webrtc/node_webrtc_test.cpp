// Two nodes, one `actr signal` server (in process), on 127.0.0.1: the manager sets up a WebRTC
// wire through signaling next to the WebSocket one, every payload class rides its DataChannel,
// and when the WebRTC wire dies traffic carries on over WebSocket. A signaling server that restarts mid-run neither breaks the established connection
// nor keeps new ones from being set up.
#include <actr/error.hpp>
#include <actr/node.hpp>
#include <actr/signaling.hpp>
#include <actr/webrtc.hpp>

#include "core/test_util.hpp"
#include "support/metrics_recorder.hpp"
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

// Calls from → to until `to` has received a frame over WebRTC (the first calls may ride
// WebSocket while the WebRTC wire is set up). Every call must succeed.
void call_until_webrtc(asio::io_context& io, Node& from, Node& to, int max_calls = 2000) {
  const auto before = to.stats().frames_webrtc;
  for (int calls = 0; to.stats().frames_webrtc == before; ++calls) {
    ASSERT_LT(calls, max_calls) << "WebRTC never carried a call from " << from.id().to_string();
    auto r = run_co(io, from.call(to.id(), "echo", bytes("hello"), 5000ms));
    ASSERT_TRUE(r) << r.error().message();
  }
}

// Starts A and B, waits until both are registered and A's calls to B ride WebRTC.
void start_on_webrtc(asio::io_context& io, Node& a, Node& b) {
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(b.start());
  ASSERT_TRUE(run_co(io, a.wait_registered(Clock::now() + 10s)));
  ASSERT_TRUE(run_co(io, b.wait_registered(Clock::now() + 10s)));
  call_until_webrtc(io, a, b);
}

Node::RequestHandler echo() {
  return [](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
    co_return Bytes(req.payload().begin(), req.payload().end());
  };
}

std::uint16_t listen(SignalingServer& s) {
  auto p = s.listen("127.0.0.1", 0);
  EXPECT_TRUE(p) << p.error().message();
  return p ? *p : 0;
}

// A signaling server and nodes A (serial 1) and B (serial 2, echoing) that use it. `close()` stops
// all three.
struct EchoPair {
  asio::io_context io;
  SignalingServer signal{io.get_executor()};
  std::uint16_t port = listen(signal);
  Node a{io.get_executor(), config(1, port)};
  Node b{io.get_executor(), config(2, port)};
  EchoPair() { b.on_request(echo()); }
  void close() {
    run_co(io, a.stop());
    run_co(io, b.stop());
    run_co(io, signal.close());
  }
};

pb::DataStream chunk(std::uint64_t seq) {
  pb::DataStream c;
  c.set_stream_id("s");
  c.set_sequence(seq);
  c.set_payload("chunk");
  return c;
}

}  // namespace

TEST(NodeWebRtc, EveryClassRidesWebRtcThroughSignaling) {
  EchoPair p;
  ASSERT_NE(p.port, 0);
  auto& io = p.io;
  Node& a = p.a;
  Node& b = p.b;
  std::uint64_t chunks = 0;
  b.on_chunk([&](const ActrId&, PayloadType, const pb::DataStream&) { ++chunks; });
  // No address book: B's WebSocket address comes from discovery, its WebRTC wire from
  // signaling. Calls succeed from the first one (over whichever wire is Ready first).
  start_on_webrtc(io, a, b);
  ASSERT_FALSE(HasFatalFailure());
  // Now every class rides WebRTC.
  const auto before = b.stats();
  const auto a_before = a.stats();
  for (auto pt : {PayloadType::RpcReliable, PayloadType::RpcSignal}) {
    auto r = run_co(io, a.call(b.id(), "echo", bytes("x"), 5000ms, pt));
    ASSERT_TRUE(r) << r.error().message();
  }
  ASSERT_TRUE(run_co(io, a.tell(b.id(), "log", bytes("t"))));
  ASSERT_TRUE(run_co(io, a.send_chunk(b.id(), PayloadType::StreamReliable, chunk(1))));
  ASSERT_TRUE(run_co(io, a.send_chunk(b.id(), PayloadType::StreamLatencyFirst, chunk(2))));
  run_until(io, [&] { return chunks == 2 && b.stats().tells == 1; });
  EXPECT_EQ(b.stats().frames_webrtc - before.frames_webrtc, 5u);
  EXPECT_EQ(a.stats().sent_webrtc - a_before.sent_webrtc, 5u);  // A counts what it sent, by wire
  EXPECT_EQ(a.stats().sent_websocket, a_before.sent_websocket);
  EXPECT_EQ(b.stats().frames_websocket, before.frames_websocket);

  // The same, as metrics (docs/operations.md): A dialed B's WebRTC wire and holds it Ready.
  MetricsRecorder ma, mb;
  collect_metrics(a, ma);
  collect_metrics(b, mb);
  EXPECT_EQ(ma.at("actr_wires{kind=webrtc,state=ready,}"), 1) << ma.dump();
  EXPECT_GE(ma.at("actr_webrtc_setups_total{direction=outbound,}") + ma.at("actr_webrtc_setups_total{direction=inbound,}"),
            1);
  EXPECT_GE(ma.histograms["actr_dial_duration_seconds{kind=webrtc,}"].count +
                mb.histograms["actr_dial_duration_seconds{kind=webrtc,}"].count,
            1u);
  EXPECT_GE(ma.at("actr_sent_bytes_total{kind=webrtc,}"), 5);
  EXPECT_GE(mb.at("actr_messages_received_total{kind=webrtc,}"), 5);
  EXPECT_EQ(ma.at("actr_signaling_client_registrations_total{}"), 1);

  p.close();
}

// The WebRTC wire of a connected pair dies: no reliable call fails (a request or response lost
// with the dying DataChannel is re-sent with the same request_id; the receiver's dedup keeps the
// handler to one run), WebSocket carries the traffic, and the health checker brings WebRTC back.
TEST(NodeWebRtc, ReliableCallsSurviveTheLossOfTheWebRtcWireAndWebRtcReturns) {
  EchoPair p;
  ASSERT_NE(p.port, 0);
  auto& io = p.io;
  Node& a = p.a;
  Node& b = p.b;
  start_on_webrtc(io, a, b);
  ASSERT_FALSE(HasFatalFailure());
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
  call_until_webrtc(io, a, b, 5000);
  // A reconnect, counted by whichever side's pool got the new wire back first.
  MetricsRecorder ma, mb;
  collect_metrics(a, ma);
  collect_metrics(b, mb);
  EXPECT_GE(ma.at("actr_reconnects_total{kind=webrtc,}") + mb.at("actr_reconnects_total{kind=webrtc,}"), 1)
      << ma.dump() << mb.dump();
  p.close();
}

// The signaling server goes away while A and B talk over WebRTC, and a new one starts on the same
// port: the established connection carries A's calls while there is no server, both nodes
// register again with the new one, and new WebRTC connections are set up through it (a node C
// that starts afterwards reaches A and B over WebRTC; A's wire to B, closed, comes back).
TEST(NodeWebRtc, SignalingServerRestartKeepsWebRtcUpAndNodesRegisterAgain) {
  asio::io_context io;
  auto signal = std::make_unique<SignalingServer>(io.get_executor());
  auto sp = signal->listen("127.0.0.1", 0);
  ASSERT_TRUE(sp);
  auto node_config = [&](std::uint64_t serial) {
    auto c = config(serial, *sp);
    c.signaling.reconnect_backoff.initial = 100ms;
    c.signaling.reconnect_backoff.max = 500ms;
    return c;
  };
  Node a(io.get_executor(), node_config(1));
  Node b(io.get_executor(), node_config(2));
  a.on_request(echo());
  b.on_request(echo());
  start_on_webrtc(io, a, b);
  ASSERT_FALSE(HasFatalFailure());

  // The server stops; both clients see their link drop.
  const auto reg_a = a.signaling()->registrations(), reg_b = b.signaling()->registrations();
  run_co(io, signal->close());
  signal.reset();
  run_until(io, [&] {
    return a.signaling()->state() == SignalingState::Reconnecting &&
           b.signaling()->state() == SignalingState::Reconnecting;
  }, 10000ms);
  // Calls keep riding the WebRTC connection: it needs no signaling once set up. They go on for
  // longer than the wire's recovery timeout and the health check interval (2 s each), so a wire
  // torn down because signaling went away would show.
  const auto before = b.stats();
  const auto down_since = Clock::now();
  std::uint64_t calls = 0;
  for (; Clock::now() - down_since < 5s; ++calls) {
    auto r = run_co(io, a.call(b.id(), "echo", bytes("no server"), 5000ms));
    ASSERT_TRUE(r) << "call " << calls << " without a signaling server: " << r.error().message();
  }
  EXPECT_GE(b.stats().frames_webrtc - before.frames_webrtc, calls);
  EXPECT_EQ(b.stats().frames_websocket, before.frames_websocket);
  EXPECT_EQ(a.signaling()->registrations(), reg_a);  // nothing to register with meanwhile
  EXPECT_NE(a.signaling()->state(), SignalingState::Connected);

  // A new server on the same port: both nodes register again by themselves.
  SignalingServer again(io.get_executor());
  auto sp2 = again.listen("127.0.0.1", *sp);
  ASSERT_TRUE(sp2) << "rebinding port " << *sp << ": " << sp2.error().message();
  ASSERT_TRUE(run_co(io, a.signaling()->wait_registered(reg_a, Clock::now() + 20s), 25000ms));
  ASSERT_TRUE(run_co(io, b.signaling()->wait_registered(reg_b, Clock::now() + 20s), 25000ms));
  EXPECT_TRUE(again.is_registered(a.id()));
  EXPECT_TRUE(again.is_registered(b.id()));

  // A node that starts now finds A and B only through the new server, and reaches both over
  // WebRTC set up through it.
  Node c(io.get_executor(), node_config(3));
  c.on_request(echo());
  ASSERT_TRUE(c.start());
  ASSERT_TRUE(run_co(io, c.wait_registered(Clock::now() + 10s)));
  EXPECT_EQ(again.stats().registered, 3u);
  call_until_webrtc(io, c, a);
  call_until_webrtc(io, c, b);
  ASSERT_FALSE(HasFatalFailure());

  // The pair that lived through the restart negotiates a new connection through the new server.
  auto t = run_co(io, a.manager().get_or_create_transport(Dest::actor(b.id())));
  ASSERT_TRUE(t);
  const auto relayed_before = again.stats().relayed;
  (*t)->close_connection(WireKind::WebRtc);
  call_until_webrtc(io, a, b, 5000);
  EXPECT_GT(again.stats().relayed, relayed_before);

  run_co(io, c.stop());
  run_co(io, a.stop());
  run_co(io, b.stop());
  run_co(io, again.close());
}

// An actr caller does not re-send. With re-sending off, every call is answered, over WebSocket
// and then WebRTC, and a caller restarted under the same id (a new process: new connections,
// its old WebRTC connection dead to it) is answered from its first call on.
TEST(NodeWebRtc, CallerThatNeverResendsIsAlwaysAnsweredAlsoAfterARestart) {
  asio::io_context io;
  SignalingServer signal{io.get_executor()};
  const auto port = listen(signal);
  ASSERT_NE(port, 0);
  Node b{io.get_executor(), config(2, port)};
  b.on_request(echo());
  ASSERT_TRUE(b.start());
  ASSERT_TRUE(run_co(io, b.wait_registered(Clock::now() + 10s)));
  for (int process = 0; process < 2; ++process) {
    auto c = config(1, port);
    c.resend_after = 0ms;
    c.retry_sends = false;
    Node a{io.get_executor(), c};
    ASSERT_TRUE(a.start());
    ASSERT_TRUE(run_co(io, a.wait_registered(Clock::now() + 10s)));
    const auto before = b.stats().frames_webrtc;
    int calls = 0;
    while (b.stats().frames_webrtc == before) {  // the first calls may ride WebSocket
      ASSERT_LT(calls, 2000) << "WebRTC never carried a call";
      auto r = run_co(io, a.call(b.id(), "echo", bytes("hello"), 5000ms));
      ASSERT_TRUE(r) << "process " << process << ", call " << calls << ": " << r.error().message();
      ++calls;
    }
    for (int i = 0; i < 20; ++i) {
      auto r = run_co(io, a.call(b.id(), "echo", bytes("over webrtc"), 5000ms));
      ASSERT_TRUE(r) << "process " << process << ": " << r.error().message();
    }
    run_co(io, a.stop());
  }
  run_co(io, b.stop());
  run_co(io, signal.close());
}
