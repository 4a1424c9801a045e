// The signaling server and client over real TCP on 127.0.0.1 (port 0), one io_context thread.
// Waits are on events with deadlines (run_co / run_until / wait_* with deadlines), never sleeps.
#include <actr/error.hpp>
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>

#include "core/test_util.hpp"
#include "signaling/fast_config.hpp"
#include "signaling/raw_peer.hpp"
#include "support/run_co.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

Deadline in(std::chrono::milliseconds d) { return Clock::now() + d; }

struct Net {
  asio::io_context io;  // first: destroyed last
  std::unique_ptr<SignalingServer> server;
  std::uint16_t port = 0;
  std::vector<std::unique_ptr<SignalingClient>> clients;

  explicit Net(SignalingServerConfig cfg = fast_server()) { start(cfg); }
  ~Net() {
    for (auto& c : clients) run_co(io, c->close());
    if (server) run_co(io, server->close());
  }
  void start(SignalingServerConfig cfg = fast_server()) {
    server = std::make_unique<SignalingServer>(io.get_executor(), cfg);
    auto p = server->listen("127.0.0.1", port);
    ASSERT_TRUE(p) << p.error().message();
    port = *p;
  }
  void stop_server() {
    run_co(io, server->close());
    server.reset();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port) + "/signal"; }

  SignalingClient& client(const ActrId& id, std::optional<std::string> ws = std::nullopt,
                          SignalingClientConfig cfg = fast_client()) {
    clients.push_back(std::make_unique<SignalingClient>(io.get_executor(), cfg));
    auto& c = *clients.back();
    auto r = run_co(io, c.connect(url()));
    EXPECT_TRUE(r) << r.error().message();
    auto reg = run_co(io, c.register_actor(id, std::move(ws)));
    EXPECT_TRUE(reg) << reg.error().message();
    return c;
  }
};

PeerSignal offer(std::string sdp, std::string exchange) {
  PeerSignal s;
  s.kind = PeerSignal::Kind::Offer;
  s.sdp = std::move(sdp);
  s.sdp_exchange_id = exchange;
  return s;
}

PeerSignal candidate(std::string line, std::string ufrag) {
  PeerSignal s;
  s.kind = PeerSignal::Kind::IceCandidate;
  s.candidate = std::move(line);
  s.sdp_mid = "0";
  s.sdp_mline_index = 0;
  s.username_fragment = std::move(ufrag);
  return s;
}

// Runs `io` until it has no work left: nothing a closed or destroyed client or server owned may
// keep it busy (a leftover timer or task would show as a hang, caught by the bound).
void expect_runs_dry(asio::io_context& io) {
  io.restart();
  const auto t0 = Clock::now();
  io.run();
  EXPECT_LT(Clock::now() - t0, 2000ms);
}

}  // namespace

TEST(SignalingServer, RegisterAndDiscover) {
  Net net;
  auto& a = net.client(actor_id(1), "ws://127.0.0.1:4100/actor");
  auto& b = net.client(actor_id(2));
  EXPECT_TRUE(net.server->is_registered(actor_id(1)));
  EXPECT_EQ(net.server->stats().registered, 2u);
  EXPECT_EQ(a.state(), SignalingState::Connected);

  auto where = run_co(net.io, b.discover(actor_id(1)));
  ASSERT_TRUE(where) << where.error().message();
  EXPECT_EQ(where->id, actor_id(1));
  EXPECT_EQ(where->ws_address, std::optional<std::string>("ws://127.0.0.1:4100/actor"));

  auto no_ws = run_co(net.io, a.discover(actor_id(2)));
  ASSERT_TRUE(no_ws);
  EXPECT_FALSE(no_ws->ws_address);

  auto missing = run_co(net.io, a.discover(actor_id(3)));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), SignalingErrc::NotFound);
  EXPECT_EQ(missing.error(), NetworkCondition::Permanent);

  // Unregistering removes the actor from discovery.
  ASSERT_TRUE(run_co(net.io, a.unregister()));
  run_until(net.io, [&] { return !net.server->is_registered(actor_id(1)); });
  auto gone = run_co(net.io, b.discover(actor_id(1)));
  EXPECT_EQ(gone.error(), SignalingErrc::NotFound);
}

