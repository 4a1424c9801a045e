// `actr signal` as a separate process: port 0 printed on stdout, clients served, SIGKILL and a
// restart on the same port (clients reconnect and register again), SIGTERM ends it cleanly.
#include <actr/error.hpp>
#include <actr/signaling_client.hpp>

#include "core/test_util.hpp"
#include "support/child_process.hpp"
#include "support/run_co.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// A child `actr signal` process on `want_port` (0: any); its port from its first line,
// "listening 127.0.0.1:PORT".
struct SignalProcess : ChildProcess {
  std::uint16_t port = 0;

  bool start(std::uint16_t want_port) {
    const std::string listen = "127.0.0.1:" + std::to_string(want_port);
    if (!ChildProcess::start({ACTR_CLI, "signal", "--listen", listen, "--heartbeat-ms", "200", "--log-level", "warn"}))
      return false;
    if (!read_until("\n", 10000ms)) return false;
    const std::string prefix = "listening 127.0.0.1:";
    if (output().rfind(prefix, 0) != 0) return false;
    port = static_cast<std::uint16_t>(std::atoi(output().c_str() + prefix.size()));
    return port != 0;
  }
};

SignalingClientConfig quick() {
  SignalingClientConfig c;
  c.request_timeout = 3000ms;
  c.close_timeout = 200ms;
  c.reconnect_backoff.initial = 20ms;
  c.reconnect_backoff.max = 200ms;
  return c;
}

PeerSignal offer(std::string sdp) {
  PeerSignal s;
  s.sdp = std::move(sdp);
  s.sdp_exchange_id = "6f1c2a3e-0d4b-4c5a-9e7f-1a2b3c4d5e6f";
  return s;
}

}  // namespace

TEST(SignalCommand, ServesClientsSurvivesKillAndRestartAndStopsOnSigterm) {
  SignalProcess server;
  ASSERT_TRUE(server.start(0)) << "stdout was: " << server.output();
  const std::string url = "ws://127.0.0.1:" + std::to_string(server.port) + "/";

  asio::io_context io;
  SignalingClient a(io.get_executor(), quick());
  SignalingClient b(io.get_executor(), quick());
  ASSERT_TRUE(run_co(io, a.connect(url)));
  ASSERT_TRUE(run_co(io, b.connect(url)));
  ASSERT_TRUE(run_co(io, a.register_actor(actor_id(1), "ws://127.0.0.1:4200/")));
  ASSERT_TRUE(run_co(io, b.register_actor(actor_id(2))));
  auto where = run_co(io, b.discover(actor_id(1)));
  ASSERT_TRUE(where);
  EXPECT_EQ(where->ws_address, std::optional<std::string>("ws://127.0.0.1:4200/"));

  // The server dies without a goodbye and comes back on the same port.
  const auto seen_a = a.registrations();
  const auto seen_b = b.registrations();
  const std::uint16_t port = server.port;
  server.stop(SIGKILL);
  SignalProcess again;
  ASSERT_TRUE(again.start(port)) << "stdout was: " << again.output();
  ASSERT_TRUE(run_co(io, a.wait_registered(seen_a, Clock::now() + 10000ms)));
  ASSERT_TRUE(run_co(io, b.wait_registered(seen_b, Clock::now() + 10000ms)));
  ASSERT_TRUE(run_co(io, a.send_signal(actor_id(2), offer("after the restart"))));
  auto got = run_co(io, b.next_signal(Clock::now() + 5000ms));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->signal.sdp, "after the restart");
  EXPECT_EQ(got->from, actor_id(1));

  run_co(io, a.close());
  run_co(io, b.close());
  const int status = again.stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}
