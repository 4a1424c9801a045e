// The WebSocket wire and gate over real TCP on 127.0.0.1 (port 0).
#include <actr/error.hpp>
#include <actr/websocket.hpp>

#include "core/test_util.hpp"
#include "support/raw_ws.hpp"
#include "support/run_co.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <gtest/gtest.h>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {
constexpr auto use_ec = asio::as_tuple(asio::use_awaitable);

struct Received {
  std::vector<std::pair<PayloadType, Bytes>> frames;
  std::vector<ActrId> peers;
  std::vector<std::shared_ptr<WireHandle>> wires;
};

WebSocketConfig fast_ws() {
  WebSocketConfig c;
  c.connect_timeout = 2000ms;
  c.keepalive_interval = 100ms;
  c.close_timeout = 200ms;
  c.max_message_size = 1024;
  return c;
}

struct Fixture {
  asio::io_context io;
  Received server_got, client_got;
  WebSocketServer server{io.get_executor(), fast_ws(),
                         [this](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType pt, ConstBytes b) -> asio::awaitable<Result<void>> {
                           server_got.frames.emplace_back(pt, Bytes(b.begin(), b.end()));
                           co_return ok();
                         },
                         [this](const ActrId& id, const std::shared_ptr<WireHandle>& w) {
                           server_got.peers.push_back(id);
                           server_got.wires.push_back(w);
                         }};
  std::uint16_t port = 0;
  Fixture() {
    auto p = server.listen("127.0.0.1", 0);
    EXPECT_TRUE(p);
    port = *p;
  }
  ~Fixture() { run_co(io, server.close()); }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port) + "/actor"; }
  std::shared_ptr<WireHandle> client(std::uint64_t serial = 7) {
    return make_websocket_client(io.get_executor(), url(), actor_id(serial), actor_id(1000), fast_ws(),
                                 [this](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType pt, ConstBytes b) -> asio::awaitable<Result<void>> {
                                   client_got.frames.emplace_back(pt, Bytes(b.begin(), b.end()));
                                   co_return ok();
                                 });
  }

  // A raw Beast client, to send what our wire never would.
  asio::awaitable<std::unique_ptr<RawWs>> raw_client(std::optional<std::string> source) {
    return raw_ws_client(port, std::move(source));
  }
};

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }
}  // namespace

TEST(WebSocketWire, EveryPayloadClassBothWays) {
  Fixture f;
  auto c = f.client();
  ASSERT_TRUE(run_co(f.io, c->connect()));
  EXPECT_TRUE(c->is_connected());
  const PayloadType classes[] = {PayloadType::RpcReliable, PayloadType::RpcSignal, PayloadType::StreamReliable,
                                 PayloadType::StreamLatencyFirst};
  for (auto pt : classes) {
    auto lane = c->get_lane(pt);
    ASSERT_TRUE(lane);
    ASSERT_TRUE(run_co(f.io, (*lane)->send(text(std::string("to-server:") + std::string(to_string(pt))))));
  }
  run_until(f.io, [&] { return f.server_got.frames.size() == 4 && f.server_got.wires.size() == 1; });
  EXPECT_EQ(f.server_got.peers[0], actor_id(7));  // identified from X-Actr-Source-ID
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(f.server_got.frames[i].first, classes[i]);
    EXPECT_EQ(f.server_got.frames[i].second, text(std::string("to-server:") + std::string(to_string(classes[i]))));
  }
  auto back = f.server_got.wires[0];
  EXPECT_TRUE(back->is_connected());
  for (auto pt : classes) ASSERT_TRUE(run_co(f.io, (*back->get_lane(pt))->send(text("to-client"))));
  run_until(f.io, [&] { return f.client_got.frames.size() == 4; });
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(f.client_got.frames[i].first, classes[i]);
  EXPECT_FALSE(c->get_lane(PayloadType::MediaRtp));
  run_co(f.io, c->close());
  run_co(f.io, c->close());  // idempotent
  EXPECT_FALSE(c->is_connected());
}

TEST(WebSocketGate, MissingOrBadSourceIdIsRejectedAndOthersAreServed) {
  Fixture f;
  auto none = run_co(f.io, f.raw_client(std::nullopt));
  EXPECT_EQ(none, nullptr);
  auto garbage = run_co(f.io, f.raw_client(std::string("zz-not-hex")));
  EXPECT_EQ(garbage, nullptr);
  auto truncated = run_co(f.io, f.raw_client(std::string("0a02")));  // hex of a truncated ActrId
  EXPECT_EQ(truncated, nullptr);
  EXPECT_EQ(f.server.rejected(), 3u);
  auto c = f.client();
  ASSERT_TRUE(run_co(f.io, c->connect()));
  ASSERT_TRUE(run_co(f.io, (*c->get_lane(PayloadType::RpcReliable))->send(text("still served"))));
  run_until(f.io, [&] { return f.server_got.frames.size() == 1; });
}

