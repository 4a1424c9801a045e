// Refusals at the signaling upgrade typed as actr PR #398 has them: 401 → a new credential is
// acquired (SignalingClientConfig::reacquire) and the dial repeated with it; 403 → terminal (typed
// error, no retry loop); 503 → retried with backoff. A loopback HTTP server answers every request
// with one status and counts connections; the 401 case uses a real server that requires identity.
// Loopback, one io_context thread; every wait has a deadline.
#include <actr/detail/notifier.hpp>
#include <actr/error.hpp>
#include <actr/identity.hpp>
#include <actr/node.hpp>
#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>

#include "signaling/fast_config.hpp"
#include "signaling/loopback_server.hpp"
#include "support/run_co.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <atomic>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto kEc = asio::as_tuple(asio::use_awaitable);

// Answers every HTTP request with `status` (no upgrade), one request per connection.
struct StatusServer {
  asio::io_context& io;
  unsigned status;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::atomic<int> connections{0};
  detail::Notifier seen;

  StatusServer(asio::io_context& i, unsigned s) : io(i), status(s) {
    asio::co_spawn(io, serve(), [](std::exception_ptr) {});
  }
  ~StatusServer() { acceptor.close(); }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/"; }

  asio::awaitable<void> serve() {
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(kEc);
      if (ec) co_return;
      asio::streambuf buf;
      auto [rec, n] = co_await asio::async_read_until(sock, buf, "\r\n\r\n", kEc);
      ++connections;
      seen.notify();
      if (rec) continue;
      const std::string reply = "HTTP/1.1 " + std::to_string(status) + " Refused\r\nContent-Length: 0\r\n" +
                                "Connection: close\r\n\r\n";
      auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(reply), kEc);
      (void)wec;
    }
  }

  // Waits until at least `n` connections came, or `deadline`; whether they did.
  asio::awaitable<bool> wait_connections(int n, Deadline deadline) {
    for (;;) {
      const auto v = seen.version();
      if (connections.load() >= n) co_return true;
      auto w = co_await seen.async_wait_change(v, deadline);
      if (!w) co_return connections.load() >= n;
    }
  }
};

NodeConfig node_config(const std::string& signal_url) {
  NodeConfig c;
  c.id = *ActrId::parse("7@101/acme:echo:1.0.0");
  c.listen = false;
  c.signal_url = signal_url;
  c.signaling = fast_client();
  c.wires.kinds = WireKindSet{};
  c.wires.kinds.add(WireKind::WebSocket);
  return c;
}

TEST(SignalingRefusal, Http403IsTerminalTypedAndNotRetried) {
  asio::io_context io;
  StatusServer srv(io, 403);
  Node node(io.get_executor(), node_config(srv.url()));
  ASSERT_TRUE(node.start());
  auto r = run_co(io, node.wait_registered(Clock::now() + 5s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(NetworkError::PermissionError)) << r.error().message();
  EXPECT_EQ(node.signaling()->terminal_error(), make_error_code(NetworkError::PermissionError));
  // Many backoff periods (20 ms .. 200 ms) pass without a second dial.
  EXPECT_FALSE(run_co(io, srv.wait_connections(2, Clock::now() + 1500ms)));
  EXPECT_EQ(srv.connections.load(), 1);
  run_co(io, node.stop());
}

TEST(SignalingRefusal, Http503IsRetriedWithBackoff) {
  asio::io_context io;
  StatusServer srv(io, 503);
  Node node(io.get_executor(), node_config(srv.url()));
  ASSERT_TRUE(node.start());
  EXPECT_TRUE(run_co(io, srv.wait_connections(3, Clock::now() + 10s)));
  EXPECT_FALSE(node.signaling()->terminal_error());
  auto r = run_co(io, node.wait_registered(Clock::now() + 50ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(NetworkError::TimeoutError));
  run_co(io, node.stop());
}

TEST(SignalingRefusal, ClientConnectTypes403And503) {
  asio::io_context io;
  StatusServer forbidden(io, 403), busy(io, 503);
  SignalingClient a(io.get_executor(), fast_client()), b(io.get_executor(), fast_client());
  auto ra = run_co(io, a.connect(forbidden.url()));
  auto rb = run_co(io, b.connect(busy.url()));
  ASSERT_FALSE(ra);
  ASSERT_FALSE(rb);
  EXPECT_EQ(ra.error(), make_error_code(NetworkError::PermissionError));
  EXPECT_EQ(rb.error(), make_error_code(NetworkError::ResourceExhausted));
  EXPECT_EQ(a.terminal_error(), make_error_code(NetworkError::PermissionError));
  EXPECT_FALSE(b.terminal_error());
  run_co(io, a.close());
  run_co(io, b.close());
}

SignalingServerConfig requiring_identity() {
  auto c = fast_server();
  c.require_identity = true;
  return c;
}

// A credential the server does not take: signed by a key it never had (as after a restart on a
// new key).
Credential stale_credential(const ActrId& id) {
  auto foreign = CredentialIssuer::ephemeral(std::chrono::seconds(60), 9);
  EXPECT_TRUE(foreign);
  return (*foreign)->issue(id);
}

// A stale credential earns a 401; the client asks `reacquire` for a new one and registers with it.
TEST(SignalingRefusal, Http401ReacquiresTheCredentialAndRegisters) {
  LoopbackServer srv(requiring_identity());
  const ActrId id = *ActrId::parse("7@101/acme:echo:1.0.0");
  int asked = 0;
  auto issuer = srv.server->issuer();
  auto ccfg = fast_client();
  ccfg.reacquire = [&asked, issuer, id]() -> asio::awaitable<Result<Credential>> {
    ++asked;
    co_return issuer->issue(id);
  };
  SignalingClient c(srv.io.get_executor(), ccfg);
  ASSERT_TRUE(c.use_identity(id, stale_credential(id)));
  auto r = run_co(srv.io, c.connect(srv.url()));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(run_co(srv.io, c.wait_registered(0, Clock::now() + 5s)));
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(srv.server->stats().identity_refused, 1u);
  run_co(srv.io, c.close());
}

// Without `reacquire`, a server that requires identity refuses the stale credential and then the
// bare dial: 401, typed, at once.
TEST(SignalingRefusal, Http401WithoutReacquireIsAuthenticationError) {
  LoopbackServer srv(requiring_identity());
  const ActrId id = *ActrId::parse("7@101/acme:echo:1.0.0");
  SignalingClient c(srv.io.get_executor(), fast_client());
  ASSERT_TRUE(c.use_identity(id, stale_credential(id)));
  auto r = run_co(srv.io, c.connect(srv.url()));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(NetworkError::AuthenticationError));
  EXPECT_FALSE(c.terminal_error());
  run_co(srv.io, c.close());
}

}  // namespace
