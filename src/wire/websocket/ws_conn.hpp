#pragma once
// Private: the one WebSocket connection layer of actr, used by the data wire (ws_wire.*, which
// puts the 5-byte frame header on top) and by the signaling link (whole binary protobuf
// messages). No Beast type here: ws_conn.cpp (the connection) and ws_handshake.cpp (dial and
// accept) are the Beast translation units.

#include <actr/byte_budget.hpp>
#include <actr/detail/clock.hpp>
#include <actr/error.hpp>
#include <actr/result.hpp>
#include <actr/types.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <string_view>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace actr {
class TlsContext;
}

namespace actr::ws {

/// Counters shared by the connections of one owner (a gate), for tests and metrics.
struct ConnCounters {
  std::atomic<std::uint64_t> send_waits{0};   // a send waited for room: the outbound queue was full
  std::atomic<std::uint64_t> stalls{0};       // a connection ended: its queue made no progress for 2 keepalives
  std::atomic<std::uint64_t> refused{0};      // a connection closed 1013: a global budget was exhausted
};

struct ConnConfig {
  std::size_t max_message_size = 64 * 1024;            // inbound cap of one whole WebSocket message
  std::chrono::milliseconds handshake_timeout{5000};   // TCP connect / TLS / upgrade, each side
  std::chrono::milliseconds keepalive_interval{5000};  // ping after 1 silent interval, dead after 2
  std::chrono::milliseconds close_timeout{500};        // flush + closing handshake, then the socket closes
  std::size_t queue_limit = 1024;                      // outbound messages
  // Outbound bytes queued or being written (one message larger than this is let through alone).
  // While the queue is at either limit, the connection is not read (see Connection).
  std::size_t queue_bytes = 8u << 20;
  std::size_t coalesce_bytes = 64 * 1024;              // pack queued messages up to this into one write
  std::size_t write_buffer_bytes = 65536;              // Beast's write buffer
  /// Dialing: the context for wss:// (null: one that verifies against the system trust store).
  /// Accepting: when set, only TLS is accepted.
  std::shared_ptr<TlsContext> tls;
  // Global caps shared with other connections (null: none). `read_budget`: bytes of inbound
  // messages being read or handled; a read past it closes this connection with 1013.
  // `send_budget`: outbound bytes queued; a send past it fails `ResourceExhausted`.
  std::shared_ptr<ByteBudget> read_budget = nullptr;
  std::shared_ptr<ByteBudget> send_budget = nullptr;
  std::shared_ptr<ConnCounters> counters = nullptr;
};

/// How a connection ends when it is failed.
enum class Ending {
  Normal,    // close frame 1000, bounded by close_timeout
  Policy,    // close frame 1008 (the peer broke the protocol), bounded by close_timeout
  TryAgain,  // close frame 1013 (try again later: a budget is exhausted), bounded by close_timeout
  Abort,     // the socket closes now; no close frame
};

/// One live WebSocket connection. The stream lives on a strand (the executor it was dialed or
/// accepted on); one reader and one writer loop run there and keep the connection alive until
/// its socket closes. Outbound messages go through a bounded queue; the single writer packs what
/// is queued into as few socket writes as possible; the reader takes every whole binary frame a
/// socket read brought before it reads again, and leaves control frames, text, fragments and
/// protocol errors to Beast. Keepalive: while the reader waits for bytes and none arrive, a ping
/// after one `keepalive_interval` and failure (`TimeoutError`) after two (each up to a quarter
/// interval later); time a handler holds the reader is not silence.
/// Backpressure on read: while the outbound queue is at `queue_limit` messages or `queue_bytes`
/// bytes (counting what is being written), the next message is not read; a queue that makes no
/// progress for two keepalive intervals meanwhile (the peer reads nothing) ends the connection
/// with `TimeoutError`. Errors a handler returns: `ResourceExhausted` closes with 1013, any
/// other with 1008.
class Connection {
 public:
  /// Runs on the strand, one message at a time, in order; must not block. `data` is valid
  /// during the call only. `binary` is false for a text frame.
  using OnMessage = std::function<void(ConstBytes data, bool binary)>;
  /// As `OnMessage`, but awaited: the next message is read only when it completes (backpressure
  /// on this peer). `data` stays valid until it completes. An error fails the connection with a
  /// policy close (1008) and that error.
  using OnMessageAsync = std::function<boost::asio::awaitable<Result<void>>(ConstBytes data, bool binary)>;
  /// Runs once, posted to the strand, when the connection dies for any reason (including
  /// close/abort/fail), with the reason. Nothing is delivered afterwards.
  using OnClosed = std::function<void(Error why)>;

