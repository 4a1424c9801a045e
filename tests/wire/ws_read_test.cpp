// The read side of our WebSocket connection (src/wire/websocket/ws_conn.cpp, net_stream.hpp): it
// parses plain binary frames itself and leaves everything else to Beast. Checked against peers
// that are not our code: raw Beast streams that interleave pings and fragmented messages with
// plain frames, and raw TCP peers that put frames in the same write as the upgrade.
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
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

using namespace actr;
using namespace actr::testing;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using ws::FrameHead;

namespace {
constexpr auto use_ec = asio::as_tuple(asio::use_awaitable);

Bytes actr_frame(std::size_t i, std::size_t n) {
  Bytes payload(n);
  for (std::size_t k = 0; k < n; ++k) payload[k] = static_cast<std::uint8_t>((k * 13 + i) & 0xff);
  Bytes out;
  EXPECT_TRUE(encode_frame(PayloadType::RpcReliable, payload, out, 1u << 20).has_value());
  return out;
}

WebSocketConfig cfg() {
  WebSocketConfig c;
  c.connect_timeout = 2000ms;
  c.keepalive_interval = 1000ms;
  c.close_timeout = 200ms;
  c.max_message_size = 512 * 1024;
  return c;
}

// Records the payloads a wire hands up, and wakes a waiter when `want` have arrived.
struct Inbox {
  explicit Inbox(asio::any_io_executor ex) : done(ex) { done.expires_at(asio::steady_timer::time_point::max()); }
  FrameHandler handler() {
    return [this](const std::shared_ptr<WireHandle>&, const ActrId&, PayloadType,
                  ConstBytes payload) -> asio::awaitable<Result<void>> {
      got.emplace_back(payload.begin(), payload.end());
      if (got.size() == want) done.cancel();
      co_return ok();
    };
  }
  // Waits (bounded) until `want` payloads arrived.
  asio::awaitable<bool> wait() {
    if (got.size() >= want) co_return true;
    done.expires_after(10s);
    (void)co_await done.async_wait(use_ec);
    co_return got.size() >= want;
  }
  std::vector<Bytes> got;
  std::size_t want = 0;
  asio::steady_timer done;
};

// A gate on 127.0.0.1 that hands what it reads to `inbox`.
struct Gate {
  Gate(asio::io_context& io, Inbox& inbox)
      : server(io.get_executor(), cfg(), inbox.handler(), [](const ActrId&, const std::shared_ptr<WireHandle>&) {}) {
    auto p = server.listen("127.0.0.1", 0);
    EXPECT_TRUE(p);
    port = p ? *p : 0;
  }
  WebSocketServer server;
  std::uint16_t port = 0;
};

// The payload of actr frame `frame` (5-byte header).
Bytes payload_of(const Bytes& frame) { return Bytes(frame.begin() + 5, frame.end()); }

std::string upgrade_request(std::string_view key) {
  return "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
         std::string(key) + "\r\nX-Actr-Source-ID: " + to_hex(actor_id(7).to_protobuf()) + "\r\n\r\n";
}

}  // namespace

TEST(WsRead, ParseFrameClassifiesEveryHeader) {
  const std::uint8_t key[4] = {9, 8, 7, 6};
  auto frame = [&](std::size_t n, bool masked) {
    Bytes payload(n, 0x5a);
    Bytes out(ws::frame_size(n, masked));
    ws::write_frame(out.data(), payload.data(), n, masked ? key : nullptr);
    return out;
  };
  for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u}) {
    for (bool masked : {false, true}) {
      const auto f = frame(n, masked);
      const auto h = ws::parse_frame(f.data(), f.size(), masked, 1u << 20);
      ASSERT_EQ(h.kind, FrameHead::Data) << n;
      EXPECT_EQ(h.header + h.payload, f.size());
      EXPECT_EQ(h.mask != nullptr, masked);
      EXPECT_EQ(ws::frame_extent(f.data(), f.size()), f.size());
      // Every shorter prefix of the header is incomplete.
      for (std::size_t cut = 0; cut < h.header; ++cut)
        EXPECT_EQ(ws::parse_frame(f.data(), cut, masked, 1u << 20).kind, FrameHead::Incomplete) << n << " " << cut;
      // The wrong role's mask bit, or a payload over the limit, is Beast's to refuse.
      EXPECT_EQ(ws::parse_frame(f.data(), f.size(), !masked, 1u << 20).kind, FrameHead::Other);
      if (n > 0) {
        EXPECT_EQ(ws::parse_frame(f.data(), f.size(), masked, n - 1).kind, FrameHead::Other);
      }
    }
  }
  auto other = [](std::vector<std::uint8_t> b) {
    return ws::parse_frame(b.data(), b.size(), false, 1u << 20).kind == FrameHead::Other;
  };
  EXPECT_TRUE(other({0x81, 0x00}));                               // text: Beast validates UTF-8
  EXPECT_TRUE(other({0x02, 0x00}));                               // first fragment
  EXPECT_TRUE(other({0x80, 0x00}));                               // continuation
  EXPECT_TRUE(other({0x89, 0x00}));                               // ping
  EXPECT_TRUE(other({0x88, 0x00}));                               // close
  EXPECT_TRUE(other({0xc2, 0x00}));                               // RSV1 (no extension was agreed)
  EXPECT_TRUE(other({0x82, 126, 0x00, 100}));                     // 100 in the 16-bit form: not the shortest
  EXPECT_TRUE(other({0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff}));  // 65535 in the 64-bit form
  EXPECT_TRUE(other({0x82, 127, 0x80, 0, 0, 0, 0, 1, 0, 0}));     // the top bit set
  const std::vector<std::uint8_t> huge{0x82, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(ws::frame_extent(huge.data(), huge.size()), ~std::uint64_t{0});  // saturates
}

