// The WebSocket wire: actr's frame header on top of the shared WebSocket connection layer
// (ws_conn.hpp), client dial and the handle's lanes. No Beast here.
#include "ws_wire.hpp"
#include <actr/detail/log_limit.hpp>

#include <actr/error.hpp>

#include "detail/asio.hpp"

#include <spdlog/spdlog.h>

namespace actr::ws {

using namespace actr::detail;

ConnConfig conn_config(const WebSocketConfig& cfg) {
  return ConnConfig{.max_message_size = cfg.max_message_size + kFrameHeaderSize,
                    .handshake_timeout = cfg.connect_timeout,
                    .keepalive_interval = cfg.keepalive_interval,
                    .close_timeout = cfg.close_timeout,
                    .queue_limit = cfg.send_queue_limit,
                    .queue_bytes = cfg.send_queue_bytes,
                    .coalesce_bytes = cfg.coalesce_bytes,
                    .write_buffer_bytes = cfg.write_buffer_bytes,
                    .tls = cfg.tls,
                    .read_budget = cfg.reassembly_budget,
                    .send_budget = cfg.send_budget,
                    .counters = nullptr};
}

namespace {
// The wire's callers expect WebSocket codes; the connection layer says ConnectionClosed.
Error wire_error(const Error& e) {
  return e == NetworkError::ConnectionClosed ? make_error_code(NetworkError::WebSocketClosed) : e;
}

class WsLane : public DataLane {
 public:
  WsLane(std::weak_ptr<Connection> c, PayloadType pt, std::size_t max, std::chrono::milliseconds wait)
      : c_(std::move(c)), pt_(pt), max_(max), wait_(wait) {}
  PayloadType payload_type() const noexcept override { return pt_; }
  asio::awaitable<Result<void>> send(ConstBytes bytes) override {
    auto c = c_.lock();
    if (!c) co_return make_error_code(NetworkError::WebSocketClosed);
    Bytes frame;
    auto enc = encode_frame(pt_, bytes, frame, max_);
    if (!enc) co_return enc.error();
    auto sent = co_await c->send(std::move(frame), Clock::now() + wait_);
    if (!sent) co_return wire_error(sent.error());
    co_return ok();
  }

