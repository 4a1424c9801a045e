// Identity in the signaling WebSocket URL, as actr HEAD's client sends it and actrix checks it:
// refused with HTTP 401 before the upgrade when missing (if required), malformed, badly signed,
// expired or for another actor; a valid one registers the connection at once, takes the id back
// for a restarted holder, and an id cannot be taken by anyone else while its holder lives.
// Relays are checked (source and credential) and forwarded unchanged. Loopback, one io_context
// thread; every wait has a deadline.
#include <actr/error.hpp>
#include <actr/identity.hpp>
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>

#include "core/test_util.hpp"
#include "signaling/fast_config.hpp"
#include "signaling/loopback_server.hpp"
#include "signaling/raw_peer.hpp"
#include "support/run_co.hpp"

#include <gtest/gtest.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;

namespace {

using Server = LoopbackServer;

// Percent-encodes every byte but the unreserved ones: a different (and stricter) encoding than
// our client's form encoding, which the server must read the same.
std::string pct(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string target(const ActrId& id, const Credential& c) {
  return "/signaling?actor_id=" + pct(id.to_string()) + "&key_id=" + std::to_string(c.key_id) +
         "&claims=" + pct(base64_encode(c.claims)) + "&signature=" + pct(base64_encode(c.signature));
}


struct Answer {
  unsigned status = 0;  // 101 when upgraded
  std::string body;
};

// Dials with `target` and reports the HTTP answer to the upgrade.
sig_asio::awaitable<Answer> upgrade(std::uint16_t port, std::string target) {
  RawStream ws(co_await sig_asio::this_coro::executor);
  auto [ec] = co_await sig_beast::get_lowest_layer(ws).async_connect(
      sig_asio::ip::tcp::endpoint(sig_asio::ip::make_address("127.0.0.1"), port), sig_use_ec);
  EXPECT_FALSE(ec) << ec.message();
  sig_beast::websocket::response_type res;
  auto [hec] = co_await ws.async_handshake(res, "127.0.0.1", target, sig_use_ec);
  Answer a{res.result_int(), res.body()};
  if (!hec) {
    auto [cec] = co_await ws.async_close(sig_beast::websocket::close_code::normal, sig_use_ec);
    (void)cec;
  }
  co_return a;
}


pb::SignalingEnvelope relay(const std::string& id, const ActrId& source, const pb::AIdCredential& cred,
                            const ActrId& to) {
  auto e = envelope(id);
  auto* r = e.mutable_actr_relay();
  fill(r->mutable_source(), source);
  *r->mutable_credential() = cred;
  fill(r->mutable_target(), to);
  r->mutable_ice_candidate()->set_candidate("candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host");
  r->mutable_ice_candidate()->set_sdp_mid("0");
  return e;
}

SignalingServerConfig requiring() {
  auto c = fast_server();
  c.require_identity = true;
  return c;
}

TEST(SignalingUrlIdentity, MissingMalformedForgedExpiredOrMismatchedIdentityGets401BeforeTheUpgrade) {
  auto key = *SigningKey::generate(1);
  auto cfg = requiring();
  cfg.issuer = *CredentialIssuer::create(key, 3600s);
  Server s(cfg);
  const auto me = actor_id(0x51), other = actor_id(0x52);
  const auto good = s.server->issuer()->issue(me);

  auto expect_401 = [&](const std::string& t, std::string_view why) {
    auto a = run_co(s.io, upgrade(s.port, t));
    EXPECT_EQ(a.status, 401u) << t;
    EXPECT_NE(a.body.find(why), std::string::npos) << a.body;
  };
  expect_401("/signaling", "identity required");
  expect_401("/signaling?actor_id=" + pct(me.to_string()), "missing key_id");
  auto no_sig = target(me, good);
  expect_401(no_sig.substr(0, no_sig.find("&signature")), "missing signature");
  expect_401("/signaling?actor_id=nonsense&key_id=1&claims=AA%3D%3D&signature=AA%3D%3D", "invalid actor_id");
  expect_401("/signaling?actor_id=" + pct(me.to_string()) + "&key_id=1&claims=%%%&signature=AA%3D%3D",
             "malformed query");
  expect_401("/signaling?actor_id=" + pct(me.to_string()) + "&key_id=1&claims=not*base64&signature=AA%3D%3D",
             "invalid claims");
  // Signed by a key of its own under the server's key id.
  auto rogue = *CredentialIssuer::ephemeral(3600s, 1);
  expect_401(target(me, rogue->issue(me)), "credential refused");
  // Signed by the server's key, but expired (issued "two hours ago" for one hour).
  auto past = *CredentialIssuer::create(key, 3600s, [] { return unix_now() - 7200; });
  expect_401(target(me, past->issue(me)), "expired");
  // A valid credential of `me` presented as `other`.
  expect_401(target(other, good), "credential refused");
  // An unknown key id.
  auto unknown = good;
  unknown.key_id = 9;
  expect_401(target(me, unknown), "credential refused");

  EXPECT_EQ(s.server->stats().identity_refused, 10u);
  EXPECT_EQ(s.server->stats().registered, 0u);
  EXPECT_FALSE(s.server->is_registered(me));

  // The valid one is upgraded and registered before it sends anything.
  auto p = run_co(s.io, RawPeer::connect(s.port, 0, target(me, good)));
  EXPECT_TRUE(s.server->is_registered(me));
  auto pong = run_co(s.io, p.request(ping("p1", me, to_pb(good))));
  EXPECT_TRUE(pong.server_to_actr().has_pong());
}

TEST(SignalingUrlIdentity, OpenModeServesClientsWithoutIdentityButChecksOneThatIsPresented) {
  Server s;  // require_identity off
  const auto me = actor_id(0x61);
  EXPECT_EQ(run_co(s.io, upgrade(s.port, "/signaling")).status, 101u);
  auto rogue = *CredentialIssuer::ephemeral(3600s, s.server->issuer()->current_key().key_id());
  EXPECT_EQ(run_co(s.io, upgrade(s.port, target(me, rogue->issue(me)))).status, 401u);
  EXPECT_EQ(run_co(s.io, upgrade(s.port, target(me, s.server->issuer()->issue(me)))).status, 101u);
}

TEST(SignalingUrlIdentity, OurClientPutsItsCredentialInTheUrlAndIsServedByAServerThatRequiresIt) {
  Server s(requiring());
  const auto me = actor_id(0x71), peer = actor_id(0x72);
  SignalingClient none(s.io.get_executor(), fast_client());
  auto refused = run_co(s.io, none.connect(s.url()));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), NetworkError::AuthenticationError);

