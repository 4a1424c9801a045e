// The data frames our WebSocket writer serialises itself (src/wire/websocket/ws_frame.hpp), read
// by Beast in both roles: bare frames over a raw socket, then whole batches from our wire to a
// raw Beast peer (client → Beast server, masked; server → Beast client, unmasked).
#include <actr/error.hpp>
#include <actr/framing.hpp>
#include <actr/websocket.hpp>

#include "core/test_util.hpp"
#include "support/co_assert.hpp"
#include "support/raw_ws.hpp"
#include "support/run_co.hpp"
#include "wire/websocket/ws_frame.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>

#include <gtest/gtest.h>

#include <memory>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {
constexpr auto use_ec = asio::as_tuple(asio::use_awaitable);

// Sizes around every length encoding's edges, and past the writer's 64 KiB coalescing limit.
const std::vector<std::size_t> kSizes{0, 1, 7, 8, 9, 125, 126, 127, 1000, 65535, 65536, 70001, 3, 200000};

Bytes pattern(std::size_t n, std::size_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 31 + seed * 7) & 0xff);
  return b;
}

// Our bytes for `msgs`, as one buffer: masked (a client's) or not (a server's).
Bytes serialise(const std::vector<Bytes>& msgs, bool masked) {
  Bytes out;
  ws::MaskSource keys(12345);
  for (const auto& m : msgs) {
    std::uint8_t key[4];
    keys.next(key);
    const auto at = out.size();
    out.resize(at + ws::frame_size(m.size(), masked));
    ws::write_frame(out.data() + at, m.data(), m.size(), masked ? key : nullptr);
  }
  return out;
}

struct BeastPair {
  std::unique_ptr<RawWs> client, server;
};

// A Beast client and a Beast server, upgraded, on 127.0.0.1.
asio::awaitable<BeastPair> beast_pair() {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acc(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  BeastPair p;
  p.client = std::make_unique<RawWs>(ex);
  auto [cec] = co_await beast::get_lowest_layer(*p.client).async_connect(acc.local_endpoint(), use_ec);
  EXPECT_FALSE(cec);
  auto [aec, sock] = co_await acc.async_accept(use_ec);
  EXPECT_FALSE(aec);
  p.server = std::make_unique<RawWs>(std::move(sock));
  p.client->read_message_max(1u << 20);
  p.server->read_message_max(1u << 20);
  p.client->binary(true);
  p.server->binary(true);
  // The two halves of the upgrade run side by side.
  co_await (p.client->async_handshake("127.0.0.1", "/", asio::use_awaitable) &&
            p.server->async_accept(asio::use_awaitable));
  co_return p;
}

// Reads `want.size()` messages from `ws` and checks each is binary and equal to its original.
asio::awaitable<void> expect_messages(RawWs& ws, const std::vector<Bytes>& want) {
  beast::flat_buffer buf;
  for (std::size_t i = 0; i < want.size(); ++i) {
    buf.clear();
    auto [ec, n] = co_await ws.async_read(buf, use_ec);
    EXPECT_FALSE(ec) << "message " << i << ": " << ec.message();
    CO_ASSERT(!ec);
    EXPECT_TRUE(ws.got_binary());
    const auto d = buf.cdata();
    EXPECT_EQ(d.size(), want[i].size()) << "message " << i;
    CO_ASSERT(d.size() == want[i].size());
    EXPECT_TRUE(d.size() == 0 || std::memcmp(d.data(), want[i].data(), d.size()) == 0) << "message " << i;
  }
}

// Sends `payloads` on `lane` back to back (the writer packs them into batches) while `reader`
// reads: together they outgrow the connection's queue. Every actr frame must arrive intact, of
// type `pt`, in order.
asio::awaitable<void> send_and_read(DataLane& lane, RawWs& reader, PayloadType pt, const std::vector<Bytes>& payloads) {
  auto send_all = [&]() -> asio::awaitable<void> {
    for (const auto& p : payloads) {
      auto sent = co_await lane.send(p);
      CO_ASSERT(sent.has_value());
    }
  };
  auto read_all = [&]() -> asio::awaitable<void> {
    beast::flat_buffer buf;
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      buf.clear();
      auto [ec, n] = co_await reader.async_read(buf, use_ec);
      EXPECT_FALSE(ec) << "message " << i << ": " << ec.message();
      CO_ASSERT(!ec);
      const auto d = buf.cdata();
      auto frame = decode_frame(ConstBytes(static_cast<const std::uint8_t*>(d.data()), d.size()), 1u << 20);
      CO_ASSERT(frame.has_value());
      EXPECT_EQ(frame->type, pt);
      EXPECT_EQ(frame->payload.size(), payloads[i].size()) << "message " << i;
      CO_ASSERT(frame->payload.size() == payloads[i].size());
      EXPECT_TRUE(std::equal(frame->payload.begin(), frame->payload.end(), payloads[i].begin())) << "message " << i;
    }
  };
  co_await (send_all() && read_all());
}

