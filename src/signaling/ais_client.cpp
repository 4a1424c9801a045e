// The AIS client: one HTTP/1.1 POST per request (the server closes after each answer), over TCP
// or TLS like a WebSocket dial (SNI, host name check, failures typed at once), bounded by one
// deadline. The answer's status is typed first; a 200 body is decoded strictly and its
// credential checked against the key it names, so a garbled reply is never taken for an identity.
#include <actr/ais_client.hpp>

#include <actr/error.hpp>
#include <actr/signaling_client.hpp>
#include <actr/websocket.hpp>

#include "ais.pb.h"
#include "detail/asio.hpp"
#include "signaling/envelope.hpp"
#include "wire/websocket/tcp_connect.hpp"
#include "wire/websocket/tls_context.hpp"
#include "wire/websocket/ws_conn.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <spdlog/spdlog.h>

namespace actr {

using namespace actr::detail;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

struct Reply {
  unsigned status = 0;
  std::string body;
};

// The signaling URL as ws:// or wss:// (http:// and https:// name the same listener).
std::string as_ws_url(const std::string& url) {
  if (url.rfind("http://", 0) == 0) return "ws://" + url.substr(7);
  if (url.rfind("https://", 0) == 0) return "wss://" + url.substr(8);
  return url;
}

template <class Stream>
asio::awaitable<Result<Reply>> exchange(Stream& s, const ws::Url& u, std::string target, std::string body,
                                        const std::optional<std::string>& secret) {
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, u.host + ":" + u.port);
  req.set(http::field::content_type, "application/x-protobuf");
  if (secret) req.set("x-actrix-realm-secret", *secret);
  req.body() = std::move(body);
  req.prepare_payload();
  auto [wec, wn] = co_await http::async_write(s, req, use_ec);
  if (wec) co_return wec == beast::error::timeout ? make_error_code(NetworkError::TimeoutError) : Error(wec);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  auto [rec, rn] = co_await http::async_read(s, buf, parser, use_ec);
  if (rec) co_return rec == beast::error::timeout ? make_error_code(NetworkError::TimeoutError) : Error(rec);
  co_return Reply{parser.get().result_int(), std::move(parser.get().body())};
}

asio::awaitable<Result<Reply>> post(const std::string& signal_url, std::string target, std::string body,
                                    const std::optional<std::string>& secret, const AisClientConfig& cfg) {
  auto u = ws::parse_url(as_ws_url(signal_url));
  if (!u) co_return u.error();
  auto tls_ctx = ws::client_tls_for(*u, cfg.tls);
  if (!tls_ctx) co_return tls_ctx.error();
  const auto tls = *tls_ctx;
  auto connected = co_await ws::connect_tcp(*u, cfg.timeout);  // one deadline for the whole exchange
  if (!connected) co_return connected.error();
  beast::tcp_stream tcp_layer(std::move(**connected));
  if (!tls) co_return co_await exchange(tcp_layer, *u, std::move(target), std::move(body), secret);
  beast::ssl_stream<beast::tcp_stream> s(std::move(tcp_layer), tls->ctx);
  auto prepared = ws::prepare_client_tls(s.native_handle(), u->host, tls->verify_peer);
  if (!prepared) co_return prepared.error();
  auto [hec] = co_await s.async_handshake(asio::ssl::stream_base::client, use_ec);
  if (hec) {
    if (hec == beast::error::timeout) co_return make_error_code(NetworkError::TimeoutError);
    std::string reason;
    co_return ws::classify_client_tls_failure(s.native_handle(), hec, signal_url, reason);
  }
  co_return co_await exchange(s, *u, std::move(target), std::move(body), secret);
}

