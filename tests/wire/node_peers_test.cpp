// One owner per peer (issue 9): a node answers on the connection that carried the request, serves
// every live connection of one ActrId, and loses nothing when a peer reconnects. The peers here
// are raw WebSocket connections that never re-send (as an actr caller does not), so a misrouted
// answer is a failed test, not a slow one.
#include <actr/error.hpp>
#include <actr/node.hpp>

#include "core/test_util.hpp"
#include "support/run_co.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <map>
#include <mutex>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// Answers received on one connection, by request id.
struct Inbox {
  std::mutex mu;
  std::map<std::string, std::string> answers;
  std::vector<std::string> tells;
  std::size_t tell_count() {
    std::lock_guard lk(mu);
    return tells.size();
  }
  std::size_t count() {
    std::lock_guard lk(mu);
    return answers.size();
  }
  std::optional<std::string> get(const std::string& id) {
    std::lock_guard lk(mu);
    auto it = answers.find(id);
    if (it == answers.end()) return std::nullopt;
    return it->second;
  }
};

// One raw connection to the node as actor `self`: sends requests, records the answers it gets.
struct RawConn {
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
  std::shared_ptr<WireHandle> wire;
};

Bytes request(const std::string& id, const std::string& payload, const char* route = "echo") {
  pb::RpcEnvelope env;
  env.set_route_key(route);
  env.set_request_id(id);
  env.set_direction(pb::DIRECTION_REQUEST);
  env.set_timeout_ms(5000);
  env.set_payload(payload);
  Bytes raw(env.ByteSizeLong());
  env.SerializeToArray(raw.data(), static_cast<int>(raw.size()));
  return raw;
}

// Runs `io` until `pred` holds or `limit` passes (then false: the test fails, it does not hang).
template <class Pred>
bool wait_for(asio::io_context& io, Pred pred, std::chrono::milliseconds limit = 5000ms) {
  return run_until_or(io, pred, limit);
}

// A deliberate gap in the scenario (not a wait for something to happen).
void pause(asio::io_context& io, std::chrono::milliseconds gap) {
  if (gap.count() == 0) return;
  run_co(io, [](std::chrono::milliseconds d) -> asio::awaitable<void> {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
  }(gap));
}

struct Server {
  asio::io_context io;
  std::unique_ptr<Node> node;
  std::string url;
  std::atomic<int> handled{0};

  explicit Server(std::size_t dedup_max_bytes = 64u << 20) {
    NodeConfig c;
    c.id = actor_id(2, "echo");
    c.wires.ws.keepalive_interval = 1000ms;
    c.dedup_max_bytes = dedup_max_bytes;
    node = std::make_unique<Node>(io.get_executor(), c);
    // Echo, tagged with the caller's id and a run counter: a cached answer is recognisable.
    node->on_request([this](ActrId from, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
      const int n = ++handled;
      auto out = req.payload() + "|" + from.to_string() + "|" + std::to_string(n);
      if (req.route_key() == "big") out.resize(4096, 'x');
      co_return Bytes(out.begin(), out.end());
    });
    auto port = node->start();
    EXPECT_TRUE(port);
    url = "ws://127.0.0.1:" + std::to_string(*port) + "/";
  }
  ~Server() { run_co(io, node->stop()); }

  RawConn connect(const ActrId& as) {
    RawConn c;
    auto inbox = c.inbox;
    FrameHandler h = [inbox](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType,
                             ConstBytes payload) -> asio::awaitable<Result<void>> {
      pb::RpcEnvelope env;
      if (env.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        std::lock_guard lk(inbox->mu);
        if (env.direction() == pb::DIRECTION_RESPONSE) inbox->answers[env.request_id()] = env.payload();
        if (env.direction() == pb::DIRECTION_TELL) inbox->tells.push_back(env.payload());
      }
      co_return ok();
    };
    WebSocketConfig wc;
    wc.keepalive_interval = 1000ms;
    c.wire = make_websocket_client(io.get_executor(), url, as, node->id(), wc, h);
    auto r = run_co(io, c.wire->connect());
    EXPECT_TRUE(r) << r.error().message();
    return c;
  }

  void send(RawConn& c, const Bytes& raw, PayloadType pt = PayloadType::RpcReliable) {
    auto lane = c.wire->get_lane(pt);
    ASSERT_TRUE(lane);
    auto r = run_co(io, (*lane)->send(raw));
    ASSERT_TRUE(r) << r.error().message();
  }
};

