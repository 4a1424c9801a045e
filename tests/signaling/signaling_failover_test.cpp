// Several signaling servers (issue 14): a client given a list of URLs connects to the first that
// answers, moves to the next when its server goes away and registers there as it would after any
// reconnect (same id, address and credential), and peers on the new server find it. Two
// independent in-process servers on one io_context thread; every wait is on an event with a
// deadline.
#include <actr/ais_client.hpp>
#include <actr/error.hpp>
#include <actr/identity.hpp>
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>

#include "core/test_util.hpp"
#include "signaling/fast_config.hpp"
#include "support/run_co.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <gtest/gtest.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

Deadline in(std::chrono::milliseconds d) { return Clock::now() + d; }

std::string url_of(std::uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/signal"; }

// A port nothing listens on: bound once to learn a free one, then released (connects are refused).
std::uint16_t dead_port(asio::io_context& io) {
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// Result<AisIdentity> has no default constructor, which run_co's future needs.
asio::awaitable<std::optional<Result<AisIdentity>>> boxed(asio::awaitable<Result<AisIdentity>> aw) {
  auto r = co_await std::move(aw);
  co_return std::optional<Result<AisIdentity>>(std::move(r));
}

// Two independent servers (no shared state unless the configs share an issuer) and the clients,
// all on one io_context.
struct TwoServers {
  asio::io_context io;  // first: destroyed last
  std::unique_ptr<SignalingServer> s1, s2;
  std::uint16_t port1 = 0, port2 = 0;
  std::vector<std::unique_ptr<SignalingClient>> clients;

  TwoServers(SignalingServerConfig c1 = fast_server(), std::optional<SignalingServerConfig> c2 = std::nullopt) {
    s1 = start(c1, 0);
    port1 = last_port;
    s2 = start(c2 ? *c2 : c1, 0);
    port2 = last_port;
  }
  ~TwoServers() {
    for (auto& c : clients) run_co(io, c->close());
    if (s1) run_co(io, s1->close());
    if (s2) run_co(io, s2->close());
  }
  std::unique_ptr<SignalingServer> start(const SignalingServerConfig& cfg, std::uint16_t port) {
    auto s = std::make_unique<SignalingServer>(io.get_executor(), cfg);
    auto p = s->listen("127.0.0.1", port);
    EXPECT_TRUE(p) << p.error().message();
    last_port = p ? *p : 0;
    return s;
  }
  void stop(std::unique_ptr<SignalingServer>& s) {
    run_co(io, s->close());
    s.reset();
  }
  SignalingClient& client(SignalingClientConfig cfg = fast_client()) {
    clients.push_back(std::make_unique<SignalingClient>(io.get_executor(), cfg));
    return *clients.back();
  }
  std::uint16_t last_port = 0;
};

TEST(SignalingFailover, SplitSignalUrlsTrimsAndSkipsEmptyItems) {
  EXPECT_EQ(split_signal_urls(" ws://a:1/ , ,ws://b:2/x,"), (std::vector<std::string>{"ws://a:1/", "ws://b:2/x"}));
  EXPECT_EQ(split_signal_urls("ws://a:1/"), (std::vector<std::string>{"ws://a:1/"}));
  EXPECT_TRUE(split_signal_urls(" , ").empty());
}

TEST(SignalingFailover, AMalformedUrlOrAnEmptyListIsRefusedBeforeAnyDial) {
  TwoServers net;
  auto& c = net.client();
  EXPECT_EQ(run_co(net.io, c.connect(std::vector<std::string>{})).error(), NetworkError::InvalidArgument);
  EXPECT_EQ(run_co(net.io, c.connect(std::vector<std::string>{url_of(net.port1), "http//nope"})).error(),
            NetworkError::InvalidArgument);
  EXPECT_EQ(net.s1->stats().connections, 0u);
  EXPECT_TRUE(c.current_url().empty());
}

// The server a client is registered on closes: the client registers on the next one, peers there
// find it (with its address) and can reach it; then round robin brings it back to the first.
TEST(SignalingFailover, MovesToTheNextServerWhenItsServerClosesAndBackWhenThatOneCloses) {
  TwoServers net;
  const auto a_id = actor_id(1), b_id = actor_id(2);
  auto& a = net.client();
  ASSERT_TRUE(run_co(net.io, a.connect(std::vector<std::string>{url_of(net.port1), url_of(net.port2)})));
  ASSERT_TRUE(run_co(net.io, a.register_actor(a_id, "ws://127.0.0.1:4101/")));
  EXPECT_EQ(a.current_url(), url_of(net.port1));
  EXPECT_TRUE(net.s1->is_registered(a_id));
  EXPECT_FALSE(net.s2->is_registered(a_id));
  auto& b = net.client();
  ASSERT_TRUE(run_co(net.io, b.connect(url_of(net.port2))));
  ASSERT_TRUE(run_co(net.io, b.register_actor(b_id)));
  EXPECT_EQ(run_co(net.io, b.discover(a_id)).error(), SignalingErrc::NotFound);

  const auto seen = a.registrations();
  net.stop(net.s1);
  ASSERT_TRUE(run_co(net.io, a.wait_registered(seen, in(10000ms))));
  EXPECT_TRUE(net.s2->is_registered(a_id));
  EXPECT_EQ(a.state(), SignalingState::Connected);
  EXPECT_EQ(a.current_url(), url_of(net.port2));
  EXPECT_EQ(a.server_switches(), 1u);

  // A peer on the second server finds it, with the address it registered, and reaches it.
  auto where = run_co(net.io, b.discover(a_id));
  ASSERT_TRUE(where) << where.error().message();
  EXPECT_EQ(where->ws_address, std::optional<std::string>("ws://127.0.0.1:4101/"));
  PeerSignal hello;
  hello.kind = PeerSignal::Kind::Offer;
  hello.sdp = "after the move";
  hello.sdp_exchange_id = "x-1";
  ASSERT_TRUE(run_co(net.io, b.send_signal(a_id, hello)));
  auto got = run_co(net.io, a.next_signal(in(5000ms)));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->from, b_id);
  EXPECT_EQ(got->signal.sdp, "after the move");

  // The first server comes back (same port) and the second goes: the client wraps around.
  net.s1 = net.start(fast_server(), net.port1);
  const auto seen2 = a.registrations();
  net.stop(net.s2);
  ASSERT_TRUE(run_co(net.io, a.wait_registered(seen2, in(10000ms))));
  EXPECT_TRUE(net.s1->is_registered(a_id));
  EXPECT_EQ(a.current_url(), url_of(net.port1));
  EXPECT_EQ(a.server_switches(), 2u);
}

// The first URL's port is dead from the start: connect lands on the second server, and a peer
// there finds the client.
TEST(SignalingFailover, FirstConnectSkipsADeadServer) {
  TwoServers net;
  const auto dead = dead_port(net.io);
  const auto a_id = actor_id(1), b_id = actor_id(2);
  auto& a = net.client();
  ASSERT_TRUE(run_co(net.io, a.connect(std::vector<std::string>{url_of(dead), url_of(net.port2)})));
  EXPECT_EQ(a.current_url(), url_of(net.port2));
  EXPECT_EQ(a.server_switches(), 0u);  // a first connect is no move
  ASSERT_TRUE(run_co(net.io, a.register_actor(a_id, "ws://127.0.0.1:4102/")));
  EXPECT_TRUE(net.s2->is_registered(a_id));
  EXPECT_FALSE(net.s1->is_registered(a_id));

  auto& b = net.client();
  ASSERT_TRUE(run_co(net.io, b.connect(url_of(net.port2))));
  ASSERT_TRUE(run_co(net.io, b.register_actor(b_id)));
  auto where = run_co(net.io, b.discover(a_id));
  ASSERT_TRUE(where) << where.error().message();
  EXPECT_EQ(where->ws_address, std::optional<std::string>("ws://127.0.0.1:4102/"));

  // Every URL dead: the error of the round, at once (refused), not a hang.
  auto& c = net.client();
  auto r = run_co(net.io, c.connect(std::vector<std::string>{url_of(dead), url_of(dead_port(net.io))}));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error(), NetworkError::TimeoutError) << r.error().message();
  EXPECT_TRUE(c.current_url().empty());
}