TEST(SignalingServer, RoleNegotiationGivesExactlyOneOffererAndTellsBothSides) {
  Net net;
  auto& a = net.client(actor_id(5));
  auto& b = net.client(actor_id(9));

  auto a_offers = run_co(net.io, a.negotiate_role(actor_id(9)));
  ASSERT_TRUE(a_offers) << a_offers.error().message();
  EXPECT_FALSE(*a_offers);  // actrix's rule: the greater (realm, serial, manufacturer, name) offers
  auto told = run_co(net.io, b.next_role_assignment(in(2000ms)));
  ASSERT_TRUE(told);
  EXPECT_EQ(told->peer, actor_id(5));  // source/target swapped: the peer is the other party
  EXPECT_TRUE(told->is_offerer);

  // The other direction gives the same pair the same answer.
  auto b_offers = run_co(net.io, b.negotiate_role(actor_id(5)));
  ASSERT_TRUE(b_offers);
  EXPECT_TRUE(*b_offers);
  auto told_a = run_co(net.io, a.next_role_assignment(in(2000ms)));
  ASSERT_TRUE(told_a);
  EXPECT_EQ(told_a->peer, actor_id(9));
  EXPECT_FALSE(told_a->is_offerer);

  // Equal serial numbers: a deterministic tie-break, still exactly one offerer.
  auto& c = net.client(actor_id(7, "alpha"));
  auto& d = net.client(actor_id(7, "beta"));
  auto c_offers = run_co(net.io, c.negotiate_role(actor_id(7, "beta")));
  auto d_told = run_co(net.io, d.next_role_assignment(in(2000ms)));
  ASSERT_TRUE(c_offers);
  ASSERT_TRUE(d_told);
  EXPECT_NE(*c_offers, d_told->is_offerer);
  EXPECT_FALSE(*c_offers);  // "alpha" < "beta": beta offers
}

TEST(SignalingRelay, SdpIceAndIceRestartRequestArriveIntact) {
  Net net;
  auto& a = net.client(actor_id(1));
  auto& b = net.client(actor_id(2));
  auto a_from_b = a.open_inbox(actor_id(2));

  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(2), offer("v=0 offer", "x-42"))));
  auto got = run_co(net.io, b.next_signal(in(2000ms)));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->from, actor_id(1));
  EXPECT_EQ(got->signal.kind, PeerSignal::Kind::Offer);
  EXPECT_EQ(got->signal.sdp, "v=0 offer");
  EXPECT_EQ(got->signal.sdp_exchange_id, "x-42");

  PeerSignal answer = offer("v=0 answer", "x-42");
  answer.kind = PeerSignal::Kind::Answer;
  ASSERT_TRUE(run_co(net.io, b.send_signal(actor_id(1), answer)));
  auto ans = run_co(net.io, a_from_b->pop(in(2000ms)));  // b has its own inbox at a
  ASSERT_TRUE(ans);
  EXPECT_EQ(ans->signal.kind, PeerSignal::Kind::Answer);
  EXPECT_EQ(ans->signal.sdp_exchange_id, "x-42");

  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(2), candidate("candidate:1 1 UDP 1 127.0.0.1 5000 typ host", "uf1"))));
  auto cand = run_co(net.io, b.next_signal(in(2000ms)));
  ASSERT_TRUE(cand);
  EXPECT_EQ(cand->signal.kind, PeerSignal::Kind::IceCandidate);
  EXPECT_EQ(cand->signal.candidate, "candidate:1 1 UDP 1 127.0.0.1 5000 typ host");
  EXPECT_EQ(cand->signal.username_fragment, std::optional<std::string>("uf1"));
  EXPECT_EQ(cand->signal.sdp_mid, std::optional<std::string>("0"));
  EXPECT_EQ(cand->signal.sdp_mline_index, std::optional<std::uint32_t>(0));

  PeerSignal restart_req;
  restart_req.kind = PeerSignal::Kind::IceRestartRequest;
  restart_req.reason = "network changed";
  ASSERT_TRUE(run_co(net.io, b.send_signal(actor_id(1), restart_req)));
  auto req = run_co(net.io, a_from_b->pop(in(2000ms)));
  ASSERT_TRUE(req);
  EXPECT_EQ(req->signal.kind, PeerSignal::Kind::IceRestartRequest);
  EXPECT_EQ(req->signal.reason, "network changed");

  PeerSignal restart = offer("v=0 restart", "x-43");
  restart.kind = PeerSignal::Kind::IceRestartOffer;
  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(2), restart)));
  auto ro = run_co(net.io, b.next_signal(in(2000ms)));
  ASSERT_TRUE(ro);
  EXPECT_EQ(ro->signal.kind, PeerSignal::Kind::IceRestartOffer);
  EXPECT_EQ(ro->signal.sdp_exchange_id, "x-43");
  EXPECT_EQ(net.server->stats().relayed, 5u);
}

