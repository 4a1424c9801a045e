// The inbound gate: accepts WebSocket upgrades, identifies the peer from X-Actr-Source-ID, and
// turns each connection into a connected WebSocket wire. No Beast here: the handshake is
// ws_handshake.cpp's.
#include "ws_wire.hpp"

#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <spdlog/spdlog.h>

namespace actr {

using namespace actr::detail;
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
  asio::awaitable<void> upgrade(tcp::socket sock);
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
    auto conn_strand = asio::make_strand(ex);
    auto [ec, sock] = co_await acceptor.async_accept(conn_strand, use_ec);
    if (ec) {
      if (closed.load() || ec == asio::error::operation_aborted) co_return;
      spdlog::warn("actr: accept failed: {}", ec.message());  // e.g. EMFILE: keep serving
      asio::steady_timer pause(strand, std::chrono::milliseconds{50});
      co_await pause.async_wait(use_ec);
      continue;
    }
    asio::co_spawn(conn_strand, upgrade(std::move(sock)), &Impl::report);
  }
}

asio::awaitable<void> WebSocketServer::Impl::upgrade(tcp::socket sock) {
  auto self = shared_from_this();
  std::optional<ActrId> peer;
  auto identify = [&peer](const ws::HeaderLookup& header) -> std::optional<std::string> {
    if (auto v = header("X-Actr-Source-ID")) {
      auto raw = from_hex(*v);
      if (raw) {
        auto id = ActrId::from_protobuf(*raw);
        if (id) peer = std::move(*id);
      }
    }
    if (peer) return std::nullopt;
    spdlog::info("actr: rejected an upgrade without a valid X-Actr-Source-ID");
    return "missing or malformed X-Actr-Source-ID\n";
  };
  auto conn = co_await ws::accept(std::move(sock), ws::conn_config(cfg), identify);
  if (!conn) {
    if (conn.error() == NetworkError::PermissionError) rejected.fetch_add(1);
    co_return;
  }
  if (closed.load()) {
    (*conn)->abort();
    co_return;
  }
  auto wire = std::make_shared<ws::WsWire>(ex, cfg, on_frame, std::nullopt);
  wire->adopt(*conn, *peer);
  {
    std::lock_guard lk(mu);
    std::erase_if(wires, [](const auto& w) { return !w->is_connected(); });
    wires.push_back(wire);
  }
  // The owner learns of the wire (and the manager adopts it) before its first frame is handled:
  // a reply to that frame then finds the wire instead of dialing the peer.
  if (on_peer) on_peer(*peer, wire);
  wire->start_io();  // on the connection's strand
}

WebSocketServer::WebSocketServer(asio::any_io_executor ex, WebSocketConfig cfg, FrameHandler on_frame,
                                 PeerHandler on_peer)
    : impl_(std::make_shared<Impl>(std::move(ex), cfg, std::move(on_frame), std::move(on_peer))) {}

WebSocketServer::~WebSocketServer() {
  impl_->closed.store(true);
  asio::post(impl_->strand, [impl = impl_] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
  });
}

Result<std::uint16_t> WebSocketServer::listen(const std::string& host, std::uint16_t port) {
  boost::system::error_code ec;
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
    boost::system::error_code ignored;
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
