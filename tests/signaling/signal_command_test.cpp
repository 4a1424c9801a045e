// `actr signal` as a separate process: port 0 printed on stdout, clients served, SIGKILL and a
// restart on the same port (clients reconnect and register again), SIGTERM ends it cleanly.
#include <actr/error.hpp>
#include <actr/signaling_client.hpp>

#include "core/test_util.hpp"
#include "support/run_co.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// A child `actr signal` process; SIGKILLed and reaped on destruction.
struct SignalProcess {
  pid_t pid = -1;
  std::string line;  // what it printed on stdout
  std::uint16_t port = 0;

  bool start(std::uint16_t want_port) {
    int fds[2];
    if (::pipe(fds) != 0) return false;
    const std::string listen = "127.0.0.1:" + std::to_string(want_port);
    pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      ::execl(ACTR_CLI, ACTR_CLI, "signal", "--listen", listen.c_str(), "--heartbeat-ms", "200", "--log-level",
              "warn", static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    ::close(fds[1]);
    // One line, "listening 127.0.0.1:PORT", within a deadline.
    pollfd p{fds[0], POLLIN, 0};
    while (line.find('\n') == std::string::npos && ::poll(&p, 1, 10000) > 0) {
      char buf[128];
      auto n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    const std::string prefix = "listening 127.0.0.1:";
    if (line.rfind(prefix, 0) != 0) return false;
    port = static_cast<std::uint16_t>(std::atoi(line.c_str() + prefix.size()));
    return port != 0;
  }
  // Sends `sig` and reaps the child; returns its wait status.
  int stop(int sig) {
    int status = -1;
    if (pid > 0) {
      ::kill(pid, sig);
      ::waitpid(pid, &status, 0);
      pid = -1;
    }
    return status;
  }
  ~SignalProcess() { stop(SIGKILL); }
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
  s.sdp_exchange_id = 1;
  return s;
}

}  // namespace

TEST(SignalCommand, ServesClientsSurvivesKillAndRestartAndStopsOnSigterm) {
  SignalProcess server;
  ASSERT_TRUE(server.start(0)) << "stdout was: " << server.line;
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
  ASSERT_TRUE(again.start(port)) << "stdout was: " << again.line;
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