  SignalingClient c(s.io.get_executor(), fast_client());
  ASSERT_TRUE(c.use_identity(me, s.server->issuer()->issue(me)));
  ASSERT_TRUE(run_co(s.io, c.connect(s.url())));
  EXPECT_TRUE(s.server->is_registered(me));
  ASSERT_TRUE(run_co(s.io, c.register_actor(me, "ws://127.0.0.1:4000/")));
  EXPECT_FALSE(c.use_identity(peer, s.server->issuer()->issue(peer)));  // one actor per client

  SignalingClient d(s.io.get_executor(), fast_client());
  ASSERT_TRUE(d.use_identity(peer, s.server->issuer()->issue(peer)));
  ASSERT_TRUE(run_co(s.io, d.connect(s.url())));
  ASSERT_TRUE(run_co(s.io, d.register_actor(peer)));
  auto where = run_co(s.io, d.discover(me));
  ASSERT_TRUE(where) << where.error().message();
  EXPECT_EQ(where->ws_address, "ws://127.0.0.1:4000/");

  // A reconnect presents the (renewed) credential again: the server restarts on the same port.
  const auto seen = c.registrations();
  const auto port = s.port;
  run_co(s.io, s.server->close());
  auto again_cfg = requiring();
  again_cfg.issuer = s.server->issuer();  // same key: the credentials still verify
  s.server = std::make_unique<SignalingServer>(s.io.get_executor(), again_cfg);
  ASSERT_TRUE(s.server->listen("127.0.0.1", port));
  ASSERT_TRUE(run_co(s.io, c.wait_registered(seen, Clock::now() + 5s)));
  EXPECT_TRUE(s.server->is_registered(me));
  EXPECT_EQ(s.server->stats().identity_refused, 0u);
  run_co(s.io, d.close());
  run_co(s.io, c.close());
  run_co(s.io, none.close());
}

