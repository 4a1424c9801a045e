// WebRTC set-up order and bounds (issue 9, item 7):
// - a local description (offer or answer) is relayed only once webrtcbin has applied it, so an
//   answer that comes back at once is always accepted;
// - every wire the coordinator builds proceeds or is closed and forgotten within connect_timeout:
//   an answerer whose offer never comes does not linger (and a later offer still works), an
//   offerer sends its offer even if nobody connects it.
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>
#include <actr/webrtc_coordinator.hpp>

#include "webrtc/webrtc_pair.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <gtest/gtest.h>

#include <atomic>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// Delivers every signal to the other wire at once (a peer that answers as fast as it can) and
// records, for each description it relays, whether the sender's webrtcbin had applied it.
class CheckingSink : public PeerSignalSink {
 public:
  asio::awaitable<Result<void>> send_signal(const ActrId&, PeerSignal s) override {
    if (s.kind != PeerSignal::Kind::IceCandidate) {
      auto from = from_.lock();
      std::shared_ptr<rtc::GstPc> pc;
      if (from) {
        std::lock_guard lk(from->impl().mu);
        if (from->impl().gen) pc = from->impl().gen->pc;
      }
      ++descriptions;
      if (!pc || !pc->has_local_description()) ++relayed_before_applied;
    }
    if (auto to = to_.lock()) to->handle_signal(std::move(s));
    co_return ok();
  }
  void wire(const std::shared_ptr<WebRtcWire>& from, const std::shared_ptr<WebRtcWire>& to) {
    from_ = from;
    to_ = to;
  }
  std::atomic<int> descriptions{0};
  std::atomic<int> relayed_before_applied{0};

 private:
  std::weak_ptr<WebRtcWire> from_, to_;
};

FrameHandler ignore_frames() {
  return [](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType, ConstBytes) -> asio::awaitable<Result<void>> {
    co_return ok();
  };
}

// Signals relayed to `client` go to `wire` until the client closes.
asio::awaitable<void> route_to(std::shared_ptr<SignalingClient> client, std::shared_ptr<WebRtcWire> wire) {
  for (;;) {
    auto in = co_await client->next_signal(Clock::now() + 60s);
    if (!in) co_return;
    wire->handle_signal(std::move(in->signal));
  }
}

}  // namespace

TEST(WebRtcSetup, DescriptionsAreRelayedOnlyOnceAppliedSoAFastAnswerIsAlwaysTaken) {
  asio::io_context io;
  auto runtime = WebRtcRuntime::create();
  constexpr int kSetUps = 8;
  int relayed_early = 0, descriptions = 0, stale = 0;
  for (int i = 0; i < kSetUps; ++i) {
    SCOPED_TRACE("set-up " + std::to_string(i));
    auto to_b = std::make_shared<CheckingSink>();
    auto to_a = std::make_shared<CheckingSink>();
    Inbox a_in, b_in;
    auto a = make_webrtc_wire(io.get_executor(), loopback_config(), actor_id(1), actor_id(2), true, to_b,
                              a_in.handler(), runtime);
    auto b = make_webrtc_wire(io.get_executor(), loopback_config(), actor_id(2), actor_id(1), false, to_a,
                              b_in.handler(), runtime);
    to_b->wire(a, b);
    to_a->wire(b, a);
    auto ra = run_co(io, a->connect(), 30000ms);
    EXPECT_TRUE(ra) << ra.error().message();
    auto rb = run_co(io, b->connect(), 30000ms);
    EXPECT_TRUE(rb) << rb.error().message();
    relayed_early += to_b->relayed_before_applied + to_a->relayed_before_applied;
    descriptions += to_b->descriptions + to_a->descriptions;
    stale += static_cast<int>(a->stats().stale_signals + b->stats().stale_signals);
    run_co(io, a->close());
    run_co(io, b->close());
  }
  EXPECT_EQ(descriptions, 2 * kSetUps);  // one offer and one answer each
  EXPECT_EQ(relayed_early, 0) << "descriptions relayed before set-local-description completed";
  EXPECT_EQ(stale, 0);
  runtime->shutdown();
}

