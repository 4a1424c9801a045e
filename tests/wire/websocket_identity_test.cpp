// The WebSocket gate's identity check (actr HEAD's W12): with verifying keys configured, only a
// valid credential for the presented X-Actr-Source-ID gets a WebSocket; everything else gets
// HTTP 401 before the upgrade, and the real holder is still served. Loopback TCP, port 0.
#include <actr/error.hpp>
#include <actr/identity.hpp>
#include <actr/websocket.hpp>

#include "core/test_util.hpp"
#include "support/run_co.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>

#include <gtest/gtest.h>

#include <atomic>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {
constexpr auto use_ec = asio::as_tuple(asio::use_awaitable);

struct FakeClock {
  std::shared_ptr<std::atomic<std::uint64_t>> now = std::make_shared<std::atomic<std::uint64_t>>(unix_now());
  UnixClock fn() const {
    return [n = now] { return n->load(); };
  }
};

// A gate that checks identity against `keys`, recording whom it served.
struct Gate {
  asio::io_context io;
  std::vector<ActrId> served;
  std::unique_ptr<WebSocketServer> server;
  std::uint16_t port = 0;

  explicit Gate(std::shared_ptr<KeyRing> keys,
                std::function<std::optional<VerifyingKey>(std::uint32_t)> fetch = nullptr) {
    WebSocketConfig cfg;
    cfg.connect_timeout = 2000ms;
    cfg.close_timeout = 200ms;
    cfg.identity_keys = std::move(keys);
    cfg.fetch_key = std::move(fetch);
    server = std::make_unique<WebSocketServer>(
        io.get_executor(), cfg,
        [](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType, ConstBytes) -> asio::awaitable<Result<void>> {
          co_return ok();
        },
        [this](const ActrId& id, const std::shared_ptr<WireHandle>&) { served.push_back(id); });
    auto p = server->listen("127.0.0.1", 0);
    EXPECT_TRUE(p);
    port = p ? *p : 0;
  }
  ~Gate() { run_co(io, server->close()); }

  // Our own client wire claiming `who`, with `credential` (base64) or none.
  Result<void> dial(const ActrId& who, std::optional<std::string> credential) {
    WebSocketConfig cfg;
    cfg.connect_timeout = 2000ms;
    cfg.close_timeout = 200ms;
    auto w = make_websocket_client(io.get_executor(), "ws://127.0.0.1:" + std::to_string(port) + "/", who,
                                   actor_id(1000), cfg,
                                   [](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType, ConstBytes)
                                       -> asio::awaitable<Result<void>> { co_return ok(); },
                                   std::move(credential));
    auto r = run_co(io, w->connect());
    run_co(io, w->close());
    return r;
  }

  // A raw upgrade: the HTTP status the gate answered (101 when it accepted).
  unsigned status_of(const ActrId& who, std::optional<std::string> credential) {
    return run_co(io, [&]() -> asio::awaitable<unsigned> {
      websocket::stream<beast::tcp_stream> ws(co_await asio::this_coro::executor);
      auto [ec] = co_await beast::get_lowest_layer(ws).async_connect(
          tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), use_ec);
      EXPECT_FALSE(ec);
      ws.set_option(websocket::stream_base::decorator([&](websocket::request_type& req) {
        req.set("X-Actr-Source-ID", to_hex(who.to_protobuf()));
        if (credential) req.set("X-Actr-Credential", *credential);
      }));
      websocket::response_type res;
      auto [hec] = co_await ws.async_handshake(res, "127.0.0.1", "/", use_ec);
      if (!hec) ws.next_layer().close();
      co_return res.result_int();
    }());
  }
};

TEST(WebSocketGateIdentity, ImpersonationIsRefusedWith401BeforeTheUpgradeAndTheHolderIsServed) {
  auto issuer = *CredentialIssuer::ephemeral(3600s);
  Gate g(issuer->key_ring());
  const auto alice = actor_id(1, "alice"), mallory = actor_id(2, "mallory");
  const auto alice_cred = issuer->issue(alice).to_base64();
  const auto mallory_cred = issuer->issue(mallory).to_base64();

  EXPECT_EQ(g.status_of(alice, std::nullopt), 401u);                    // no credential
  EXPECT_EQ(g.status_of(alice, std::string("bm90IGEgY3JlZA==")), 401u);  // garbage
  EXPECT_EQ(g.status_of(alice, std::string("%%%")), 401u);               // not base64
  EXPECT_EQ(g.status_of(alice, mallory_cred), 401u);                     // someone else's
  auto forger = *CredentialIssuer::ephemeral(3600s, issuer->current_key().key_id());
  EXPECT_EQ(g.status_of(alice, forger->issue(alice).to_base64()), 401u);  // wrong signature
  Credential unknown_key = issuer->issue(alice);
  unknown_key.key_id = 99;
  EXPECT_EQ(g.status_of(alice, unknown_key.to_base64()), 401u);
  EXPECT_EQ(g.server->unauthorized(), 6u);
  EXPECT_TRUE(g.served.empty());  // none of them got a WebSocket

  // Our own wire reports the refusal as a failed dial, at once.
  auto refused = g.dial(alice, mallory_cred);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), NetworkError::AuthenticationError);

  EXPECT_EQ(g.status_of(alice, alice_cred), 101u);  // the holder is served
  ASSERT_TRUE(g.dial(alice, alice_cred));
  ASSERT_TRUE(g.dial(mallory, mallory_cred));  // and so is mallory, as herself
  run_until(g.io, [&] { return g.served.size() == 3; });
  EXPECT_EQ(g.served[0], alice);
  EXPECT_EQ(g.served[2], mallory);
}

