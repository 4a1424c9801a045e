// Several signaling servers on one engine (`SignalingServerConfig::cluster`): two servers on a
// redis-server this test starts on 127.0.0.1, their clients on one io_context thread. Waits are
// on events or conditions with deadlines, never sleeps.
#include <actr/error.hpp>
#include <actr/identity.hpp>
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>

#include "core/test_util.hpp"
#include "signaling/fast_config.hpp"
#include "support/redis_server.hpp"
#include "support/run_co.hpp"
#include "support/tcp_relay.hpp"

#include <gtest/gtest.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

Deadline in(std::chrono::milliseconds d) { return Clock::now() + d; }

// Two servers sharing one engine and one signing key (each verifies the other's credentials).
struct Cluster {
  asio::io_context io;  // first: destroyed last
  RedisServer redis;
  std::shared_ptr<CredentialIssuer> issuer = *CredentialIssuer::ephemeral(std::chrono::seconds{3600});
  std::unique_ptr<SignalingServer> s1, s2;
  std::uint16_t port1 = 0, port2 = 0;
  std::vector<std::unique_ptr<SignalingClient>> clients;

  // `keepalive1`: how soon server 1 notices a client that went silent (2 intervals).
  explicit Cluster(std::chrono::milliseconds keepalive1 = 1000ms) {
    if (!redis.start()) {
      ADD_FAILURE() << redis.error();
      return;
    }
    s1 = start(port1, keepalive1);
    s2 = start(port2);
    // Both subscribed and connected before a test relies on them.
    run_until(io, [&] { return s1->stats().cluster_up && s2->stats().cluster_up; });
  }
  ~Cluster() {
    for (auto& c : clients) run_co(io, c->close());
    if (s1) run_co(io, s1->close());
    if (s2) run_co(io, s2->close());
  }
  std::unique_ptr<SignalingServer> start(std::uint16_t& port, std::chrono::milliseconds keepalive = 1000ms) {
    auto cfg = fast_server();
    cfg.keepalive_interval = keepalive;
    cfg.issuer = issuer;
    cfg.cluster = redis.url();
    cfg.cluster_ttl = 900ms;  // refreshed every 300 ms
    auto s = std::make_unique<SignalingServer>(io.get_executor(), cfg);
    auto p = s->listen("127.0.0.1", port);
    EXPECT_TRUE(p) << p.error().message();
    port = p ? *p : 0;
    return s;
  }
  static std::string url(std::uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/signal"; }

  SignalingClient& connect(std::uint16_t port, SignalingClientConfig cfg = fast_client()) {
    clients.push_back(std::make_unique<SignalingClient>(io.get_executor(), cfg));
    auto& c = *clients.back();
    auto r = run_co(io, c.connect(url(port)));
    EXPECT_TRUE(r) << r.error().message();
    return c;
  }
  SignalingClient& client(std::uint16_t port, const ActrId& id, std::optional<std::string> ws = std::nullopt) {
    auto& c = connect(port);
    auto reg = run_co(io, c.register_actor(id, std::move(ws)));
    EXPECT_TRUE(reg) << reg.error().message();
    return c;
  }
};

PeerSignal candidate(std::string line) {
  PeerSignal s;
  s.kind = PeerSignal::Kind::IceCandidate;
  s.candidate = std::move(line);
  s.sdp_mid = "0";
  s.sdp_mline_index = 0;
  return s;
}

}  // namespace

