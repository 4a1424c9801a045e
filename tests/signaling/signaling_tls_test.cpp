// Signaling over TLS (wss://) on 127.0.0.1 (port 0): the server serves TLS when given a server
// context, the client dials wss:// with a client context. Waits are on events with deadlines.
#include <actr/error.hpp>
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>
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

const test::SelfSigned& cert() { return test::localhost_certificate(); }

SignalingServerConfig tls_server() {
  auto c = fast_server();
  auto tls = make_tls_server_context({cert().certificate_pem, cert().private_key_pem});
  EXPECT_TRUE(tls);
  if (tls) c.tls = *tls;
  return c;
}

// `trusted`: the client trusts our self-signed certificate; otherwise it uses the system store.
SignalingClientConfig client_cfg(bool trusted) {
  auto c = fast_client();
  c.reconnect = false;  // a refused first dial is reported by connect()
  if (trusted) {
    auto tls = make_tls_client_context({cert().certificate_pem, true});
    EXPECT_TRUE(tls);
    if (tls) c.tls = *tls;
  }
  return c;
}

struct TlsNet {
  asio::io_context io;  // first: destroyed last
  SignalingServer server{io.get_executor(), tls_server()};
  std::uint16_t port = 0;
  std::vector<std::unique_ptr<SignalingClient>> clients;

  TlsNet() {
    auto p = server.listen("127.0.0.1", 0);
    EXPECT_TRUE(p);
    port = p ? *p : 0;
  }
  ~TlsNet() {
    for (auto& c : clients) run_co(io, c->close());
    run_co(io, server.close());
  }
  std::string url(const char* scheme) const { return std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + "/signal"; }
  SignalingClient& client(bool trusted) {
    clients.push_back(std::make_unique<SignalingClient>(io.get_executor(), client_cfg(trusted)));
    return *clients.back();
  }
};

}  // namespace

TEST(SignalingTls, WssClientRegistersDiscoversAndRelaysThroughATlsServer) {
  TlsNet net;
  auto& a = net.client(true);
  auto& b = net.client(true);
  for (auto* c : {&a, &b}) {
    auto r = run_co(net.io, c->connect(net.url("wss")));
    ASSERT_TRUE(r) << r.error().message();
  }
  ASSERT_TRUE(run_co(net.io, a.register_actor(actor_id(1), "wss://127.0.0.1:4100/actor")));
  ASSERT_TRUE(run_co(net.io, b.register_actor(actor_id(2))));
  EXPECT_TRUE(net.server.is_registered(actor_id(1)));

  auto where = run_co(net.io, b.discover(actor_id(1)));
  ASSERT_TRUE(where) << where.error().message();
  EXPECT_EQ(where->ws_address, std::optional<std::string>("wss://127.0.0.1:4100/actor"));

  PeerSignal offer;
  offer.kind = PeerSignal::Kind::Offer;
  offer.sdp = "v=0 over tls";
  offer.sdp_exchange_id = 7;
  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(2), offer)));
  auto got = run_co(net.io, b.next_signal(Clock::now() + 2000ms));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->from, actor_id(1));
  EXPECT_EQ(got->signal.sdp, "v=0 over tls");
  EXPECT_EQ(net.server.stats().relayed, 1u);
}

TEST(SignalingTls, TlsServerRefusesPlainAndUntrustingClientsAndKeepsServing) {
  TlsNet net;
  // Default trust store: our self-signed certificate is not in it.
  auto untrusted = run_co(net.io, net.client(false).connect(net.url("wss")));
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error(), make_error_code(NetworkError::TlsCertificateUntrusted));
  // A plain ws:// client to a TLS server.
  EXPECT_FALSE(run_co(net.io, net.client(true).connect(net.url("ws"))));
  // A trusting client is still served.
  auto& good = net.client(true);
  auto r = run_co(net.io, good.connect(net.url("wss")));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(run_co(net.io, good.register_actor(actor_id(3))));
  EXPECT_EQ(net.server.stats().registered, 1u);
  EXPECT_EQ(good.state(), SignalingState::Connected);
}

TEST(SignalingTls, AReconnectRefusedByTlsIsTerminalNotARetryLoop) {
  // The client was connected; the server comes back on the same port with a certificate the
  // client does not trust (a rotated certificate, a wrong CA). The reconnect stops at once with
  // the typed error instead of retrying every 20..200 ms (fast_client) for ever.
  asio::io_context io;
  auto first = std::make_unique<SignalingServer>(io.get_executor(), tls_server());
  auto port = first->listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  auto cfg = client_cfg(true);
  cfg.reconnect = true;
  SignalingClient c(io.get_executor(), cfg);
  const auto url = "wss://127.0.0.1:" + std::to_string(*port) + "/signal";
  ASSERT_TRUE(run_co(io, c.connect(url)));
  ASSERT_TRUE(run_co(io, c.register_actor(actor_id(1))));
  const auto seen = c.registrations();
  run_co(io, first->close());
  first.reset();
  static const auto other = test::make_self_signed();
  auto other_cfg = fast_server();
  auto other_tls = make_tls_server_context({other.certificate_pem, other.private_key_pem});
  ASSERT_TRUE(other_tls);
  other_cfg.tls = *other_tls;
  SignalingServer second(io.get_executor(), other_cfg);
  ASSERT_TRUE(second.listen("127.0.0.1", *port));
  auto r = run_co(io, c.wait_registered(seen, Clock::now() + 10s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::TlsCertificateUntrusted) << r.error().message();
  EXPECT_EQ(c.terminal_error(), NetworkError::TlsCertificateUntrusted);
  run_until(io, [&] { return c.state() == SignalingState::Disconnected; });
  run_co(io, c.close());
  run_co(io, second.close());
}
