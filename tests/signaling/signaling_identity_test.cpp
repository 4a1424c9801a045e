// The signaling server as identity issuer: signed credentials in actr HEAD's shape, the key that
// verifies them handed out at registration, refusal of borrowed and forged credentials, keys
// from a directory surviving a restart, renewal before expiry. Loopback, one io_context thread;
// waits are on events with deadlines.
#include <actr/error.hpp>
#include <actr/identity.hpp>
#include <actr/node.hpp>
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>

#include "core/test_util.hpp"
#include "signaling/fast_config.hpp"
#include "signaling/loopback_server.hpp"
#include "signaling/raw_peer.hpp"
#include "support/run_co.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;

namespace {

using Server = LoopbackServer;

Credential from_pb(const pb::AIdCredential& c) {
  return Credential{c.key_id(), Bytes(c.claims().begin(), c.claims().end()),
                    Bytes(c.signature().begin(), c.signature().end())};
}



TEST(SignalingIdentity, RegistrationHandsOutASignedCredentialAndTheKeyThatVerifiesIt) {
  Server s;
  SignalingClient c(s.io.get_executor(), fast_client());
  ASSERT_TRUE(run_co(s.io, c.connect(s.url())));
  const auto me = actor_id(0x1a2b3c, "echo");
  ASSERT_TRUE(run_co(s.io, c.register_actor(me)));
  auto cred = c.credential();
  auto key = c.server_signing_key();
  ASSERT_TRUE(cred);
  ASSERT_TRUE(key);
  EXPECT_EQ(*key, s.server->issuer()->current_key());
  KeyRing ring;  // what a node learns from registration alone
  ring.add(*key);
  auto claims = ring.verify(*cred, me);
  ASSERT_TRUE(claims) << claims.error().message();
  EXPECT_EQ(claims->actor_id, me.to_string());
  EXPECT_GT(claims->expires_at, unix_now() + 3000);  // the default lifetime is an hour
  EXPECT_EQ(ring.verify(*cred, actor_id(2, "echo")).error(), NetworkError::IdentityMismatch);
  run_co(s.io, c.close());
}

TEST(SignalingIdentity, BorrowedAndForgedCredentialsAreRefused) {
  Server s;
  auto a = run_co(s.io, RawPeer::connect(s.port));
  auto b = run_co(s.io, RawPeer::connect(s.port));
  const auto ida = actor_id(1), idb = actor_id(2);
  ASSERT_TRUE(run_co(s.io, a.register_as(ida)).server_to_actr().register_response().has_success());
  ASSERT_TRUE(run_co(s.io, b.register_as(idb)).server_to_actr().register_response().has_success());

  // b presents a's (valid) credential as its own.
  auto r1 = run_co(s.io, b.request(ping("p1", idb, a.credential)));
  EXPECT_EQ(r1.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::BadCredential));
  // b presents claims for itself signed by a key of its own under the server's key id.
  auto rogue = *CredentialIssuer::ephemeral(3600s, s.server->issuer()->current_key().key_id());
  auto r2 = run_co(s.io, b.request(ping("p2", idb, to_pb(rogue->issue(idb)))));
  EXPECT_EQ(r2.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::BadCredential));
  // Garbage in the credential's fields.
  pb::AIdCredential junk;
  junk.set_key_id(77);
  junk.set_claims("not claims");
  junk.set_signature("short");
  auto r3 = run_co(s.io, b.request(ping("p3", idb, junk)));
  EXPECT_EQ(r3.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::BadCredential));
  // Its own credential still works, and a was never disturbed.
  auto r4 = run_co(s.io, b.request(ping("p4", idb, b.credential)));
  EXPECT_TRUE(r4.server_to_actr().has_pong());
  auto r5 = run_co(s.io, a.request(ping("p5", ida, a.credential)));
  EXPECT_TRUE(r5.server_to_actr().has_pong());
}