// A raw Beast client sends plain frames with pings and fragmented messages among them: every
// message reaches our server's handler in order, and every ping gets its pong.
TEST(WsRead, PingsAndFragmentsAmongPlainFramesReachOurServerInOrder) {
  asio::io_context io;
  Inbox inbox(io.get_executor());
  Gate gate(io, inbox);
  ASSERT_NE(gate.port, 0);
  auto client = run_co(io, raw_ws_client(gate.port, to_hex(actor_id(3).to_protobuf())));
  ASSERT_NE(client, nullptr);
  int pongs = 0;
  client->control_callback([&](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::pong) ++pongs;
  });
  constexpr int kMessages = 300;
  std::vector<Bytes> sent;
  int pings = 0;
  run_co(io, [&]() -> asio::awaitable<void> {
    auto send_all = [&]() -> asio::awaitable<void> {
      for (int i = 0; i < kMessages; ++i) {
        const auto m = actr_frame(static_cast<std::size_t>(i), static_cast<std::size_t>((i * 37) % 2000));
        sent.push_back(payload_of(m));
        if (i % 7 == 3) {  // in two fragments
          const auto half = m.size() / 2;
          auto [e1, n1] = co_await client->async_write_some(false, asio::buffer(m.data(), half), use_ec);
          auto [e2, n2] =
              co_await client->async_write_some(true, asio::buffer(m.data() + half, m.size() - half), use_ec);
          CO_ASSERT(!e1 && !e2);
        } else {
          auto [ec, n] = co_await client->async_write(asio::buffer(m), use_ec);
          CO_ASSERT(!ec);
        }
        if (i % 5 == 0) {
          auto [ec] = co_await client->async_ping("p", use_ec);
          CO_ASSERT(!ec);
          ++pings;
        }
      }
      inbox.want = sent.size();
      EXPECT_TRUE(co_await inbox.wait());
      auto [cec] = co_await client->async_close(websocket::close_code::normal, use_ec);
      EXPECT_FALSE(cec) << cec.message();  // our server answered the close
    };
    auto read_until_closed = [&]() -> asio::awaitable<void> {  // processes the pongs
      beast::flat_buffer buf;
      for (;;) {
        auto [ec, n] = co_await client->async_read(buf, use_ec);
        if (ec) break;
      }
    };
    co_await (send_all() && read_until_closed());
  }());
  ASSERT_EQ(inbox.got.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) ASSERT_EQ(inbox.got[i], sent[i]) << "message " << i;
  EXPECT_EQ(pongs, pings);
  run_co(io, gate.server.close());
}