TEST(WebRtcSetup, AnAnswererWhoseOfferNeverComesIsClosedWithinConnectTimeoutAndALaterOfferWorks) {
  asio::io_context io;
  SignalingServer server(io.get_executor());
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  const ActrId a_id = actor_id(2, "offers");   // the greater id offers (actrix's rule)
  const ActrId b_id = actor_id(1, "answers");
  auto sa = registered_client(io, *port, a_id);  // A: a bare signaling peer, silent at first
  auto sb = registered_client(io, *port, b_id);

  WebRtcCoordinatorConfig wc;
  wc.rtc = loopback_config();
  // Long enough for a first peer connection on a loaded machine under ASan (GStreamer's plugin
  // loading is paid up front below, as Node does).
  wc.rtc.connect_timeout = 4000ms;
  (void)WebRtcRuntime::process_default();
  std::shared_ptr<WireHandle> inbound;
  auto cb = WebRtcCoordinator::create(io.get_executor(), b_id, sb, wc, ignore_frames(),
                                      [&](const ActrId&, const std::shared_ptr<WireHandle>& w) { inbound = w; });
  cb->start();

  // B dials A and is made the answerer; whoever asked gives up without connecting the wire, and
  // A never offers.
  const auto t0 = Clock::now();
  auto made = run_co(io, cb->create_wire(a_id));
  ASSERT_TRUE(made) << made.error().message();
  auto waiting = std::static_pointer_cast<WebRtcWire>(*made);
  ASSERT_FALSE(waiting->is_offerer());
  EXPECT_TRUE(run_until_or(io, [&] { return !waiting->is_setting_up(); }, wc.rtc.connect_timeout + 3000ms))
      << "the answerer is still waiting for an offer";
  EXPECT_LT(Clock::now() - t0, wc.rtc.connect_timeout + 1000ms);
  EXPECT_EQ(cb->stats().setups_failed, 1u);

  // A offers later, with a real wire: B answers with a fresh wire and hands it over once open.
  auto a = make_webrtc_wire(io.get_executor(), loopback_config(), a_id, b_id, true, sa, ignore_frames());
  asio::co_spawn(io, route_to(sa, a), asio::detached);
  std::optional<Result<void>> a_connected;
  asio::co_spawn(io, a->connect(), [&](std::exception_ptr, Result<void> r) { a_connected = r; });
  EXPECT_TRUE(run_until_or(io, [&] { return a_connected.has_value() && inbound != nullptr; }, 30000ms));
  ASSERT_TRUE(a_connected.has_value());
  EXPECT_TRUE(*a_connected) << a_connected->error().message();
  ASSERT_NE(inbound, nullptr) << "the later offer was not answered by a wire the owner was given";
  EXPECT_TRUE(inbound->is_connected());
  EXPECT_NE(inbound, std::static_pointer_cast<WireHandle>(waiting));

  run_co(io, a->close());
  run_co(io, cb->stop());
  run_co(io, sa->close());
  run_co(io, sb->close());
  run_co(io, server.close());
}

TEST(WebRtcSetup, AnOffererWireSendsItsOfferEvenIfNobodyConnectsItAndIsClosedWithoutAnAnswer) {
  asio::io_context io;
  SignalingServer server(io.get_executor());
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  const ActrId a_id = actor_id(2, "offers");
  const ActrId b_id = actor_id(1, "silent");
  auto sa = registered_client(io, *port, a_id);
  auto sb = registered_client(io, *port, b_id);  // B: a bare signaling peer that never answers

  WebRtcCoordinatorConfig wc;
  wc.rtc = loopback_config();
  // Long enough for a first peer connection on a loaded machine under ASan (GStreamer's plugin
  // loading is paid up front below, as Node does).
  wc.rtc.connect_timeout = 4000ms;
  (void)WebRtcRuntime::process_default();
  auto ca = WebRtcCoordinator::create(io.get_executor(), a_id, sa, wc, ignore_frames(), nullptr);
  ca->start();

  const auto t0 = Clock::now();
  auto made = run_co(io, ca->create_wire(b_id));
  ASSERT_TRUE(made) << made.error().message();
  auto offerer = std::static_pointer_cast<WebRtcWire>(*made);
  ASSERT_TRUE(offerer->is_offerer());
  // Nobody calls connect(); the offer must reach B anyway.
  auto got = run_co(io, sb->next_signal(Clock::now() + 10000ms), 15000ms);
  ASSERT_TRUE(got) << "no offer: " << got.error().message();
  EXPECT_EQ(got->signal.kind, PeerSignal::Kind::Offer);
  EXPECT_EQ(got->from, a_id);
  // Without an answer it is closed and forgotten within connect_timeout.
  EXPECT_TRUE(run_until_or(io, [&] { return !offerer->is_setting_up(); }, wc.rtc.connect_timeout + 3000ms));
  EXPECT_LT(Clock::now() - t0, wc.rtc.connect_timeout + 1000ms);
  EXPECT_EQ(ca->stats().setups_failed, 1u);

  run_co(io, ca->stop());
  run_co(io, sa->close());
  run_co(io, sb->close());
  run_co(io, server.close());
}
