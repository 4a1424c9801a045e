// The identity service of `actr signal` (issue 10, item 2): POST /ais/register and /ais/renew on
// the signaling listener, requests and replies in actr HEAD's field numbers (encoded and decoded
// by hand, tests/signaling/ais_wire.hpp), the registration policies, and refusals that are typed
// and disturb nobody. Loopback, one io_context thread; waits are on events with deadlines.
#include <actr/error.hpp>
#include <actr/identity.hpp>
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>
#include <actr/websocket.hpp>

#include "core/test_util.hpp"
#include "signaling/ais_wire.hpp"
#include "signaling/fast_config.hpp"
#include "signaling/loopback_server.hpp"
#include "support/child_process.hpp"
#include "support/tls_cert.hpp"
#include "support/run_co.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;

namespace {

struct Server : LoopbackServer {
  using LoopbackServer::LoopbackServer;
  HttpReply post(std::string target, std::string body, std::vector<std::pair<std::string, std::string>> h = {}) {
    return run_co(io, http_request(port, std::move(target), std::move(body), std::move(h)));
  }
};

// A server whose AIS admits what `open`, `secret` and `types` say (AisPolicy's fields).
SignalingServerConfig with_policy(bool open, std::optional<std::string> secret, std::vector<ActrType> types = {}) {
  auto c = fast_server();
  c.ais.open = open;
  c.ais.realm_secret = std::move(secret);
  c.ais.allowed_types = std::move(types);
  return c;
}
SignalingServerConfig open_server() { return with_policy(true, std::nullopt); }

const ActrType kEcho{"acme", "echo", "1.0.0"};

// What a RegisterOk (HEAD's field numbers) carries that the tests look at.
struct Issued {
  ActrId id;
  Credential credential;
  std::string pubkey;
  std::uint32_t key_id = 0;
  std::string renewal_token;
  PbFields ok;
};

// The RegisterOk in `success = 1` of a RegisterResponse / RenewCredentialResponse body.
std::optional<Issued> issued_of(const HttpReply& r) {
  auto top = pb_parse(r.body);
  if (r.status != 200 || !top || !top->lens.count(1)) return std::nullopt;
  auto ok = pb_parse(top->lens[1]);
  if (!ok) return std::nullopt;
  auto id = parse_actr_id(ok->lens[1]);
  auto cred = pb_parse(ok->lens[2]);
  if (!id || !cred) return std::nullopt;
  Credential c{static_cast<std::uint32_t>(cred->varints[1]), Bytes(cred->lens[2].begin(), cred->lens[2].end()),
               Bytes(cred->lens[3].begin(), cred->lens[3].end())};
  return Issued{*id, c, ok->lens[6], static_cast<std::uint32_t>(ok->varints[7]), ok->lens[12], *ok};
}

Result<IdentityClaims> verify_with_reply_key(const Issued& i) {
  auto key = VerifyingKey::from_raw(
      i.key_id, ConstBytes(reinterpret_cast<const std::uint8_t*>(i.pubkey.data()), i.pubkey.size()));
  if (!key) return key.error();
  KeyRing ring;  // what a client learns from the reply alone
  ring.add(*key);
  return ring.verify(i.credential, i.id);
}

TEST(Ais, RegisterIssuesAnIdentityThatVerifiesWithTheKeyInTheReply) {
  Server s(open_server());
  auto r = s.post("/ais/register", register_request(kEcho, 7, "ws://127.0.0.1:9100/"));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.content_type, "application/x-protobuf");
  auto i = issued_of(r);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->id.type, kEcho);
  EXPECT_EQ(i->id.realm.realm_id, 7u);
  EXPECT_NE(i->id.serial_number, 0u);
  EXPECT_LT(i->id.serial_number, std::uint64_t{1} << 54);  // actrix's serial range
  EXPECT_EQ(i->pubkey.size(), 32u);
  EXPECT_EQ(i->key_id, s.server->issuer()->current_key().key_id());
  auto claims = verify_with_reply_key(*i);
  ASSERT_TRUE(claims) << claims.error().message();
  EXPECT_EQ(claims->actor_id, i->id.to_string());
  EXPECT_EQ(claims->realm_id, 7u);
  // credential_expires_at = 4 (Timestamp{seconds = 1}) is the claims' expiry; the heartbeat = 5
  // is whole seconds; turn_credential = 3 and renewal_token_expires_at = 13 are present.
  auto expires = pb_parse(i->ok.lens[4]);
  ASSERT_TRUE(expires);
  EXPECT_EQ(expires->varints[1], claims->expires_at);
  EXPECT_EQ(i->ok.varints[5], 1u);  // fast_server's 100 ms heartbeat, rounded up
  EXPECT_TRUE(i->ok.lens.count(3));
  EXPECT_TRUE(i->ok.lens.count(13));
  EXPECT_FALSE(i->renewal_token.empty());
  // The server's own key ring (what its signaling socket checks) accepts it too.
  EXPECT_TRUE(s.server->issuer()->key_ring()->verify(i->credential, i->id));
  EXPECT_EQ(s.server->stats().ais_issued, 1u);
}

