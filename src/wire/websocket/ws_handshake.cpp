// Setting up WebSocket connections: the client dial (TCP, TLS with SNI and host name checks, the
// upgrade with extra headers) and the server accept (TLS, reading and checking the upgrade
// request, HTTP 400 for refusals) with plain HTTP requests handed to a `PlainHttp` server. Beast
// translation unit.
#include "tcp_connect.hpp"
#include "tls_context.hpp"
#include <actr/detail/log_limit.hpp>
#include "ws_stream.hpp"

#include <actr/error.hpp>
#include <actr/websocket.hpp>

#include "detail/asio.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/vector_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

namespace actr::ws {

using namespace actr::detail;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// The stream options and error mapping of every connection (ws_stream.hpp), set up here.
void configure(Stream& s, const ConnConfig& cfg) {
  websocket::stream_base::timeout t;
  t.handshake_timeout = cfg.handshake_timeout;
  // Keepalive is the connection's own (its reader takes most frames past Beast, so Beast cannot
  // tell a silent peer from a busy one): ws_conn.cpp.
  t.idle_timeout = websocket::stream_base::none();
  t.keep_alive_pings = false;
  s.set_option(t);
  s.binary(true);
  s.auto_fragment(false);
  s.read_message_max(cfg.max_message_size);
  s.write_buffer_bytes(cfg.write_buffer_bytes);
}

Error map_error(const Error& ec) {
  if (ec == websocket::error::closed) return make_error_code(NetworkError::WebSocketClosed);
  if (ec == websocket::error::message_too_big || ec == beast::http::error::body_limit)
    return make_error_code(NetworkError::MessageTooLarge);
  if (ec == beast::error::timeout) return make_error_code(NetworkError::TimeoutError);
  if (is_closed_like(ec) || ec == asio::error::operation_aborted) return make_error_code(NetworkError::WebSocketClosed);
  return make_error_code(NetworkError::WebSocketError);
}

Result<Url> parse_url(const std::string& url) {
  Url u;
  // A URL goes into the request line and the Host header: a control character, a space or a
  // non-ASCII byte could split or smuggle headers, so none is accepted anywhere in it.
  if (url.size() > 2048 || std::any_of(url.begin(), url.end(), [](char c) {
        const auto b = static_cast<unsigned char>(c);
        return b <= 0x20 || b >= 0x7f;
      }))
    return make_error_code(NetworkError::InvalidArgument);
  std::string_view rest(url);
  if (rest.rfind("ws://", 0) == 0) {
    rest.remove_prefix(5);
  } else if (rest.rfind("wss://", 0) == 0) {
    rest.remove_prefix(6);
    u.tls = true;
  } else {
    return make_error_code(NetworkError::InvalidArgument);
  }
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  auto colon = hostport.rfind(':');
  if (colon != std::string_view::npos && hostport.find(']', colon) != std::string_view::npos)
    colon = std::string_view::npos;  // "[::1]" without a port
  u.host = std::string(hostport.substr(0, colon));
  u.port = colon == std::string_view::npos ? (u.tls ? "443" : "80") : std::string(hostport.substr(colon + 1));
  if (u.host.size() > 2 && u.host.front() == '[' && u.host.back() == ']') u.host = u.host.substr(1, u.host.size() - 2);
  if (u.host.empty() || u.port.empty() || u.port.size() > 5 ||
      !std::all_of(u.port.begin(), u.port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(u.port) == 0 || std::stoul(u.port) > 65535)
    return make_error_code(NetworkError::InvalidArgument);
  return u;
}

namespace {

// wss:// without a configured context verifies against the system trust store.
std::shared_ptr<TlsContext> default_client_tls() {
  static const auto ctx = [] {
    auto c = make_tls_client_context({});
    return c ? *c : nullptr;
  }();
  return ctx;
}

Error timeout_or(const Error& ec, NetworkError otherwise) {
  return make_error_code(ec == beast::error::timeout ? NetworkError::TimeoutError : otherwise);
}

}  // namespace

Result<std::shared_ptr<TlsContext>> client_tls_for(const Url& u, const std::shared_ptr<TlsContext>& configured) {
  if (!u.tls) return std::shared_ptr<TlsContext>();
  auto tls = configured ? configured : default_client_tls();
  if (!tls) return make_error_code(NetworkError::ConfigurationError);
  return tls;
}

asio::awaitable<Result<std::unique_ptr<beast::tcp_stream>>> connect_tcp(const Url& u, std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, endpoints] = co_await resolver.async_resolve(u.host, u.port, use_ec);
  // The resolver's own code: "unknown host" is permanent (reported at once, never retried), a
  // temporary DNS failure transient (error.cpp classifies both; `error_name` names them).
  if (rec) co_return Error(rec);
  auto tcp_layer = std::make_unique<beast::tcp_stream>(ex);
  tcp_layer->expires_after(timeout);
  auto [cec, ep] = co_await tcp_layer->async_connect(endpoints, use_ec);
  if (cec) co_return cec == beast::error::timeout ? make_error_code(NetworkError::TimeoutError) : Error(cec);
  co_return tcp_layer;
}

asio::awaitable<Result<std::shared_ptr<Connection>>> dial(std::string url, Headers headers, ConnConfig cfg) {
  auto u = parse_url(url);
  if (!u) co_return u.error();
  auto tls_ctx = client_tls_for(*u, cfg.tls);
  if (!tls_ctx) co_return tls_ctx.error();
  auto tls = *tls_ctx;
  // TCP connect and the TLS handshake run under tcp_stream's timer; the upgrade under the
  // WebSocket stream's handshake timeout.
  auto connected = co_await connect_tcp(*u, cfg.handshake_timeout);
  if (!connected) co_return connected.error();
  beast::tcp_stream tcp_layer(std::move(**connected));
  Error nodelay_ec;
  tcp_layer.socket().set_option(tcp::no_delay(true), nodelay_ec);  // best effort
  auto s = tls ? Stream(std::move(tcp_layer), tls->ctx) : Stream(std::move(tcp_layer));
  if (auto* t = s.next_layer().tls()) {
    // SNI plus host name verification (RFC 6125) when verifying at all.
    auto prepared = prepare_client_tls(t->native_handle(), u->host, tls->verify_peer);
    if (!prepared) co_return prepared.error();
    auto [tec] = co_await t->async_handshake(asio::ssl::stream_base::client, use_ec);
    if (tec) {
      if (tec == beast::error::timeout) co_return make_error_code(NetworkError::TimeoutError);
      // Typed at once (an untrusted certificate is not a timeout, nor worth a retry).
      std::string reason;
      co_return classify_client_tls_failure(t->native_handle(), tec, url, reason);
    }
  }
  s.next_layer().lowest().expires_never();  // the WebSocket stream's own timeouts take over
  s.next_layer().go_raw();
  configure(s, cfg);
  s.set_option(websocket::stream_base::decorator([headers = std::move(headers)](websocket::request_type& req) {
    for (const auto& [name, value] : headers) req.set(name, value);
  }));
  websocket::response_type res;
  s.next_layer().read_mode(NetStream::ReadMode::HttpHead);  // frames behind the 101 are the reader's
  auto [hec] = co_await s.async_handshake(res, u->host + ":" + u->port, u->target, use_ec);
  // A gate that refuses our identity answers 401: typed, so callers can tell it from a dead peer.
  if (hec && res.result() == http::status::unauthorized) co_return make_error_code(NetworkError::AuthenticationError);
  // Known but not allowed (actr PR #398: terminal, not retried).
  if (hec && res.result() == http::status::forbidden) co_return make_error_code(NetworkError::PermissionError);
  // A server at its limits (per-address rate or open connections, or overloaded) says so.
  if (hec && (res.result() == http::status::too_many_requests || res.result() == http::status::service_unavailable))
    co_return make_error_code(NetworkError::ResourceExhausted);
  if (hec) co_return timeout_or(hec, NetworkError::WebSocketError);
  co_return make_connection(std::move(s), std::move(cfg), /*client=*/true);
}

namespace {

std::optional<std::string_view> find_header(const http::fields& f, std::string_view name) {
  auto it = f.find(beast::string_view(name.data(), name.size()));
  if (it == f.end()) return std::nullopt;
  return std::string_view(it->value().data(), it->value().size());
}

// Closes after an answer without losing it: a client still sending a body we did not read would
// otherwise get a reset (RST) that can destroy the answer in flight. Our side stops sending, then
// reads and discards until the client closes, the handshake timer fires or 1 MiB has gone by.
asio::awaitable<void> lingering_close(NetStream& ns) {
  Error ignored;
  ns.socket().shutdown(tcp::socket::shutdown_send, ignored);
  std::array<char, 4096> sink;
  std::size_t drained = 0;
  while (drained < 1024 * 1024) {
    auto [ec, k] = co_await ns.async_read_some(asio::buffer(sink), use_ec);
    if (ec) break;
    drained += k;
  }
  ns.close_socket();
}

// Reads the body of a plain request (unless it is already known to be too large), lets `plain`
// answer it, writes the answer and closes. Every step runs under the accept's handshake timer.
asio::awaitable<void> serve_plain(NetStream& ns, beast::flat_buffer& buf, http::request_parser<http::empty_body>& head,
                                  const PlainHttp& plain, bool too_large) {
  http::request_parser<http::vector_body<std::uint8_t>> parser(std::move(head));
  parser.body_limit(plain.max_body);
  if (!too_large && !parser.is_done()) {
    // curl asks before sending a larger body, and waits a second for this if it does not come.
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
      auto [cec, c] = co_await http::async_write(ns, go_on, use_ec);
      if (cec) {
        ns.close_socket();
        co_return;
      }
    }
    auto [rec, n] = co_await http::async_read(ns, buf, parser, use_ec);
    if (rec == http::error::body_limit) {
      too_large = true;
    } else if (rec) {
      ns.close_socket();  // timeout or a broken request: nobody to answer
      co_return;
    }
  }
  const auto& req = parser.get();
  PlainRequest pr;
  pr.method = std::string_view(req.method_string().data(), req.method_string().size());
  pr.target = std::string_view(req.target().data(), req.target().size());
  pr.header = [&req](std::string_view name) { return find_header(req, name); };
  if (!too_large) pr.body = ConstBytes(req.body().data(), req.body().size());
  pr.body_too_large = too_large;
  auto answer = plain.serve(pr);
  http::response<http::vector_body<std::uint8_t>> res{http::int_to_status(answer.status), req.version()};
  res.set(http::field::connection, "close");
  res.set(http::field::content_type, answer.content_type);
  res.body() = std::move(answer.body);
  res.prepare_payload();
  auto [wec, w] = co_await http::async_write(ns, res, use_ec);
  if (wec) {
    ns.close_socket();
    co_return;
  }
  co_await lingering_close(ns);
}

}  // namespace