// A server (raw TCP here) may send frames in the same write as its 101: our client must not leave
// them in the handshake's buffer. Then a ping and a fragmented message: the client answers the
// ping (masked pong, same payload) and delivers everything in order.
TEST(WsRead, OurClientTakesFramesSentInTheSameWriteAsThe101) {
  asio::io_context io;
  tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acc.local_endpoint().port();
  Inbox inbox(io.get_executor());
  auto client = make_websocket_client(io.get_executor(), "ws://127.0.0.1:" + std::to_string(port) + "/", actor_id(1),
                                      actor_id(2), cfg(), inbox.handler());
  std::vector<Bytes> frames;
  for (std::size_t i = 0; i < 5; ++i) frames.push_back(actr_frame(i, i * 300));
  run_co(io, [&]() -> asio::awaitable<void> {
    auto serve = [&]() -> asio::awaitable<void> {
      auto sock = co_await acc.async_accept(asio::use_awaitable);
      asio::streambuf req;
      auto [rec, rn] = co_await asio::async_read_until(sock, req, "\r\n\r\n", use_ec);
      CO_ASSERT(!rec);
      std::string head(asio::buffers_begin(req.data()),
                       asio::buffers_begin(req.data()) + static_cast<std::ptrdiff_t>(rn));
      const auto k = head.find("Sec-WebSocket-Key: ");
      CO_ASSERT(k != std::string::npos);
      const auto key = head.substr(k + 19, head.find("\r\n", k) - k - 19);
      websocket::detail::sec_ws_accept_type accept;
      websocket::detail::make_sec_ws_accept(accept, key);
      std::string out =
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Accept: " +
          std::string(accept.data(), accept.size()) + "\r\n\r\n";
      auto append_frame = [&](std::uint8_t op0, const Bytes& payload) {
        Bytes f(ws::frame_size(payload.size(), false));
        ws::write_frame(f.data(), payload.data(), payload.size(), nullptr);
        f[0] = op0;
        out.append(f.begin(), f.end());
      };
      for (std::size_t i = 0; i < 3; ++i) append_frame(0x82, frames[i]);  // behind the 101
      append_frame(0x89, Bytes{'h', 'i'});                                // ping
      const Bytes& split = frames[3];
      append_frame(0x02, Bytes(split.begin(), split.begin() + 100));  // first fragment
      append_frame(0x80, Bytes(split.begin() + 100, split.end()));    // last fragment
      append_frame(0x82, frames[4]);
      auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(out), use_ec);
      CO_ASSERT(!wec);
      // The pong: FIN + opcode 10, masked, payload "hi".
      std::uint8_t pong[8];
      auto [pec, pn] = co_await asio::async_read(sock, asio::buffer(pong), use_ec);
      CO_ASSERT(!pec);
      EXPECT_EQ(pong[0], 0x8a);
      EXPECT_EQ(pong[1], 0x80 | 2);
      EXPECT_EQ(pong[6] ^ pong[2], 'h');
      EXPECT_EQ(pong[7] ^ pong[3], 'i');
      inbox.want = frames.size();
      EXPECT_TRUE(co_await inbox.wait());
    };
    auto connected = co_await (client->connect() && serve());
    EXPECT_TRUE(connected.has_value());
  }());
  ASSERT_EQ(inbox.got.size(), frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(inbox.got[i], payload_of(frames[i])) << i;
  run_co(io, client->close());
}

// A client (raw TCP here) may send frames in the same write as its upgrade request, before the
// 101 arrives. Our server used to drop them with the request's read buffer.
TEST(WsRead, OurServerTakesFramesSentInTheSameWriteAsTheRequest) {
  asio::io_context io;
  Inbox inbox(io.get_executor());
  Gate gate(io, inbox);
  ASSERT_NE(gate.port, 0);
  std::vector<Bytes> frames;
  for (std::size_t i = 0; i < 4; ++i) frames.push_back(actr_frame(i, 10 + i * 1000));
  run_co(io, [&]() -> asio::awaitable<void> {
    tcp::socket sock(io);
    auto [cec] = co_await sock.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), gate.port), use_ec);
    CO_ASSERT(!cec);
    std::string out = upgrade_request("dGhlIHNhbXBsZSBub25jZQ==");
    ws::MaskSource keys(7);
    for (const auto& f : frames) {
      std::uint8_t key[4];
      keys.next(key);
      Bytes w(ws::frame_size(f.size(), true));
      ws::write_frame(w.data(), f.data(), f.size(), key);
      out.append(w.begin(), w.end());
    }
    auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(out), use_ec);
    CO_ASSERT(!wec);
    inbox.want = frames.size();
    EXPECT_TRUE(co_await inbox.wait());
    asio::streambuf res;
    auto [rec, rn] = co_await asio::async_read_until(sock, res, "\r\n\r\n", use_ec);
    EXPECT_FALSE(rec);
    std::string head(asio::buffers_begin(res.data()),
                     asio::buffers_begin(res.data()) + static_cast<std::ptrdiff_t>(rn));
    EXPECT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  }());
  ASSERT_EQ(inbox.got.size(), frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(inbox.got[i], payload_of(frames[i])) << i;
  run_co(io, gate.server.close());
}