const ActrId kCaller = actor_id(7, "caller");

}  // namespace

// A peer that closes its connection and opens a new one with the same id gets the answer to its
// first request on the new connection, whatever the gap between close and reopen.
class ReconnectGap : public ::testing::TestWithParam<int> {};

TEST_P(ReconnectGap, FirstCallOnTheNewConnectionIsAnswered) {
  Server s;
  auto first = s.connect(kCaller);
  s.send(first, request("r1", "a"));
  ASSERT_TRUE(wait_for(s.io, [&] { return first.inbox->count() == 1; }));
  if (GetParam() == 0) {  // reopen at once, while the close is still under way (as npm ws does)
    asio::co_spawn(s.io, first.wire->close(), asio::detached);
  } else {
    run_co(s.io, first.wire->close());
    pause(s.io, std::chrono::milliseconds(GetParam()));
  }
  auto second = s.connect(kCaller);
  s.send(second, request("r2", "b"));
  EXPECT_TRUE(wait_for(s.io, [&] { return second.inbox->get("r2").has_value(); }))
      << "the answer to the new connection's first request never came back on it";
}

INSTANTIATE_TEST_SUITE_P(Node, ReconnectGap, ::testing::Values(0, 10, 500));

// Two live connections with one id: each gets the answers to its own requests, and the second
// keeps being served after the first closes.
TEST(NodePeers, TwoLiveConnectionsOfOneIdEachGetTheirOwnAnswers) {
  Server s;
  auto one = s.connect(kCaller);
  auto two = s.connect(kCaller);
  for (int i = 0; i < 5; ++i) {
    s.send(one, request("one-" + std::to_string(i), "1"));
    s.send(two, request("two-" + std::to_string(i), "2"));
  }
  ASSERT_TRUE(wait_for(s.io, [&] { return one.inbox->count() == 5 && two.inbox->count() == 5; }))
      << "one got " << one.inbox->count() << ", two got " << two.inbox->count();
  EXPECT_FALSE(one.inbox->get("two-0"));
  EXPECT_FALSE(two.inbox->get("one-0"));

  run_co(s.io, one.wire->close());
  for (int i = 5; i < 10; ++i) s.send(two, request("two-" + std::to_string(i), "2"));
  EXPECT_TRUE(wait_for(s.io, [&] { return two.inbox->count() == 10; }))
      << "after the first connection closed, the second got " << two.inbox->count() - 5 << " of 5";
}

// The node's own traffic to a peer goes on the newest connection; when that one closes, the route
// moves at once to an older live one (never "no route" while a connection is up).
TEST(NodePeers, NodeTrafficUsesTheNewestConnectionAndMovesWhenItCloses) {
  Server s;
  s.node->set_peer_address(kCaller, "ws://127.0.0.1:1/");  // a dial would fail: none may happen
  auto one = s.connect(kCaller);
  auto two = s.connect(kCaller);
  s.send(two, request("sync", "x"));  // both adopted once the later one has been served
  ASSERT_TRUE(wait_for(s.io, [&] { return two.inbox->count() == 1; }));
  ASSERT_TRUE(run_co(s.io, s.node->tell(kCaller, "note", bytes("to-newest"))));
  ASSERT_TRUE(wait_for(s.io, [&] { return two.inbox->tell_count() == 1; }));
  EXPECT_EQ(one.inbox->tell_count(), 0u);

  run_co(s.io, two.wire->close());
  auto t = run_co(s.io, s.node->tell(kCaller, "note", bytes("to-older")));
  EXPECT_TRUE(t) << t.error().message();
  EXPECT_TRUE(wait_for(s.io, [&] { return one.inbox->tell_count() == 1; }));
  s.send(one, request("still", "y"));
  EXPECT_TRUE(wait_for(s.io, [&] { return one.inbox->get("still").has_value(); }));
  EXPECT_EQ(s.node->manager().dials_started(), 0u);
}

