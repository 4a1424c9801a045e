// Nodes over TLS (issue 10, item 6) on 127.0.0.1: a node's gate serves wss://, nodes register with
// and discover each other through a wss:// signaling server, and call over wss://. A certificate
// the dialer does not trust is a typed TLS error at once — for a call and for signaling — never a
// timeout, and signaling does not retry it. Certificates are made by the test (support/tls_cert).
#include <actr/error.hpp>
#include <actr/node.hpp>
#include <actr/signaling.hpp>
#include <actr/websocket.hpp>

#include "core/test_util.hpp"
#include "signaling/fast_config.hpp"
#include "support/run_co.hpp"
#include "support/tls_cert.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

std::shared_ptr<TlsContext> server_tls() {
  auto t = make_tls_server_context({test::localhost_certificate().certificate_pem, test::localhost_certificate().private_key_pem});
  EXPECT_TRUE(t);
  return t ? *t : nullptr;
}

// Trusts our certificate; null: the system store (which does not know it).
std::shared_ptr<TlsContext> trusting() {
  auto t = make_tls_client_context({test::localhost_certificate().certificate_pem, true});
  EXPECT_TRUE(t);
  return t ? *t : nullptr;
}

// A node on 127.0.0.1 serving wss://, dialing with `client_tls` (peers and signaling), WebSocket
// wires only (WebRTC is not what these tests are about).
NodeConfig tls_node(std::uint64_t serial, std::shared_ptr<TlsContext> client_tls,
                    std::optional<std::string> signal_url = std::nullopt) {
  NodeConfig c;
  c.id = actor_id(serial, "node");
  c.listen_tls = server_tls();
  c.wires.ws.tls = client_tls;
  c.wires.ws.keepalive_interval = 1000ms;
  c.wires.kinds = WireKindSet{WireKind::WebSocket};
  c.manager.send_timeout = 3s;
  c.signal_url = std::move(signal_url);
  c.signaling = fast_client();
  c.signaling.tls = client_tls;
  return c;
}

void echo(Node& n) {
  n.on_request([](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
    co_return Bytes(req.payload().begin(), req.payload().end());
  });
}

}  // namespace

TEST(NodeTls, NodesRegisterDiscoverAndCallEachOtherOverWss) {
  asio::io_context io;
  auto server_cfg = fast_server();
  server_cfg.tls = server_tls();
  SignalingServer signal(io.get_executor(), server_cfg);
  auto sport = signal.listen("127.0.0.1", 0);
  ASSERT_TRUE(sport);
  const auto url = "wss://127.0.0.1:" + std::to_string(*sport) + "/";
  Node a(io.get_executor(), tls_node(1, trusting(), url));
  Node b(io.get_executor(), tls_node(2, trusting(), url));
  echo(b);
  ASSERT_TRUE(a.start());
  auto bport = b.start();
  ASSERT_TRUE(bport);
  for (Node* n : {&a, &b}) {
    auto r = run_co(io, n->wait_registered(Clock::now() + 5s));
    ASSERT_TRUE(r) << r.error().message();
  }
  // b registered its gate as a wss:// address, and a finds it there.
  auto where = run_co(io, a.signaling()->discover(b.id()));
  ASSERT_TRUE(where) << where.error().message();
  EXPECT_EQ(where->ws_address, std::optional<std::string>("wss://127.0.0.1:" + std::to_string(*bport) + "/"));
  // No address book: a's call goes through discovery, then a wss:// dial.
  auto r = run_co(io, a.call(b.id(), "echo.Echo.Ping", bytes("over tls"), 5000ms));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, bytes("over tls"));
  EXPECT_EQ(a.stats().sent_websocket, 1u);
  run_co(io, a.stop());
  run_co(io, b.stop());
  run_co(io, signal.close());
}

TEST(NodeTls, CallToAnUntrustedServerFailsTypedAtOnceNotAsATimeout) {
  asio::io_context io;
  Node b(io.get_executor(), tls_node(2, trusting()));
  echo(b);
  auto bport = b.start();
  ASSERT_TRUE(bport);
  const auto url = "wss://127.0.0.1:" + std::to_string(*bport) + "/";
  Node untrusting(io.get_executor(), tls_node(1, nullptr));  // system store: our CA is not in it
  untrusting.set_peer_address(b.id(), url);
  ASSERT_TRUE(untrusting.start());
  constexpr auto kDeadline = 10000ms;
  const auto t0 = Clock::now();
  auto r = run_co(io, untrusting.call(b.id(), "echo.Echo.Ping", bytes("x"), kDeadline));
  const auto took = Clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::TlsCertificateUntrusted) << r.error().message();
  // One handshake, no retries: far inside the call's deadline (a dial retry alone waits ~1 s).
  EXPECT_LT(took, 900ms);
  auto why = last_tls_failure();
  ASSERT_TRUE(why);
  EXPECT_EQ(why->url, url);
  EXPECT_EQ(why->reason, "certificate verify failed: self-signed certificate");
  // The same node with the right CA gets through.
  Node trusting_node(io.get_executor(), tls_node(3, trusting()));
  trusting_node.set_peer_address(b.id(), url);
  ASSERT_TRUE(trusting_node.start());
  auto ok = run_co(io, trusting_node.call(b.id(), "echo.Echo.Ping", bytes("y"), kDeadline));
  ASSERT_TRUE(ok) << ok.error().message();
  run_co(io, untrusting.stop());
  run_co(io, trusting_node.stop());
  run_co(io, b.stop());
}

TEST(NodeTls, SignalingWithAnUntrustedCertificateIsTerminalNotARetryLoop) {
  asio::io_context io;
  // Any TLS server will do: the handshake fails before a word of signaling. A gate counts the
  // refused handshakes, i.e. the node's attempts.
  WebSocketConfig gate_cfg;
  gate_cfg.tls = server_tls();
  WebSocketServer tls_server(io.get_executor(), gate_cfg, nullptr, nullptr);
  auto port = tls_server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  auto cfg = tls_node(1, nullptr, "wss://127.0.0.1:" + std::to_string(*port) + "/");
  cfg.listen = false;
  Node n(io.get_executor(), cfg);
  ASSERT_TRUE(n.start());
  const auto t0 = Clock::now();
  auto r = run_co(io, n.wait_registered(Clock::now() + 10s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::TlsCertificateUntrusted) << r.error().message();
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_EQ(n.signaling()->terminal_error(), NetworkError::TlsCertificateUntrusted);
  run_until(io, [&] { return tls_server.rejected() >= 1; });
  // The reconnect delays are 20..200 ms (fast_client): over 1 s a retry loop would dial several
  // more times. A terminal client dials no more. (An observation window: absence cannot be
  // awaited as an event.)
  io.restart();
  io.run_for(1000ms);
  EXPECT_EQ(tls_server.rejected(), 1u);
  EXPECT_EQ(n.signaling()->state(), SignalingState::Disconnected);
  run_co(io, n.stop());
  run_co(io, tls_server.close());
}
