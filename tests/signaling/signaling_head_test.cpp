// actr HEAD's signaling queries and role rule through our client: discovery by type
// (RouteCandidates with the address map), GetSigningKey, and actrix's offerer rule (the greater
// id offers unless exactly one side asked `webrtc_role=answer`). Loopback, one io_context thread;
// every wait has a deadline.
#include <actr/error.hpp>
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>

#include "core/test_util.hpp"
#include "signaling/fast_config.hpp"
#include "signaling/loopback_server.hpp"
#include "support/run_co.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <utility>
#include <vector>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;

namespace {

struct Clients {
  explicit Clients(LoopbackServer& srv) : s(srv) {}
  LoopbackServer& s;
  std::vector<std::unique_ptr<SignalingClient>> all;
  ~Clients() {
    for (auto& c : all) run_co(s.io, c->close());
  }
  SignalingClient& add(const ActrId& id, std::optional<std::string> ws = std::nullopt, bool answer = false) {
    auto cfg = fast_client();
    cfg.webrtc_answer = answer;
    all.push_back(std::make_unique<SignalingClient>(s.io.get_executor(), cfg));
    auto& c = *all.back();
    EXPECT_TRUE(run_co(s.io, c.connect(s.url())));
    EXPECT_TRUE(run_co(s.io, c.register_actor(id, std::move(ws))));
    return c;
  }
};

ActrId typed(std::uint64_t serial, std::string mfr, std::string name) {
  ActrId id = actor_id(serial);
  id.type.manufacturer = std::move(mfr);
  id.type.name = std::move(name);
  return id;
}

TEST(SignalingHead, RouteCandidatesFindActorsByTypeWithTheirAddresses) {
  LoopbackServer s;
  Clients cs{s};
  const auto asker = typed(1, "npm", "caller"), b = typed(7, "acme", "echo"), c = typed(3, "acme", "echo"),
             other = typed(4, "acme", "other");
  auto& a = cs.add(asker);
  cs.add(b, "ws://127.0.0.1:4700/");
  cs.add(c);
  cs.add(other, "ws://127.0.0.1:4800/");
  auto all = run_co(s.io, a.route_candidates(ActrType{"acme", "echo", ""}, 8));
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, c);  // id order
  EXPECT_FALSE((*all)[0].ws_address);
  EXPECT_EQ((*all)[1].id, b);
  EXPECT_EQ((*all)[1].ws_address, "ws://127.0.0.1:4700/");
  auto one = run_co(s.io, a.route_candidates(ActrType{"acme", "echo", b.type.version}, 1));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->size(), 1u);
  auto none = run_co(s.io, a.route_candidates(ActrType{"acme", "echo", "no-such-version"}, 8));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

// run_co needs a default-constructible result; Result<VerifyingKey> is not.
boost::asio::awaitable<std::pair<std::optional<VerifyingKey>, Error>> key_of(SignalingClient& c, std::uint32_t id) {
  auto r = co_await c.signing_key(id);
  if (!r) co_return std::pair<std::optional<VerifyingKey>, Error>{std::nullopt, r.error()};
  co_return std::pair<std::optional<VerifyingKey>, Error>{*r, Error{}};
}

TEST(SignalingHead, GetSigningKeyReturnsTheServersKeyAndNotFoundForOthers) {
  LoopbackServer s;
  Clients cs{s};
  auto& a = cs.add(actor_id(1));
  const auto current = s.server->issuer()->current_key();
  auto [key, err] = run_co(s.io, key_of(a, current.key_id()));
  ASSERT_TRUE(key) << err.message();
  EXPECT_EQ(*key, current);
  auto [missing, why] = run_co(s.io, key_of(a, current.key_id() + 100));
  EXPECT_FALSE(missing);
  EXPECT_EQ(why, SignalingErrc::NotFound);
  EXPECT_TRUE(s.server->is_registered(actor_id(1)));  // a refused query disturbs nothing
}

TEST(SignalingHead, TheGreaterIdOffersUnlessExactlyOneSideAskedToAnswer) {
  LoopbackServer s;
  Clients cs{s};
  auto& low = cs.add(actor_id(10));
  cs.add(actor_id(20));
  auto& high_answers = cs.add(actor_id(50), std::nullopt, true);
  auto& low_answers = cs.add(actor_id(30), std::nullopt, true);

  auto r1 = run_co(s.io, low.negotiate_role(actor_id(20)));  // neither asked: 20 > 10 offers
  ASSERT_TRUE(r1);
  EXPECT_FALSE(*r1);
  auto r2 = run_co(s.io, high_answers.negotiate_role(actor_id(10)));  // 50 asked to answer: 10 offers
  ASSERT_TRUE(r2);
  EXPECT_FALSE(*r2);
  auto r3 = run_co(s.io, high_answers.negotiate_role(actor_id(30)));  // both asked: the greater offers
  ASSERT_TRUE(r3);
  EXPECT_TRUE(*r3);
  auto r4 = run_co(s.io, low_answers.negotiate_role(actor_id(50)));  // same pair, same answer
  ASSERT_TRUE(r4);
  EXPECT_FALSE(*r4);
}

}  // namespace