TEST(SignalingServer, UnknownTargetAndUnregisteredSenderGetTypedErrors) {
  Net net;
  auto& a = net.client(actor_id(1));
  auto& b = net.client(actor_id(2));

  // Through the client: relays are refused asynchronously, requests directly.
  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(99), offer("x", "x-1"))));
  auto err = run_co(net.io, a.next_error(in(2000ms)));
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, SignalingErrc::UnknownTarget);
  EXPECT_FALSE(err->reply_for.empty());
  auto role = run_co(net.io, a.negotiate_role(actor_id(99)));
  ASSERT_FALSE(role);
  EXPECT_EQ(role.error(), SignalingErrc::UnknownTarget);

  // A client that never registered cannot relay or discover.
  SignalingClient lone(net.io.get_executor(), fast_client());
  ASSERT_TRUE(run_co(net.io, lone.connect(net.url())));
  EXPECT_EQ(run_co(net.io, lone.send_signal(actor_id(1), offer("x", "x-1"))).error(), NetworkError::InvalidOperation);
  EXPECT_EQ(run_co(net.io, lone.discover(actor_id(1))).error(), SignalingErrc::NotRegistered);
  run_co(net.io, lone.close());

  // By hand: what our client never sends.
  auto raw = run_co(net.io, RawPeer::connect(net.port));
  auto relay = envelope("raw-1");
  fill(relay.mutable_actr_relay()->mutable_source(), actor_id(1));  // claims to be a
  relay.mutable_actr_relay()->mutable_credential()->set_key_id(1);
  relay.mutable_actr_relay()->mutable_credential()->set_claims("guess");
  relay.mutable_actr_relay()->mutable_credential()->set_signature(std::string(64, 'x'));
  fill(relay.mutable_actr_relay()->mutable_target(), actor_id(2));
  relay.mutable_actr_relay()->mutable_ice_restart_request();
  auto e1 = run_co(net.io, raw.request(relay));
  EXPECT_EQ(e1.reply_for(), "raw-1");
  EXPECT_EQ(e1.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::NotRegistered));

  auto reg = run_co(net.io, raw.register_as(actor_id(3)));
  ASSERT_TRUE(reg.server_to_actr().register_response().has_success());
  relay.set_envelope_id("raw-2");  // registered as 3, still claims to be 1
  auto e2 = run_co(net.io, raw.request(relay));
  EXPECT_EQ(e2.reply_for(), "raw-2");
  EXPECT_EQ(e2.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::SourceMismatch));

  fill(relay.mutable_actr_relay()->mutable_source(), actor_id(3));  // right source, wrong credential
  relay.set_envelope_id("raw-3");
  auto e3 = run_co(net.io, raw.request(relay));
  EXPECT_EQ(e3.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::BadCredential));

  // The same id from another connection without its credential is refused; a keeps it.
  auto thief = run_co(net.io, RawPeer::connect(net.port));
  auto stolen = run_co(net.io, thief.register_as(actor_id(1), "thief-1"));
  EXPECT_EQ(stolen.reply_for(), "thief-1");
  EXPECT_EQ(stolen.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::AlreadyRegistered));

  // Nobody else noticed: a and b still relay.
  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(2), offer("still fine", "x-7"))));
  auto got = run_co(net.io, b.next_signal(in(2000ms)));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->signal.sdp, "still fine");
}