asio::awaitable<Result<std::shared_ptr<Connection>>> accept(tcp::socket sock, ConnConfig cfg, CheckUpgrade check,
                                                            PlainHttp plain) {
  Error nodelay_ec;
  sock.set_option(tcp::no_delay(true), nodelay_ec);  // best effort
  beast::tcp_stream tcp_layer(std::move(sock));
  tcp_layer.expires_after(cfg.handshake_timeout);  // a client that never finishes its handshakes is dropped
  auto ns = cfg.tls ? NetStream(std::move(tcp_layer), cfg.tls->ctx) : NetStream(std::move(tcp_layer));
  const auto refused = make_error_code(NetworkError::PermissionError);
  if (auto* t = ns.tls()) {
    auto [tec] = co_await t->async_handshake(asio::ssl::stream_base::server, use_ec);
    if (tec) {
      static detail::LogLimiter failed;
      if (const auto nth = failed.tick()) spdlog::info("actr: TLS handshake from a client failed: {} ({} so far)", tec.message(), nth);
      co_return refused;
    }
  }
  // The request is read here (not by Beast's accept) so that `check` can see its headers first,
  // and so that a plain request can go to `plain` with its body.
  beast::flat_buffer buf;
  http::request_parser<http::empty_body> parser;
  parser.header_limit(16 * 1024);
  // A declared Content-Length over the limit fails the header read (body_limit), before any of
  // the body is read.
  if (plain.serve) parser.body_limit(plain.max_body);
  auto [rec, n] = co_await http::async_read_header(ns, buf, parser, use_ec);
  if (rec == http::error::body_limit && plain.serve && !websocket::is_upgrade(parser.get())) {
    co_await serve_plain(ns, buf, parser, plain, true);
    co_return nullptr;
  }
  if (rec) co_return timeout_or(rec, NetworkError::ConnectionError);
  if (plain.serve && !websocket::is_upgrade(parser.get())) {
    co_await serve_plain(ns, buf, parser, plain, false);
    co_return nullptr;
  }
  // An upgrade has no body; one that declares a body is not an upgrade we accept.
  const bool has_body = !parser.is_done();
  auto req = parser.release();
  std::optional<Refusal> refusal;
  if (!websocket::is_upgrade(req) || has_body) {
    refusal = Refusal{400, "WebSocket upgrade required\n"};
  } else if (check) {
    refusal = check([&req](std::string_view name) -> std::optional<std::string_view> {
      if (name == kTargetPseudoHeader) return std::string_view(req.target().data(), req.target().size());
      return find_header(req, name);
    });
  }
  if (refusal) {
    http::response<http::string_body> res{http::int_to_status(refusal->status), req.version()};
    res.set(http::field::connection, "close");
    res.body() = std::move(refusal->body);
    if (refusal->status == 401) res.set(http::field::www_authenticate, "X-Actr-Credential");  // RFC 9110 §15.5.2
    res.prepare_payload();
    co_await http::async_write(ns, res, use_ec);
    Error ignored;
    ns.socket().shutdown(tcp::socket::shutdown_both, ignored);
    ns.close_socket();
    co_return refused;
  }
  ns.lowest().expires_never();
  ns.go_raw();
  ns.unread(buf.cdata());  // frames a client sent right behind its request
  Stream s(std::move(ns));
  configure(s, cfg);
  auto [aec] = co_await s.async_accept(req, use_ec);
  if (aec) co_return timeout_or(aec, NetworkError::WebSocketError);
  co_return make_connection(std::move(s), std::move(cfg), /*client=*/false);
}

}  // namespace actr::ws