TEST(Ais, EveryRegistrationGetsItsOwnSerial) {
  Server s(open_server());
  std::set<std::uint64_t> serials;
  for (int n = 0; n < 20; ++n) {
    auto i = issued_of(s.post("/ais/register", register_request(kEcho, 1)));
    ASSERT_TRUE(i);
    serials.insert(i->id.serial_number);
  }
  EXPECT_EQ(serials.size(), 20u);
}

// A clock the test moves: expiry without sleeping.
struct TestClock {
  std::shared_ptr<std::atomic<std::uint64_t>> now = std::make_shared<std::atomic<std::uint64_t>>(1'900'000'000);
  UnixClock fn() const {
    return [n = now] { return n->load(); };
  }
};

// An open AIS whose credentials live 600 s on `clock`.
SignalingServerConfig open_server(const TestClock& clock) {
  auto cfg = open_server();
  cfg.issuer = *CredentialIssuer::ephemeral(600s, 1, clock.fn());
  return cfg;
}

TEST(Ais, RenewGivesAFreshCredentialForTheSameId) {
  TestClock clock;
  Server s(open_server(clock));
  auto first = issued_of(s.post("/ais/register", register_request(kEcho, 3)));
  ASSERT_TRUE(first);
  clock.now->fetch_add(300);  // half-way through the lifetime
  auto r = s.post("/ais/renew", renew_request(first->id, first->renewal_token));
  ASSERT_EQ(r.status, 200u) << r.body;
  auto again = issued_of(r);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, first->id);
  auto c1 = first->credential.unverified_claims();
  auto c2 = again->credential.unverified_claims();
  ASSERT_TRUE(c1 && c2);
  EXPECT_EQ(c2->expires_at, c1->expires_at + 300);
  EXPECT_TRUE(s.server->issuer()->key_ring()->verify(again->credential, first->id));
  // The new renewal token renews again.
  EXPECT_EQ(s.post("/ais/renew", renew_request(first->id, again->renewal_token)).status, 200u);
}

