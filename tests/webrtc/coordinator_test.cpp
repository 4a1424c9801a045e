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

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST(WebRtcCoordinator, ADialToAPeerThatIsDialingUsWaitsOnThePeersConnection) {
  asio::io_context io;
  SignalingServer server(io.get_executor());
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  const ActrId a_id = actor_id(1, "dialer");  // the lower serial offers
  const ActrId b_id = actor_id(2, "dialed");
  auto sa = registered_client(io, *port, a_id);
  auto sb = registered_client(io, *port, b_id);

  WebRtcCoordinatorConfig wc;
  wc.rtc = loopback_config();
  std::vector<Bytes> at_a;
  FrameHandler a_frames = [&](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType,
                              Bytes b) -> asio::awaitable<Result<void>> {
    at_a.push_back(std::move(b));
    co_return ok();
  };
  FrameHandler b_frames = [](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType,
                             Bytes) -> asio::awaitable<Result<void>> { co_return ok(); };
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