TEST(SignalingServer, SameClientTakesItsIdOverWithItsCredential) {
  Net net;
  auto old_conn = run_co(net.io, RawPeer::connect(net.port));
  ASSERT_TRUE(run_co(net.io, old_conn.register_as(actor_id(1))).server_to_actr().register_response().has_success());

  // A new connection of the same client (it has the credential) wins over the old one, which
  // the server still thinks is open (half-open after a network change).
  auto fresh = run_co(net.io, RawPeer::connect(net.port));
  auto e = envelope("again");
  auto* req = e.mutable_peer_to_server()->mutable_register_request();
  fill(req->mutable_actr_id(), actor_id(1));
  *req->mutable_previous_credential() = old_conn.credential;
  auto reply = run_co(net.io, fresh.request(e));
  ASSERT_TRUE(reply.server_to_actr().register_response().has_success());
  const auto& renewed = reply.server_to_actr().register_response().success().credential();
  const Credential cred{renewed.key_id(), Bytes(renewed.claims().begin(), renewed.claims().end()),
                        Bytes(renewed.signature().begin(), renewed.signature().end())};
  EXPECT_TRUE(net.server->issuer()->key_ring()->verify(cred, actor_id(1)));  // a credential per registration

  auto pushed = run_co(net.io, old_conn.read());  // the old connection is told, then closed
  EXPECT_EQ(pushed.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::NotRegistered));
  EXPECT_FALSE(pushed.has_reply_for());
  beast::flat_buffer buf;
  auto [ec, n] = run_co(net.io, old_conn.ws->async_read(buf, sig_use_ec));
  EXPECT_TRUE(ec);
  EXPECT_TRUE(net.server->is_registered(actor_id(1)));
  auto& b = net.client(actor_id(2));
  EXPECT_TRUE(run_co(net.io, b.discover(actor_id(1))));
}

