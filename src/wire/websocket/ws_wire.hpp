#pragma once
// Private: the WebSocket WireHandle shared by the client dialer and the server gate: actr's
// 5-byte frame header (framing.hpp) on top of a `ws::Connection` (ws_conn.hpp). No Beast here.

#include <actr/websocket.hpp>

#include "ws_conn.hpp"

#include <atomic>
#include <mutex>
#include <optional>

namespace actr::ws {

/// The connection settings of a WebSocket wire (the message cap includes the frame header).
ConnConfig conn_config(const WebSocketConfig& cfg);

/// The connection lives on its own strand, kept alive by its loops until the socket closes; the
/// handle is separate, so dropping the last handle ends the connection.
class WsWire : public WireHandle, public std::enable_shared_from_this<WsWire> {
 public:
  struct ClientParams {
    std::string url;
    ActrId local_id;
    ActrId remote;
    std::optional<std::string> credential;
  };

  WsWire(boost::asio::any_io_executor ex, WebSocketConfig cfg, FrameHandler on_frame,
         std::optional<ClientParams> client);
  ~WsWire() override;

  boost::asio::awaitable<Result<void>> connect() override;
  boost::asio::awaitable<void> close() override;
  bool is_connected() const noexcept override {
    return connected_.load(std::memory_order_acquire) && !close_begun_.load(std::memory_order_acquire);
  }
  void begin_close() noexcept override { close_begun_.store(true, std::memory_order_release); }
  Result<std::shared_ptr<DataLane>> get_lane(PayloadType pt) override;

  /// Server side: adopt an accepted connection from `peer`, connected but not yet reading.
  /// `start_io` (on the connection's strand) starts it: the gate registers the wire with its
  /// owner first, so no frame is handled before the peer's wire is known.
  void adopt(std::shared_ptr<Connection> conn, ActrId peer);
  void start_io();
  /// The live connection (null before a dial completed). For the gate and for tests that cut
  /// the socket under the wire.
  std::shared_ptr<Connection> connection() const;

 private:
  // Decodes one inbound message into a frame and hands it to `on_frame` (by value: the wire
  // may go away while the handler runs).
  static boost::asio::awaitable<Result<void>> deliver(std::weak_ptr<WsWire> weak, ConstBytes data, bool binary);
  boost::asio::awaitable<Result<void>> dial();
  void died(Error why);

  boost::asio::any_io_executor ex_;
  const WebSocketConfig cfg_;
  const FrameHandler on_frame_;
  const std::optional<ClientParams> client_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> closed_by_us_{false};
  std::atomic<bool> close_begun_{false};  // begin_close(): reports not connected from now on
  mutable std::mutex mu_;  // guards conn_ (set once by adopt) and lanes_
  // peer_ is set by adopt before the connection starts and read-only afterwards.
  std::shared_ptr<Connection> conn_;
  ActrId peer_;
  std::shared_ptr<DataLane> lanes_[kPayloadTypeCount];
};

}  // namespace actr::ws
