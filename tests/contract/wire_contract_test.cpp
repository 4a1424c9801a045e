// The wire contract (include/actr/wire.hpp), written once and run against every wire: WebSocket
// (client wire + WebSocketServer), WebRTC (WebRtcWire offerer + answerer in one process) and the
// in-memory wire of the tests. Each wire comes as a WirePairUnderTest (wire_pair.hpp): the wire
// under test plus the other end it talks to, all on 127.0.0.1 and one single-threaded io_context.
// No sleeps: every wait is run_until/run_co on an event, with a deadline.
#include "contract/wire_pair.hpp"
#include "support/run_co.hpp"

#include <actr/error.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <ostream>

namespace actr::testing::contract {

void PrintTo(const WireFactory& f, std::ostream* os) { *os << f.name; }

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr PayloadType kAllTypes[] = {PayloadType::RpcReliable, PayloadType::RpcSignal, PayloadType::StreamReliable,
                                     PayloadType::StreamLatencyFirst, PayloadType::MediaRtp};

// Message `i` of lane `pt`: a distinct, checkable payload. Sizes cycle through empty, tiny,
// MTU-ish and one that WebRTC has to fragment.
Bytes message(PayloadType pt, std::size_t i) {
  static constexpr std::size_t kSizes[] = {0, 1, 100, 1500, 70000};
  const std::size_t n = kSizes[i % std::size(kSizes)];
  Bytes b(n);
  for (std::size_t k = 0; k < n; ++k)
    b[k] = static_cast<std::uint8_t>(k * 131 + i * 7 + static_cast<std::size_t>(pt) * 61);
  return b;
}

class WireContract : public ::testing::TestWithParam<WireFactory> {
 protected:
  void SetUp() override { pair_ = GetParam().make(io_, handler()); }
  void TearDown() override {
    if (pair_) pair_->shutdown();
    pair_.reset();
    drain(io_);
  }

  const WireTraits& traits() const { return GetParam().traits; }
  WireHandle& wire() { return *pair_->wire(); }

  // Records what reaches the wire's frame handler, and whether it came once close() had begun.
  FrameHandler handler() {
    return [this](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType pt,
                  ConstBytes b) -> asio::awaitable<Result<void>> {
      if (close_started_) ++frames_after_close_;
      inbound_.push_back(Frame{pt, Bytes(b.begin(), b.end())});
      co_return ok();
    };
  }

  // The single observer of the wire's death.
  void watch() {
    wire().set_on_closed([this](const WireIdentity& id, Error why) {
      ++closed_calls_;
      closed_why_ = why;
      closed_id_ok_ = id == wire().identity();
    });
  }

  void connect() {
    auto r = run_co(io_, wire().connect(), traits().connect_bound + 5s);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_TRUE(wire().is_connected());
    run_until(io_, [&] { return pair_->peer_ready(); }, traits().connect_bound);
  }

  Result<void> send(PayloadType pt, ConstBytes bytes) {
    auto lane = wire().get_lane(pt);
    if (!lane) return lane.error();
    return run_co(io_, (*lane)->send(bytes), 30s);
  }

  // Sending on `pt` is refused as by a dead wire: get_lane or the send fails closed-like.
  void expect_send_fails_closed_like(PayloadType pt) {
    auto r = send(pt, message(pt, 2));
    ASSERT_FALSE(r) << "a send on a closed wire succeeded";
    EXPECT_TRUE(is_closed_like(r.error())) << r.error().message();
  }

  // Runs close() and checks it completes within the wire's bound. `close_started_` is set as
  // close() begins (not before: handlers already queued on the io_context may run in between).
  void close_bounded() {
    const auto t0 = std::chrono::steady_clock::now();
    run_co(
        io_,
        [this]() -> asio::awaitable<void> {
          close_started_ = true;
          co_await wire().close();
        }(),
        traits().close_bound + 10s);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    EXPECT_LE(took, traits().close_bound) << "close() took " << took.count() << " ms";
  }

  // True once the wire is dead, as its lanes tell (a WebRTC wire that is recovering is not).
  bool dead() {
    if (wire().is_connected()) return false;
    auto lane = wire().get_lane(traits().carried.front());
    return !lane && is_closed_like(lane.error());
  }

  void peer_end_reports_closed_once(bool abrupt);