 private:
  std::weak_ptr<Connection> c_;
  PayloadType pt_;
  std::size_t max_;
  std::chrono::milliseconds wait_;
};
}  // namespace

WsWire::WsWire(asio::any_io_executor ex, WebSocketConfig cfg, FrameHandler on_frame, std::optional<ClientParams> client)
    : WireHandle(WireKind::WebSocket), ex_(std::move(ex)), cfg_(std::move(cfg)), on_frame_(std::move(on_frame)),
      client_(std::move(client)) {}

WsWire::~WsWire() {
  // The loops keep the connection alive; without a handle nobody can use it, so end it.
  if (auto c = connection()) c->fail(make_error_code(NetworkError::ConnectionClosed), Ending::Normal);
}

std::shared_ptr<Connection> WsWire::connection() const {
  std::lock_guard lk(mu_);
  return conn_;
}

void WsWire::adopt(std::shared_ptr<Connection> conn, ActrId peer) {
  peer_ = std::move(peer);
  {
    std::lock_guard lk(mu_);
    conn_ = std::move(conn);
  }
  connected_.store(true, std::memory_order_release);
}

void WsWire::start_io() {
  auto c = connection();
  std::weak_ptr<WsWire> weak = weak_from_this();
  c->start_async([weak](ConstBytes data, bool binary) { return deliver(weak, data, binary); },
                 [weak](Error why) {
                   if (auto w = weak.lock()) w->died(why);
                 });
}

asio::awaitable<Result<void>> WsWire::deliver(std::weak_ptr<WsWire> weak, ConstBytes data, bool binary) {
  if (!binary) co_return make_error_code(NetworkError::MalformedFrame);  // actr frames are binary
  auto self = weak.lock();
  if (!self) co_return ok();  // the handle is gone and the connection is ending
  auto frame = decode_frame(data, self->cfg_.max_message_size);
  if (!frame) {
    static detail::LogLimiter bad;
    if (const auto nth = bad.tick())
      spdlog::warn("actr: websocket peer sent a bad frame ({}); closing that connection ({} so far)",
                   frame.error().message(), nth);
    co_return frame.error();
  }
  // Closed locally while this frame was read: it is not handed on. No frame of a closed wire
  // reaches the frame handler.
  if (!self->on_frame_ || self->closed_by_us_.load()) co_return ok();
  const std::shared_ptr<WireHandle> wire = self;
  // A view of the connection's read buffer, which holds the frame until this handler completes.
  auto handled = co_await self->on_frame_(wire, self->peer_, frame->type, frame->payload);
  if (!handled) {
    static detail::LogLimiter refused;
    if (const auto nth = refused.tick())
      spdlog::warn("actr: closing connection from {}: {} ({} so far)", self->peer_.to_string(),
                   handled.error().message(), nth);
    co_return handled.error();
  }
  co_return ok();
}

void WsWire::died(Error why) {
  connected_.store(false, std::memory_order_release);
  if (!closed_by_us_.load()) notify_closed(why);
}

asio::awaitable<Result<void>> WsWire::connect() {
  // A closed wire stays closed: its connection is gone for good (a new one means a new wire).
  if (closed_by_us_.load()) co_return make_error_code(NetworkError::WebSocketClosed);
  if (connected_.load()) co_return ok();  // accepted (server-side) wires arrive connected
  if (!client_) co_return make_error_code(NetworkError::WebSocketClosed);
  // The connection lives on its own strand: run the dial there.
  try {
    co_return co_await asio::co_spawn(strand_of(ex_), dial(), asio::use_awaitable);
  } catch (const std::system_error&) {
    co_return make_error_code(NetworkError::Cancelled);
  }
}

asio::awaitable<Result<void>> WsWire::dial() {
  auto self = shared_from_this();
  Headers headers{{"X-Actr-Source-ID", to_hex(client_->local_id.to_protobuf())}};
  auto credential = cfg_.credential_source ? cfg_.credential_source() : std::nullopt;
  if (!credential) credential = client_->credential;
  if (credential) headers.emplace_back("X-Actr-Credential", std::move(*credential));
  auto c = co_await ws::dial(client_->url, std::move(headers), conn_config(cfg_));
  if (!c) co_return c.error();
  if (closed_by_us_.load()) {
    (*c)->abort();
    co_return make_error_code(NetworkError::WebSocketClosed);
  }
  adopt(*c, client_->remote);
  if (closed_by_us_.load()) {  // close() ran between the check above and adopt(): it saw no connection
    connected_.store(false, std::memory_order_release);
    (*c)->abort();
    co_return make_error_code(NetworkError::WebSocketClosed);
  }
  start_io();  // on the connection's strand
  co_return ok();
}

asio::awaitable<void> WsWire::close() {
  closed_by_us_.store(true);
  connected_.store(false, std::memory_order_release);
  if (auto c = connection()) c->fail(make_error_code(NetworkError::ConnectionClosed), Ending::Normal);
  co_return;  // the closing handshake runs on the strand, bounded by close_timeout
}

Result<std::shared_ptr<DataLane>> WsWire::get_lane(PayloadType pt) {
  if (pt == PayloadType::MediaRtp) return make_error_code(NetworkError::NoRoute);
  if (!connected_.load(std::memory_order_acquire)) return make_error_code(NetworkError::WebSocketClosed);
  std::lock_guard lk(mu_);
  auto& l = lanes_[static_cast<std::size_t>(pt)];
  if (!l) l = std::make_shared<WsLane>(conn_, pt, cfg_.max_message_size, std::chrono::milliseconds{10000});
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

}  // namespace actr