WebSocketConfig big_ws() {
  WebSocketConfig c;
  c.connect_timeout = 2000ms;
  c.keepalive_interval = 1000ms;
  c.close_timeout = 200ms;
  c.max_message_size = 512 * 1024;
  return c;
}
}  // namespace

TEST(WsFrame, HeaderLengthsFollowRfc6455) {
  std::uint8_t h[ws::kMaxFrameHeader];
  const std::uint8_t key[4] = {1, 2, 3, 4};
  EXPECT_EQ(ws::write_frame_header(h, 0, nullptr), 2u);
  EXPECT_EQ(h[0], 0x82);
  EXPECT_EQ(h[1], 0x00);
  EXPECT_EQ(ws::write_frame_header(h, 125, key), 6u);
  EXPECT_EQ(h[1], 0x80 | 125);
  EXPECT_EQ(0, std::memcmp(h + 2, key, 4));
  EXPECT_EQ(ws::write_frame_header(h, 126, nullptr), 4u);
  EXPECT_EQ(h[1], 126);
  EXPECT_EQ(h[2], 0x00);
  EXPECT_EQ(h[3], 126);
  EXPECT_EQ(ws::write_frame_header(h, 65535, key), 8u);
  EXPECT_EQ(h[2], 0xff);
  EXPECT_EQ(h[3], 0xff);
  EXPECT_EQ(ws::write_frame_header(h, 65536, key), 14u);
  EXPECT_EQ(h[1], 0x80 | 127);
  const std::uint8_t len64[8] = {0, 0, 0, 0, 0, 1, 0, 0};
  EXPECT_EQ(0, std::memcmp(h + 2, len64, 8));
  EXPECT_EQ(0, std::memcmp(h + 10, key, 4));
}

TEST(WsFrame, MaskMatchesTheBytewiseRuleAndUndoesItself) {
  const std::uint8_t key[4] = {0xa1, 0x02, 0xf3, 0x44};
  for (std::size_t n : {0u, 1u, 3u, 4u, 7u, 8u, 9u, 15u, 16u, 17u, 100u}) {
    auto b = pattern(n, n);
    const auto orig = b;
    ws::apply_mask(b.data(), b.size(), key);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(b[i], orig[i] ^ key[i % 4]) << "n " << n << " i " << i;
    ws::apply_mask(b.data(), b.size(), key);
    EXPECT_EQ(b, orig);
  }
}