TEST(SignalingUrlIdentity, ARestartedHolderTakesItsIdBackAtOnceAndNobodyElseCanWhileItLives) {
  Server s;  // open mode: clients without identity may register free ids
  const auto holder = actor_id(0x81), bystander = actor_id(0x82);
  const auto cred = s.server->issuer()->issue(holder);
  auto old = run_co(s.io, RawPeer::connect(s.port, 0, target(holder, cred)));
  ASSERT_TRUE(s.server->is_registered(holder));

  // Without its credential nobody takes the id while the holder's connection lives...
  auto squatter = run_co(s.io, RawPeer::connect(s.port));
  auto r1 = run_co(s.io, squatter.register_as(holder, "sq-1"));
  EXPECT_EQ(r1.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::AlreadyRegistered));
  // ...not with a credential of its own either (the connection is bound to its URL identity)...
  auto other = run_co(s.io, RawPeer::connect(s.port, 0, target(bystander, s.server->issuer()->issue(bystander))));
  auto r2 = run_co(s.io, other.register_as(holder, "sq-2"));
  EXPECT_EQ(r2.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::AlreadyRegistered));
  // ...nor with the holder's id in the URL and the bystander's credential.
  EXPECT_EQ(run_co(s.io, upgrade(s.port, target(holder, s.server->issuer()->issue(bystander)))).status, 401u);
  auto still = run_co(s.io, old.request(ping("p1", holder, to_pb(cred))));
  EXPECT_TRUE(still.server_to_actr().has_pong());

  // The holder restarts (its old connection looks alive to the server): with its credential in
  // the URL it has the id back as soon as the upgrade completes; the old connection is told.
  auto fresh = run_co(s.io, RawPeer::connect(s.port, 0, target(holder, cred)));
  EXPECT_TRUE(s.server->is_registered(holder));
  auto told = run_co(s.io, old.read());
  EXPECT_EQ(told.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::NotRegistered));
  auto pong = run_co(s.io, fresh.request(ping("p2", holder, to_pb(cred))));
  EXPECT_TRUE(pong.server_to_actr().has_pong());
  // Its RegisterRequest on the new connection renews the credential and sets the address.
  auto reg = envelope("reg");
  fill(reg.mutable_peer_to_server()->mutable_register_request()->mutable_actr_id(), holder);
  reg.mutable_peer_to_server()->mutable_register_request()->set_ws_address("ws://127.0.0.1:4100/");
  auto ok = run_co(s.io, fresh.request(reg));
  EXPECT_TRUE(ok.server_to_actr().register_response().has_success());
}

TEST(SignalingUrlIdentity, ARelayFromAForgedSourceIsRefusedTypedAndAGenuineOneArrivesUnchanged) {
  Server s;
  const auto ida = actor_id(0x91), idb = actor_id(0x92), idc = actor_id(0x93);
  const auto ca = s.server->issuer()->issue(ida), cb = s.server->issuer()->issue(idb);
  auto a = run_co(s.io, RawPeer::connect(s.port, 0, target(ida, ca)));
  auto b = run_co(s.io, RawPeer::connect(s.port, 0, target(idb, cb)));
  auto c = run_co(s.io, RawPeer::connect(s.port));
  ASSERT_TRUE(run_co(s.io, c.register_as(idc)).server_to_actr().register_response().has_success());

  // a claims to be b, with b's own (valid) credential: not the actor of a's connection.
  auto r1 = run_co(s.io, a.request(relay("f1", idb, to_pb(cb), idc)));
  EXPECT_EQ(r1.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::SourceMismatch));
  EXPECT_EQ(r1.reply_for(), "f1");
  // a as itself with b's credential, and with a credential signed by another key.
  auto r2 = run_co(s.io, a.request(relay("f2", ida, to_pb(cb), idc)));
  EXPECT_EQ(r2.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::BadCredential));
  auto rogue = *CredentialIssuer::ephemeral(3600s, ca.key_id);
  auto r3 = run_co(s.io, a.request(relay("f3", ida, to_pb(rogue->issue(ida)), idc)));
  EXPECT_EQ(r3.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::BadCredential));
  // A client without URL identity forging a's source.
  auto r4 = run_co(s.io, c.request(relay("f4", ida, to_pb(ca), idb)));
  EXPECT_EQ(r4.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::SourceMismatch));

  // The genuine relay arrives as sent: the source's credential included (the target may check it).
  const auto sent = relay("g1", ida, to_pb(ca), idb);
  run_co(s.io, a.send(encoded(sent)));
  auto got = run_co(s.io, b.read());
  ASSERT_TRUE(got.has_actr_relay());
  EXPECT_EQ(got.actr_relay().SerializeAsString(), sent.actr_relay().SerializeAsString());
  EXPECT_FALSE(got.has_reply_for());
  EXPECT_TRUE(s.server->issuer()->key_ring()->verify(
      Credential{got.actr_relay().credential().key_id(),
                 Bytes(got.actr_relay().credential().claims().begin(), got.actr_relay().credential().claims().end()),
                 Bytes(got.actr_relay().credential().signature().begin(),
                       got.actr_relay().credential().signature().end())},
      ida));
}


