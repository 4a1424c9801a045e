// Metrics (include/actr/metrics.hpp) of a node and a signaling server on 127.0.0.1: scraped over
// HTTP from the exporter `actr node --metrics` uses (apps/actr/metrics_http.hpp), and through a
// sink of our own, as an embedder would.
#include <actr/metrics.hpp>
#include <actr/node.hpp>
#include <actr/node_status.hpp>
#include <actr/signaling.hpp>

#include "core/test_util.hpp"
#include "metrics_http.hpp"
#include "status_json.hpp"
#include "support/metrics_recorder.hpp"
#include "support/run_co.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <sstream>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

NodeConfig config(std::uint64_t serial) {
  NodeConfig c;
  c.id = actor_id(serial, "node");
  c.wires.kinds = WireKindSet{};
  c.wires.kinds.add(WireKind::WebSocket);
  c.wires.ws.keepalive_interval = 1000ms;
  c.manager.send_timeout = 3s;
  return c;
}

// GET http://127.0.0.1:port/path (HTTP/1.0: the server closes after the answer). Bounded by run_co.
asio::awaitable<std::string> http_get(std::uint16_t port, std::string path) {
  asio::ip::tcp::socket s(co_await asio::this_coro::executor);
  co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  co_await asio::async_write(s, asio::buffer(req), asio::use_awaitable);
  std::string out;
  auto [ec, n] = co_await asio::async_read(s, asio::dynamic_buffer(out), asio::as_tuple(asio::use_awaitable));
  (void)ec;  // eof: the answer is complete
  (void)n;
  co_return out;
}

// The value of one series ("name{labels}" exactly as exposed), or nullopt if it is absent.
std::optional<double> value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return std::nullopt;
}

// Echo server `b` and caller `a` over WebSocket.
struct Pair {
  asio::io_context io;
  Node a{io.get_executor(), config(1)};
  Node b{io.get_executor(), config(2)};
  Pair() {
    auto pa = a.start();
    auto pb_ = b.start();
    EXPECT_TRUE(pa && pb_);
    a.set_peer_address(b.id(), "ws://127.0.0.1:" + std::to_string(*pb_) + "/");
    b.on_request([](ActrId, pb::RpcEnvelope req) -> asio::awaitable<Result<Bytes>> {
      co_return Bytes(req.payload().begin(), req.payload().end());
    });
  }
  ~Pair() {
    run_co(io, a.stop());
    run_co(io, b.stop());
  }
};

}  // namespace