  asio::io_context io_;
  std::vector<Frame> inbound_;
  bool close_started_ = false;  // close() of the wire has begun
  int frames_after_close_ = 0;
  int closed_calls_ = 0;
  Error closed_why_;
  bool closed_id_ok_ = false;
  std::unique_ptr<WirePairUnderTest> pair_;
};

TEST_P(WireContract, ConnectMakesTheWireConnected) {
  EXPECT_FALSE(wire().is_connected());
  // Before connect() nothing can be sent, and the refusal is closed-like (the pool dials anew).
  expect_send_fails_closed_like(traits().carried.front());
  connect();
  EXPECT_TRUE(wire().is_connected());
}

TEST_P(WireContract, ConnectOnAConnectedWireSucceedsAndChangesNothing) {
  connect();
  const int sessions = pair_->peer_sessions();
  auto again = run_co(io_, wire().connect(), traits().connect_bound + 5s);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_TRUE(wire().is_connected());
  EXPECT_EQ(pair_->peer_sessions(), sessions);  // no second connection to the other end
  const auto pt = traits().carried.front();
  ASSERT_TRUE(send(pt, message(pt, 3)));
  run_until(io_, [&] { return pair_->peer_received().size() == 1; });
  EXPECT_EQ(pair_->peer_received()[0].data, message(pt, 3));
}

TEST_P(WireContract, EveryCarriedLaneDeliversInOrder) {
  connect();
  constexpr std::size_t kPerLane = 25;
  // Round-robin over the lanes, so they interleave on the wire.
  for (std::size_t i = 0; i < kPerLane; ++i)
    for (auto pt : traits().carried) {
      auto r = send(pt, message(pt, i));
      ASSERT_TRUE(r) << to_string(pt) << " #" << i << ": " << r.error().message();
    }
  const std::size_t total = kPerLane * traits().carried.size();
  run_until(io_, [&] { return pair_->peer_received().size() >= total; }, 30s);
  const auto got = pair_->peer_received();
  EXPECT_EQ(got.size(), total);
  std::map<PayloadType, std::vector<Bytes>> by_lane;
  for (const auto& f : got) by_lane[f.pt].push_back(f.data);
  for (auto pt : traits().carried) {
    std::vector<Bytes> want;
    for (std::size_t i = 0; i < kPerLane; ++i) want.push_back(message(pt, i));
    auto& have = by_lane[pt];
    if (std::find(traits().unordered.begin(), traits().unordered.end(), pt) != traits().unordered.end()) {
      std::sort(want.begin(), want.end());
      std::sort(have.begin(), have.end());
    }
    EXPECT_TRUE(have == want) << to_string(pt) << ": " << have.size() << " messages, not the ones sent in order";
  }
}

TEST_P(WireContract, APayloadTypeItDoesNotCarryGivesNoRoute) {
  auto uncarried = [&](PayloadType pt) {
    return std::find(traits().carried.begin(), traits().carried.end(), pt) == traits().carried.end();
  };
  auto check = [&](const char* when) {
    for (auto pt : kAllTypes) {
      auto lane = wire().get_lane(pt);
      if (uncarried(pt)) {
        ASSERT_FALSE(lane) << when << ": " << to_string(pt);
        EXPECT_EQ(lane.error(), NetworkError::NoRoute) << when << ": " << lane.error().message();
      } else if (wire().is_connected()) {
        EXPECT_TRUE(lane) << when << ": " << to_string(pt) << ": " << lane.error().message();
      }
    }
  };
  check("unconnected");
  connect();
  check("connected");
}

TEST_P(WireContract, CloseIsIdempotentBoundedAndSilent) {
  connect();
  watch();
  const auto pt = traits().carried.front();
  auto lane = wire().get_lane(pt);
  ASSERT_TRUE(lane);
  close_bounded();
  EXPECT_FALSE(wire().is_connected());
  close_bounded();  // idempotent
  EXPECT_FALSE(wire().is_connected());
  // A lane taken before the close fails closed-like, and so does asking for one.
  auto r = run_co(io_, (*lane)->send(message(pt, 1)));
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_closed_like(r.error())) << r.error().message();
  expect_send_fails_closed_like(pt);
  // Once the other end has seen the close, any death report would have happened: there is none.
  run_until(io_, [&] { return pair_->peer_saw_close(); }, traits().death_bound);
  drain(io_);
  EXPECT_EQ(closed_calls_, 0) << "close() called notify_closed: " << closed_why_.message();
}

TEST_P(WireContract, CloseOfAnUnconnectedWireIsBoundedAndFinal) {
  watch();
  close_bounded();
  close_bounded();
  EXPECT_FALSE(wire().is_connected());
  auto r = run_co(io_, wire().connect(), traits().connect_bound + 5s);
  ASSERT_FALSE(r) << "connect() after close() succeeded";
  EXPECT_TRUE(is_closed_like(r.error())) << r.error().message();
  EXPECT_FALSE(wire().is_connected());
  drain(io_);
  EXPECT_EQ(closed_calls_, 0);
}

TEST_P(WireContract, ConnectAfterCloseFailsAndTheWireStaysClosed) {
  connect();
  close_bounded();
  auto r = run_co(io_, wire().connect(), traits().connect_bound + 5s);
  ASSERT_FALSE(r) << "connect() after close() succeeded";
  EXPECT_TRUE(is_closed_like(r.error())) << r.error().message();
  EXPECT_FALSE(wire().is_connected());
  expect_send_fails_closed_like(traits().carried.front());
}