TEST(SignalingServer, MalformedBytesAndTextFramesGetTypedErrorsAndKeepTheConnection) {
  Net net;
  auto& a = net.client(actor_id(1));
  auto& b = net.client(actor_id(2));
  auto raw = run_co(net.io, RawPeer::connect(net.port));

  run_co(net.io, raw.send(Bytes{0xff, 0x01, 0x02, 0x03}));  // not protobuf
  auto e1 = run_co(net.io, raw.read());
  EXPECT_EQ(e1.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::Malformed));
  EXPECT_FALSE(e1.has_reply_for());  // no id could be read

  run_co(net.io, raw.send(bytes("hello"), /*binary=*/false));
  auto e2 = run_co(net.io, raw.read());
  EXPECT_EQ(e2.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::Malformed));

  auto old = envelope("v1-env", /*version=*/1);
  old.mutable_peer_to_server()->mutable_register_request();
  fill(old.mutable_peer_to_server()->mutable_register_request()->mutable_actr_id(), actor_id(3));
  auto e3 = run_co(net.io, raw.request(old));
  EXPECT_EQ(e3.reply_for(), "v1-env");
  EXPECT_EQ(e3.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::UnsupportedVersion));

  auto no_flow = envelope("no-flow");
  auto e4 = run_co(net.io, raw.request(no_flow));
  EXPECT_EQ(e4.reply_for(), "no-flow");
  EXPECT_EQ(e4.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::Malformed));

  auto incomplete = envelope("half");  // register request without its required actr_id
  incomplete.mutable_peer_to_server()->mutable_register_request();
  auto e5 = run_co(net.io, raw.request(incomplete));
  EXPECT_EQ(e5.reply_for(), "half");
  EXPECT_EQ(e5.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::Malformed));

  // The connection survived all of it and can still register.
  auto reg = run_co(net.io, raw.register_as(actor_id(3), "late"));
  EXPECT_EQ(reg.reply_for(), "late");
  EXPECT_TRUE(reg.server_to_actr().register_response().has_success());

  // An oversized frame ends only the connection that sent it.
  auto big = run_co(net.io, RawPeer::connect(net.port));
  run_co(net.io, big.send(Bytes(70 * 1024, 0x0a)));
  beast::flat_buffer buf;
  auto [rec, n] = run_co(net.io, big.ws->async_read(buf, sig_use_ec));
  EXPECT_TRUE(rec);
  run_until(net.io, [&] { return net.server->stats().connections == 3; });

  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(2), offer("unaffected", "x-1"))));
  auto got = run_co(net.io, b.next_signal(in(2000ms)));
  ASSERT_TRUE(got);
  EXPECT_GE(net.server->stats().errors_sent, 5u);
}

TEST(SignalingServer, SlowClientIsDroppedNotTheServer) {
  auto cfg = fast_server();
  cfg.client_queue_limit = 8;
  cfg.keepalive_interval = 60000ms;  // only the full queue may end `slow`, however slow this run is
  Net net(cfg);
  auto& a = net.client(actor_id(1));
  auto& b = net.client(actor_id(2));
  auto slow = run_co(net.io, RawPeer::connect(net.port, /*rcvbuf=*/4096));
  auto reg = run_co(net.io, slow.register_as(actor_id(3)));
  ASSERT_TRUE(reg.server_to_actr().register_response().has_success());

  // `slow` never reads again. Flood it until the server gives up on it.
  const PeerSignal big = offer(std::string(32 * 1024, 'x'), "x-1");
  auto flood = [&]() -> asio::awaitable<int> {
    int sent = 0;
    while (net.server->stats().slow_dropped == 0 && net.server->is_registered(actor_id(3)) && sent < 20000) {
      auto r = co_await a.send_signal(actor_id(3), big);
      if (r) ++sent;
      // Paced by the server: a request's answer comes after everything a sent before it, so a
      // never has more than a few relays queued when the server gives up on `slow`.
      if (sent % 8 == 0) (void)co_await a.discover(actor_id(2));
    }
    co_return sent;
  };
  const int sent = run_co(net.io, flood(), 60000ms);
  EXPECT_EQ(net.server->stats().slow_dropped, 1u) << "after " << sent << " relays";
  run_until(net.io, [&] { return !net.server->is_registered(actor_id(3)); });

  // The server and everyone else carry on.
  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(2), offer("after the drop", "x-2"))));
  auto got = run_co(net.io, b.next_signal(in(10000ms)));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->signal.sdp, "after the drop");
  auto where = run_co(net.io, b.discover(actor_id(1)));
  EXPECT_TRUE(where);
}

