// libFuzzer target: the WebSocket gate's upgrade-request parsing, as `ws::accept` and the gate's
// `identify` check run it (src/wire/websocket/ws_handshake.cpp, ws_server.cpp): Beast's HTTP
// request parser with the gate's 16 KiB header limit, the upgrade test, and the
// `X-Actr-Source-ID` hex -> ActrId decode (`from_hex`, `ActrId::from_protobuf`); the
// `X-Actr-Credential` value is read as the gate would. The input is the raw bytes a client sends.
// Invariants: a decoded id survives to_protobuf/from_protobuf and to_hex/from_hex exactly.
#include "fuzz_check.hpp"

#include <actr/hex.hpp>
#include <actr/types.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace {

namespace http = boost::beast::http;

std::optional<std::string_view> header(const http::request<http::empty_body>& req, std::string_view name) {
  auto it = req.find(boost::beast::string_view(name.data(), name.size()));
  if (it == req.end()) return std::nullopt;
  return std::string_view(it->value().data(), it->value().size());
}

void check_source_id(std::string_view v) {
  auto raw = actr::from_hex(v);
  if (!raw) return;
  FUZZ_CHECK(raw->size() * 2 == v.size());
  auto id = actr::ActrId::from_protobuf(*raw);
  if (!id) return;
  const auto bytes = id->to_protobuf();
  auto back = actr::ActrId::from_protobuf(bytes);
  FUZZ_CHECK(back && *back == *id);
  auto hex_back = actr::from_hex(actr::to_hex(bytes));
  FUZZ_CHECK(hex_back && *hex_back == bytes);
  (void)id->to_string();  // logged by the gate; any field bytes must format
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  actr::fuzz::forbid_protobuf_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  http::request_parser<http::empty_body> parser;
  parser.header_limit(16 * 1024);
  boost::system::error_code ec;
  // The gate reads until the header is complete; here all bytes are there at once.
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec == http::error::need_more) parser.put_eof(ec);
  if (ec || !parser.is_header_done()) return 0;
  const auto& req = parser.get();
  if (!boost::beast::websocket::is_upgrade(req)) return 0;
  if (auto v = header(req, "X-Actr-Source-ID")) check_source_id(*v);
  if (auto c = header(req, "X-Actr-Credential")) FUZZ_CHECK(c->size() <= size);
  return 0;
}