TEST_P(WireContract, BeginCloseReportsNotConnectedAtOnce) {
  connect();
  watch();
  wire().begin_close();
  EXPECT_FALSE(wire().is_connected());  // at once: no handler ran in between
  drain(io_);
  EXPECT_FALSE(wire().is_connected());
  close_bounded();
  EXPECT_FALSE(wire().is_connected());
  drain(io_);
  EXPECT_EQ(closed_calls_, 0);
}

void WireContract::peer_end_reports_closed_once(bool abrupt) {
  connect();
  watch();
  if (abrupt)
    pair_->peer_die();
  else
    pair_->peer_close();
  run_until(io_, [&] { return closed_calls_ > 0; }, traits().death_bound);
  EXPECT_EQ(closed_calls_, 1);
  EXPECT_TRUE(is_closed_like(closed_why_)) << closed_why_.message();
  EXPECT_TRUE(closed_id_ok_);
  EXPECT_FALSE(wire().is_connected());
  expect_send_fails_closed_like(traits().carried.front());
  close_bounded();  // the owner closes the dead wire: no second report
  drain(io_);
  EXPECT_EQ(closed_calls_, 1);
}

TEST_P(WireContract, PeerClosingIsReportedExactlyOnce) { peer_end_reports_closed_once(false); }

TEST_P(WireContract, PeerDyingIsReportedExactlyOnce) { peer_end_reports_closed_once(true); }

TEST_P(WireContract, OnClosedRegisteredAfterDeathRunsAtOnce) {
  connect();
  pair_->peer_die();
  run_until(io_, [&] { return dead(); }, traits().death_bound);
  int calls = 0;
  Error why;
  wire().set_on_closed([&](const WireIdentity&, Error e) {
    ++calls;
    why = e;
  });
  EXPECT_EQ(calls, 1);  // inside set_on_closed, no handler run
  EXPECT_TRUE(is_closed_like(why)) << why.message();
  close_bounded();
  drain(io_);
  EXPECT_EQ(calls, 1);
}

TEST_P(WireContract, InvalidateLaneThenGetLaneGivesAWorkingLane) {
  connect();
  for (auto pt : traits().carried) {
    ASSERT_TRUE(send(pt, message(pt, 1)));
    wire().invalidate_lane(pt);
    auto lane = wire().get_lane(pt);
    ASSERT_TRUE(lane) << to_string(pt) << ": " << lane.error().message();
    EXPECT_EQ((*lane)->payload_type(), pt);
    auto r = run_co(io_, (*lane)->send(message(pt, 2)));
    ASSERT_TRUE(r) << to_string(pt) << ": " << r.error().message();
  }
  const auto n = 2 * traits().carried.size();
  run_until(io_, [&] { return pair_->peer_received().size() >= n; });
  std::map<PayloadType, std::vector<Bytes>> by_lane;
  for (const auto& f : pair_->peer_received()) by_lane[f.pt].push_back(f.data);
  for (auto pt : traits().carried) {
    auto& have = by_lane[pt];
    std::vector<Bytes> want{message(pt, 1), message(pt, 2)};
    if (std::find(traits().unordered.begin(), traits().unordered.end(), pt) != traits().unordered.end()) {
      std::sort(have.begin(), have.end());
      std::sort(want.begin(), want.end());
    }
    EXPECT_TRUE(have == want) << to_string(pt);
  }
}

TEST_P(WireContract, NoFrameReachesTheHandlerOnceCloseHasBegun) {
  if (!traits().inbound) GTEST_SKIP() << GetParam().name << " has no inbound path";
  ASSERT_TRUE(pair_->peer_can_send());
  connect();
  // The other end floods every lane while the wire closes underneath it.
  bool flood_done = false;
  std::size_t flooded = 0;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        for (std::size_t i = 0; i < 3000; ++i) {
          const auto pt = traits().carried[i % traits().carried.size()];
          auto r = co_await pair_->peer_send(pt, Bytes(64, static_cast<std::uint8_t>(i)));
          if (!r) break;
          ++flooded;
        }
        flood_done = true;
      },
      asio::detached);
  run_until(io_, [&] { return inbound_.size() >= 20; }, 30s);
  close_bounded();  // once it has begun, the frame handler must stay silent
  // The other end has sent everything it could (its sends fail once it notices the close, or it
  // runs out); whatever is still in flight then meets a closed wire.
  run_until(io_, [&] { return flood_done; }, traits().death_bound);
  drain(io_);
  EXPECT_EQ(frames_after_close_, 0) << "of " << flooded << " flooded, " << inbound_.size() << " handled";
}

INSTANTIATE_TEST_SUITE_P(Wires, WireContract,
                         ::testing::Values(memory_factory(), websocket_factory(), webrtc_factory()),
                         [](const ::testing::TestParamInfo<WireFactory>& pi) { return pi.param.name; });

}  // namespace
}  // namespace actr::testing::contract