  virtual ~Connection() = default;
  /// Starts the reader and the writer. Call once, on the strand. The handlers are released when
  /// the connection dies (they may own the connection's owner).
  virtual void start(OnMessage on_message, OnClosed on_closed) = 0;
  virtual void start_async(OnMessageAsync on_message, OnClosed on_closed) = 0;
  /// Queues one binary message. Any thread, never blocks. Errors: `ConnectionClosed` once the
  /// connection is closing or dead, `QueueFull` at `queue_limit` or `queue_bytes` (the caller
  /// picks the policy), `ResourceExhausted` past `send_budget`.
  virtual Result<void> send(Bytes msg) = 0;
  /// Queues one binary message, waiting (bounded by `deadline`) while the queue is full. Errors:
  /// `ConnectionClosed`, `TimeoutError`, `Cancelled`, `ResourceExhausted` (past `send_budget`:
  /// at once, no wait).
  virtual boost::asio::awaitable<Result<void>> send(Bytes msg, Deadline deadline) = 0;
  /// Sends what is queued, then the closing handshake; the socket closes after `close_timeout`
  /// at the latest. Reports `ConnectionClosed`. Idempotent.
  virtual void close() = 0;
  /// Ends the connection now: queued messages are dropped; `why` is reported. First call (of
  /// fail/abort/close's end) wins.
  virtual void fail(Error why, Ending how) = 0;
  /// `fail(ConnectionClosed, Abort)`.
  void abort() { fail(make_error_code(NetworkError::ConnectionClosed), Ending::Abort); }
  virtual bool is_open() const noexcept = 0;
  /// Completes when both loops have ended (success; at once if never started) or at `deadline`
  /// (`TimeoutError`).
  virtual boost::asio::awaitable<Result<void>> wait_closed(Deadline deadline) = 0;
  /// Messages waiting in the outbound queue.
  virtual std::size_t queued() const = 0;
};

/// A ws:// or wss:// URL split for resolve + handshake: IPv6 brackets removed from `host`, the
/// port defaulting to 80 / 443. Errors: `InvalidArgument`.
struct Url {
  bool tls = false;
  std::string host, port, target;
};
Result<Url> parse_url(const std::string& url);

using Headers = std::vector<std::pair<std::string, std::string>>;

/// Dials `url` (ws:// or wss://) on the calling coroutine's executor, which must be a strand
/// (the connection's loops run there), sending `headers` with the upgrade request. TCP connect
/// and TLS handshake are bounded by `handshake_timeout` together, the upgrade by it again.
/// wss:// sends SNI and, when the context verifies peers, checks the host name. Errors:
/// `InvalidArgument` (URL), `TimeoutError`, `ConnectionError` (resolve, connect, a transport
/// failure mid-handshake), `TlsCertificateUntrusted` / `TlsHostnameMismatch` (the certificate did
/// not verify), `TlsHandshakeFailed` (another TLS failure, e.g. no TLS on the other side),
/// `ConfigurationError` (no usable TLS context), `AuthenticationError` (upgrade refused with HTTP
/// 401: the server did not accept our credential), `WebSocketError` (upgrade refused otherwise). A
/// TLS failure is also recorded for `last_tls_failure()` and logged with OpenSSL's reason.
boost::asio::awaitable<Result<std::shared_ptr<Connection>>> dial(std::string url, Headers headers, ConnConfig cfg);

/// Header lookup of an upgrade request being accepted (valid during the call only). The name
/// `kTargetPseudoHeader` (":target", as HTTP/2's ":path") yields the request target with its query.
inline constexpr std::string_view kTargetPseudoHeader = ":target";
using HeaderLookup = std::function<std::optional<std::string_view>(std::string_view name)>;
/// Why an upgrade request is refused: the HTTP status (400 for a bad request, 401 for a missing
/// or invalid identity) and the body of the answer.
struct Refusal {
  unsigned status = 400;
  std::string body;
};
/// Decides whether an upgrade request is served: nothing to accept it, or its refusal.
using CheckUpgrade = std::function<std::optional<Refusal>(const HeaderLookup& header)>;

/// A plain HTTP request (not an upgrade) read whole on a WebSocket listener, for `PlainHttp`.
/// Views are valid during the `serve` call only.
struct PlainRequest {
  std::string_view method;  ///< e.g. "POST"
  std::string_view target;  ///< request target as sent, e.g. "/ais/register"
  HeaderLookup header;
  ConstBytes body;          ///< empty when `body_too_large`
  bool body_too_large = false;  ///< the body exceeded `PlainHttp::max_body` and was not read
};
/// The answer to a `PlainRequest`; the connection closes after it (no keep-alive).
struct PlainResponse {
  unsigned status = 200;
  std::string content_type = "text/plain";
  Bytes body;
};
/// Serving plain HTTP requests on a WebSocket listener (e.g. the AIS next to signaling). Without
/// `serve`, a request that is not an upgrade is refused with HTTP 400.
struct PlainHttp {
  std::size_t max_body = 64 * 1024;  ///< a longer body is not read: `serve` sees `body_too_large`
  std::function<PlainResponse(const PlainRequest&)> serve;  ///< runs on the connection's strand; must not block
};

/// Server side, on an accepted socket whose executor is a strand (call on that strand): TLS
/// handshake when `cfg.tls` is set, reads the request, lets `check` (if any) inspect an upgrade,
/// and accepts it; a request that is not an upgrade goes to `plain.serve` when set. The whole
/// set-up, including reading a plain request's body, is bounded by `handshake_timeout`. Returns
/// null (success, no connection) when `plain` served the request. Errors: `PermissionError`
/// (refused: TLS handshake failed, not an upgrade and no `plain`, or `check` said no; answered
/// with HTTP 400, or `check`'s status, where HTTP was spoken), `TimeoutError`, `ConnectionError`,
/// `WebSocketError`.
boost::asio::awaitable<Result<std::shared_ptr<Connection>>> accept(boost::asio::ip::tcp::socket sock, ConnConfig cfg,
                                                                   CheckUpgrade check, PlainHttp plain = {});

}  // namespace actr::ws