TEST(Ais, RenewRefusesExpiredForgedAndForeignTokens) {
  TestClock clock;
  Server s(open_server(clock));
  auto a = issued_of(s.post("/ais/register", register_request(kEcho, 3)));
  auto b = issued_of(s.post("/ais/register", register_request(kEcho, 3)));
  ASSERT_TRUE(a && b);
  auto expect_401 = [&](const std::string& what, const ActrId& id, const std::string& token) {
    auto r = s.post("/ais/renew", renew_request(id, token));
    EXPECT_EQ(r.status, 401u) << what;
    EXPECT_EQ(error_code(r.body), 401u) << what;
  };
  // A forged signature: one bit of the token's signature (AIdCredential field 3) flipped.
  auto token = pb_parse(a->renewal_token);
  ASSERT_TRUE(token);
  token->lens[3][5] = static_cast<char>(token->lens[3][5] ^ 1);
  Pb forged;
  forged.varint(1, token->varints[1]).bytes(2, token->lens[2]).bytes(3, token->lens[3]);
  expect_401("forged signature", a->id, forged.out);
  // Claims signed by another key under the server's key id.
  auto rogue = *CredentialIssuer::ephemeral(600s, 1, clock.fn());
  auto rogue_token = rogue->issue_subject(3, "renew:" + a->id.to_string()).to_protobuf();
  expect_401("another key", a->id, std::string(rogue_token.begin(), rogue_token.end()));
  // b's token for a's id; a's own credential (peers see it) as a renewal token; garbage.
  expect_401("another actor's token", a->id, b->renewal_token);
  const auto cred = a->credential.to_protobuf();
  expect_401("the credential itself", a->id, std::string(cred.begin(), cred.end()));
  expect_401("garbage", a->id, "not a token");
  // Expired: the lifetime has passed.
  clock.now->fetch_add(600);
  expect_401("expired", a->id, a->renewal_token);
  // The server keeps issuing.
  EXPECT_TRUE(issued_of(s.post("/ais/register", register_request(kEcho, 3))));
}

TEST(Ais, RegistrationIsClosedUnlessAPolicyOpensIt) {
  Server s(fast_server());
  auto r = s.post("/ais/register", register_request(kEcho, 1));
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(error_code(r.body), 403u);
  EXPECT_EQ(s.server->stats().ais_refused, 1u);
}

TEST(Ais, ARealmSecretPolicyAdmitsOnlyRequestsCarryingIt) {
  Server s(with_policy(false, "s3cret"));
  auto none = s.post("/ais/register", register_request(kEcho, 1));
  EXPECT_EQ(none.status, 403u);
  EXPECT_EQ(error_code(none.body), 403u);
  EXPECT_EQ(s.post("/ais/register", register_request(kEcho, 1), {{"x-actrix-realm-secret", "s3cre"}}).status, 403u);
  EXPECT_EQ(s.post("/ais/register", register_request(kEcho, 1), {{"x-actrix-realm-secret", "s3cret!"}}).status,
            403u);
  EXPECT_TRUE(issued_of(s.post("/ais/register", register_request(kEcho, 1), {{"x-actrix-realm-secret", "s3cret"}})));
}

TEST(Ais, AnAllowListAdmitsOnlyItsTypes) {
  // acme:echo at any version; acme:pinned at 2.0 only.
  Server s(with_policy(false, std::nullopt, {ActrType{"acme", "echo", ""}, ActrType{"acme", "pinned", "2.0"}}));
  EXPECT_TRUE(issued_of(s.post("/ais/register", register_request(kEcho, 1))));
  EXPECT_TRUE(issued_of(s.post("/ais/register", register_request({"acme", "echo", "9.9"}, 1))));
  EXPECT_TRUE(issued_of(s.post("/ais/register", register_request({"acme", "pinned", "2.0"}, 1))));
  auto other = s.post("/ais/register", register_request({"acme", "pinned", "2.1"}, 1));
  EXPECT_EQ(other.status, 403u);
  EXPECT_EQ(error_code(other.body), 403u);
  EXPECT_EQ(s.post("/ais/register", register_request({"evil", "echo", "1.0.0"}, 1)).status, 403u);
}

TEST(Ais, SecretAndAllowListMustBothPass) {
  Server s(with_policy(false, "k", {ActrType{"acme", "echo", ""}}));
  EXPECT_EQ(s.post("/ais/register", register_request(kEcho, 1)).status, 403u);
  EXPECT_EQ(s.post("/ais/register", register_request({"acme", "x", "1"}, 1), {{"x-actrix-realm-secret", "k"}}).status,
            403u);
  EXPECT_TRUE(issued_of(s.post("/ais/register", register_request(kEcho, 1), {{"x-actrix-realm-secret", "k"}})));
}