TEST(SignalingServer, RegistrationExpiresWithoutHeartbeatAndHeartbeatsKeepIt) {
  auto cfg = fast_server();
  cfg.registration_ttl = 600ms;
  cfg.heartbeat_interval = 50ms;
  Net net(cfg);
  auto& a = net.client(actor_id(1));  // heartbeats every 50 ms (the server's suggestion)
  auto raw = run_co(net.io, RawPeer::connect(net.port));
  ASSERT_TRUE(run_co(net.io, raw.register_as(actor_id(2))).server_to_actr().register_response().has_success());

  // The silent one is told it expired.
  auto pushed = run_co(net.io, raw.read());
  EXPECT_EQ(pushed.envelope_error().code(), static_cast<std::uint32_t>(SignalingErrc::NotRegistered));
  EXPECT_FALSE(net.server->is_registered(actor_id(2)));
  EXPECT_EQ(run_co(net.io, a.discover(actor_id(2))).error(), SignalingErrc::NotFound);

  // The heartbeating one lives on across several TTLs.
  const auto pongs = a.pongs();
  run_until(net.io, [&] { return a.pongs() >= pongs + 40; });  // 40 × 50 ms > 3 × TTL
  EXPECT_TRUE(net.server->is_registered(actor_id(1)));
  EXPECT_EQ(net.server->stats().expired, 1u);
}

TEST(SignalingServer, ADepartureAndANewProcessAreAnnouncedToItsPeersAndAReRegistrationIsNot) {
  auto cfg = fast_server();
  cfg.registration_ttl = 600ms;
  Net net(cfg);
  auto quiet = fast_client();
  quiet.heartbeat_interval = 10000ms;  // lets its registration expire, so it registers again
  auto busy = fast_client();
  busy.heartbeat_interval = 100ms;
  auto& a = net.client(actor_id(5), std::nullopt, quiet);
  auto& b = net.client(actor_id(9), std::nullopt, busy);
  auto& c = net.client(actor_id(12), std::nullopt, busy);
  ASSERT_TRUE(run_co(net.io, a.negotiate_role(actor_id(9))));  // a and b are peers; c is not
  ASSERT_TRUE(run_co(net.io, b.next_role_assignment(in(2000ms))));

  // The same process registering again (after expiry, with its credential) is not a restart: the
  // next thing b hears from a is a's own signal.
  const auto seen = a.registrations();
  ASSERT_TRUE(run_co(net.io, a.wait_registered(seen, in(5000ms))));
  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(9), offer("same process", "x-1"))));
  auto first = run_co(net.io, b.next_signal(in(5000ms)));
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->signal.kind, PeerSignal::Kind::Offer);
  EXPECT_EQ(first->signal.sdp, "same process");

  // a leaves (its connection ends): b, a's peer, is told at once that a is gone.
  run_co(net.io, a.close());
  run_until(net.io, [&] { return !net.server->is_registered(actor_id(5)); });
  auto left = run_co(net.io, b.next_signal(in(5000ms)));
  ASSERT_TRUE(left) << left.error().message();
  EXPECT_EQ(left->from, actor_id(5));
  EXPECT_EQ(left->signal.kind, PeerSignal::Kind::PeerGone);
  // A new process under a's id (no credential): b is told it restarted; c, no peer of a's, hears
  // neither.
  auto& a2 = net.client(actor_id(5), std::nullopt, busy);
  auto told = run_co(net.io, b.next_signal(in(5000ms)));
  ASSERT_TRUE(told) << told.error().message();
  EXPECT_EQ(told->from, actor_id(5));
  EXPECT_EQ(told->signal.kind, PeerSignal::Kind::PeerRestarted);
  ASSERT_TRUE(run_co(net.io, a2.send_signal(actor_id(12), offer("to c", "x-2"))));
  auto c_first = run_co(net.io, c.next_signal(in(5000ms)));
  ASSERT_TRUE(c_first);
  EXPECT_EQ(c_first->signal.sdp, "to c");  // nothing about a's departure or restart came before it

  // Only the server may say either: a client cannot relay one.
  PeerSignal forged;
  forged.kind = PeerSignal::Kind::PeerRestarted;
  EXPECT_FALSE(run_co(net.io, a2.send_signal(actor_id(9), forged)));
  forged.kind = PeerSignal::Kind::PeerGone;
  EXPECT_FALSE(run_co(net.io, a2.send_signal(actor_id(9), forged)));
}