TEST(WebSocketGateIdentity, ExpiredCredentialIsRefused) {
  FakeClock past;
  past.now->store(unix_now() - 7200);
  auto issuer = *CredentialIssuer::ephemeral(3600s, 1, past.fn());  // issued two hours ago
  auto keys = std::make_shared<KeyRing>();                          // the gate's clock: now
  keys->add(issuer->current_key());
  Gate g(keys);
  const auto who = actor_id(3);
  EXPECT_EQ(g.status_of(who, issuer->issue(who).to_base64()), 401u);
  past.now->store(unix_now());
  EXPECT_EQ(g.status_of(who, issuer->issue(who).to_base64()), 101u);
}

TEST(WebSocketGateIdentity, RotatedKeyIsAcceptedUntilItsCredentialsExpire) {
  FakeClock clock;
  auto issuer = *CredentialIssuer::ephemeral(100s, 1, clock.fn());
  Gate g(issuer->key_ring());  // the issuer's ring follows its rotations
  const auto who = actor_id(4);
  const auto old_cred = issuer->issue(who).to_base64();
  ASSERT_TRUE(issuer->rotate(*SigningKey::generate(2)));
  const auto new_cred = issuer->issue(who).to_base64();
  EXPECT_EQ(g.status_of(who, old_cred), 101u);
  EXPECT_EQ(g.status_of(who, new_cred), 101u);
  clock.now->fetch_add(100);  // the old key's last credential has expired
  EXPECT_EQ(g.status_of(who, old_cred), 401u);
  EXPECT_EQ(g.status_of(who, issuer->issue(who).to_base64()), 101u);
}

TEST(WebSocketGateIdentity, UnknownKeyIdIsFetchedOnceAndThenTrusted) {
  auto issuer = *CredentialIssuer::ephemeral(3600s, 7);
  auto keys = std::make_shared<KeyRing>();
  int asked = 0;
  Gate g(keys, [&](std::uint32_t id) -> std::optional<VerifyingKey> {
    ++asked;
    if (id == 7) return issuer->current_key();
    return std::nullopt;
  });
  const auto who = actor_id(5);
  EXPECT_EQ(g.status_of(who, issuer->issue(who).to_base64()), 101u);
  EXPECT_EQ(g.status_of(who, issuer->issue(who).to_base64()), 101u);
  EXPECT_EQ(asked, 1);
  EXPECT_TRUE(keys->find(7));
  auto other = *CredentialIssuer::ephemeral(3600s, 8);
  EXPECT_EQ(g.status_of(who, other->issue(who).to_base64()), 401u);  // the lookup knows no key 8
  EXPECT_EQ(asked, 2);
}

TEST(WebSocketGateIdentity, WithoutKeysTheGateServesAnyoneAsBefore) {
  asio::io_context io;
  WebSocketConfig cfg;  // no identity_keys: today's behaviour (and a warning in the log)
  std::vector<ActrId> served;
  WebSocketServer server(io.get_executor(), cfg,
                         [](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType, ConstBytes)
                             -> asio::awaitable<Result<void>> { co_return ok(); },
                         [&](const ActrId& id, const std::shared_ptr<WireHandle>&) { served.push_back(id); });
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  auto w = make_websocket_client(io.get_executor(), "ws://127.0.0.1:" + std::to_string(*port) + "/", actor_id(6),
                                 actor_id(1000), cfg,
                                 [](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType, ConstBytes)
                                     -> asio::awaitable<Result<void>> { co_return ok(); });
  ASSERT_TRUE(run_co(io, w->connect()));
  run_until(io, [&] { return served.size() == 1; });
  EXPECT_EQ(server.unauthorized(), 0u);
  run_co(io, w->close());
  run_co(io, server.close());
}

}  // namespace
