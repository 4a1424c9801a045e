// Nodes on two signaling servers that share one engine (a redis-server this test starts on
// 127.0.0.1): WebRTC is set up across the servers; when one server dies, its node moves to the
// other with its identity, the WebRTC connection already up keeps carrying calls (nobody is told
// the node left or restarted), and new set-ups work through the server that is left.
#include <actr/error.hpp>
#include <actr/identity.hpp>
#include <actr/node.hpp>
#include <actr/signaling.hpp>
#include <actr/webrtc.hpp>

#include "core/test_util.hpp"
#include "support/redis_server.hpp"
#include "support/run_co.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

std::string ws_url(std::uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }

NodeConfig config(std::uint64_t serial, std::string signal_urls) {
  NodeConfig c;
  c.id = actor_id(serial, "node");
  c.signal_url = std::move(signal_urls);
  c.webrtc.local_addresses = {"127.0.0.1"};
  c.webrtc.recovery_timeout = 2000ms;
  c.wires.ws.keepalive_interval = 1000ms;
  c.manager.send_timeout = 5s;
  c.signaling.reconnect_backoff.initial = 50ms;
  c.signaling.reconnect_backoff.max = 500ms;
  c.signaling.keepalive_interval = 1000ms;
  return c;
}

Node::RequestHandler echo() {
  return [](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
    co_return Bytes(req.payload().begin(), req.payload().end());
  };
}

// Calls until `to` has received a call over WebRTC; every call must succeed.
void call_until_webrtc(asio::io_context& io, Node& from, Node& to) {
  const auto before = to.stats().frames_webrtc;
  for (int calls = 0; to.stats().frames_webrtc == before; ++calls) {
    ASSERT_LT(calls, 2000) << "WebRTC never carried a call from " << from.id().to_string();
    auto r = run_co(io, from.call(to.id(), "echo", bytes("hello"), 5000ms));
    ASSERT_TRUE(r) << r.error().message();
  }
}

}  // namespace

TEST(NodeCluster, WebRtcAcrossServersSurvivesTheDeathOfOneAndNewSetUpsGoThroughTheOther) {
  asio::io_context io;
  RedisServer redis;
  ASSERT_TRUE(redis.start()) << redis.error();
  auto issuer = *CredentialIssuer::ephemeral(std::chrono::seconds{3600});
  auto server = [&](std::uint16_t& port) {
    SignalingServerConfig cfg;
    cfg.issuer = issuer;  // one signing key: each server verifies the other's credentials
    cfg.cluster = redis.url();
    cfg.cluster_ttl = 3000ms;
    auto s = std::make_unique<SignalingServer>(io.get_executor(), cfg);
    auto p = s->listen("127.0.0.1", 0);
    EXPECT_TRUE(p);
    port = p ? *p : 0;
    return s;
  };
  std::uint16_t p1 = 0, p2 = 0;
  auto s1 = server(p1);
  auto s2 = server(p2);
  run_until(io, [&] { return s1->stats().cluster_up && s2->stats().cluster_up; });

  // A registers through server 1 (server 2 is its second choice), B through server 2.
  Node a{io.get_executor(), config(1, ws_url(p1) + "," + ws_url(p2))};
  Node b{io.get_executor(), config(2, ws_url(p2))};
  b.on_request(echo());
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(b.start());
  ASSERT_TRUE(run_co(io, a.wait_registered(Clock::now() + 10s)));
  ASSERT_TRUE(run_co(io, b.wait_registered(Clock::now() + 10s)));
  ASSERT_TRUE(s1->is_registered(a.id()));
  ASSERT_TRUE(s2->is_registered(b.id()));
  call_until_webrtc(io, a, b);  // set up through both servers and the engine
  ASSERT_FALSE(HasFatalFailure());
  const auto wires = b.webrtc_stats()->inbound_wires + b.webrtc_stats()->outbound_wires;

  // Server 1 dies (no goodbye to anyone). A's calls keep riding the WebRTC connection, before and
  // after A moves to server 2.
  s1.reset();
  const auto before = a.stats();
  for (int i = 0; i < 20; ++i) {
    auto r = run_co(io, a.call(b.id(), "echo", bytes("during"), 5000ms));
    ASSERT_TRUE(r) << "call " << i << ": " << r.error().message();
  }
  run_until(io, [&] { return s2->is_registered(a.id()); });
  for (int i = 0; i < 20; ++i) {
    auto r = run_co(io, a.call(b.id(), "echo", bytes("after"), 5000ms));
    ASSERT_TRUE(r) << "call " << i << ": " << r.error().message();
  }
  EXPECT_EQ(a.stats().sent_webrtc - before.sent_webrtc, 40u);
  EXPECT_EQ(a.stats().sent_websocket, before.sent_websocket);
  // The move was no restart: B kept its connection (no new set-up, nothing torn down).
  EXPECT_EQ(b.webrtc_stats()->inbound_wires + b.webrtc_stats()->outbound_wires, wires);
  EXPECT_EQ(b.webrtc_stats()->peer_departures, 0u);
  EXPECT_EQ(b.webrtc_stats()->peer_restarts, 0u);

  // A new node on server 2 sets up WebRTC with A, which now registers there.
  Node c{io.get_executor(), config(3, ws_url(p2))};
  a.on_request(echo());
  ASSERT_TRUE(c.start());
  ASSERT_TRUE(run_co(io, c.wait_registered(Clock::now() + 10s)));
  call_until_webrtc(io, c, a);
  ASSERT_FALSE(HasFatalFailure());

  run_co(io, c.stop());
  run_co(io, a.stop());
  run_co(io, b.stop());
  run_co(io, s2->close());
}
