// The WebSocket wire: client dial + handshake, reader, single writer, close. One of the few
// translation units that include Beast.
#include "ws_wire.hpp"

#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/error.hpp>

#include <spdlog/spdlog.h>

namespace actr::ws {

using namespace actr::detail;
using tcp = asio::ip::tcp;
namespace websocket = beast::websocket;

void configure(Stream& s, const WebSocketConfig& cfg) {
  websocket::stream_base::timeout t;
  t.handshake_timeout = cfg.connect_timeout;
  // Beast pings after half the idle timeout without inbound data and fails the read at the full
  // timeout: one interval to ping, two intervals of silence to declare the peer dead.
  t.idle_timeout = 2 * cfg.keepalive_interval;
  t.keep_alive_pings = true;
  s.set_option(t);
  s.binary(true);
  s.auto_fragment(false);
  s.read_message_max(cfg.max_message_size + kFrameHeaderSize);
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

// ---- Conn -------------------------------------------------------------------------------------

void Conn::start() {
  auto self = shared_from_this();
  auto report = [](const char* what) {
    return [what](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("actr: websocket {} loop failed: {}", what, ex.what());
      }
    };
  };
  asio::co_spawn(strand, [self]() { return self->reader(); }, report("reader"));
  asio::co_spawn(strand, [self]() { return self->writer(); }, report("writer"));
}

asio::awaitable<void> Conn::reader() {
  auto self = shared_from_this();
  beast::flat_buffer buf;
  for (;;) {
    buf.clear();
    auto [ec, n] = co_await stream->async_read(buf, use_ec);
    if (ec) {
      fail(map_error(ec), ec == websocket::error::message_too_big, false);
      co_return;
    }
    if (!stream->got_binary()) {  // actr frames are binary; a text frame is a protocol violation
      fail(make_error_code(NetworkError::MalformedFrame), true, false);
      co_return;
    }
    const auto data = buf.cdata();
    auto frame = decode_frame(ConstBytes(static_cast<const std::uint8_t*>(data.data()), data.size()), cfg.max_message_size);
    if (!frame) {
      spdlog::warn("actr: websocket peer sent a bad frame ({}); closing that connection", frame.error().message());
      fail(frame.error(), true, false);
      co_return;
    }
    {
      // Closed locally (close(), the handle's destructor) while this frame was read: it is not
      // handed on. No frame of a closed wire reaches the frame handler.
      std::lock_guard lk(mu);
      if (dead) co_return;
    }
    auto wire = owner.lock();
    if (on_frame && wire) {
      auto handled = co_await on_frame(wire, peer, frame->type, Bytes(frame->payload.begin(), frame->payload.end()));
      if (!handled) {
        spdlog::warn("actr: closing connection from {}: {}", peer.to_string(), handled.error().message());
        fail(handled.error(), true, false);
        co_return;
      }
    }
  }
}

asio::awaitable<void> Conn::writer() {
  auto self = shared_from_this();
  std::deque<Bytes> batch;
  auto& net = stream->next_layer();
  for (;;) {
    const auto seen = queued.version();
    {
      std::lock_guard lk(mu);
      if (dead) co_return;
      batch.swap(queue);
    }
    if (batch.empty()) {
      (void)co_await queued.async_wait_change(seen, Clock::now() + std::chrono::hours(24));
      continue;
    }
    drained.notify();
    // Everything queued goes out back to back, small frames packed into as few socket writes as
    // possible (the cork absorbs Beast's per-frame writes); no lock is held across the writes.
    for (auto& m : batch) {
      if (m.size() <= cfg.coalesce_bytes) {
        net.cork();
      } else {
        const bool flushed = co_await flush();  // earlier frames first; a big frame goes on its own
        if (!flushed) co_return;
      }
      auto [ec, n] = co_await stream->async_write(asio::buffer(m), use_ec);
      if (ec) {
        fail(map_error(ec), false, false);
        co_return;
      }
      if (net.pending_bytes() >= cfg.coalesce_bytes) {
        const bool flushed = co_await flush();
        if (!flushed) co_return;
      }
      std::lock_guard lk(mu);
      if (dead) break;
    }
    batch.clear();
    const bool flushed = co_await flush();
    if (!flushed) co_return;
  }
}

asio::awaitable<bool> Conn::flush() {
  auto& net = stream->next_layer();
  if (net.pending_bytes() == 0) {
    net.uncork();
    co_return true;
  }
  const auto ec = co_await net.flush();
  if (!ec) co_return true;
  fail(map_error(ec), false, false);
  co_return false;
}

void Conn::fail(Error why, bool protocol, bool local) {
  {
    std::lock_guard lk(mu);
    if (dead) return;
    dead = true;
    dead_why = why;
    spdlog::debug("actr: websocket connection with {} ended: {}", peer.to_string(), why.message());
    queue.clear();
  }
  queued.notify();
  drained.notify();
  auto self = shared_from_this();
  asio::co_spawn(strand, [self, protocol]() { return self->close_stream(protocol); }, [](std::exception_ptr) {});
  if (!local) {
    if (auto w = owner.lock()) static_cast<WsWire*>(w.get())->died(why);
  }
}

asio::awaitable<void> Conn::close_stream(bool protocol) {
  if (!stream) co_return;
  if (stream->is_open()) {
    websocket::stream_base::timeout t;
    t.handshake_timeout = cfg.close_timeout;  // bounds the closing handshake
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    stream->set_option(t);
    // Frames the writer already packed go out before the close frame (or, if the writer is
    // flushing right now, the close frame joins its flush).
    auto& net = stream->next_layer();
    if (net.pending_bytes() > 0)
      (void)co_await net.flush();
    else
      net.uncork();
    const auto code = protocol ? websocket::close_code::policy_error : websocket::close_code::normal;
    (void)co_await stream->async_close(code, use_ec);
  }
  stream->next_layer().close_socket();
}

asio::awaitable<Result<void>> Conn::send(PayloadType pt, ConstBytes payload, Deadline deadline) {
  Bytes frame;
  auto enc = encode_frame(pt, payload, frame, cfg.max_message_size);
  if (!enc) co_return enc.error();
  for (;;) {
    const auto seen = drained.version();
    {
      std::lock_guard lk(mu);
      if (dead) co_return make_error_code(NetworkError::WebSocketClosed);
      if (queue.size() < cfg.send_queue_limit) {
        queue.push_back(std::move(frame));
        break;
      }
    }
    auto w = co_await drained.async_wait_change(seen, deadline);  // backpressure, bounded
    if (!w) co_return w.error();
  }
  queued.notify();
  co_return ok();
}

// ---- the handle ---------------------------------------------------------------------------------

namespace {
class WsLane : public DataLane {
 public:
  WsLane(std::weak_ptr<Conn> c, PayloadType pt, std::chrono::milliseconds wait) : c_(std::move(c)), pt_(pt), wait_(wait) {}
  PayloadType payload_type() const noexcept override { return pt_; }
  asio::awaitable<Result<void>> send(ConstBytes bytes) override {
    auto c = c_.lock();
    if (!c) co_return make_error_code(NetworkError::WebSocketClosed);
    co_return co_await c->send(pt_, bytes, Clock::now() + wait_);
  }