TEST(SignalingIdentity, KeysFromADirectoryOutliveTheServerProcess) {
  const auto dir = std::filesystem::temp_directory_path() / ("actr-sig-keys-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto kd = KeyDirectory::open(dir);
  ASSERT_TRUE(kd);
  auto cfg = fast_server();
  cfg.issuer = *kd->issuer(3600s);
  Credential issued;
  {
    Server first(cfg);
    auto p = run_co(first.io, RawPeer::connect(first.port));
    ASSERT_TRUE(run_co(first.io, p.register_as(actor_id(5))).server_to_actr().register_response().has_success());
    issued = from_pb(p.credential);
  }
  auto again = KeyDirectory::open(dir);  // a restarted `actr signal` with the same directory
  ASSERT_TRUE(again);
  cfg.issuer = *again->issuer(3600s);
  Server second(cfg);
  EXPECT_TRUE(second.server->issuer()->key_ring()->verify(issued, actor_id(5)));
  std::filesystem::remove_all(dir);
}

TEST(SignalingIdentity, ClientRenewsItsCredentialBeforeItExpires) {
  auto cfg = fast_server();
  cfg.issuer = *CredentialIssuer::ephemeral(2s);  // renewal due after 1 s (3/4 of 2 s, in whole seconds)
  Server s(cfg);
  SignalingClient c(s.io.get_executor(), fast_client());
  ASSERT_TRUE(run_co(s.io, c.connect(s.url())));
  const auto me = actor_id(9);
  ASSERT_TRUE(run_co(s.io, c.register_actor(me)));
  const auto first = *c.credential();
  const auto seen = c.registrations();
  ASSERT_TRUE(run_co(s.io, c.wait_registered(seen, Clock::now() + 5s)));
  const auto renewed = *c.credential();
  EXPECT_GT(renewed.unverified_claims()->expires_at, first.unverified_claims()->expires_at);
  EXPECT_TRUE(s.server->issuer()->key_ring()->verify(renewed, me));
  EXPECT_TRUE(s.server->is_registered(me));
  run_co(s.io, c.close());
}

NodeConfig ws_node(std::uint64_t serial, std::optional<std::string> signal_url) {
  NodeConfig c;
  c.id = actor_id(serial, "node");
  c.wires.kinds = WireKindSet{WireKind::WebSocket};
  c.wires.ws.keepalive_interval = 1000ms;
  c.manager.send_timeout = 3s;
  c.signal_url = std::move(signal_url);
  c.signaling = fast_client();
  return c;
}

// A node whose gate requires identity trusts the key its signaling server named, serves a peer
// registered there (which sends the credential it was issued) or configured with a credential
// of that server, and refuses one that has none.
TEST(SignalingIdentity, NodeGateServesRegisteredPeersAndRefusesOthers) {
  Server s;
  auto bcfg = ws_node(20, s.url());
  bcfg.identity.require = true;
  Node b(s.io.get_executor(), bcfg);
  Node a(s.io.get_executor(), ws_node(21, s.url()));
  auto ccfg = ws_node(22, std::nullopt);  // no signaling: no credential
  ccfg.listen = false;
  ccfg.resend_after = 0ms;
  ccfg.retry_sends = false;
  Node c(s.io.get_executor(), ccfg);
  auto dcfg = ccfg;  // no signaling either, but a credential from the same issuer (e.g. a file)
  dcfg.id = actor_id(23, "node");
  dcfg.identity.credential = s.server->issuer()->issue(dcfg.id);
  Node d(s.io.get_executor(), dcfg);
  b.on_request([](ActrId, pb::RpcEnvelope req) -> boost::asio::awaitable<Result<Bytes>> {
    co_return Bytes(req.payload().begin(), req.payload().end());
  });
  auto pb_ = b.start();
  ASSERT_TRUE(pb_);
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(c.start());
  ASSERT_TRUE(d.start());
  ASSERT_TRUE(run_co(s.io, b.wait_registered(Clock::now() + 5s)));
  ASSERT_TRUE(run_co(s.io, a.wait_registered(Clock::now() + 5s)));

  auto r = run_co(s.io, a.call(b.id(), "echo", Bytes{1, 2, 3}, 3000ms));  // found by discovery
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, (Bytes{1, 2, 3}));
  ASSERT_TRUE(b.trusted_keys());
  EXPECT_TRUE(b.trusted_keys()->find(s.server->issuer()->current_key().key_id()));

  c.set_peer_address(b.id(), "ws://127.0.0.1:" + std::to_string(*pb_) + "/");
  auto refused = run_co(s.io, c.call(b.id(), "echo", Bytes{4}, 1500ms));
  EXPECT_FALSE(refused);
  EXPECT_GE(b.unauthorized(), 1u);
  auto again = run_co(s.io, a.call(b.id(), "echo", Bytes{5}, 3000ms));  // a is still served
  EXPECT_TRUE(again);
  d.set_peer_address(b.id(), "ws://127.0.0.1:" + std::to_string(*pb_) + "/");
  auto configured = run_co(s.io, d.call(b.id(), "echo", Bytes{6}, 3000ms));
  EXPECT_TRUE(configured) << configured.error().message();

  run_co(s.io, d.stop());
  run_co(s.io, c.stop());
  run_co(s.io, a.stop());
  run_co(s.io, b.stop());
}

}  // namespace