// Servers that require identity and share a signing key: the client moves with its identity (the
// credential it holds, in the URL); the second server registers it as that id and no other.
TEST(SignalingFailover, TheMoveKeepsTheIdentityWhereTheServersShareAnIssuer) {
  auto c1 = fast_server();
  c1.require_identity = true;
  c1.issuer = *CredentialIssuer::create(*SigningKey::generate(7), 3600s);
  TwoServers net(c1);  // the same config twice: one issuer
  ASSERT_EQ(net.s1->issuer(), net.s2->issuer());
  const auto me = actor_id(0x61), peer = actor_id(0x62);

  auto& a = net.client();
  ASSERT_TRUE(a.use_identity(me, net.s1->issuer()->issue(me)));
  ASSERT_TRUE(run_co(net.io, a.connect(std::vector<std::string>{url_of(net.port1), url_of(net.port2)})));
  ASSERT_TRUE(run_co(net.io, a.register_actor(me, "ws://127.0.0.1:4103/")));
  EXPECT_TRUE(net.s1->is_registered(me));
  const auto before = a.credential();
  ASSERT_TRUE(before);

  const auto seen = a.registrations();
  net.stop(net.s1);
  ASSERT_TRUE(run_co(net.io, a.wait_registered(seen, in(10000ms))));
  EXPECT_TRUE(net.s2->is_registered(me));
  EXPECT_EQ(net.s2->stats().identity_refused, 0u);  // the held credential was taken at once
  EXPECT_EQ(a.current_url(), url_of(net.port2));
  const auto after = a.credential();
  ASSERT_TRUE(after);
  // The credential it now holds is for the same id, under the key both servers share.
  auto claims = net.s2->issuer()->key_ring()->verify(*after, me, unix_now());
  ASSERT_TRUE(claims) << claims.error().message();

  auto& d = net.client();
  ASSERT_TRUE(d.use_identity(peer, net.s2->issuer()->issue(peer)));
  ASSERT_TRUE(run_co(net.io, d.connect(url_of(net.port2))));
  ASSERT_TRUE(run_co(net.io, d.register_actor(peer)));
  auto where = run_co(net.io, d.discover(me));
  ASSERT_TRUE(where) << where.error().message();
  EXPECT_EQ(where->ws_address, std::optional<std::string>("ws://127.0.0.1:4103/"));
}

// The AIS of a list: the first server that answers issues the identity.
TEST(SignalingFailover, AisRegistrationTriesTheNextServerWhenOneIsUnreachable) {
  auto cfg = fast_server();
  cfg.ais.open = true;
  TwoServers net(cfg);
  const auto dead = dead_port(net.io);
  const AisRegistration reg{actor_id(1).realm, ActrType{"acme", "echo", "1.0.0"}, std::nullopt, std::nullopt};
  const AisClientConfig quick{nullptr, 2000ms};
  auto got = *run_co(net.io, boxed(ais_register(url_of(dead) + "," + url_of(net.port2), reg, quick)));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(net.s1->stats().ais_issued, 0u);
  EXPECT_EQ(net.s2->stats().ais_issued, 1u);
  auto renewed = *run_co(net.io, boxed(ais_renew(url_of(dead) + "," + url_of(net.port2), *got, quick)));
  ASSERT_TRUE(renewed) << renewed.error().message();
  EXPECT_EQ(renewed->id, got->id);
  auto none = *run_co(net.io, boxed(ais_register(url_of(dead), reg, quick)));
  EXPECT_FALSE(none);
}

}  // namespace
