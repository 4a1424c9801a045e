// wss:// (OpenSSL) and the coalescing writer, over real TCP on 127.0.0.1 (port 0).
#include <actr/detail/clock.hpp>
#include <actr/error.hpp>
#include <actr/websocket.hpp>

#include "core/test_util.hpp"
#include "support/run_co.hpp"
#include "support/tls_cert.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>

#include <gtest/gtest.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

struct Got {
  std::vector<std::pair<PayloadType, Bytes>> frames;
  std::vector<std::shared_ptr<WireHandle>> wires;
};

FrameHandler collect(Got& g) {
  return [&g](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType pt, ConstBytes b) -> asio::awaitable<Result<void>> {
    g.frames.emplace_back(pt, Bytes(b.begin(), b.end()));
    co_return ok();
  };
}

WebSocketConfig cfg() {
  WebSocketConfig c;
  c.connect_timeout = 2000ms;
  c.keepalive_interval = 200ms;
  c.close_timeout = 200ms;
  c.max_message_size = 256 * 1024;
  return c;
}

const test::SelfSigned& cert() { return test::localhost_certificate(); }

// A gate on 127.0.0.1, plain or TLS.
struct Gate {
  asio::io_context& io;
  Got got;
  WebSocketServer server;
  std::uint16_t port = 0;
  Gate(asio::io_context& ctx, WebSocketConfig c)
      : io(ctx), server(ctx.get_executor(), c, collect(got), [this](const ActrId&, const std::shared_ptr<WireHandle>& w) {
          got.wires.push_back(w);
        }) {
    auto p = server.listen("127.0.0.1", 0);
    EXPECT_TRUE(p);
    port = p ? *p : 0;
  }
  ~Gate() { run_co(io, server.close()); }
  std::string url(const char* scheme) const { return std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + "/"; }
};

WebSocketConfig tls_server_cfg() {
  auto c = cfg();
  auto ctx = make_tls_server_context({cert().certificate_pem, cert().private_key_pem});
  EXPECT_TRUE(ctx);
  c.tls = *ctx;
  return c;
}

WebSocketConfig tls_client_cfg(std::string ca) {
  auto c = cfg();
  auto ctx = make_tls_client_context({std::move(ca), true});
  EXPECT_TRUE(ctx);
  c.tls = *ctx;
  return c;
}

Bytes numbered(std::size_t i, std::size_t size) {
  Bytes b(size, static_cast<std::uint8_t>(i));
  for (std::size_t k = 0; k < sizeof(i) && k < size; ++k) b[k] = static_cast<std::uint8_t>(i >> (8 * k));
  return b;
}

}  // namespace

TEST(Wss, EveryPayloadClassBothWaysOverTls) {
  asio::io_context io;
  Gate gate(io, tls_server_cfg());
  Got client_got;
  auto c = make_websocket_client(io.get_executor(), gate.url("wss"), actor_id(7), actor_id(1000),
                                 tls_client_cfg(cert().certificate_pem), collect(client_got));
  ASSERT_TRUE(run_co(io, c->connect()));
  const PayloadType classes[] = {PayloadType::RpcReliable, PayloadType::RpcSignal, PayloadType::StreamReliable,
                                 PayloadType::StreamLatencyFirst};
  for (auto pt : classes) ASSERT_TRUE(run_co(io, (*c->get_lane(pt))->send(bytes("up"))));
  run_until(io, [&] { return gate.got.frames.size() == 4 && gate.got.wires.size() == 1; });
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(gate.got.frames[i].first, classes[i]);
  for (auto pt : classes) ASSERT_TRUE(run_co(io, (*gate.got.wires[0]->get_lane(pt))->send(bytes("down"))));
  run_until(io, [&] { return client_got.frames.size() == 4; });
  EXPECT_EQ(client_got.frames[3].second, bytes("down"));
  run_co(io, c->close());
}