TEST(WebSocketGate, BadFramesCloseOnlyThatConnection) {
  Fixture f;
  auto good = f.client(1);
  ASSERT_TRUE(run_co(f.io, good->connect()));
  const auto src = to_hex(actor_id(2).to_protobuf());
  struct Case {
    const char* what;
    Bytes bytes;
    bool as_text;
  } cases[] = {
      {"short header", Bytes{0, 0, 0}, false},
      {"unknown type", Bytes{9, 0, 0, 0, 0}, false},
      {"length mismatch", Bytes{0, 0, 0, 0, 9, 1}, false},
      {"trailing bytes", Bytes{0, 0, 0, 0, 1, 1, 2}, false},
      {"oversize", Bytes(2000, 0), false},
      {"text frame", text("hello"), true},
  };
  for (const auto& c : cases) {
    auto ws = run_co(f.io, f.raw_client(src));
    ASSERT_NE(ws, nullptr) << c.what;
    auto outcome = run_co(f.io, [&]() -> asio::awaitable<beast::error_code> {
      ws->text(c.as_text);
      auto [wec, n] = co_await ws->async_write(asio::buffer(c.bytes), use_ec);
      (void)wec;
      beast::flat_buffer buf;
      auto [rec, m] = co_await ws->async_read(buf, use_ec);  // the server closes us
      co_return rec;
    }());
    EXPECT_TRUE(outcome) << c.what << ": connection should have been closed";
  }
  EXPECT_EQ(f.server_got.frames.size(), 0u);
  // The well-behaved peer is untouched.
  ASSERT_TRUE(run_co(f.io, (*good->get_lane(PayloadType::RpcReliable))->send(text("ok"))));
  run_until(f.io, [&] { return f.server_got.frames.size() == 1; });
  EXPECT_TRUE(good->is_connected());
}

TEST(WebSocketWire, PeerGoingAwayIsReportedOnce) {
  Fixture f;
  auto c = f.client();
  int closed = 0;
  Error why;
  c->set_on_closed([&](const WireIdentity&, Error e) {
    ++closed;
    why = e;
  });
  ASSERT_TRUE(run_co(f.io, c->connect()));
  run_until(f.io, [&] { return f.server_got.wires.size() == 1; });
  run_co(f.io, f.server_got.wires[0]->close());
  run_until(f.io, [&] { return closed == 1; });
  EXPECT_FALSE(c->is_connected());
  EXPECT_EQ(why, NetworkCondition::Transient);
  auto lane = c->get_lane(PayloadType::RpcReliable);
  ASSERT_FALSE(lane);
  EXPECT_TRUE(is_closed_like(lane.error()));
}

// A peer that completes the upgrade and then goes silent (never reads, never answers pings) is
// declared dead within two keepalive intervals.
TEST(WebSocketWire, SilentPeerIsDetectedWithinTwoKeepaliveIntervals) {
  asio::io_context io;
  tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acc.local_endpoint().port();
  std::unique_ptr<websocket::stream<beast::tcp_stream>> silent;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto [ec, sock] = co_await acc.async_accept(use_ec);
    silent = std::make_unique<websocket::stream<beast::tcp_stream>>(std::move(sock));
    auto [aec] = co_await silent->async_accept(use_ec);  // then never reads again
    (void)aec;
  }, asio::use_future);
  auto cfg = fast_ws();
  auto c = make_websocket_client(io.get_executor(), "ws://127.0.0.1:" + std::to_string(port) + "/", actor_id(3), actor_id(4),
                                 cfg, nullptr);
  bool dead = false;
  c->set_on_closed([&](const WireIdentity&, Error) { dead = true; });
  ASSERT_TRUE(run_co(io, c->connect()));
  const auto start = Clock::now();
  run_until(io, [&] { return dead; });
  const auto took = Clock::now() - start;
  EXPECT_LE(took, 2 * cfg.keepalive_interval + 500ms);  // two intervals plus sanitizer/scheduling slack
  EXPECT_GE(took, cfg.keepalive_interval);               // not before a ping went unanswered
}

TEST(WebSocketWire, ConnectToClosedPortFailsTyped) {
  asio::io_context io;
  tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acc.local_endpoint().port();
  acc.close();
  auto c = make_websocket_client(io.get_executor(), "ws://127.0.0.1:" + std::to_string(port) + "/", actor_id(3),
                                 actor_id(4), fast_ws(), nullptr);
  auto r = run_co(io, c->connect());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkCondition::Transient);
  auto bad = make_websocket_client(io.get_executor(), "http://nope", actor_id(3), actor_id(4), fast_ws(), nullptr);
  auto r2 = run_co(io, bad->connect());
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error(), NetworkError::InvalidArgument);
}