TEST(Ais, RenewalIsRefusedOnceTheTypeIsNoLongerAllowed) {
  TestClock clock;
  auto issuer = *CredentialIssuer::ephemeral(600s, 1, clock.fn());
  std::optional<Issued> i;
  {
    auto cfg = open_server();
    cfg.issuer = issuer;
    Server s(cfg);
    i = issued_of(s.post("/ais/register", register_request(kEcho, 1)));
    ASSERT_TRUE(i);
  }
  auto cfg = with_policy(false, std::nullopt, {ActrType{"acme", "other", ""}});
  cfg.issuer = issuer;  // the same key, a stricter policy
  Server s(cfg);
  auto r = s.post("/ais/renew", renew_request(i->id, i->renewal_token));
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(error_code(r.body), 403u);
}

// Connects to 127.0.0.1:`port` and sends `data` (the socket stays open).
boost::asio::awaitable<std::shared_ptr<boost::asio::ip::tcp::socket>> raw_send(std::uint16_t port, std::string data) {
  constexpr auto tok = boost::asio::as_tuple(boost::asio::use_awaitable);
  auto sock = std::make_shared<boost::asio::ip::tcp::socket>(co_await boost::asio::this_coro::executor);
  auto [cec] = co_await sock->async_connect({boost::asio::ip::make_address("127.0.0.1"), port}, tok);
  EXPECT_FALSE(cec);
  auto [wec, n] = co_await boost::asio::async_write(*sock, boost::asio::buffer(data), tok);
  EXPECT_FALSE(wec);
  co_return sock;
}

