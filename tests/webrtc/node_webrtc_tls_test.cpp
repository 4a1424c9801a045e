// WebRTC set up through a wss:// signaling server, between nodes whose gates serve wss:// (issue
// 10, item 6): the offer/answer and candidates travel over TLS, the WebSocket fallback too, and
// the calls end up on the DataChannels. 127.0.0.1 only; the certificate is made by the test.
#include <actr/error.hpp>
#include <actr/node.hpp>
#include <actr/signaling.hpp>
#include <actr/websocket.hpp>

#include "core/test_util.hpp"
#include "support/run_co.hpp"
#include "support/tls_cert.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST(NodeWebRtcTls, WebRtcIsSetUpThroughAWssSignalingServer) {
  const auto& cert = test::localhost_certificate();
  auto server_tls = make_tls_server_context({cert.certificate_pem, cert.private_key_pem});
  auto client_tls = make_tls_client_context({cert.certificate_pem, true});
  ASSERT_TRUE(server_tls && client_tls);
  asio::io_context io;
  SignalingServerConfig scfg;
  scfg.tls = *server_tls;
  SignalingServer signal(io.get_executor(), scfg);
  auto port = signal.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  auto config = [&](std::uint64_t serial) {
    NodeConfig c;
    c.id = actor_id(serial, "node");
    c.signal_url = "wss://127.0.0.1:" + std::to_string(*port) + "/";
    c.signaling.tls = *client_tls;
    c.listen_tls = *server_tls;
    c.wires.ws.tls = *client_tls;
    c.webrtc.local_addresses = {"127.0.0.1"};
    c.manager.send_timeout = 5s;
    return c;
  };
  Node a(io.get_executor(), config(1));
  Node b(io.get_executor(), config(2));
  b.on_request([](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
    co_return Bytes(req.payload().begin(), req.payload().end());
  });
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(b.start());
  ASSERT_TRUE(run_co(io, a.wait_registered(Clock::now() + 10s)));
  ASSERT_TRUE(run_co(io, b.wait_registered(Clock::now() + 10s)));
  // The first calls may ride WebSocket (wss://, found by discovery) while WebRTC is set up;
  // every call must succeed, and WebRTC must take over.
  for (int calls = 0; b.stats().frames_webrtc == 0; ++calls) {
    ASSERT_LT(calls, 2000) << "WebRTC never carried a call";
    auto r = run_co(io, a.call(b.id(), "echo", bytes("hello"), 5000ms));
    ASSERT_TRUE(r) << r.error().message();
  }
  run_co(io, a.stop());
  run_co(io, b.stop());
  run_co(io, signal.close());
}