TEST(SignalingCluster, AnActorOnOneServerFindsNegotiatesWithAndSignalsAnActorOnTheOther) {
  Cluster net;
  auto& a = net.client(net.port1, actor_id(5), "ws://127.0.0.1:4100/a");
  auto& b = net.client(net.port2, actor_id(9));
  EXPECT_TRUE(net.s1->is_registered(actor_id(5)));
  EXPECT_FALSE(net.s2->is_registered(actor_id(5)));  // its connection is to server 1 only

  // Discovery through server 2 sees server 1's actor, with its address.
  auto where = run_co(net.io, b.discover(actor_id(5)));
  ASSERT_TRUE(where) << where.error().message();
  EXPECT_EQ(where->ws_address, std::optional<std::string>("ws://127.0.0.1:4100/a"));
  auto found = run_co(net.io, b.route_candidates(actor_id(5).type, 10));
  ASSERT_TRUE(found) << found.error().message();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(found->front().id, actor_id(5));
  auto missing = run_co(net.io, a.discover(actor_id(77)));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), SignalingErrc::NotFound);

  // The role is decided once for the pair and both sides hear it (the same rule as on one server).
  auto a_offers = run_co(net.io, a.negotiate_role(actor_id(9)));
  ASSERT_TRUE(a_offers) << a_offers.error().message();
  EXPECT_FALSE(*a_offers);
  auto told = run_co(net.io, b.next_role_assignment(in(3000ms)));
  ASSERT_TRUE(told) << told.error().message();
  EXPECT_EQ(told->peer, actor_id(5));
  EXPECT_TRUE(told->is_offerer);

  // Relays both ways.
  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(9), candidate("from a"))));
  auto at_b = run_co(net.io, b.next_signal(in(3000ms)));
  ASSERT_TRUE(at_b) << at_b.error().message();
  EXPECT_EQ(at_b->from, actor_id(5));
  EXPECT_EQ(at_b->signal.candidate, "from a");
  ASSERT_TRUE(run_co(net.io, b.send_signal(actor_id(5), candidate("from b"))));
  auto at_a = run_co(net.io, a.next_signal(in(3000ms)));
  ASSERT_TRUE(at_a) << at_a.error().message();
  EXPECT_EQ(at_a->signal.candidate, "from b");
  EXPECT_GE(net.s1->stats().cluster_published, 2u);  // the negotiation and a's relay
  EXPECT_GE(net.s2->stats().cluster_received, 2u);

  // a relay to nobody is still refused, typed, whichever server would have held it.
  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(77), candidate("to nobody"))));
  auto refused = run_co(net.io, a.next_error(in(3000ms)));
  ASSERT_TRUE(refused) << refused.error().message();
  EXPECT_EQ(refused->code, SignalingErrc::UnknownTarget);
}

TEST(SignalingCluster, AnIdHeldThroughOneServerCannotBeTakenThroughTheOther) {
  Cluster net;
  auto& a = net.client(net.port1, actor_id(5));
  auto& thief = net.connect(net.port2);
  auto taken = run_co(net.io, thief.register_actor(actor_id(5)));
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error(), SignalingErrc::AlreadyRegistered);
  EXPECT_FALSE(net.s2->is_registered(actor_id(5)));
  EXPECT_EQ(net.s2->stats().cluster_refused, 1u);

  // Once its holder leaves, the id is free on every server.
  ASSERT_TRUE(run_co(net.io, a.unregister()));
  run_until(net.io, [&] { return !net.s1->is_registered(actor_id(5)); });
  bool registered = false;
  run_until(net.io, [&] {  // the engine's release follows the unregistration by one round trip
    if (!registered) registered = bool(run_co(net.io, thief.register_actor(actor_id(5))));
    return registered;
  });
  EXPECT_TRUE(net.s2->is_registered(actor_id(5)));
}

TEST(SignalingCluster, TheEngineRestartedEmptyIsRefilledWithoutAManualStep) {
  Cluster net;
  auto& a = net.client(net.port1, actor_id(5), "ws://127.0.0.1:4100/a");
  auto& b = net.client(net.port2, actor_id(9));
  ASSERT_TRUE(run_co(net.io, b.discover(actor_id(5))));

  net.redis.kill();  // everything it held is gone
  ASSERT_TRUE(net.redis.start()) << net.redis.error();
  // Each server reconnects by itself and writes its registrations back.
  run_until(net.io, [&] { return net.s1->stats().cluster_connects >= 2 && net.s2->stats().cluster_connects >= 2; });
  run_until(net.io, [&] { return bool(run_co(net.io, b.discover(actor_id(5)))); });
  auto where = run_co(net.io, b.discover(actor_id(5)));
  ASSERT_TRUE(where);
  EXPECT_EQ(where->ws_address, std::optional<std::string>("ws://127.0.0.1:4100/a"));
  // Relays flow again (the subscribers subscribed anew).
  bool arrived = false;
  run_until(net.io, [&] {
    (void)run_co(net.io, a.send_signal(actor_id(9), candidate("after the restart")));
    auto got = run_co(net.io, b.next_signal(in(200ms)));
    arrived = got && got->signal.candidate == "after the restart";
    return arrived;
  });
  EXPECT_TRUE(net.s1->is_registered(actor_id(5)));
  EXPECT_TRUE(net.s2->is_registered(actor_id(9)));
}

