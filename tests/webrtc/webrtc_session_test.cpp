// Sessions of the WebRTC wire: restarts (offerer-led and answerer-requested), giving up on a
// vanished peer, stale signals and callbacks, early candidates, connect timeout and cancellation,
// an injected runtime.
#include "webrtc/webrtc_pair.hpp"

#include "detail/asio.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using Kind = PeerSignal::Kind;

namespace {
Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Both ways, and wait for delivery.
void exchange(WirePair& p, const std::string& tag) {
  const auto na = p.a_in.frames.size(), nb = p.b_in.frames.size();
  ASSERT_TRUE(send(p.io, p.a, PayloadType::RpcReliable, text("a " + tag)));
  ASSERT_TRUE(send(p.io, p.b, PayloadType::StreamReliable, text("b " + tag)));
  run_until(p.io, [&] { return p.a_in.frames.size() == na + 1 && p.b_in.frames.size() == nb + 1; }, 20000ms);
  EXPECT_EQ(p.b_in.frames.back().data, text("a " + tag));
  EXPECT_EQ(p.a_in.frames.back().data, text("b " + tag));
}

WebRtcConfig fast_recovery() {
  auto c = loopback_config();
  c.recovery_timeout = 3000ms;
  c.restart_attempt_timeout = 1000ms;
  c.restart_min_interval = 200ms;
  c.restart_backoff.initial = 100ms;
  c.restart_backoff.max = 200ms;
  return c;
}

std::uint64_t current_gen(WebRtcWire& w) {
  std::lock_guard lk(w.impl().mu);
  return w.impl().gen ? w.impl().gen->id : 0;
}
}  // namespace

TEST(WebRtcSession, OffererRestartRebuildsTheConnectionAndTrafficResumes) {
  asio::io_context io;
  WirePair p(io);
  p.connect();
  exchange(p, "before");
  p.a->report_connection_lost();
  run_until(io, [&] { return !p.a->is_connected(); }, 5000ms);
  auto lane = p.a->get_lane(PayloadType::RpcReliable);  // while recovering: not closed-like, so not evicted
  if (!lane) {
    EXPECT_EQ(lane.error(), NetworkError::ConnectionError);
    EXPECT_FALSE(is_closed_like(lane.error()));
  }
  run_until(io, [&] {
    return p.a->stats().restarts_completed == 1 && p.b->stats().restarts_completed == 1 && p.a->is_connected() &&
           p.b->is_connected();
  }, 30000ms);
  EXPECT_EQ(p.to_b->count(Kind::IceRestartOffer), 1u);
  EXPECT_EQ(p.a->stats().peer_connections, 2u);
  EXPECT_EQ(p.b->stats().peer_connections, 2u);
  exchange(p, "after");
  EXPECT_EQ(p.a_in.closed + p.b_in.closed, 0);
}

TEST(WebRtcSession, AnswererRequestsARestart) {
  asio::io_context io;
  WirePair p(io);
  p.connect();
  p.b->report_connection_lost();
  run_until(io, [&] {
    return p.b->stats().restarts_completed == 1 && p.a->stats().restarts_completed == 1 && p.a->is_connected() &&
           p.b->is_connected();
  }, 30000ms);
  EXPECT_GE(p.to_a->count(Kind::IceRestartRequest), 1u);
  EXPECT_EQ(p.to_b->count(Kind::IceRestartOffer), 1u);
  exchange(p, "after");
}

// Seen in CI: the answerer's channels can report "open" twice (their state when adopted, and
// on-open). A late duplicate, arriving after the answerer lost the connection, reopened the wire
// on the connection it had given up on; the offerer's restart then counted as a second loss.
TEST(WebRtcSession, ALateOpenOfTheLostConnectionDoesNotEndTheAnswerersRecovery) {
  asio::io_context io;
  WirePair p(io);
  p.connect();
  p.to_a->set_filter([](const PeerSignal&) { return false; });  // A never hears of the loss
  p.b->report_connection_lost();
  run_until(io, [&] { return !p.b->is_connected(); }, 5000ms);
  std::shared_ptr<rtc::PcBridge> bridge;
  {
    std::lock_guard lk(p.b->impl().mu);
    bridge = p.b->impl().gen->bridge;
  }
  for (auto pt : {PayloadType::RpcReliable, PayloadType::RpcSignal, PayloadType::StreamReliable,
                  PayloadType::StreamLatencyFirst}) {
    rtc::PcEvent open;
    open.type = rtc::PcEvent::Type::ChannelOpen;
    open.pt = pt;
    bridge->emit(std::move(open));
  }
  rtc::PcEvent marker;  // events of one bridge reach the wire in order: this one comes last
  marker.type = rtc::PcEvent::Type::ChannelIgnored;
  marker.text = "marker";
  bridge->emit(std::move(marker));
  run_until(io, [&] { return p.b->stats().channels_ignored == 1; }, 5000ms);
  EXPECT_FALSE(p.b->is_connected());
  EXPECT_EQ(p.b->stats().restarts_completed, 0u);
}