// Everything the server sends until it closes the connection.
boost::asio::awaitable<std::string> read_to_close(std::shared_ptr<boost::asio::ip::tcp::socket> sock) {
  std::string in;
  // Ends with EOF (or a reset): either way, what arrived before is the answer.
  (void)co_await boost::asio::async_read(*sock, boost::asio::dynamic_buffer(in),
                                         boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return in;
}

TEST(Ais, BadRequestsGetTypedRefusalsAndDisturbNobody) {
  auto cfg = open_server();
  cfg.ais_max_body = 1024;
  Server s(cfg);
  // A signaling client, registered over the WebSocket before the bad requests and checked after.
  SignalingClient c(s.io.get_executor(), fast_client());
  ASSERT_TRUE(run_co(s.io, c.connect(s.url())));
  const auto me = actor_id(0x42, "echo");
  ASSERT_TRUE(run_co(s.io, c.register_actor(me)));
  // A client that sends half a request header and stalls.
  auto stalled = run_co(s.io, raw_send(s.port, "POST /ais/register HTTP/1.1\r\nHost: x\r\n"));

  Pb type_only;  // realm (required) missing
  type_only.bytes(1, Pb{}.bytes(1, "acme").bytes(2, "echo").bytes(3, "1").out);
  struct Case {
    std::string what, target, body;
    unsigned status;
  };
  const std::vector<Case> cases{
      {"undecodable", "/ais/register", "\xff\xff\xff\xff", 400},
      {"required field missing", "/ais/register", type_only.out, 400},
      {"type with a ':' inside", "/ais/register", register_request({"acme", "ec:ho", "1"}, 1), 400},
      {"ws_address with CR/LF", "/ais/register", register_request(kEcho, 1, "ws://h:1/\r\nX-Evil: 1"), 400},
      {"oversize", "/ais/register", std::string(2048, 'x'), 413},
      {"oversize renew", "/ais/renew", std::string(2048, 'x'), 413},
      {"undecodable renew", "/ais/renew", "\x0a", 400},
      {"unknown route", "/ais/nope", "", 404},
  };
  for (const auto& k : cases) {
    auto r = s.post(k.target, k.body);
    EXPECT_EQ(r.status, k.status) << k.what;
    EXPECT_EQ(r.content_type, "application/x-protobuf") << k.what;
    EXPECT_EQ(error_code(r.body), k.status) << k.what;
  }
  auto get = run_co(s.io, http_request(s.port, "/ais/register", "", {}, ais_http::verb::get));
  EXPECT_EQ(get.status, 405u);
  EXPECT_EQ(error_code(get.body), 405u);
  // Not the AIS and not an upgrade: what the listener always answered.
  EXPECT_EQ(s.post("/", "").status, 400u);
  // A declared body far over the limit is refused before any of it is sent.
  auto huge = run_co(s.io, raw_send(s.port, "POST /ais/register HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"));
  EXPECT_EQ(run_co(s.io, read_to_close(huge)).rfind("HTTP/1.1 413", 0), 0u);

  // Meanwhile: registration still works, the WebSocket client is still registered, and a second
  // one registers and finds it.
  EXPECT_TRUE(issued_of(s.post("/ais/register", register_request(kEcho, 1))));
  EXPECT_TRUE(s.server->is_registered(me));
  SignalingClient d(s.io.get_executor(), fast_client());
  ASSERT_TRUE(run_co(s.io, d.connect(s.url())));
  ASSERT_TRUE(run_co(s.io, d.register_actor(actor_id(0x43, "echo"))));
  auto where = run_co(s.io, d.discover(me));
  ASSERT_TRUE(where) << where.error().message();
  // The stalled client is dropped at the handshake timeout (2 s in fast_server), unanswered.
  EXPECT_EQ(run_co(s.io, read_to_close(stalled), 6000ms), "");
  run_co(s.io, c.close());
  run_co(s.io, d.close());
}

// `actr signal` with --ais-realm-secret-file and --ais-allow-type, as a process.
TEST(Ais, SignalCommandAppliesItsAisOptions) {
  const auto secret = std::filesystem::temp_directory_path() / ("actr-ais-secret-" + std::to_string(::getpid()));
  {
    std::ofstream(secret) << "hunter2\n";  // the trailing newline of `echo` is not part of it
  }
  ChildProcess p;
  ASSERT_TRUE(p.start({ACTR_CLI, "signal", "--listen", "127.0.0.1:0", "--log-level", "warn", "--ais-realm-secret-file",
                       secret.string(), "--ais-allow-type", "acme:echo"}));
  ASSERT_TRUE(p.read_until("\n", 10000ms)) << p.output();
  const std::string prefix = "listening 127.0.0.1:";
  ASSERT_EQ(p.output().rfind(prefix, 0), 0u) << p.output();
  const auto port = static_cast<std::uint16_t>(std::atoi(p.output().c_str() + prefix.size()));
  boost::asio::io_context io;
  auto post = [&](const ActrType& t, std::vector<std::pair<std::string, std::string>> h) {
    return run_co(io, http_request(port, "/ais/register", register_request(t, 1), std::move(h)));
  };
  EXPECT_EQ(post(kEcho, {}).status, 403u);
  EXPECT_EQ(post({"acme", "other", "1"}, {{"x-actrix-realm-secret", "hunter2"}}).status, 403u);
  auto ok = post(kEcho, {{"x-actrix-realm-secret", "hunter2"}});
  auto i = issued_of(ok);
  ASSERT_TRUE(i) << ok.status;
  EXPECT_TRUE(verify_with_reply_key(*i));
  EXPECT_EQ(p.stop(SIGTERM), 0);
  std::filesystem::remove(secret);
}

TEST(Ais, IsServedOverTlsOnAWssListener) {
  auto cfg = open_server();
  auto tls = make_tls_server_context({actr::test::localhost_certificate().certificate_pem,
                                      actr::test::localhost_certificate().private_key_pem});
  ASSERT_TRUE(tls);
  cfg.tls = *tls;
  Server s(cfg);
  boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
  ctx.add_certificate_authority(boost::asio::buffer(actr::test::localhost_certificate().certificate_pem));
  ctx.set_verify_mode(boost::asio::ssl::verify_peer);
  auto r = run_co(s.io, https_request(s.port, ctx, "/ais/register", register_request(kEcho, 1)));
  auto i = issued_of(r);
  ASSERT_TRUE(i) << r.status;
  EXPECT_TRUE(verify_with_reply_key(*i));
  // Plain HTTP on the TLS port gets no answer.
  EXPECT_EQ(s.post("/ais/register", register_request(kEcho, 1)).status, 0u);
}

}  // namespace