TEST(SignalingClient, ReRegistersWhenTheServerExpiredIt) {
  auto cfg = fast_server();
  cfg.registration_ttl = 200ms;
  cfg.heartbeat_interval = 10000ms;  // suggests a cadence far slower than the TTL
  Net net(cfg);
  auto ccfg = fast_client();
  ccfg.heartbeat_interval = 10000ms;
  auto& a = net.client(actor_id(1), std::nullopt, ccfg);
  const auto seen = a.registrations();
  // Expired by silence -> the server pushes NOT_REGISTERED -> the client registers again.
  ASSERT_TRUE(run_co(net.io, a.wait_registered(seen, in(5000ms))));
  EXPECT_GE(net.server->stats().expired, 1u);
  run_until(net.io, [&] { return net.server->is_registered(actor_id(1)); });
}

TEST(SignalingClient, ReconnectsAndReRegistersAfterServerRestart) {
  Net net;
  auto& a = net.client(actor_id(1), "ws://127.0.0.1:4101/");
  auto& b = net.client(actor_id(2));
  const auto seen_a = a.registrations();
  const auto seen_b = b.registrations();

  net.stop_server();
  run_until(net.io, [&] { return a.state() == SignalingState::Reconnecting; });
  EXPECT_EQ(run_co(net.io, a.send_signal(actor_id(2), offer("x", "x-1"))).error(), NetworkCondition::ClosedLike);

  net.start();  // same port
  ASSERT_TRUE(run_co(net.io, a.wait_registered(seen_a, in(10000ms))));
  ASSERT_TRUE(run_co(net.io, b.wait_registered(seen_b, in(10000ms))));
  EXPECT_EQ(a.state(), SignalingState::Connected);
  EXPECT_TRUE(net.server->is_registered(actor_id(1)));

  // The new server knows everything again: discovery (with the address) and relay work.
  auto where = run_co(net.io, b.discover(actor_id(1)));
  ASSERT_TRUE(where);
  EXPECT_EQ(where->ws_address, std::optional<std::string>("ws://127.0.0.1:4101/"));
  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(2), offer("after restart", "x-3"))));
  auto got = run_co(net.io, b.next_signal(in(5000ms)));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->signal.sdp, "after restart");
}

TEST(SignalingClient, PendingRequestFailsPromptlyWhenTheServerDies) {
  asio::io_context io;
  BlackHole hole(io);
  asio::co_spawn(io, hole.serve(), [](std::exception_ptr e) { EXPECT_FALSE(e); });
  auto cfg = fast_client();
  cfg.request_timeout = 20000ms;  // far beyond the run_co limit: only a prompt failure passes
  cfg.reconnect = false;
  SignalingClient c(io.get_executor(), cfg);
  ASSERT_TRUE(run_co(io, c.connect("ws://127.0.0.1:" + std::to_string(hole.port()) + "/")));

  std::optional<Result<void>> outcome;
  Deadline finished{};
  asio::co_spawn(io, c.register_actor(actor_id(1)), [&](std::exception_ptr e, Result<void> r) {
    EXPECT_FALSE(e);
    outcome = r;
    finished = Clock::now();
  });
  run_until(io, [&] { return hole.received >= 1; });  // the request is pending at the server
  const auto killed = Clock::now();
  hole.kill();
  run_until(io, [&] { return outcome.has_value(); }, 5000ms);
  ASSERT_FALSE(*outcome);
  EXPECT_EQ(outcome->error(), NetworkCondition::ClosedLike) << outcome->error().message();
  EXPECT_LT(finished - killed, 2000ms);
  run_until(io, [&] { return c.state() == SignalingState::Disconnected; });
  run_co(io, c.close());
}