TEST(WebRtcSession, RecoveryGivesUpAndReportsClosedWhenThePeerIsGone) {
  asio::io_context io;
  WirePair p(io, 1, 2, fast_recovery());
  p.connect();
  kill_peer_connection(*p.b);  // B's process "dies": its connection goes without a word
  p.to_b->set_filter([](const PeerSignal&) { return false; });
  p.to_a->set_filter([](const PeerSignal&) { return false; });
  const auto t0 = Clock::now();
  p.a->report_connection_lost();  // e.g. signaling says B is gone (webrtcbin itself needs ~50 s)
  run_until(io, [&] { return p.a_in.closed == 1; }, 20000ms);
  const auto took = Clock::now() - t0;
  EXPECT_GE(took, 2900ms);
  EXPECT_LT(took, 3000ms + 2000ms);
  EXPECT_EQ(p.a_in.closed_why, NetworkError::PeerConnectionClosed);
  EXPECT_TRUE(is_closed_like(p.a_in.closed_why));
  EXPECT_GE(p.to_b->count(Kind::IceRestartOffer), 2u);  // it kept trying until the bound
  EXPECT_FALSE(p.a->is_connected());
}

TEST(WebRtcSession, StaleSignalsAndCallbacksOfAnOldSessionDoNotTouchTheNewOne) {
  asio::io_context io;
  std::vector<PeerSignal> old_to_a, old_to_b;
  std::shared_ptr<rtc::PcBridge> old_bridge;
  std::uint64_t old_session = 0;
  {
    WirePair s1(io);
    s1.connect();
    old_to_a = s1.to_a->sent();
    old_to_b = s1.to_b->sent();
    old_session = s1.a->identity().session_id;
    std::lock_guard lk(s1.a->impl().mu);
    old_bridge = s1.a->impl().gen->bridge;
  }  // session 1 closed
  WirePair p(io);  // session 2, same actors
  p.connect();
  ASSERT_NE(p.a->identity().session_id, old_session);

  // A late GStreamer callback of session 1: its bridge is shut, nothing gets through.
  rtc::PcEvent late;
  late.type = rtc::PcEvent::Type::ChannelClosed;
  old_bridge->emit(std::move(late));
  // Session 1's signals replayed into session 2: its answer (other exchange id) and its offer
  // (a plain offer to a connected wire) are dropped.
  for (auto s : old_to_a) p.a->handle_signal(s);
  for (auto s : old_to_b) p.b->handle_signal(s);
  run_until(io, [&] { return p.a->stats().stale_signals >= 1 && p.b->stats().stale_signals >= 1; }, 10000ms);
  exchange(p, "session 2");

  // Within one wire: after a restart, generation 1's events and candidates are stale too.
  const auto gen1 = current_gen(*p.a);
  const auto b_gen1_signals = p.to_a->sent();
  p.a->report_connection_lost();
  run_until(io, [&] { return p.a->stats().restarts_completed == 1 && p.b->is_connected() && p.a->is_connected(); },
            30000ms);
  ASSERT_NE(current_gen(*p.a), gen1);
  rtc::PcEvent closed;
  closed.type = rtc::PcEvent::Type::ChannelClosed;
  p.a->impl().on_event(p.a->identity().session_id, gen1, std::move(closed));  // as if generation 1's channel closed now
  const auto stale_before = p.a->stats().stale_signals;
  std::size_t old_candidates = 0;
  for (const auto& s : b_gen1_signals) {
    if (s.kind != Kind::IceCandidate) continue;
    ++old_candidates;
    p.a->handle_signal(s);  // a candidate of B's first ICE generation
  }
  ASSERT_GE(old_candidates, 1u);
  run_until(io, [&] { return p.a->stats().stale_signals == stale_before + old_candidates; }, 10000ms);
  EXPECT_TRUE(p.a->is_connected());
  exchange(p, "after restart");
  EXPECT_EQ(p.a_in.closed + p.b_in.closed, 0);
}