TEST(WsFrame, BeastReadsOurFramesInBothRoles) {
  asio::io_context io;
  std::vector<Bytes> msgs;
  for (std::size_t i = 0; i < kSizes.size(); ++i) msgs.push_back(pattern(kSizes[i], i));
  run_co(io, [&]() -> asio::awaitable<void> {
    auto p = co_await beast_pair();
    // Client → server: masked, the whole batch in one write (as our writer sends it).
    // The write and the reads run side by side: the bytes outgrow the socket buffers.
    const auto up = serialise(msgs, /*masked=*/true);
    co_await (asio::async_write(beast::get_lowest_layer(*p.client).socket(), asio::buffer(up), asio::use_awaitable) &&
              expect_messages(*p.server, msgs));
    // Server → client: unmasked.
    const auto down = serialise(msgs, /*masked=*/false);
    co_await (asio::async_write(beast::get_lowest_layer(*p.server).socket(), asio::buffer(down), asio::use_awaitable) &&
              expect_messages(*p.client, msgs));
    // Beast still speaks on the same streams afterwards: its own frames interleave with ours.
    const Bytes tail = pattern(10, 99);
    auto [tec, tn] = co_await p.client->async_write(asio::buffer(tail), use_ec);
    EXPECT_FALSE(tec);
    const std::vector<Bytes> tail_only{tail};
    co_await expect_messages(*p.server, tail_only);
  }());
}

// Our wire's client writes batches of mixed sizes; a raw Beast server reads every actr frame,
// intact and in order.
TEST(WsFrame, OurClientsBatchesReachARawBeastServerIntactAndInOrder) {
  asio::io_context io;
  tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acc.local_endpoint().port();
  constexpr int kMessages = 600;
  std::vector<Bytes> payloads;
  for (int i = 0; i < kMessages; ++i)
    payloads.push_back(pattern(kSizes[static_cast<std::size_t>(i) % kSizes.size()], i));
  run_co(io, [&]() -> asio::awaitable<void> {
    auto client = make_websocket_client(io.get_executor(), "ws://127.0.0.1:" + std::to_string(port) + "/", actor_id(1),
                                        actor_id(2), big_ws(), nullptr);
    // Our dial and the raw server's accept and upgrade, side by side.
    auto serve = [&]() -> asio::awaitable<std::unique_ptr<RawWs>> {
      auto sock = co_await acc.async_accept(asio::use_awaitable);
      auto ws = std::make_unique<RawWs>(std::move(sock));
      ws->read_message_max(1u << 20);
      co_await ws->async_accept(asio::use_awaitable);
      co_return ws;
    };
    auto [connected, server_ws] = co_await (client->connect() && serve());
    auto& server = *server_ws;
    CO_ASSERT(connected.has_value());
    auto lane = client->get_lane(PayloadType::RpcReliable);
    CO_ASSERT(lane.has_value());
    // Queued back to back (the writer packs them into batches) while the server reads: together
    // they outgrow the connection's queue.
    co_await send_and_read(**lane, server, PayloadType::RpcReliable, payloads);
    co_await client->close();
  }());
}

// Our server's connection writes batches (unmasked) to a raw Beast client.
TEST(WsFrame, OurServersBatchesReachARawBeastClientIntactAndInOrder) {
  asio::io_context io;
  std::shared_ptr<WireHandle> accepted;
  WebSocketServer server(
      io.get_executor(), big_ws(),
      [](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType, ConstBytes) -> asio::awaitable<Result<void>> {
        co_return ok();
      },
      [&](const ActrId&, const std::shared_ptr<WireHandle>& w) { accepted = w; });
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  constexpr int kMessages = 600;
  std::vector<Bytes> payloads;
  for (int i = 0; i < kMessages; ++i)
    payloads.push_back(pattern(kSizes[static_cast<std::size_t>(i) % kSizes.size()], i));
  auto ws = run_co(io, raw_ws_client(*port, to_hex(actor_id(3).to_protobuf())));
  ASSERT_NE(ws, nullptr);
  // The accepted wire appears once the gate has run its side of the upgrade.
  run_until(
      io, [&] { return accepted != nullptr; }, 5000ms);
  run_co(io, [&]() -> asio::awaitable<void> {
    auto lane = accepted->get_lane(PayloadType::StreamReliable);
    CO_ASSERT(lane.has_value());
    co_await send_and_read(**lane, *ws, PayloadType::StreamReliable, payloads);
  }());
  run_co(io, server.close());
}