// A demo found this: credentials are deterministic (Ed25519 over id and expiry in seconds), so a
// restarted node presenting its credential file can present exactly the bytes the server issued
// last, and was taken for the same process reconnecting — its peers kept a dead WebRTC connection.
// The client's actr_instance tells them apart: the same instance is a reconnect (peers not told),
// another one a restart (peers told at once).
TEST(SignalingUrlIdentity, ARestartIsToldByItsInstanceEvenWithTheLatestCredentialBytes) {
  Server s;
  const auto holder = actor_id(0xa1), peer = actor_id(0xa2);
  const auto cred = s.server->issuer()->issue(holder), pcred = s.server->issuer()->issue(peer);
  auto p = run_co(s.io, RawPeer::connect(s.port, 0, target(peer, pcred)));
  std::optional<RawPeer> h(run_co(s.io, RawPeer::connect(s.port, 0, target(holder, cred) + "&actr_instance=first")));
  // The peer negotiates a WebRTC role with the holder: the server remembers them as contacts.
  auto neg = envelope("neg");
  auto* r = neg.mutable_actr_relay();
  fill(r->mutable_source(), peer);
  *r->mutable_credential() = to_pb(pcred);
  fill(r->mutable_target(), holder);
  fill(r->mutable_role_negotiation()->mutable_from(), peer);
  fill(r->mutable_role_negotiation()->mutable_to(), holder);
  r->mutable_role_negotiation()->set_realm_id(peer.realm.realm_id);
  EXPECT_TRUE(run_co(s.io, p.request(neg)).actr_relay().has_role_assignment());
  EXPECT_TRUE(run_co(s.io, h->read()).actr_relay().has_role_assignment());

  // The holder's connection ends: the peer is told it left.
  h.reset();
  run_until(s.io, [&] { return !s.server->is_registered(holder); });
  auto left = run_co(s.io, p.read());
  ASSERT_TRUE(left.has_actr_relay());
  EXPECT_TRUE(left.actr_relay().has_peer_gone());

  // The same client object reconnects (same instance, same credential): not a restart. What the
  // peer reads next is the holder's own relay, not a PeerRestarted.
  h.emplace(run_co(s.io, RawPeer::connect(s.port, 0, target(holder, cred) + "&actr_instance=first")));
  ASSERT_TRUE(s.server->is_registered(holder));
  run_co(s.io, h->send(encoded(relay("ice", holder, to_pb(cred), peer))));
  auto next = run_co(s.io, p.read());
  ASSERT_TRUE(next.has_actr_relay());
  EXPECT_TRUE(next.actr_relay().has_ice_candidate());

  // A new process (another instance) with byte-for-byte the same credential: the peer is told.
  h.reset();
  run_until(s.io, [&] { return !s.server->is_registered(holder); });
  EXPECT_TRUE(run_co(s.io, p.read()).actr_relay().has_peer_gone());
  h.emplace(run_co(s.io, RawPeer::connect(s.port, 0, target(holder, cred) + "&actr_instance=second")));
  auto told = run_co(s.io, p.read());
  ASSERT_TRUE(told.has_actr_relay());
  EXPECT_TRUE(told.actr_relay().has_peer_restarted());
  EXPECT_EQ(told.actr_relay().source().serial_number(), holder.serial_number);

  // A malformed instance is refused before the upgrade like any other malformed identity.
  EXPECT_EQ(run_co(s.io, upgrade(s.port, target(holder, cred) + "&actr_instance=a%20b")).status, 401u);
}

}  // namespace
