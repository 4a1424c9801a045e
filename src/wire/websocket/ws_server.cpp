// The inbound gate: accepts WebSocket upgrades, identifies the peer from X-Actr-Source-ID, and
// turns each connection into a connected WebSocket wire. Beast translation unit.
#include "ws_wire.hpp"

#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <spdlog/spdlog.h>

namespace actr {

using namespace actr::detail;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct WebSocketServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor e, WebSocketConfig c, FrameHandler f, PeerHandler p)
      : ex(std::move(e)), strand(asio::make_strand(ex)), cfg(c), on_frame(std::move(f)), on_peer(std::move(p)),
        acceptor(strand) {}

  asio::any_io_executor ex;
  asio::strand<asio::any_io_executor> strand;
  const WebSocketConfig cfg;
  const FrameHandler on_frame;
  const PeerHandler on_peer;
  tcp::acceptor acceptor;  // on strand
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<bool> closed{false};
  std::mutex mu;  // guards wires
  // Accepted connections stay open until they end or the server closes, whether or not anyone
  // took the wire from `on_peer`. Ended ones are swept at the next accept.
  std::vector<std::shared_ptr<ws::WsWire>> wires;

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> upgrade(std::shared_ptr<ws::WsWire> wire, tcp::socket sock);
  static void report(std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("actr: websocket server task failed: {}", ex.what());
    }
  }
};

asio::awaitable<void> WebSocketServer::Impl::accept_loop() {
  auto self = shared_from_this();
  while (!closed.load()) {
    // Each connection gets its own strand; the socket is accepted straight onto it.
    auto wire = std::make_shared<ws::WsWire>(ex, cfg, on_frame, std::nullopt);
    auto [ec, sock] = co_await acceptor.async_accept(wire->conn()->strand, use_ec);
    if (ec) {
      if (closed.load() || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("actr: accept failed: {}", ec.message());  // e.g. EMFILE: keep serving
      asio::steady_timer pause(strand, std::chrono::milliseconds{50});
      co_await pause.async_wait(use_ec);
      continue;
    }
    auto strand_of = wire->conn()->strand;
    asio::co_spawn(strand_of, upgrade(std::move(wire), std::move(sock)), &Impl::report);
  }
}

asio::awaitable<void> WebSocketServer::Impl::upgrade(std::shared_ptr<ws::WsWire> wire, tcp::socket sock) {
  auto self = shared_from_this();
  beast::tcp_stream tcp_layer(std::move(sock));
  tcp_layer.expires_after(cfg.connect_timeout);  // a client that never finishes its handshakes is dropped
  auto ns = cfg.tls ? ws::NetStream(std::move(tcp_layer), cfg.tls->ctx) : ws::NetStream(std::move(tcp_layer));
  if (auto* t = ns.tls()) {
    auto [tec] = co_await t->async_handshake(asio::ssl::stream_base::server, use_ec);
    if (tec) {
      rejected.fetch_add(1);
      spdlog::info("actr: TLS handshake from a client failed: {}", tec.message());
      co_return;
    }
  }
  beast::flat_buffer buf;
  http::request_parser<http::empty_body> parser;
  parser.header_limit(16 * 1024);
  auto [rec, n] = co_await http::async_read(ns, buf, parser, use_ec);
  if (rec) co_return;
  auto req = parser.release();

  auto reject = [&](http::status status, std::string why) -> asio::awaitable<void> {
    rejected.fetch_add(1);
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::connection, "close");
    res.body() = std::move(why);
    res.prepare_payload();
    co_await http::async_write(ns, res, use_ec);
    beast::error_code ignored;
    ns.lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    ns.close_socket();
  };
  if (!websocket::is_upgrade(req)) {
    co_await reject(http::status::bad_request, "WebSocket upgrade required\n");
    co_return;
  }
  std::optional<ActrId> peer;
  if (auto it = req.find("X-Actr-Source-ID"); it != req.end()) {
    auto raw = from_hex(std::string_view(it->value().data(), it->value().size()));
    if (raw) {
      auto id = ActrId::from_protobuf(*raw);
      if (id) peer = std::move(*id);
    }
  }
  if (!peer) {
    spdlog::info("actr: rejected an upgrade without a valid X-Actr-Source-ID");
    co_await reject(http::status::bad_request, "missing or malformed X-Actr-Source-ID\n");
    co_return;
  }
  ns.lowest().expires_never();
  ns.lowest().socket().set_option(tcp::no_delay(true));
  ns.go_raw();
  ws::Stream s(std::move(ns));
  ws::configure(s, cfg);
  auto [aec] = co_await s.async_accept(req, use_ec);
  if (aec) co_return;
  if (closed.load()) co_return;
  wire->adopt(std::move(s), *peer, false);
  {
    std::lock_guard lk(mu);
    std::erase_if(wires, [](const auto& w) { return !w->is_connected(); });
    wires.push_back(wire);
  }
  // The owner learns of the wire (and the manager adopts it) before its first frame is handled:
  // a reply to that frame then finds the wire instead of dialing the peer.
  if (on_peer) on_peer(*peer, wire);
  wire->start_io();
}

WebSocketServer::WebSocketServer(asio::any_io_executor ex, WebSocketConfig cfg, FrameHandler on_frame,
                                 PeerHandler on_peer)
    : impl_(std::make_shared<Impl>(std::move(ex), cfg, std::move(on_frame), std::move(on_peer))) {}

WebSocketServer::~WebSocketServer() {
  impl_->closed.store(true);
  asio::post(impl_->strand, [impl = impl_] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
}

Result<std::uint16_t> WebSocketServer::listen(const std::string& host, std::uint16_t port) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return make_error_code(NetworkError::InvalidArgument);
  tcp::endpoint ep(addr, port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ec;
  const auto bound = a.local_endpoint().port();
  asio::co_spawn(impl_->strand, impl_->accept_loop(), &Impl::report);
  return bound;
}

asio::awaitable<void> WebSocketServer::close() {
  auto impl = impl_;
  impl->closed.store(true);
  asio::post(impl->strand, [impl] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
  std::vector<std::shared_ptr<ws::WsWire>> live;
  {
    std::lock_guard lk(impl->mu);
    live.swap(impl->wires);
  }
  for (auto& w : live) co_await w->close();
}

std::uint64_t WebSocketServer::rejected() const noexcept { return impl_->rejected.load(); }

}  // namespace actr
