#pragma once
// A raw Beast WebSocket client for the wire tests: a peer written without any of our connection
// code, that dials our servers. Header only; include it only in test files that use Beast anyway.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace actr::testing {

using RawWs = boost::beast::websocket::stream<boost::beast::tcp_stream>;

/// Connects to 127.0.0.1:`port` and upgrades, sending `source_hex` as X-Actr-Source-ID when
/// given (none: no header). Binary messages; reads messages up to 64 MiB. Null when the
/// connection or the upgrade failed.
inline boost::asio::awaitable<std::unique_ptr<RawWs>> raw_ws_client(std::uint16_t port,
                                                                    std::optional<std::string> source_hex) {
  namespace asio = boost::asio;
  namespace websocket = boost::beast::websocket;
  constexpr auto use_ec = asio::as_tuple(asio::use_awaitable);
  auto ws = std::make_unique<RawWs>(co_await asio::this_coro::executor);
  const asio::ip::tcp::endpoint to(asio::ip::make_address("127.0.0.1"), port);
  auto [ec] = co_await boost::beast::get_lowest_layer(*ws).async_connect(to, use_ec);
  if (ec) co_return nullptr;
  ws->set_option(websocket::stream_base::decorator([source_hex](websocket::request_type& req) {
    if (source_hex) req.set("X-Actr-Source-ID", *source_hex);
  }));
  ws->read_message_max(64u << 20);
  ws->binary(true);
  auto [hec] = co_await ws->async_handshake("127.0.0.1", "/", use_ec);
  if (hec) co_return nullptr;
  co_return ws;
}

}  // namespace actr::testing
