#pragma once
// Private: a WebSocket connection that carries whole binary messages: the signaling link. The
// client dials one, the server upgrades accepted sockets into one. No Beast type here:
// ws_link.cpp is the Beast translation unit of src/signaling.

#include <actr/detail/clock.hpp>
#include <actr/result.hpp>
#include <actr/types.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace actr::sig {

struct LinkConfig {
  std::size_t max_message_size = 64 * 1024;
  std::chrono::milliseconds handshake_timeout{5000};   // TCP connect + upgrade
  std::chrono::milliseconds keepalive_interval{5000};  // ping after 1 silent interval, dead after 2
  std::chrono::milliseconds close_timeout{500};        // flush + closing handshake, then abort
  std::size_t queue_limit = 1024;                      // outbound messages
};

/// One WebSocket connection. The stream lives on the executor it was created on (a strand);
/// one reader and one writer loop run there and keep the link alive until its socket closes.
class Link {
 public:
  /// Runs on the link's strand, one message at a time, in order; must not block (the next
  /// message is read only when it returns). `binary` is false for a text frame.
  using OnMessage = std::function<void(Bytes data, bool binary)>;
  /// Runs once, posted to the strand, when the link dies for any reason (including close/abort).
  using OnClosed = std::function<void(Error why)>;

  virtual ~Link() = default;
  /// Starts the reader and the writer. Call once, on the link's strand.
  virtual void start(OnMessage on_message, OnClosed on_closed) = 0;
  /// Queues one binary message. Any thread, never blocks. Errors: `ConnectionClosed` once the
  /// link is closing or dead, `QueueFull` at `queue_limit` (the caller picks the policy).
  virtual Result<void> send(Bytes msg) = 0;
  /// Sends what is queued, then the closing handshake; aborts after `close_timeout`. Idempotent.
  virtual void close() = 0;
  /// Closes the socket now; queued messages are dropped. Idempotent.
  virtual void abort() = 0;
  virtual bool is_open() const noexcept = 0;
  /// Completes when both loops have ended (success) or at `deadline` (`TimeoutError`).
  virtual boost::asio::awaitable<Result<void>> wait_closed(Deadline deadline) = 0;
  /// Messages waiting in the outbound queue.
  virtual std::size_t queued() const = 0;
};

/// Dials `url` (ws://host:port/path) on the calling coroutine's executor, which must be a
/// strand (the link's loops run there). Bounded by `handshake_timeout`. Errors:
/// `InvalidArgument` (URL), `TimeoutError`, `ConnectionError`, `WebSocketError`.
boost::asio::awaitable<Result<std::shared_ptr<Link>>> dial_link(std::string url, LinkConfig cfg);

/// Server side: performs the WebSocket upgrade on an accepted socket whose executor is a strand
/// (call on that strand). Bounded by `handshake_timeout`; a request that is not an upgrade is
/// answered by HTTP 400.
boost::asio::awaitable<Result<std::shared_ptr<Link>>> accept_link(boost::asio::ip::tcp::socket sock, LinkConfig cfg);

}  // namespace actr::sig