 private:
  std::weak_ptr<Conn> c_;
  PayloadType pt_;
  std::chrono::milliseconds wait_;
};

}  // namespace

Result<Url> parse_url(const std::string& url) {
  Url u;
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
  if (u.host.empty() || u.port.empty()) return make_error_code(NetworkError::InvalidArgument);
  return u;
}

namespace {

// OpenSSL's SSL_set_tlsext_host_name is a macro with a C cast.
bool set_sni(SSL* ssl, const std::string& host) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1;
#pragma GCC diagnostic pop
}

// wss:// without a configured context verifies against the system trust store.
std::shared_ptr<TlsContext> default_client_tls() {
  static const auto ctx = [] {
    auto c = make_tls_client_context({});
    return c ? *c : nullptr;
  }();
  return ctx;
}
}  // namespace

WsWire::WsWire(asio::any_io_executor ex, WebSocketConfig cfg, FrameHandler on_frame, std::optional<ClientParams> client)
    : WireHandle(WireKind::WebSocket), client_(std::move(client)),
      conn_(std::make_shared<Conn>(asio::make_strand(ex), cfg, std::move(on_frame))) {}

WsWire::~WsWire() {
  // The loops keep the connection alive; without a handle nobody can use it, so end it.
  conn_->fail(make_error_code(NetworkError::ConnectionClosed), false, true);
}

void WsWire::adopt(Stream stream, ActrId peer, bool start_io) {
  conn_->peer = std::move(peer);
  conn_->owner = weak_from_this();
  conn_->stream.emplace(std::move(stream));
  connected_.store(true, std::memory_order_release);
  // A close() racing a dial (another thread) may have cleared the flag before the store above.
  if (closed_by_us_.load()) connected_.store(false, std::memory_order_release);
  if (start_io) conn_->start();
}

void WsWire::start_io() { conn_->start(); }

void WsWire::died(Error why) {
  connected_.store(false, std::memory_order_release);
  if (!closed_by_us_.load()) notify_closed(why);
}

asio::awaitable<Result<void>> WsWire::connect() {
  // A closed wire stays closed: its connection is gone for good (a new one means a new wire).
  if (closed_by_us_.load()) co_return make_error_code(NetworkError::WebSocketClosed);
  if (connected_.load()) co_return ok();  // accepted (server-side) wires arrive connected
  if (!client_) co_return make_error_code(NetworkError::WebSocketClosed);
  // The stream belongs to the connection's strand: run the dial there.
  try {
    co_return co_await asio::co_spawn(conn_->strand, dial(), asio::use_awaitable);
  } catch (const std::system_error&) {
    co_return make_error_code(NetworkError::Cancelled);
  }
}

