// The WebRTC coordinator with an in-process `actr signal` server and two coordinators on
// 127.0.0.1. A peer that dialed us may send as soon as its own DataChannels are open, before ours
// are, and before the coordinator hands the wire to the manager; answering it must not need a
// second connection (the browser interop test found this: the reply to a browser's first request
// was lost, because a browser is reachable over its own connection only).
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>
#include <actr/webrtc_coordinator.hpp>

#include "webrtc/webrtc_pair.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST(WebRtcCoordinator, ADialToAPeerThatIsDialingUsWaitsOnThePeersConnection) {
  asio::io_context io;
  SignalingServer server(io.get_executor());
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  const ActrId a_id = actor_id(2, "dialer");  // the greater id offers (actrix's rule)
  const ActrId b_id = actor_id(1, "dialed");
  auto sa = registered_client(io, *port, a_id);
  auto sb = registered_client(io, *port, b_id);

  WebRtcCoordinatorConfig wc;
  wc.rtc = loopback_config();
  std::vector<Bytes> at_a;
  FrameHandler a_frames = [&](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType,
                              ConstBytes b) -> asio::awaitable<Result<void>> {
    at_a.push_back(Bytes(b.begin(), b.end()));
    co_return ok();
  };
  FrameHandler b_frames = [](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType,
                             ConstBytes) -> asio::awaitable<Result<void>> { co_return ok(); };
  std::shared_ptr<WireHandle> handed_over;  // what B's coordinator gives its owner once connected
  std::shared_ptr<WireHandle> a_inbound;  // what A's coordinator gives its owner (a connection B asked for)
  auto ca = WebRtcCoordinator::create(io.get_executor(), a_id, sa, wc, a_frames,
                                      [&](const ActrId&, const std::shared_ptr<WireHandle>& w) { a_inbound = w; });
  auto cb = WebRtcCoordinator::create(io.get_executor(), b_id, sb, wc, b_frames,
                                      [&](const ActrId&, const std::shared_ptr<WireHandle>& w) { handed_over = w; });
  ca->start();
  cb->start();

  // A dials B: A offers; B builds an answerer for the offer and connects it in the background.
  auto wa = run_co(io, ca->create_wire(b_id));
  ASSERT_TRUE(wa) << wa.error().message();
  std::optional<Result<void>> a_connected;
  asio::co_spawn(io, (*wa)->connect(), [&](std::exception_ptr, Result<void> r) { a_connected = r; });
  run_until(io, [&] { return cb->stats().inbound_wires == 1; }, 30000ms);

  // B needs a wire to A now (to answer A's first request): it gets the connection A is setting up,
  // not an error and not a second connection that would wait for an offer A never sends.
  auto wb = run_co(io, cb->create_wire(a_id));
  ASSERT_TRUE(wb) << wb.error().message();
  ASSERT_TRUE(run_co(io, (*wb)->connect(), 30000ms));
  run_until(io, [&] { return a_connected.has_value() && handed_over != nullptr; }, 30000ms);
  ASSERT_TRUE(*a_connected);
  EXPECT_EQ(*wb, handed_over);
  EXPECT_EQ(cb->stats().outbound_wires, 0u);

  // Asking again still gives that connection, and it carries B's reply to A.
  auto same = run_co(io, cb->create_wire(a_id));
  ASSERT_TRUE(same);
  EXPECT_EQ(*same, *wb);
  auto lane = (*wb)->get_lane(PayloadType::RpcReliable);
  ASSERT_TRUE(lane);
  const Bytes reply{'r', 'e', 'p', 'l', 'y'};
  ASSERT_TRUE(run_co(io, (*lane)->send(reply)));
  run_until(io, [&] { return at_a.size() == 1; }, 10000ms);
  EXPECT_EQ(at_a.front(), reply);

  // The owner drops it (as a pool retires a wire: `begin_close` now, `close` later in the
  // background). A dial meanwhile gets a new connection, never the dropped one, though A, the
  // offerer, may still hold the old one as connected when B's negotiation reaches it.
  (*wb)->begin_close();
  auto again = run_co(io, cb->create_wire(a_id));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_NE(*again, *wb);
  ASSERT_TRUE(run_co(io, (*again)->connect(), 30000ms));
  run_co(io, (*wb)->close());
  EXPECT_NE(a_inbound, nullptr);  // A offered the new connection (its old one was replaced)
  auto lane2 = (*again)->get_lane(PayloadType::RpcReliable);
  ASSERT_TRUE(lane2);
  ASSERT_TRUE(run_co(io, (*lane2)->send(reply)));
  {
    SCOPED_TRACE("the new connection carries the reply");
    run_until(io, [&] { return at_a.size() == 2; }, 10000ms);
  }

  run_co(io, ca->stop());
  run_co(io, cb->stop());
  run_co(io, sa->close());
  run_co(io, sb->close());
  run_co(io, server.close());
}