TEST(Wss, UntrustedCertificateOrPlainClientFailsTypedAndGateKeepsServing) {
  asio::io_context io;
  Gate gate(io, tls_server_cfg());
  Got ignored;
  // Default trust store: our self-signed certificate is not in it.
  auto untrusted = make_websocket_client(io.get_executor(), gate.url("wss"), actor_id(7), actor_id(1000), cfg(),
                                         collect(ignored));
  const auto t0 = Clock::now();
  auto r = run_co(io, untrusted->connect());
  ASSERT_FALSE(r);
  // Typed at once, with OpenSSL's reason kept for people; no timer involved.
  EXPECT_EQ(r.error(), make_error_code(NetworkError::TlsCertificateUntrusted));
  EXPECT_TRUE(r.error() == NetworkCondition::Permanent);
  EXPECT_LT(Clock::now() - t0, cfg().connect_timeout / 2);
  auto why = last_tls_failure();
  ASSERT_TRUE(why);
  EXPECT_EQ(why->url, gate.url("wss"));
  EXPECT_EQ(why->error, r.error());
  EXPECT_EQ(why->reason, "certificate verify failed: self-signed certificate");
  // A plain ws:// client to a TLS gate.
  auto plain = make_websocket_client(io.get_executor(), gate.url("ws"), actor_id(8), actor_id(1000), cfg(),
                                     collect(ignored));
  EXPECT_FALSE(run_co(io, plain->connect()));
  // A trusting client is still served.
  auto good = make_websocket_client(io.get_executor(), gate.url("wss"), actor_id(9), actor_id(1000),
                                    tls_client_cfg(cert().certificate_pem), collect(ignored));
  ASSERT_TRUE(run_co(io, good->connect()));
  ASSERT_TRUE(run_co(io, (*good->get_lane(PayloadType::RpcReliable))->send(bytes("still here"))));
  run_until(io, [&] { return gate.got.frames.size() == 1; });
  run_until(io, [&] { return gate.server.rejected() >= 2; });
  run_co(io, good->close());
}

TEST(Wss, CertificateForAnotherHostIsAHostNameMismatch) {
  asio::io_context io;
  static const auto other = test::make_self_signed("DNS:elsewhere.invalid");
  auto server = cfg();
  auto sctx = make_tls_server_context({other.certificate_pem, other.private_key_pem});
  ASSERT_TRUE(sctx);
  server.tls = *sctx;
  Gate gate(io, server);
  Got ignored;
  auto c = make_websocket_client(io.get_executor(), gate.url("wss"), actor_id(7), actor_id(1000),
                                 tls_client_cfg(other.certificate_pem), collect(ignored));
  auto r = run_co(io, c->connect());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(NetworkError::TlsHostnameMismatch));
  auto why = last_tls_failure();
  ASSERT_TRUE(why);
  EXPECT_NE(why->reason.find("IP address mismatch"), std::string::npos) << why->reason;
}

TEST(Wss, TlsToAServerThatSpeaksNoTlsIsAHandshakeFailure) {
  // A plain HTTP answer to our ClientHello: OpenSSL refuses it ("wrong version number" or
  // "packet length too long"), typed TlsHandshakeFailed rather than a connection error.
  asio::io_context io;
  asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acc.local_endpoint().port();
  asio::co_spawn(io, [&acc]() -> asio::awaitable<void> {
    auto [aec, sock] = co_await acc.async_accept(asio::as_tuple(asio::use_awaitable));
    if (aec) co_return;
    std::array<char, 512> buf{};
    (void)co_await sock.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    static const std::string reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    (void)co_await asio::async_write(sock, asio::buffer(reply), asio::as_tuple(asio::use_awaitable));
  }, asio::detached);
  Got ignored;
  auto c = make_websocket_client(io.get_executor(), "wss://127.0.0.1:" + std::to_string(port) + "/", actor_id(7),
                                 actor_id(1000), tls_client_cfg(cert().certificate_pem), collect(ignored));
  auto r = run_co(io, c->connect());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(NetworkError::TlsHandshakeFailed));
  EXPECT_TRUE(is_tls_failure(r.error()));
}

