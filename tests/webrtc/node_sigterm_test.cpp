// `actr node --signal … --wires webrtc,ws` as a separate process, SIGTERMed while WebRTC set-ups
// are in flight (its offers sent, no answer yet): it must exit, cleanly, within 2 s.
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>

#include "core/test_util.hpp"
#include "support/child_process.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

template <class T>
T get(asio::io_context& io, asio::awaitable<T> aw) {
  return asio::co_spawn(io, std::move(aw), asio::use_future).get();
}

}  // namespace

TEST(NodeSigterm, ANodeWithWebRtcSetUpsInFlightExitsCleanlyWithinTwoSeconds) {
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  SignalingServer server(io.get_executor());
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  const std::string url = "ws://127.0.0.1:" + std::to_string(*port) + "/";

  const ActrId node_id = actor_id(100, "node");  // the greater id: it offers to every peer below
  ChildProcess node;
  ASSERT_TRUE(node.start({ACTR_CLI, "--log-level", "warn", "node", "--id", node_id.to_string(), "--listen",
                          "127.0.0.1:0", "--signal", url, "--wires", "webrtc,ws"}));
  ASSERT_TRUE(node.read_until("listening on", 30000ms)) << "stdout: " << node.output();

  // Peers that negotiate with the node (so it offers to each) and never answer: each of its
  // peer connections is left mid set-up (pipeline up, channels created, offer out, ICE gathered).
  std::vector<std::shared_ptr<SignalingClient>> peers;
  for (std::uint64_t serial = 10; serial < 16; ++serial) {
    auto c = std::make_shared<SignalingClient>(io.get_executor());
    ASSERT_TRUE(get(io, c->connect(url)));
    ASSERT_TRUE(get(io, c->register_actor(actor_id(serial, "silent"))));
    peers.push_back(c);
  }
  for (auto& c : peers) {
    Result<bool> role(boost::system::in_place_error, make_error_code(NetworkError::TimeoutError));
    const auto until = Clock::now() + 30s;  // the node registers in the background
    while (!role && Clock::now() < until) {
      role = get(io, c->negotiate_role(node_id));
      if (!role) {  // not registered yet: try again shortly
        asio::steady_timer t(io, 50ms);
        t.wait();
      }
    }
    ASSERT_TRUE(role) << role.error().message();
    EXPECT_FALSE(*role);  // we answer; the node offers
  }
  for (auto& c : peers) {
    auto in = get(io, c->next_signal(Clock::now() + 30s));
    ASSERT_TRUE(in) << "the node sent no offer: " << in.error().message();
    EXPECT_EQ(in->signal.kind, PeerSignal::Kind::Offer);
  }

  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(node.pid(), SIGTERM), 0);
  const bool gone = node.wait_eof(t0 + 2000ms);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  int status = -1;
  const bool reaped = gone ? (status = node.wait(), true) : node.try_reap(status);
  EXPECT_TRUE(gone) << "still running " << took.count() << " ms after SIGTERM";
  ASSERT_TRUE(reaped) << "not exited " << took.count() << " ms after SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  std::printf("[ info ] actr node exited %lld ms after SIGTERM\n", static_cast<long long>(took.count()));

  for (auto& c : peers) get(io, c->close());
  get(io, server.close());
  work.reset();
  runner.join();
}
