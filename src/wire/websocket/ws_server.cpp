// The inbound gate: accepts WebSocket upgrades, identifies the peer from X-Actr-Source-ID, checks
// its credential (when configured) before the upgrade completes, and turns each connection into
// a connected WebSocket wire. No Beast here: the handshake is ws_handshake.cpp's.
#include "ws_wire.hpp"
#include <actr/detail/log_limit.hpp>

#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <spdlog/spdlog.h>

#include <atomic>

namespace actr {

using namespace actr::detail;
using tcp = asio::ip::tcp;

namespace {

// The credential check of actr HEAD's gate (gate.rs `verify_credential`), with the refusal as
// HTTP 401 instead of a dropped socket after the upgrade. Returns the refusal reason, if any.
std::optional<std::string> check_identity(const WebSocketConfig& cfg, const ActrId& peer, const ws::HeaderLookup& header) {
  auto text = header("X-Actr-Credential");
  if (!text) return "missing X-Actr-Credential";
  auto cred = Credential::from_base64(*text);
  if (!cred) return "malformed X-Actr-Credential";
  auto claims = cfg.identity_keys->verify(*cred, peer);
  if (!claims && claims.error() == NetworkError::UnknownSigningKey && cfg.fetch_key) {
    if (auto key = cfg.fetch_key(cred->key_id); key && key->key_id() == cred->key_id) {
      cfg.identity_keys->add(*key);
      claims = cfg.identity_keys->verify(*cred, peer);
    }
  }
  if (claims) return std::nullopt;
  return "credential refused: " + claims.error().message();
}

// A gate protects its node out of the box: without budgets given, its connections share defaults.
WebSocketConfig with_budgets(WebSocketConfig c) {
  if (!c.reassembly_budget) c.reassembly_budget = std::make_shared<ByteBudget>(kDefaultReassemblyBudget);
  if (!c.send_budget) c.send_budget = std::make_shared<ByteBudget>(kDefaultSendBudget);
  return c;
}

void warn_unchecked_once() {
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true))
    spdlog::warn("actr: the WebSocket gate checks no identity: any client may claim any X-Actr-Source-ID "
                 "(configure identity keys to require a credential)");
}

}  // namespace

struct WebSocketServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor e, WebSocketConfig c, FrameHandler f, PeerHandler p)
      : ex(std::move(e)), strand(asio::make_strand(ex)), cfg(with_budgets(std::move(c))), on_frame(std::move(f)),
        on_peer(std::move(p)), acceptor(strand) {
    conn_cfg.counters = counters;
  }

  asio::any_io_executor ex;
  asio::strand<asio::any_io_executor> strand;
  const WebSocketConfig cfg;
  const FrameHandler on_frame;
  const PeerHandler on_peer;
  const std::shared_ptr<ws::ConnCounters> counters = std::make_shared<ws::ConnCounters>();
  ws::ConnConfig conn_cfg = ws::conn_config(cfg);  // set before the first accept, read-only after
  tcp::acceptor acceptor;  // on strand
  std::atomic<std::uint64_t> rejected{0}, unauthorized{0};
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
    auto conn_strand = strand_of(ex);
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
  auto identify = [this, &peer](const ws::HeaderLookup& header) -> std::optional<ws::Refusal> {
    if (auto v = header("X-Actr-Source-ID")) {
      auto raw = from_hex(*v);
      if (raw) {
        auto id = ActrId::from_protobuf(*raw);
        if (id) peer = std::move(*id);
      }
    }
    if (!peer) {
      static detail::LogLimiter anonymous;
      if (const auto nth = anonymous.tick())
        spdlog::info("actr: rejected an upgrade without a valid X-Actr-Source-ID ({} so far)", nth);
      return ws::Refusal{400, "missing or malformed X-Actr-Source-ID\n"};
    }
    if (!cfg.identity_keys) return std::nullopt;
    auto why = check_identity(cfg, *peer, header);
    if (!why) return std::nullopt;
    unauthorized.fetch_add(1);
    if (const auto nth = unauthorized.load(); detail::nth_is_logged(nth))
      spdlog::info("actr: refused an upgrade claiming to be {}: {} ({} so far)", peer->to_string(), *why, nth);
    return ws::Refusal{401, *why + "\n"};
  };
  auto conn = co_await ws::accept(std::move(sock), conn_cfg, identify);
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
  if (!impl_->cfg.identity_keys) warn_unchecked_once();
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
std::uint64_t WebSocketServer::unauthorized() const noexcept { return impl_->unauthorized.load(); }

WebSocketServer::Limits WebSocketServer::limits() const {
  const auto& c = *impl_->counters;
  return Limits{impl_->cfg.reassembly_budget, impl_->cfg.send_budget, c.send_waits.load(), c.stalls.load(),
                c.refused.load()};
}

}  // namespace actr