TEST(Wss, BadTlsMaterialIsAConfigurationError) {
  auto bad = make_tls_server_context({"not a certificate", "not a key"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), make_error_code(NetworkError::ConfigurationError));
  EXPECT_FALSE(make_tls_client_context({"garbage", true}));
  // The reason names the part that is wrong.
  std::string why;
  EXPECT_FALSE(make_tls_server_context({"not a certificate", cert().private_key_pem}, why));
  EXPECT_EQ(why.rfind("certificate:", 0), 0u) << why;
  EXPECT_FALSE(make_tls_server_context({cert().certificate_pem, "not a key"}, why));
  EXPECT_EQ(why.rfind("private key:", 0), 0u) << why;
  static const auto other = test::make_self_signed();
  EXPECT_FALSE(make_tls_server_context({cert().certificate_pem, other.private_key_pem}, why));
  EXPECT_EQ(why, "the private key does not match the certificate");
}

// The writer packs queued frames into few socket writes. Whatever the packing — small frames,
// frames over the packing limit, keepalive pings interleaved — the peer must see every frame,
// intact and in order. Runs over plain TCP and over TLS.
class CoalescedBurst : public ::testing::TestWithParam<bool> {};

TEST_P(CoalescedBurst, QueuedFramesArriveIntactAndInOrder) {
  const bool tls = GetParam();
  asio::io_context io;
  auto server_cfg = tls ? tls_server_cfg() : cfg();
  // Pings and pongs interleave with the burst (short enough to fire during it, long enough that a
  // pong queued behind the burst under sanitizers still counts).
  server_cfg.keepalive_interval = 1000ms;
  Gate gate(io, server_cfg);
  auto client_cfg = tls ? tls_client_cfg(cert().certificate_pem) : cfg();
  client_cfg.keepalive_interval = 1000ms;
  client_cfg.coalesce_bytes = 16 * 1024;
  Got client_got;
  auto c = make_websocket_client(io.get_executor(), gate.url(tls ? "wss" : "ws"), actor_id(7), actor_id(1000),
                                 client_cfg, collect(client_got));
  ASSERT_TRUE(run_co(io, c->connect()));
  auto lane = *c->get_lane(PayloadType::StreamReliable);
  constexpr std::size_t kCount = 3000;
  auto size_of = [](std::size_t i) -> std::size_t { return i % 97 == 0 ? 40 * 1024 : 16 + i % 300; };
  std::size_t sent = 0, failed = 0;
  for (std::size_t i = 0; i < kCount; ++i) {
    // Not awaited one by one: the sends queue up behind the single writer.
    asio::co_spawn(io, [&, i]() -> asio::awaitable<void> {
      auto r = co_await lane->send(numbered(i, size_of(i)));
      ++(r ? sent : failed);
    }, asio::detached);
  }
  run_until(io, [&] { return gate.got.frames.size() == kCount; }, 60000ms);
  EXPECT_EQ(sent, kCount);
  EXPECT_EQ(failed, 0u);
  for (std::size_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(gate.got.frames[i].second, numbered(i, size_of(i))) << "frame " << i;
  }
  // And the other direction, from the accepted side (server role: unmasked frames).
  auto back = *gate.got.wires.at(0)->get_lane(PayloadType::StreamReliable);
  for (std::size_t i = 0; i < kCount; ++i)
    asio::co_spawn(io, [&, i]() -> asio::awaitable<void> { (void)co_await back->send(numbered(i, size_of(i))); },
                   asio::detached);
  run_until(io, [&] { return client_got.frames.size() == kCount; }, 60000ms);
  for (std::size_t i = 0; i < kCount; ++i) ASSERT_EQ(client_got.frames[i].second, numbered(i, size_of(i))) << i;
  EXPECT_TRUE(c->is_connected());
  run_co(io, c->close());
}

INSTANTIATE_TEST_SUITE_P(PlainAndTls, CoalescedBurst, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "Tls" : "Plain"; });
