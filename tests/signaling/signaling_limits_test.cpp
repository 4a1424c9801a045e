// The signaling listener's per-address limits (issue 11): a burst past the rate and connections
// past the open cap are refused before any upgrade, typed (HTTP 429 → ResourceExhausted), and
// the clients already connected notice nothing.
#include <actr/error.hpp>
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>

#include "core/test_util.hpp"
#include "signaling/fast_config.hpp"
#include "signaling/loopback_server.hpp"
#include "support/run_co.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;

namespace {
SignalingServerConfig limited(std::uint32_t burst, std::uint32_t max_open) {
  auto c = fast_server();
  c.ip_limits.limit_loopback = true;  // every test peer is on 127.0.0.1
  c.ip_limits.burst = burst;
  c.ip_limits.new_per_minute = 0.001;  // no refill during the test
  c.ip_limits.max_concurrent = max_open;
  return c;
}

std::shared_ptr<SignalingClient> client(LoopbackServer& s) {
  return std::make_shared<SignalingClient>(s.io.get_executor(), fast_client());
}
}  // namespace

TEST(SignalingLimits, ABurstPastTheRateIsRefusedTypedAndTheOthersCarryOn) {
  LoopbackServer s(limited(3, 100));
  std::vector<std::shared_ptr<SignalingClient>> ok;
  for (std::uint64_t i = 1; i <= 3; ++i) {
    ok.push_back(client(s));
    ASSERT_TRUE(run_co(s.io, ok.back()->connect(s.url())));
    ASSERT_TRUE(run_co(s.io, ok.back()->register_actor(actor_id(i))));
  }
  auto fourth = client(s);
  auto r = run_co(s.io, fourth->connect(s.url()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(NetworkError::ResourceExhausted)) << r.error().message();
  EXPECT_GE(s.server->stats().ip_refused, 1u);
  // The admitted clients are undisturbed: registered, and they still discover each other.
  EXPECT_EQ(s.server->stats().registered, 3u);
  auto where = run_co(s.io, ok[0]->discover(actor_id(3)));
  ASSERT_TRUE(where) << where.error().message();
  EXPECT_EQ(where->id, actor_id(3));
  run_co(s.io, fourth->close());
  for (auto& c : ok) run_co(s.io, c->close());
}

TEST(SignalingLimits, OpenConnectionsPerAddressAreCappedAndFreedWhenOneCloses) {
  LoopbackServer s(limited(1000, 2));
  auto a = client(s), b = client(s), c = client(s);
  ASSERT_TRUE(run_co(s.io, a->connect(s.url())));
  ASSERT_TRUE(run_co(s.io, b->connect(s.url())));
  run_until(s.io, [&] { return s.server->stats().connections == 2; });
  auto refused = run_co(s.io, c->connect(s.url()));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), make_error_code(NetworkError::ResourceExhausted));
  run_co(s.io, c->close());
  // One closes: its slot is free once the server has let go of the connection.
  run_co(s.io, a->close());
  run_until(s.io, [&] { return s.server->stats().connections == 1; });
  auto d = client(s);
  ASSERT_TRUE(run_co(s.io, d->connect(s.url())));
  run_co(s.io, d->close());
  run_co(s.io, b->close());
}