TEST(WebRtcSession, EarlyCandidatesAreBufferedUntilTheirDescription) {
  asio::io_context io;
  WirePair p(io);
  std::vector<PeerSignal> held;
  // A's offer is held back while A's candidates reach B; B's candidates never reach A, so the
  // connection can only form from A's candidates that B buffered before it had the offer.
  p.to_b->set_filter([&](const PeerSignal& s) {
    if (s.kind != Kind::Offer) return true;
    held.push_back(s);
    return false;
  });
  p.to_a->set_filter([](const PeerSignal& s) { return s.kind != Kind::IceCandidate; });
  auto connecting = asio::co_spawn(io, p.a->connect(), asio::use_future);
  run_until(io, [&] { return !held.empty() && p.to_b->count(Kind::IceCandidate) >= 1; }, 20000ms);
  run_until(io, [&] {
    std::lock_guard lk(p.b->impl().mu);
    return p.b->impl().gate.buffered() >= 1;
  }, 5000ms);
  p.b->handle_signal(held.front());
  run_until(io, [&] { return connecting.wait_for(0s) == std::future_status::ready; }, 30000ms);
  auto r = connecting.get();
  ASSERT_TRUE(r) << r.error().message();
  run_until(io, [&] { return p.b->is_connected(); }, 10000ms);
  exchange(p, "via buffered candidates");
}

TEST(WebRtcSession, ConnectTimesOutIsCancellableAndCanBeRetried) {
  asio::io_context io;
  auto cfg = loopback_config();
  cfg.connect_timeout = 2500ms;
  WirePair p(io, 1, 2, cfg);
  p.to_b->set_filter([](const PeerSignal&) { return false; });  // B never hears of A
  auto t0 = Clock::now();
  auto r = run_co(io, p.a->connect());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::TimeoutError);
  EXPECT_GE(Clock::now() - t0, 2400ms);
  EXPECT_LT(Clock::now() - t0, 2500ms + 1000ms);
  t0 = Clock::now();
  run_co(io, [&]() -> asio::awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer t(io, 200ms);
    auto res = co_await (p.a->connect() || t.async_wait(asio::use_awaitable));
    EXPECT_EQ(res.index(), 1u);  // the timer won; connect() was cancelled
  }());
  EXPECT_LT(Clock::now() - t0, 1000ms);
  EXPECT_FALSE(p.a->is_connected());
  // A fresh attempt on the same wire, as its pool would make (retried: 2.5 s is tight for a
  // loaded sanitizer build).
  p.to_b->set_filter(nullptr);
  Result<void> c = make_error_code(NetworkError::TimeoutError);
  for (int attempt = 0; attempt < 3 && !c; ++attempt) c = run_co(io, p.a->connect());
  ASSERT_TRUE(c) << c.error().message();
  run_until(io, [&] { return p.b->is_connected(); }, 10000ms);
  EXPECT_GE(p.a->stats().peer_connections, 3u);
  exchange(p, "third time");
}

TEST(WebRtcSession, InjectedRuntimeShutsDownAndClosesStayBounded) {
  asio::io_context io;
  auto rt = WebRtcRuntime::create();
  WirePair p(io, 1, 2, loopback_config(), loopback_config(), rt);
  p.connect();
  exchange(p, "own runtime");
  rt->shutdown();  // tears every peer connection down
  rt->shutdown();  // idempotent
  const auto t0 = Clock::now();
  run_co(io, p.a->close());
  run_co(io, p.b->close());
  EXPECT_LT(Clock::now() - t0, 1200ms);
  // A wire on a stopped runtime cannot connect.
  auto c = make_webrtc_wire(io.get_executor(), loopback_config(), actor_id(5), actor_id(6), true,
                            std::make_shared<PipeSink>(), nullptr, rt);
  auto r = run_co(io, c->connect());
  EXPECT_FALSE(r);
}

// webrtcbin's own detection of a vanished peer (libnice keepalive checks): slow, so opt-in with
// ACTR_SLOW_TESTS=1. Measured here: ~50 s, then the recovery bound.
TEST(WebRtcSession, NativeDetectionOfAVanishedPeer) {
  if (!std::getenv("ACTR_SLOW_TESTS")) GTEST_SKIP() << "set ACTR_SLOW_TESTS=1 (takes about a minute)";
  asio::io_context io;
  WirePair p(io, 1, 2, fast_recovery());
  p.connect();
  kill_peer_connection(*p.b);
  p.to_b->set_filter([](const PeerSignal&) { return false; });
  const auto t0 = Clock::now();
  run_until(io, [&] { return p.a_in.closed == 1; }, 120000ms);
  std::printf("vanished peer reported closed after %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()));
}