// Issue 11: 400 offers relayed in 0.9 s made a node build 1,313 threads and abort on a 4 GB
// address-space limit. Set-ups are bounded now: with max_setups = 1 on B, offers from three
// peers at once are answered one at a time, and the others' set-ups fail at once and typed
// (ResourceExhausted, from B's SetupRefused), not after their 15 s connect timeout. A refused
// peer that offers again once B is free gets its connection.
TEST(WebRtcCoordinator, OffersPastMaxSetupsAreRefusedTypedAndAtOnce) {
  asio::io_context io;
  SignalingServer server(io.get_executor());
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  const ActrId b_id = actor_id(100, "busy");  // the greater id offers: every A (serial > 100) offers to B
  FrameHandler none = [](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType,
                         ConstBytes) -> asio::awaitable<Result<void>> { co_return ok(); };
  WebRtcCoordinatorConfig bounded;
  bounded.rtc = loopback_config();
  bounded.max_setups = 1;
  auto sb = registered_client(io, *port, b_id);
  int b_opened = 0;  // B's set-ups that finished (B hands each to its owner after counting it done)
  auto cb = WebRtcCoordinator::create(io.get_executor(), b_id, sb, bounded, none,
                                      [&](const ActrId&, const std::shared_ptr<WireHandle>&) { ++b_opened; });
  cb->start();
  const auto threads_before = thread_count();

  constexpr int kOfferers = 3;
  WebRtcCoordinatorConfig plain;
  plain.rtc = loopback_config();
  std::vector<std::shared_ptr<SignalingClient>> links;
  std::vector<std::shared_ptr<WebRtcCoordinator>> offerers;
  std::vector<std::optional<Result<void>>> results(kOfferers);
  std::vector<std::shared_ptr<WireHandle>> wires(kOfferers);
  for (int i = 0; i < kOfferers; ++i) {
    const ActrId id = actor_id(static_cast<std::uint64_t>(i + 101), "offerer");
    links.push_back(registered_client(io, *port, id));
    offerers.push_back(WebRtcCoordinator::create(io.get_executor(), id, links.back(), plain, none, nullptr));
    offerers.back()->start();
  }
  for (int i = 0; i < kOfferers; ++i) {
    asio::co_spawn(io, [&, i]() -> asio::awaitable<Result<void>> {
      auto w = co_await offerers[static_cast<std::size_t>(i)]->create_wire(b_id);
      if (!w) co_return w.error();
      wires[static_cast<std::size_t>(i)] = *w;
      co_return co_await (*w)->connect();
    }, [&, i](std::exception_ptr, Result<void> r) { results[static_cast<std::size_t>(i)] = r; });
  }
  run_until(io, [&] { return std::all_of(results.begin(), results.end(), [](auto& r) { return r.has_value(); }); },
            60000ms);
  int connected = 0, refused = 0;
  std::vector<int> refused_at;
  for (int i = 0; i < kOfferers; ++i) {
    const auto& r = *results[static_cast<std::size_t>(i)];
    if (r) {
      ++connected;
    } else {
      EXPECT_EQ(r.error(), make_error_code(NetworkError::ResourceExhausted)) << "offerer " << i << ": " << r.error().message();
      ++refused;
      refused_at.push_back(i);
    }
  }
  EXPECT_GE(connected, 1);
  EXPECT_GE(refused, 1) << "three offers at once to a node that sets up one at a time";
  EXPECT_EQ(cb->stats().setups_refused, static_cast<std::uint64_t>(refused));
  const auto threads_with_one = thread_count();
  std::printf("threads: %zu before, %zu with %d peer connection(s) up on each side\n", threads_before,
              threads_with_one, connected);

  // B is free again (its set-ups finished): a refused offerer that tries again gets through.
  run_until(io, [&] { return b_opened == connected; }, 30000ms);
  if (!refused_at.empty()) {
    const auto i = static_cast<std::size_t>(refused_at.front());
    auto again = run_co(io, offerers[i]->create_wire(b_id));
    ASSERT_TRUE(again) << again.error().message();
    auto r = run_co(io, (*again)->connect(), 30000ms);
    EXPECT_TRUE(r) << r.error().message();
  }

  for (auto& c : offerers) run_co(io, c->stop());
  run_co(io, cb->stop());
  for (auto& l : links) run_co(io, l->close());
  run_co(io, sb->close());
  run_co(io, server.close());
}