#include <actr/default_wire_builder.hpp>
#include <actr/outproc_transport_manager.hpp>

// Two managers over real WebSocket: A dials B from its address book; B answers over the wire A
// opened (adopted from its gate), without dialing: B has no address for A at all.
TEST(WebSocketTransport, ManagerSendsOverWebSocketAndPeerRepliesOnAdoptedWire) {
  asio::io_context io;
  const ActrId a = actor_id(0xa), b = actor_id(0xb);
  std::vector<Bytes> at_a, at_b;
  OutprocTransportManager* mgr_b_ptr = nullptr;
  std::vector<std::shared_ptr<WireHandle>> receive_only;
  WebSocketServer gate_b(io.get_executor(), fast_ws(),
                         [&](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType, ConstBytes bytes) -> asio::awaitable<Result<void>> {
                           at_b.push_back(Bytes(bytes.begin(), bytes.end()));
                           co_return ok();
                         },
                         [&](const ActrId& peer, const std::shared_ptr<WireHandle>& w) {
                           if (!mgr_b_ptr->adopt_inbound(Dest::actor(peer), w)) receive_only.push_back(w);
                         });
  const auto port = *gate_b.listen("127.0.0.1", 0);

  DefaultWireBuilderConfig cfg_a;
  cfg_a.url_template = "ws://127.0.0.1:" + std::to_string(port) + "/actor/{actor_id}";
  cfg_a.ws = fast_ws();
  auto builder_a = std::make_shared<DefaultWireBuilder>(
      io.get_executor(), a, cfg_a, [&](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType, ConstBytes bytes) -> asio::awaitable<Result<void>> {
        at_a.push_back(Bytes(bytes.begin(), bytes.end()));
        co_return ok();
      });
  EXPECT_EQ(builder_a->resolve_url(Dest::actor(b)), "ws://127.0.0.1:" + std::to_string(port) + "/actor/11");
  EXPECT_EQ(builder_a->resolve_url(Dest::shell()), std::nullopt);
  auto builder_b = std::make_shared<DefaultWireBuilder>(io.get_executor(), b, DefaultWireBuilderConfig{}, nullptr);

  ManagerConfig mc;
  mc.send_timeout = 5s;
  OutprocTransportManager mgr_a(io.get_executor(), a, builder_a, mc);
  OutprocTransportManager mgr_b(io.get_executor(), b, builder_b, mc);
  mgr_b_ptr = &mgr_b;

  ASSERT_TRUE(run_co(io, mgr_a.send(Dest::actor(b), PayloadType::RpcReliable, text("hello b"))));
  run_until(io, [&] { return !at_b.empty() && mgr_b.has_dest(Dest::actor(a)); });
  EXPECT_EQ(at_b[0], text("hello b"));
  auto reply = run_co(io, mgr_b.send(Dest::actor(a), PayloadType::RpcReliable, text("hello a")));
  ASSERT_TRUE(reply) << reply.error().message();
  run_until(io, [&] { return !at_a.empty(); });
  EXPECT_EQ(at_a[0], text("hello a"));
  EXPECT_TRUE(run_co(io, mgr_a.close_all()));
  EXPECT_TRUE(run_co(io, mgr_b.close_all()));
  run_co(io, gate_b.close());
}

#include <filesystem>

namespace {
std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}
}  // namespace

// 500 connect/close cycles against one gate leak no file descriptor on either side.
TEST(WebSocketWire, NoFdLeakOver500ConnectDisconnectCycles) {
  Fixture f;
  {  // warm-up: the resolver thread and first allocations open what they keep
    auto c = f.client();
    ASSERT_TRUE(run_co(f.io, c->connect()));
    run_co(f.io, c->close());
    run_until(f.io, [&] { return f.server_got.wires.size() == 1 && !f.server_got.wires[0]->is_connected(); });
  }
  f.server_got.wires.clear();
  actr::testing::drain(f.io);
  const auto before = open_fds();
  for (int i = 0; i < 500; ++i) {
    auto c = f.client(static_cast<std::uint64_t>(100 + i));
    ASSERT_TRUE(run_co(f.io, c->connect())) << "cycle " << i;
    run_co(f.io, c->close());
  }
  run_until(f.io, [&] {
    return std::all_of(f.server_got.wires.begin(), f.server_got.wires.end(), [](auto& w) { return !w->is_connected(); });
  });
  f.server_got.wires.clear();
  // Closing handshakes finish on the loop; give them a bounded chance to release sockets.
  run_until(f.io, [&] { return open_fds() <= before; });
  EXPECT_LE(open_fds(), before);
}
