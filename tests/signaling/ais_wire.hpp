#pragma once
// Test-only: an HTTP/1.1 client for the AIS routes of `actr signal`, and a protobuf encoder and
// decoder written by hand from actr HEAD's field numbers (core/protocol/proto/actr.proto,
// "Register"), so the tests check the bytes on the wire, not our generated code's round trip.

#include <actr/types.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace actr::testing {

namespace ais_asio = boost::asio;
namespace ais_http = boost::beast::http;

struct HttpReply {
  unsigned status = 0;  // 0: no answer (connection failed or closed first)
  std::string content_type;
  std::string body;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;
inline constexpr auto ais_ec = ais_asio::as_tuple(ais_asio::use_awaitable);

// One request and its answer on a connected stream (TCP or TLS).
template <class Stream>
ais_asio::awaitable<HttpReply> exchange(Stream& s, ais_http::verb method, std::string target, std::string body,
                                        HttpHeaders headers) {
  ais_http::request<ais_http::string_body> req{method, target, 11};
  req.set(ais_http::field::host, "127.0.0.1");
  req.set(ais_http::field::content_type, "application/x-protobuf");
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = std::move(body);
  req.prepare_payload();
  auto [wec, wn] = co_await ais_http::async_write(s, req, ais_ec);
  if (wec) co_return HttpReply{};
  boost::beast::flat_buffer buf;
  ais_http::response<ais_http::string_body> res;
  auto [rec, rn] = co_await ais_http::async_read(s, buf, res, ais_ec);
  if (rec) co_return HttpReply{};
  co_return HttpReply{res.result_int(), std::string(res[ais_http::field::content_type]), res.body()};
}

inline ais_asio::ip::tcp::endpoint loopback(std::uint16_t port) {
  return {ais_asio::ip::make_address("127.0.0.1"), port};
}

// POSTs `body` to http://127.0.0.1:`port``target` (method `method`), with `headers`; one request
// per connection, as the server closes after each answer. Bounded by the stream's 5 s timer.
inline ais_asio::awaitable<HttpReply> http_request(std::uint16_t port, std::string target, std::string body,
                                                   HttpHeaders headers = {},
                                                   ais_http::verb method = ais_http::verb::post) {
  boost::beast::tcp_stream s(co_await ais_asio::this_coro::executor);
  s.expires_after(std::chrono::seconds{5});
  auto [cec] = co_await s.async_connect(loopback(port), ais_ec);
  if (cec) co_return HttpReply{};
  co_return co_await exchange(s, method, std::move(target), std::move(body), std::move(headers));
}

// As `http_request`, over TLS (https://), trusting what `ctx` trusts.
inline ais_asio::awaitable<HttpReply> https_request(std::uint16_t port, ais_asio::ssl::context& ctx, std::string target,
                                                    std::string body, HttpHeaders headers = {}) {
  boost::beast::ssl_stream<boost::beast::tcp_stream> s(co_await ais_asio::this_coro::executor, ctx);
  boost::beast::get_lowest_layer(s).expires_after(std::chrono::seconds{5});
  auto [cec] = co_await boost::beast::get_lowest_layer(s).async_connect(loopback(port), ais_ec);
  if (cec) co_return HttpReply{};
  auto [hec] = co_await s.async_handshake(ais_asio::ssl::stream_base::client, ais_ec);
  if (hec) co_return HttpReply{};
  co_return co_await exchange(s, ais_http::verb::post, std::move(target), std::move(body), std::move(headers));
}

// ---- protobuf by hand ---------------------------------------------------------------------------

struct Pb {
  std::string out;
  Pb& varint(std::uint32_t field, std::uint64_t v) {
    raw_varint(std::uint64_t{field} << 3);
    raw_varint(v);
    return *this;
  }
  Pb& bytes(std::uint32_t field, const std::string& v) {
    raw_varint((std::uint64_t{field} << 3) | 2);
    raw_varint(v.size());
    out += v;
    return *this;
  }
  void raw_varint(std::uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  }
};

// Top-level fields of one message: varints and length-delimited payloads by field number (the
// last occurrence wins, as protobuf's merge does for scalars). nullopt if the bytes do not parse.
struct PbFields {
  std::map<std::uint32_t, std::uint64_t> varints;
  std::map<std::uint32_t, std::string> lens;
};
inline std::optional<PbFields> pb_parse(const std::string& in) {
  PbFields f;
  std::size_t i = 0;
  auto varint = [&](std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && i < in.size(); shift += 7) {
      const auto b = static_cast<std::uint8_t>(in[i++]);
      v |= std::uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  while (i < in.size()) {
    std::uint64_t key = 0, v = 0;
    if (!varint(key)) return std::nullopt;
    const auto field = static_cast<std::uint32_t>(key >> 3);
    switch (key & 7) {
      case 0:
        if (!varint(v)) return std::nullopt;
        f.varints[field] = v;
        break;
      case 2:
        if (!varint(v) || v > in.size() - i) return std::nullopt;
        f.lens[field] = in.substr(i, v);
        i += v;
        break;
      default:
        return std::nullopt;  // HEAD's AIS messages use no other wire type
    }
  }
  return f;
}

// HEAD's `RegisterRequest{actr_type = 1 {manufacturer = 1, name = 2, version = 3}, realm = 2
// {realm_id = 1}, auth_mode = 14}` (LINKED = 2: authorized by realm), plus `ws_address = 6`.
inline std::string register_request(const ActrType& t, std::uint32_t realm,
                                    std::optional<std::string> ws_address = std::nullopt) {
  Pb type;
  type.bytes(1, t.manufacturer).bytes(2, t.name).bytes(3, t.version);
  Pb realm_pb;
  realm_pb.varint(1, realm);
  Pb req;
  req.bytes(1, type.out).bytes(2, realm_pb.out);
  if (ws_address) req.bytes(6, *ws_address);
  req.varint(14, 2);
  return req.out;
}

// HEAD's `ActrId{realm = 1 {realm_id = 1}, serial_number = 2, type = 3}`.
inline std::string actr_id_bytes(const ActrId& id) {
  Pb type;
  type.bytes(1, id.type.manufacturer).bytes(2, id.type.name).bytes(3, id.type.version);
  Pb realm;
  realm.varint(1, id.realm.realm_id);
  Pb out;
  out.bytes(1, realm.out).varint(2, id.serial_number).bytes(3, type.out);
  return out.out;
}

inline std::optional<ActrId> parse_actr_id(const std::string& bytes) {
  auto f = pb_parse(bytes);
  if (!f) return std::nullopt;
  auto realm = pb_parse(f->lens[1]);
  auto type = pb_parse(f->lens[3]);
  if (!realm || !type) return std::nullopt;
  return ActrId{Realm{static_cast<std::uint32_t>(realm->varints[1])}, f->varints[2],
                ActrType{type->lens[1], type->lens[2], type->lens[3]}};
}

// HEAD's `RenewCredentialRequest{actr_id = 1, renewal_token = 2}`.
inline std::string renew_request(const ActrId& id, const std::string& token) {
  Pb out;
  out.bytes(1, actr_id_bytes(id)).bytes(2, token);
  return out.out;
}

// The `ErrorResponse{code = 1, message = 2}` of a `RegisterResponse` / `RenewCredentialResponse`
// (`error = 2` in both), or nullopt if the body carries none.
inline std::optional<std::uint64_t> error_code(const std::string& body) {
  auto f = pb_parse(body);
  if (!f || !f->lens.count(2) || f->lens.count(1)) return std::nullopt;
  auto e = pb_parse(f->lens[2]);
  if (!e || !e->varints.count(1) || !e->lens.count(2)) return std::nullopt;
  return e->varints[1];
}

}  // namespace actr::testing