TEST(SignalingCluster, ARelayStormBetweenServersLosesNothingAndKeepsPerPairOrder) {
  Cluster net;
  auto& a = net.client(net.port1, actor_id(5));
  auto& b = net.client(net.port2, actor_id(9));
  auto& c = net.client(net.port1, actor_id(12));
  auto b_from_c = b.open_inbox(actor_id(12));
  constexpr int kRounds = 20, kBurst = 100;  // bursts below every queue's bound
  int next_ab = 0, next_cb = 0, next_ba = 0;
  std::string broke;  // the first loss or reordering seen
  // One coroutine for the whole storm (run_co per step would pace it at run_co's 10 ms slices).
  auto storm = [&]() -> asio::awaitable<void> {
    for (int round = 0; round < kRounds; ++round) {
      for (int i = 0; i < kBurst; ++i) {
        const auto n = std::to_string(round * kBurst + i);
        auto r1 = co_await a.send_signal(actor_id(9), candidate("a" + n));
        auto r2 = co_await c.send_signal(actor_id(9), candidate("c" + n));
        auto r3 = co_await b.send_signal(actor_id(5), candidate("b" + n));
        if (!r1 || !r2 || !r3) {
          broke = "send failed at " + n;
          co_return;
        }
      }
      for (int i = 0; i < kBurst; ++i) {
        auto ab = co_await b.next_signal(in(5000ms));
        auto cb = co_await b_from_c->pop(in(5000ms));
        auto ba = co_await a.next_signal(in(5000ms));
        if (!ab || ab->signal.candidate != "a" + std::to_string(next_ab++) || !cb ||
            cb->signal.candidate != "c" + std::to_string(next_cb++) || !ba ||
            ba->signal.candidate != "b" + std::to_string(next_ba++)) {
          broke = "lost or out of order near " + std::to_string(next_ab - 1);
          co_return;
        }
      }
    }
  };
  run_co(net.io, storm(), 120s);
  EXPECT_EQ(broke, "");
  EXPECT_EQ(next_ab, kRounds * kBurst);
  EXPECT_EQ(next_cb, kRounds * kBurst);
  EXPECT_EQ(next_ba, kRounds * kBurst);
  EXPECT_EQ(net.s1->stats().slow_dropped + net.s2->stats().slow_dropped, 0u);
}

// A client whose link to server 1 went half-open moves to server 2 (its keepalive notices first)
// and takes its id over there. Server 1, which has not noticed anything, is told by the engine and
// drops its registration silently: the client's peers hear nothing (they would close their WebRTC
// wires to a live peer), and server 1's own end of the dead link says nothing when it ends.
TEST(SignalingCluster, AClientThatMovedBeforeItsOldServerNoticedIsNotAnnouncedGone) {
  Cluster net(3000ms);  // server 1 would notice a silent client after ~6 s; the client does after ~2 s
  TcpRelay relay(net.io.get_executor(), asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), net.port1));
  net.clients.push_back(std::make_unique<SignalingClient>(net.io.get_executor(), fast_client()));
  auto& a = *net.clients.back();
  ASSERT_TRUE(run_co(net.io, a.connect(std::vector<std::string>{Cluster::url(relay.port()), Cluster::url(net.port2)})));
  ASSERT_TRUE(run_co(net.io, a.register_actor(actor_id(5))));
  auto& b = net.client(net.port2, actor_id(9));
  ASSERT_TRUE(run_co(net.io, a.negotiate_role(actor_id(9))));  // a and b are contacts
  ASSERT_TRUE(run_co(net.io, b.next_role_assignment(in(3000ms))));
  ASSERT_TRUE(net.s1->is_registered(actor_id(5)));

  relay.set_forwarding(false);  // half-open: no FIN, no RST
  run_until(net.io, [&] { return a.server_switches() == 1 && a.state() == SignalingState::Connected; });
  EXPECT_TRUE(net.s2->is_registered(actor_id(5)));
  run_until(net.io, [&] { return net.s1->stats().connections == 0; });  // server 1 let it go
  ASSERT_TRUE(run_co(net.io, a.send_signal(actor_id(9), candidate("still here"))));
  auto next = run_co(net.io, b.next_signal(in(3000ms)));
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_EQ(next->signal.kind, PeerSignal::Kind::IceCandidate) << "b was told something about a first";
  EXPECT_EQ(next->signal.candidate, "still here");
  // Server 1's word, had it said one, takes two engine round trips (milliseconds): none in 1 s.
  auto after = run_co(net.io, b.next_signal(in(1000ms)));
  EXPECT_FALSE(after) << "b was told " << static_cast<int>(after->signal.kind) << " about a";
  relay.close();
}