// 20 connections × 100 requests with one id: every answer arrives on the socket that asked.
TEST(NodePeers, TwentyConnectionsOfOneIdNeverCrossAnswers) {
  Server s;
  constexpr int kConns = 20, kCalls = 100;
  std::vector<RawConn> conns;
  for (int c = 0; c < kConns; ++c) conns.push_back(s.connect(kCaller));
  for (int i = 0; i < kCalls; ++i)
    for (int c = 0; c < kConns; ++c) s.send(conns[c], request(std::to_string(c) + "-" + std::to_string(i), "p"));
  ASSERT_TRUE(wait_for(
      s.io,
      [&] {
        for (auto& c : conns)
          if (c.inbox->count() < kCalls) return false;
        return true;
      },
      20000ms));
  for (int c = 0; c < kConns; ++c) {
    std::lock_guard lk(conns[c].inbox->mu);
    EXPECT_EQ(conns[c].inbox->answers.size(), static_cast<std::size_t>(kCalls));
    for (auto& [id, payload] : conns[c].inbox->answers)
      EXPECT_EQ(id.substr(0, id.find('-')), std::to_string(c)) << "connection " << c << " got " << id;
  }
  EXPECT_EQ(s.handled.load(), kConns * kCalls);
}

// A well-framed message whose protobuf does not decode is dropped and counted; the connection
// that carried it keeps serving (reference §6.5).
TEST(NodePeers, UndecodableMessageIsDroppedAndTheConnectionKeepsServing) {
  Server s;
  auto c = s.connect(kCaller);
  s.send(c, Bytes{0xff, 0xff, 0xff, 0x01});
  s.send(c, Bytes{0x0a, 0xff}, PayloadType::StreamReliable);
  s.send(c, request("after", "still here"));
  ASSERT_TRUE(wait_for(s.io, [&] { return c.inbox->get("after").has_value(); }));
  EXPECT_TRUE(c.wire->is_connected());
  EXPECT_EQ(s.node->stats().malformed, 2u);
}

// Dedup is per (peer, request_id): another peer reusing a request id gets its own answer, never
// the first peer's cached one.
TEST(NodePeers, DedupNeverHandsOnePeersAnswerToAnother) {
  Server s;
  auto a = s.connect(actor_id(7, "alice"));
  auto b = s.connect(actor_id(8, "bob"));
  s.send(a, request("same", "for-alice"));
  ASSERT_TRUE(wait_for(s.io, [&] { return a.inbox->count() == 1; }));
  s.send(b, request("same", "for-bob"));
  ASSERT_TRUE(wait_for(s.io, [&] { return b.inbox->count() == 1; }));
  EXPECT_EQ(s.handled.load(), 2);
  EXPECT_EQ(b.inbox->get("same")->rfind("for-bob|", 0), 0u) << *b.inbox->get("same");
  // A genuine retry from alice is still answered from the cache (same answer, no second run).
  auto again = s.connect(actor_id(7, "alice"));
  s.send(again, request("same", "for-alice"));
  ASSERT_TRUE(wait_for(s.io, [&] { return again.inbox->count() == 1; }));
  EXPECT_EQ(*again.inbox->get("same"), *a.inbox->get("same"));
  EXPECT_EQ(s.handled.load(), 2);
}

// The dedup cache is bounded in bytes: past the cap the oldest answers leave first.
TEST(NodePeers, DedupCacheStaysWithinItsByteCap) {
  Server s(/*dedup_max_bytes=*/16 * 1024);  // room for three 4 KiB answers, not ten
  auto c = s.connect(kCaller);
  for (int i = 0; i < 10; ++i) s.send(c, request("big-" + std::to_string(i), "x", "big"));
  ASSERT_TRUE(wait_for(s.io, [&] { return c.inbox->count() == 10; }));
  EXPECT_EQ(s.handled.load(), 10);
  // The newest is still cached (a retry is not run again); the oldest was evicted (it is).
  s.send(c, request("big-9", "x", "big"));
  s.send(c, request("big-0", "x", "big"));
  ASSERT_TRUE(wait_for(s.io, [&] { return s.node->stats().duplicates + s.node->stats().requests == 12; }));
  EXPECT_EQ(s.node->stats().duplicates, 1u);
  EXPECT_EQ(s.handled.load(), 11);
}

// A Node caller that does not re-send (resend_after 0), restarted with the same id, is answered
// at once by a peer that still knew its previous process.
TEST(NodePeers, RestartedCallerWithoutResendIsAnswered) {
  Server s;
  for (int round = 0; round < 3; ++round) {
    NodeConfig c;
    c.id = kCaller;
    c.listen = false;
    c.resend_after = 0ms;
    c.retry_sends = false;
    Node caller(s.io.get_executor(), c);
    ASSERT_TRUE(caller.start());
    caller.set_peer_address(s.node->id(), s.url);
    auto r = run_co(s.io, caller.call(s.node->id(), "echo", bytes("hi"), 3000ms));
    EXPECT_TRUE(r) << "round " << round << ": " << r.error().message();
    run_co(s.io, caller.stop());
  }
}