TEST(Metrics, NodeServesPrometheusTextOverHttp) {
  Pair p;
  std::string error;
  auto server = actr::cli::MetricsServer::start(
      "127.0.0.1", 0, [&](Metrics& out) { collect_metrics(p.a, out); },
      [&] { return actr::cli::node_state_json(p.a); }, error);
  ASSERT_TRUE(server) << error;
  ASSERT_NE(server->port(), 0);
  constexpr int kCalls = 5;
  for (int i = 0; i < kCalls; ++i) {
    auto r = run_co(p.io, p.a.call(p.b.id(), "echo", bytes("ping"), 2000ms));
    ASSERT_TRUE(r) << r.error().message();
  }
  const auto text = run_co(p.io, http_get(server->port(), "/metrics"));
  ASSERT_NE(text.find("200 OK"), std::string::npos) << text;
  EXPECT_NE(text.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << text;
  for (auto family : {"actr_dial_duration_seconds histogram", "actr_dials_total counter", "actr_wires gauge",
                      "actr_queue_depth gauge", "actr_queue_dropped_total counter", "actr_messages_sent_total counter",
                      "actr_sent_bytes_total counter", "actr_reconnects_total counter", "actr_webrtc_setups_total counter"})
    EXPECT_NE(text.find(std::string("# TYPE ") + family), std::string::npos) << family << "\n" << text;
  EXPECT_GE(value(text, R"(actr_messages_sent_total{kind="websocket"})").value_or(-1), kCalls) << text;
  EXPECT_GE(value(text, R"(actr_messages_received_total{kind="websocket"})").value_or(-1), kCalls);
  EXPECT_GE(value(text, R"(actr_inbound_total{type="response"})").value_or(-1), kCalls);
  // Each request carries the payload and its envelope: more than 4 bytes each.
  EXPECT_GT(value(text, R"(actr_sent_bytes_total{kind="websocket"})").value_or(-1), 4 * kCalls);
  EXPECT_EQ(value(text, R"(actr_dials_total{kind="websocket"})").value_or(-1), 1);
  EXPECT_EQ(value(text, R"(actr_dial_duration_seconds_count{kind="websocket"})").value_or(-1), 1);
  EXPECT_EQ(value(text, R"(actr_dial_duration_seconds_bucket{kind="websocket",le="+Inf"})").value_or(-1), 1);
  EXPECT_EQ(value(text, R"(actr_wires{kind="websocket",state="ready"})").value_or(-1), 1);
  EXPECT_EQ(value(text, R"(actr_wires{kind="webrtc",state="ready"})").value_or(-1), 0);
  EXPECT_EQ(value(text, R"(actr_destinations)").value_or(-1), 1);
  EXPECT_EQ(value(text, R"(actr_queue_depth{class="rpc"})").value_or(-1), 0);
  EXPECT_EQ(value(text, R"(actr_queue_capacity{class="rpc"})").value_or(-1), 256);
  // The status page and its state are served; anything else is not.
  const auto page = run_co(p.io, http_get(server->port(), "/"));
  EXPECT_NE(page.find("Content-Type: text/html"), std::string::npos) << page.substr(0, 300);
  EXPECT_NE(page.find("api/events"), std::string::npos);
  const auto state = run_co(p.io, http_get(server->port(), "/api/state"));
  EXPECT_NE(state.find("Content-Type: application/json"), std::string::npos) << state;
  EXPECT_NE(state.find(R"("id":")" + p.b.id().to_string()), std::string::npos) << state;
  const auto other = run_co(p.io, http_get(server->port(), "/other"));
  EXPECT_NE(other.find(" 404 "), std::string::npos) << other;
  // A request past the size bound is refused, not read.
  const auto big = run_co(p.io, http_get(server->port(), "/metrics?" + std::string(20000, 'x')));
  EXPECT_NE(big.find(" 431 "), std::string::npos) << big.substr(0, 300);
}

// Connects `s` to `ep`, sends GET `path` unless it is empty, and reads until `until` arrives (empty:
// until the server closes or resets the connection).
asio::awaitable<std::string> exchange(asio::ip::tcp::socket& s, asio::ip::tcp::endpoint ep, std::string path,
                                      std::string until = {}) {
  co_await s.async_connect(ep, asio::use_awaitable);
  if (!path.empty()) {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)co_await asio::async_write(s, asio::buffer(req), asio::as_tuple(asio::use_awaitable));
  }
  std::string out;
  if (!until.empty()) {
    co_await asio::async_read_until(s, asio::dynamic_buffer(out), until, asio::use_awaitable);
    co_return out;
  }
  auto [ec, n] = co_await asio::async_read(s, asio::dynamic_buffer(out), asio::as_tuple(asio::use_awaitable));
  (void)ec;  // eof or reset: the server is done with it
  (void)n;
  co_return out;
}

// The listener's bounds: a connection past max_connections is closed unread, an event stream past
// max_event_streams gets 503, an idle connection is closed after request_timeout_ms.
TEST(Metrics, StatusServerBoundsConnectionsStreamsAndIdleTime) {
  asio::io_context io;
  actr::cli::StatusServerLimits limits;
  limits.max_connections = 2;
  limits.max_event_streams = 1;
  limits.request_timeout_ms = 300;
  std::string error;
  auto server = actr::cli::MetricsServer::start(
      "127.0.0.1", 0, [](Metrics&) {}, [] { return std::string(R"({"kind":"test"})"); }, error, limits);
  ASSERT_TRUE(server) << error;
  const asio::ip::tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), server->port()};
  // The first event stream is served and holds its connection.
  asio::ip::tcp::socket stream(io), second(io), idle(io), third(io);
  const auto first = run_co(io, exchange(stream, ep, "/api/events", "data: "));
  EXPECT_NE(first.find("text/event-stream"), std::string::npos) << first;
  // A second one on a second connection: 503 (2 connections now, the bound).
  const auto refused = run_co(io, exchange(second, ep, "/api/events"));
  EXPECT_NE(refused.find(" 503 "), std::string::npos) << refused;
  // With the stream and an idle connection open, a third connection is closed before any answer.
  const auto t0 = Clock::now();
  run_co(io, idle.async_connect(ep, asio::use_awaitable));
  EXPECT_EQ(run_co(io, exchange(third, ep, "/metrics")), "");
  // The idle connection sent nothing: closed after the request timeout (run_co bounds the wait).
  std::string idle_out;
  auto [ec, n] = run_co(io, asio::async_read(idle, asio::dynamic_buffer(idle_out), asio::as_tuple(asio::use_awaitable)));
  EXPECT_TRUE(ec) << n;
  EXPECT_EQ(idle_out, "");
  EXPECT_GE(Clock::now() - t0, 300ms);
}