asio::awaitable<Result<void>> WsWire::dial() {
  auto self = shared_from_this();
  auto url = parse_url(client_->url);
  if (!url) co_return url.error();
  const auto& cfg = conn_->cfg;
  tcp::resolver resolver(conn_->strand);
  auto [rec, endpoints] = co_await resolver.async_resolve(url->host, url->port, use_ec);
  if (rec) co_return make_error_code(NetworkError::ConnectionError);
  beast::tcp_stream tcp_layer(conn_->strand);
  tcp_layer.expires_after(cfg.connect_timeout);
  auto [cec, ep] = co_await tcp_layer.async_connect(endpoints, use_ec);
  if (cec) co_return cec == beast::error::timeout ? make_error_code(NetworkError::TimeoutError) : Error(cec);
  tcp_layer.socket().set_option(tcp::no_delay(true));
  // TCP connect and the TLS handshake run under the connect timeout (tcp_stream's timer); the
  // upgrade under the websocket stream's handshake timeout.
  auto tls = url->tls ? (cfg.tls ? cfg.tls : default_client_tls()) : nullptr;
  if (url->tls && !tls) co_return make_error_code(NetworkError::ConfigurationError);
  auto s = tls ? Stream(std::move(tcp_layer), tls->ctx) : Stream(std::move(tcp_layer));
  if (auto* t = s.next_layer().tls()) {
    // SNI plus host name verification (RFC 6125) when verifying at all.
    if (!set_sni(t->native_handle(), url->host)) co_return make_error_code(NetworkError::ConfigurationError);
    if (tls->verify_peer) t->set_verify_callback(asio::ssl::host_name_verification(url->host));
    auto [tec] = co_await t->async_handshake(asio::ssl::stream_base::client, use_ec);
    if (tec) {
      spdlog::info("actr: TLS handshake with {} failed: {}", client_->url, tec.message());
      co_return tec == beast::error::timeout ? make_error_code(NetworkError::TimeoutError)
                                             : make_error_code(NetworkError::ConnectionError);
    }
  }
  s.next_layer().lowest().expires_never();  // the websocket stream's own timeouts take over
  s.next_layer().go_raw();
  configure(s, cfg);
  const auto source = to_hex(client_->local_id.to_protobuf());
  const auto credential = client_->credential;
  s.set_option(websocket::stream_base::decorator([source, credential](websocket::request_type& req) {
    req.set("X-Actr-Source-ID", source);
    if (credential) req.set("X-Actr-Credential", *credential);
  }));
  auto [hec] = co_await s.async_handshake(url->host + ":" + url->port, url->target, use_ec);
  if (hec) co_return hec == beast::error::timeout ? make_error_code(NetworkError::TimeoutError)
                                                  : make_error_code(NetworkError::WebSocketError);
  // close() during the dial: the new stream is dropped (closing its socket), not adopted.
  if (closed_by_us_.load()) co_return make_error_code(NetworkError::WebSocketClosed);
  adopt(std::move(s), client_->remote);
  if (closed_by_us_.load()) co_return make_error_code(NetworkError::WebSocketClosed);
  co_return ok();
}

asio::awaitable<void> WsWire::close() {
  closed_by_us_.store(true);
  connected_.store(false, std::memory_order_release);
  conn_->fail(make_error_code(NetworkError::ConnectionClosed), false, true);
  // One hop through the connection's strand: a reader step that saw the connection alive has
  // finished by then, so once close() returns no further frame reaches the frame handler, even
  // on a multi-threaded executor. The closing handshake itself runs on the strand in the
  // background, bounded by close_timeout.
  co_await asio::post(conn_->strand, asio::use_awaitable);
}

Result<std::shared_ptr<DataLane>> WsWire::get_lane(PayloadType pt) {
  if (pt == PayloadType::MediaRtp) return make_error_code(NetworkError::NoRoute);
  if (!connected_.load(std::memory_order_acquire)) return make_error_code(NetworkError::WebSocketClosed);
  std::lock_guard lk(lanes_mu_);
  auto& l = lanes_[static_cast<std::size_t>(pt)];
  if (!l) l = std::make_shared<WsLane>(conn_, pt, std::chrono::milliseconds{10000});
  return l;
}

}  // namespace actr::ws

namespace actr {

std::shared_ptr<WireHandle> make_websocket_client(boost::asio::any_io_executor ex, std::string url, ActrId local_id,
                                                  ActrId remote, WebSocketConfig cfg, FrameHandler on_frame,
                                                  std::optional<std::string> credential) {
  return std::make_shared<ws::WsWire>(
      std::move(ex), cfg, std::move(on_frame),
      ws::WsWire::ClientParams{std::move(url), std::move(local_id), std::move(remote), std::move(credential)});
}

std::string to_hex(ConstBytes bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 0xf]);
  }
  return s;
}

Result<Bytes> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return make_error_code(NetworkError::InvalidArgument);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return make_error_code(NetworkError::InvalidArgument);
    out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return out;
}

}  // namespace actr