namespace {
PeerSignal offer_sdp(std::string sdp) {
  PeerSignal s;
  s.kind = PeerSignal::Kind::Offer;
  s.sdp = std::move(sdp);
  s.sdp_exchange_id = "6f1c2a3e-0d4b-4c5a-9e7f-1a2b3c4d5e6f";
  return s;
}

// Waits on the client's counter: refusal has no event of its own to await.
boost::asio::awaitable<bool> refused_within(const SignalingClient& c, std::uint64_t n, Deadline deadline) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
  while (c.refused_relays() < n) {
    if (Clock::now() >= deadline) co_return false;
    t.expires_after(5ms);
    co_await t.async_wait(boost::asio::use_awaitable);
  }
  co_return true;
}
}  // namespace

// The WebRTC door (issue 10): a client that verifies relays drops a peer's offer whose credential
// its keys do not accept, and delivers it once they do (here: the server's own key trusted).
TEST(SignalingIdentity, RelaysWhoseCredentialTheReceiverCannotVerifyAreDropped) {
  Server s;
  SignalingClient a(s.io.get_executor(), fast_client());
  SignalingClient b(s.io.get_executor(), fast_client());
  ASSERT_TRUE(run_co(s.io, a.connect(s.url())));
  ASSERT_TRUE(run_co(s.io, b.connect(s.url())));
  ASSERT_TRUE(run_co(s.io, a.register_actor(actor_id(1, "echo"))));
  ASSERT_TRUE(run_co(s.io, b.register_actor(actor_id(2, "echo"))));
  // a believes only a key that did not sign b's credential (another issuer's).
  auto other = SigningKey::generate(s.server->issuer()->current_key().key_id() + 1);
  ASSERT_TRUE(other);
  auto keys = std::make_shared<KeyRing>();
  keys->add(other->verifying_key());
  a.verify_relays(keys, false);

  ASSERT_TRUE(run_co(s.io, b.send_signal(actor_id(1, "echo"), offer_sdp("v=0 unverified"))));
  ASSERT_TRUE(run_co(s.io, refused_within(a, 1, Clock::now() + 5000ms)));

  a.verify_relays(keys, true);  // now also the key the server named at a's registration
  ASSERT_TRUE(run_co(s.io, b.send_signal(actor_id(1, "echo"), offer_sdp("v=0 verified"))));
  auto got = run_co(s.io, a.next_signal(Clock::now() + 5000ms));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->from, actor_id(2, "echo"));
  EXPECT_EQ(got->signal.sdp, "v=0 verified");  // the refused offer never reached the inbox
  EXPECT_EQ(a.refused_relays(), 1u);
  EXPECT_TRUE(keys->find(s.server->issuer()->current_key().key_id()));  // learned once used

  a.verify_relays(nullptr, false);  // off: delivered as before
  ASSERT_TRUE(run_co(s.io, b.send_signal(actor_id(1, "echo"), offer_sdp("v=0 unchecked"))));
  got = run_co(s.io, a.next_signal(Clock::now() + 5000ms));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->signal.sdp, "v=0 unchecked");
  run_co(s.io, a.close());
  run_co(s.io, b.close());
}