TEST(SignalingClient, CloseIsIdempotentAndLeavesNothingRunning) {
  asio::io_context io;
  {
    SignalingServer server(io.get_executor(), fast_server());
    auto port = server.listen("127.0.0.1", 0);
    ASSERT_TRUE(port);
    SignalingClient c(io.get_executor(), fast_client());
    ASSERT_TRUE(run_co(io, c.connect("ws://127.0.0.1:" + std::to_string(*port) + "/")));
    ASSERT_TRUE(run_co(io, c.register_actor(actor_id(1))));
    run_co(io, c.close());
    run_co(io, c.close());
    EXPECT_EQ(c.state(), SignalingState::Closed);
    EXPECT_EQ(run_co(io, c.next_signal(in(1000ms))).error(), NetworkError::ChannelClosed);
    EXPECT_EQ(run_co(io, c.register_actor(actor_id(1))).error(), NetworkError::ShuttingDown);
    run_co(io, server.close());
    run_co(io, server.close());
  }
  // Nothing owned by the client or the server is left: the context runs dry on its own.
  expect_runs_dry(io);
}

// Seen by a new user: an address with CR/LF was accepted and handed out by discovery, to be put
// into every dialing peer's HTTP request.
TEST(SignalingServer, AWsAddressThatIsNotADialableUrlIsRefused) {
  Net net;
  for (const std::string bad : {"ws://127.0.0.1:4100/a\r\nX-Evil: 1", "ws://127.0.0.1:4100/a b", "ws://:4100/",
                                "ws://127.0.0.1:99999/", "ws://127.0.0.1:x/", "http://127.0.0.1:4100/",
                                "ws://h\x01st:4100/", "ws://h\xc3\xa9:4100/"}) {
    SignalingClient c(net.io.get_executor(), fast_client());
    ASSERT_TRUE(run_co(net.io, c.connect(net.url())));
    auto reg = run_co(net.io, c.register_actor(actor_id(7), bad));
    ASSERT_FALSE(reg) << bad;
    EXPECT_EQ(reg.error(), SignalingErrc::InvalidArgument) << bad;
    run_co(net.io, c.close());
  }
  EXPECT_FALSE(net.server->is_registered(actor_id(7)));
  auto& good = net.client(actor_id(7), "wss://[::1]:4100/actor");  // a good one still registers
  EXPECT_EQ(good.state(), SignalingState::Connected);
}

TEST(SignalingClient, DestroyedWhileReconnectingLeavesNothingRunning) {
  asio::io_context io;
  {
    auto server = std::make_unique<SignalingServer>(io.get_executor(), fast_server());
    auto port = server->listen("127.0.0.1", 0);
    ASSERT_TRUE(port);
    SignalingClient c(io.get_executor(), fast_client());
    ASSERT_TRUE(run_co(io, c.connect("ws://127.0.0.1:" + std::to_string(*port) + "/")));
    ASSERT_TRUE(run_co(io, c.register_actor(actor_id(1))));
    run_co(io, server->close());
    server.reset();
    run_until(io, [&] { return c.state() == SignalingState::Reconnecting; });
  }  // the client is destroyed mid-backoff
  expect_runs_dry(io);
}

TEST(SignalingClient, ConnectFailsTypedAndBounded) {
  asio::io_context io;
  SignalingClient c(io.get_executor(), fast_client());
  auto bad = run_co(io, c.connect("http://127.0.0.1:1/"));
  EXPECT_EQ(bad.error(), NetworkError::InvalidArgument);
  // A port nobody listens on (bind one, close it).
  std::uint16_t dead_port = 0;
  {
    asio::ip::tcp::acceptor acc(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    dead_port = acc.local_endpoint().port();
  }
  auto refused = run_co(io, c.connect("ws://127.0.0.1:" + std::to_string(dead_port) + "/"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), NetworkCondition::Transient);
  EXPECT_EQ(c.state(), SignalingState::Disconnected);
  run_co(io, c.close());
}
