// Fault suite, case 2: a partition. Node A reaches node B only through a TCP relay the test owns
// (tests/support/tcp_relay.hpp); the relay stops forwarding and keeps every socket open, so
// neither side gets a FIN or a RST — a half-open connection. Asserted: both sides declare the
// connection dead within 2 keepalive intervals (+ slack for a loaded machine); calls made during
// the partition fail with a typed error by their deadline; once the relay forwards again, calls
// succeed over a new connection.
#include "support/run_co.hpp"
#include "support/tcp_relay.hpp"

#include <actr/node.hpp>

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <optional>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

constexpr auto kKeepalive = 500ms;
// Timer and scheduling latitude on 2 shared cores under the sanitizers.
constexpr auto kSlack = 400ms;

/// When the first wire of `dest` on `node` was reported gone after `since` (Closed, Failed or
/// Disconnected), and why.
struct DeathWatch {
  DeathWatch(Node& node, asio::any_io_executor ex, Dest dest)
      : sub(node.manager().events().subscribe(ex, [this, dest](const ConnectionEvent& e) {
          if (armed && !at && e.dest == dest &&
              (e.state == ConnectionState::Closed || e.state == ConnectionState::Failed ||
               e.state == ConnectionState::Disconnected)) {
            at = Clock::now();
            why = e.error;
          }
        })) {}
  bool armed = false;
  std::optional<Clock::time_point> at;
  Error why;
  EventBus::Subscription sub;
};

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }
long long ms(Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

}  // namespace

TEST(FaultPartition, HalfOpenIsDetectedWithinTwoKeepalivesCallsFailTypedByTheirDeadlineAndTrafficResumes) {
  asio::io_context io;
  const ActrId a_id = ActrId::parse("1@101/acme:a:1.0.0").value();
  const ActrId b_id = ActrId::parse("2@101/acme:b:1.0.0").value();

  NodeConfig bc;
  bc.id = b_id;
  bc.wires.ws.keepalive_interval = kKeepalive;
  Node b(io.get_executor(), bc);
  b.on_request([](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
    co_return Bytes(req.payload().begin(), req.payload().end());
  });
  auto b_port = b.start();
  ASSERT_TRUE(b_port);
  TcpRelay relay(io.get_executor(), {asio::ip::make_address("127.0.0.1"), *b_port});

  NodeConfig ac;
  ac.id = a_id;
  ac.listen = false;
  ac.wires.address_book[b_id] = "ws://127.0.0.1:" + std::to_string(relay.port());
  ac.wires.ws.keepalive_interval = kKeepalive;
  ac.wires.ws.connect_timeout = 5000ms;  // a dial into the partition is stuck in its upgrade
  Node a(io.get_executor(), ac);
  ASSERT_TRUE(a.start());
  DeathWatch a_saw(a, io.get_executor(), Dest::actor(b_id));
  DeathWatch b_saw(b, io.get_executor(), Dest::actor(a_id));

  // 1. Through the relay.
  auto first = run_co(io, a.call(b_id, "echo", text("before"), 5000ms));
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(relay.accepted(), 1u);

  // 2. The partition: nothing passes, nothing is closed.
  relay.set_forwarding(false);
  const auto cut = Clock::now();
  a_saw.armed = b_saw.armed = true;
  constexpr auto kCallTimeout = 1500ms;
  auto during = run_co(io, a.call(b_id, "echo", text("during"), kCallTimeout), 10000ms);
  const auto during_took = Clock::now() - cut;
  ASSERT_FALSE(during);
  EXPECT_EQ(during.error().category(), network_error_category()) << during.error().message();
  EXPECT_LE(during_took, kCallTimeout + kSlack) << "the call outlived its deadline";
  run_until(io, [&] { return a_saw.at && b_saw.at; }, 10000ms);
  const auto a_detect = *a_saw.at - cut, b_detect = *b_saw.at - cut;
  EXPECT_LE(a_detect, 2 * kKeepalive + kSlack) << "A declared the half-open connection dead late";
  EXPECT_LE(b_detect, 2 * kKeepalive + kSlack) << "B declared the half-open connection dead late";
  // A new dial goes into the partition too: it connects to the relay and its upgrade waits.
  const auto t1 = Clock::now();
  auto redial = run_co(io, a.call(b_id, "echo", text("redial"), kCallTimeout), 10000ms);
  const auto redial_took = Clock::now() - t1;
  ASSERT_FALSE(redial);
  EXPECT_EQ(redial.error().category(), network_error_category()) << redial.error().message();
  EXPECT_LE(redial_took, kCallTimeout + kSlack);

  // 3. Healed: calls succeed again, over a connection made after the partition.
  relay.set_forwarding(true);
  const auto healed = Clock::now();
  int attempts = 0;
  Result<Bytes> after = make_error_code(NetworkError::TimeoutError);
  while (!after && Clock::now() - healed < 15s) {
    ++attempts;
    after = run_co(io, a.call(b_id, "echo", text("after"), kCallTimeout), 10000ms);
  }
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_EQ(*after, text("after"));
  EXPECT_GT(relay.accepted(), 1u) << "traffic resumed without a new connection";
  const auto resumed = Clock::now() - healed;

  std::printf("partition (keepalive %lld ms): A detected after %lld ms (%s), B after %lld ms (%s); "
              "call during: %s after %lld ms; redial: %s after %lld ms; resumed after %lld ms, %d call(s), "
              "%llu connections through the relay\n",
              static_cast<long long>(kKeepalive.count()), ms(a_detect), error_name(a_saw.why).c_str(), ms(b_detect),
              error_name(b_saw.why).c_str(), error_name(during.error()).c_str(), ms(during_took),
              error_name(redial.error()).c_str(), ms(redial_took), ms(resumed), attempts,
              static_cast<unsigned long long>(relay.accepted()));
  relay.close();
  run_co(io, a.stop());
  run_co(io, b.stop());
}
