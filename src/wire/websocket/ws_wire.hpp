#pragma once
// Private: the WebSocket WireHandle shared by the client dialer and the server gate. Included
// only by the Beast translation units of src/wire/websocket.

#include <actr/detail/notifier.hpp>
#include <actr/websocket.hpp>

#include "net_stream.hpp"
#include "tls_context.hpp"
#include "ws_common.hpp"

#include <boost/asio/strand.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>

namespace actr::ws {

namespace beast = boost::beast;
namespace asio = boost::asio;
using Stream = beast::websocket::stream<NetStream>;



/// The live connection: stream, reader task, single writer task. Lives on `strand`; loops keep
/// it alive until the socket closes. Separate from the handle so that dropping the last handle
/// can shut the connection down (the handle's destructor posts `shutdown`).
struct Conn : std::enable_shared_from_this<Conn> {
  Conn(asio::strand<asio::any_io_executor> s, WebSocketConfig c, FrameHandler f)
      : strand(std::move(s)), cfg(c), on_frame(std::move(f)) {}

  asio::strand<asio::any_io_executor> strand;
  const WebSocketConfig cfg;
  const FrameHandler on_frame;
  ActrId peer;                       // set before the reader starts
  std::weak_ptr<WireHandle> owner;  // for on_frame and notify_closed
  std::optional<Stream> stream;      // touched only on strand

  std::mutex mu;  // guards queue, dead, dead_why
  std::deque<Bytes> queue;
  bool dead = false;
  Error dead_why;
  detail::Notifier queued;   // the writer wakes on new items
  detail::Notifier drained;  // senders wake on room

  void start();
  asio::awaitable<void> reader();
  asio::awaitable<void> writer();
  /// Writes the frames packed so far; false (and the connection failed) on a socket error.
  asio::awaitable<bool> flush();
  /// The connection ended (error, protocol violation, or local close). First call wins.
  /// `protocol` sends a WebSocket close frame with a policy code before closing the socket.
  void fail(Error why, bool protocol, bool local);
  asio::awaitable<void> close_stream(bool protocol);
  asio::awaitable<Result<void>> send(PayloadType pt, ConstBytes payload, Deadline deadline);
};

class WsWire : public WireHandle, public std::enable_shared_from_this<WsWire> {
 public:
  struct ClientParams {
    std::string url;
    ActrId local_id;
    ActrId remote;
    std::optional<std::string> credential;
  };

  WsWire(asio::any_io_executor ex, WebSocketConfig cfg, FrameHandler on_frame, std::optional<ClientParams> client);
  ~WsWire() override;

  asio::awaitable<Result<void>> connect() override;
  asio::awaitable<void> close() override;
  bool is_connected() const noexcept override {
    return connected_.load(std::memory_order_acquire) && !close_begun_.load(std::memory_order_acquire);
  }
  void begin_close() noexcept override { close_begun_.store(true, std::memory_order_release); }
  Result<std::shared_ptr<DataLane>> get_lane(PayloadType pt) override;

  /// Server side: adopt an accepted, already upgraded stream from `peer` (call on its strand).
  /// With `start_io` false the reader and writer wait for `start_io()` (the gate registers the
  /// wire with its owner first, so no frame is handled before the peer's wire is known).
  void adopt(Stream stream, ActrId peer, bool start_io = true);
  void start_io();
  void died(Error why);  // from Conn::fail

  std::shared_ptr<Conn> conn() const { return conn_; }

 private:
  asio::awaitable<Result<void>> dial();
  const std::optional<ClientParams> client_;
  std::shared_ptr<Conn> conn_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> closed_by_us_{false};
  std::atomic<bool> close_begun_{false};  // begin_close(): reports not connected from now on
  std::mutex lanes_mu_;
  std::shared_ptr<DataLane> lanes_[kPayloadTypeCount];
};

/// Options applied to every stream (timeouts, keepalive, limits, binary).
void configure(Stream& s, const WebSocketConfig& cfg);

}  // namespace actr::ws