// node_status: the destination a call dialed, its Ready WebSocket wire carrying every data class
// (no WebRTC here), and the wire events that brought it up, in order.
TEST(Metrics, NodeStatusShowsDestinationsWiresRoutesAndEvents) {
  Pair p;
  EXPECT_TRUE(node_status(p.a).destinations.empty());
  auto r = run_co(p.io, p.a.call(p.b.id(), "echo", bytes("ping"), 2000ms));
  ASSERT_TRUE(r) << r.error().message();
  const auto s = node_status(p.a);
  EXPECT_EQ(s.id, p.a.id());
  ASSERT_EQ(s.destinations.size(), 1u);
  const auto& d = s.destinations[0];
  ASSERT_NE(d.dest.as_actor_id(), nullptr);
  EXPECT_EQ(*d.dest.as_actor_id(), p.b.id());
  ASSERT_EQ(d.wires.size(), 2u);
  const auto& ws = d.wires[static_cast<std::size_t>(WireKind::WebSocket)];
  EXPECT_EQ(ws.state, SlotState::Ready);
  EXPECT_EQ(ws.routes.size(), 4u);  // RPC_RELIABLE, RPC_SIGNAL, STREAM_RELIABLE, STREAM_LATENCY_FIRST
  EXPECT_EQ(d.wires[static_cast<std::size_t>(WireKind::WebRtc)].state, SlotState::Empty);
  EXPECT_TRUE(d.wires[static_cast<std::size_t>(WireKind::WebRtc)].routes.empty());
  ASSERT_GE(s.events.size(), 2u);
  EXPECT_EQ(s.events[0].state, ConnectionState::Connecting);
  EXPECT_EQ(s.events[1].state, ConnectionState::Connected);
  EXPECT_EQ(s.events[1].wire.kind, WireKind::WebSocket);
  EXPECT_LT(s.events[0].seq, s.events[1].seq);
  EXPECT_TRUE(node_status(p.a, s.events.back().seq).events.empty());
}

TEST(Metrics, WireEventLogKeepsTheLastEvents) {
  WireEventLog log(2);
  for (int i = 0; i < 3; ++i)
    log.record(ConnectionEvent{Dest::actor(actor_id(2, "node")), WireIdentity{WireKind::WebRtc, 7},
                               ConnectionState::Failed,
                               boost::system::errc::make_error_code(boost::system::errc::connection_refused)});
  const auto ev = log.since();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].seq, 2u);
  EXPECT_EQ(ev[1].seq, 3u);
  EXPECT_EQ(ev[1].error, "connection_refused");
  EXPECT_EQ(log.last_seq(), 3u);
  EXPECT_EQ(log.since(2).size(), 1u);
}

TEST(Metrics, DialErrorsAreCountedByCause) {
  asio::io_context io;
  // A port where nothing listens: bound, then closed.
  std::uint16_t dead_port = 0;
  {
    asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
    dead_port = acc.local_endpoint().port();
  }
  auto cfg = config(1);
  cfg.manager.pool.connect_backoff.max_attempts = 1;
  Node a(io.get_executor(), cfg);
  ASSERT_TRUE(a.start());
  a.set_peer_address(actor_id(2, "node"), "ws://127.0.0.1:" + std::to_string(dead_port) + "/");
  auto r = run_co(io, a.call(actor_id(2, "node"), "echo", bytes("x"), 2000ms));
  EXPECT_FALSE(r);
  MetricsRecorder rec;
  collect_metrics(a, rec);
  EXPECT_GE(rec.at("actr_dial_errors_total{kind=websocket,cause=connection_refused,}"), 1) << rec.dump();
  const auto& h = rec.histograms["actr_dial_duration_seconds{kind=websocket,}"];
  EXPECT_GE(h.count, 1u);
  ASSERT_EQ(h.bounds.size(), h.cumulative.size());
  for (std::size_t i = 1; i < h.cumulative.size(); ++i) EXPECT_LE(h.cumulative[i - 1], h.cumulative[i]);
  EXPECT_LE(h.cumulative.back(), h.count);
  // Every family once.
  EXPECT_EQ(std::set<std::string>(rec.families.begin(), rec.families.end()).size(), rec.families.size());
  run_co(io, a.stop());
}

TEST(Metrics, SignalingServerCountsRegistrations) {
  asio::io_context io;
  SignalingServer server(io.get_executor());
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  auto cfg = config(1);
  cfg.signal_url = "ws://127.0.0.1:" + std::to_string(*port) + "/";
  Node a(io.get_executor(), cfg);
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(run_co(io, a.wait_registered(Clock::now() + 10s)));
  const auto text = actr::cli::render_prometheus([&](Metrics& out) { collect_metrics(server, out); });
  EXPECT_EQ(value(text, "actr_signaling_registrations_total").value_or(-1), 1) << text;
  EXPECT_EQ(value(text, "actr_signaling_registered").value_or(-1), 1);
  EXPECT_EQ(value(text, "actr_signaling_connections").value_or(-1), 1);
  EXPECT_NE(text.find("# TYPE actr_signaling_relayed_total counter"), std::string::npos);
  const auto node_text = actr::cli::render_prometheus([&](Metrics& out) { collect_metrics(a, out); });
  EXPECT_EQ(value(node_text, "actr_signaling_client_registrations_total").value_or(-1), 1) << node_text;
  run_co(io, a.stop());
  run_co(io, server.close());
}