// The AIS of the first server in the list `signal_urls` that answers. A server that cannot be
// reached (connection, TLS, timeout) or is overloaded (429, 503: "later") passes the request to
// the next; any other answer, a refusal included, is the answer (the servers of one deployment
// share their policy). All failing: the last one's failure.
asio::awaitable<Result<Reply>> post_any(const std::string& signal_urls, std::string target, std::string body,
                                        const std::optional<std::string>& secret, const AisClientConfig& cfg) {
  const auto urls = split_signal_urls(signal_urls);
  if (urls.empty()) co_return make_error_code(NetworkError::InvalidArgument);
  for (const auto& u : urls)
    if (auto p = ws::parse_url(as_ws_url(u)); !p) co_return p.error();
  Result<Reply> r = make_error_code(NetworkError::InvalidArgument);
  for (std::size_t i = 0; i < urls.size(); ++i) {
    r = co_await post(urls[i], target, body, secret, cfg);
    const bool answered = r && r->status != 429 && r->status != 503;
    if (answered) co_return r;
    if (i + 1 < urls.size())
      spdlog::info("actr: the AIS of {} did not answer ({}); trying {}", urls[i],
                   r ? "HTTP " + std::to_string(r->status) : r.error().message(), urls[i + 1]);
  }
  co_return r;
}

Error status_error(unsigned status) {
  switch (status) {
    case 400: return make_error_code(NetworkError::InvalidArgument);
    case 401: return make_error_code(NetworkError::AuthenticationError);
    case 403: return make_error_code(NetworkError::PermissionError);
    case 404: return make_error_code(NetworkError::NotFound);
    case 429:
    case 503: return make_error_code(NetworkError::ResourceExhausted);
    default: return make_error_code(NetworkError::ProtocolError);
  }
}

template <class Response>
Result<AisIdentity> decode(const Result<Reply>& r) {
  if (!r) return r.error();
  if (r->status != 200) return status_error(r->status);
  Response resp;
  if (!resp.ParsePartialFromString(r->body) || !resp.IsInitialized() || !resp.has_success())
    return make_error_code(NetworkError::ProtocolError);
  const auto& ok = resp.success();
  const auto& pk = ok.signing_pubkey();
  auto key = VerifyingKey::from_raw(ok.signing_key_id(),
                                    ConstBytes(reinterpret_cast<const std::uint8_t*>(pk.data()), pk.size()));
  if (!key) return make_error_code(NetworkError::ProtocolError);
  AisIdentity id{sig::from_pb(ok.actr_id()), sig::from_pb(ok.credential()), *key, {}, 0, ok.signaling_heartbeat_interval_secs()};
  // The credential must be what it says: for this id, by this key (expiry aside: a clock skew
  // between us and the server is not ours to judge here).
  KeyRing ring([] { return std::uint64_t{0}; });
  ring.add(*key);
  auto claims = ring.verify(id.credential, id.id, 0);
  if (!claims) return make_error_code(NetworkError::ProtocolError);
  id.expires_at = claims->expires_at;
  const auto& token = ok.renewal_token();
  id.renewal_token.assign(token.begin(), token.end());
  return id;
}

std::string serialize(const google::protobuf::MessageLite& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

}  // namespace

Result<std::string> ais_base_url(const std::string& signal_url) {
  auto u = ws::parse_url(as_ws_url(signal_url));
  if (!u) return u.error();
  const bool v6 = u->host.find(':') != std::string::npos;
  return std::string(u->tls ? "https://" : "http://") + (v6 ? "[" + u->host + "]" : u->host) + ":" + u->port;
}

asio::awaitable<Result<AisIdentity>> ais_register(std::string signal_url, AisRegistration request,
                                                  AisClientConfig cfg) {
  ais::RegisterRequest rr;
  rr.mutable_actr_type()->set_manufacturer(request.type.manufacturer);
  rr.mutable_actr_type()->set_name(request.type.name);
  rr.mutable_actr_type()->set_version(request.type.version);
  rr.mutable_realm()->set_realm_id(request.realm.realm_id);
  if (request.ws_address) rr.set_ws_address(*request.ws_address);
  auto r = co_await post_any(signal_url, "/ais/register", serialize(rr), request.realm_secret, cfg);
  co_return decode<ais::RegisterResponse>(r);
}

asio::awaitable<Result<AisIdentity>> ais_renew(std::string signal_url, const AisIdentity& current, AisClientConfig cfg) {
  if (current.renewal_token.empty()) co_return make_error_code(NetworkError::AuthenticationError);
  ais::RenewCredentialRequest rr;
  sig::to_pb(current.id, rr.mutable_actr_id());
  rr.set_renewal_token(current.renewal_token.data(), current.renewal_token.size());
  auto r = co_await post_any(signal_url, "/ais/renew", serialize(rr), std::nullopt, cfg);
  co_return decode<ais::RenewCredentialResponse>(r);
}

}  // namespace actr
