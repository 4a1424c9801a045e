#pragma once
/// @file
/// The WebSocket wire (client and server side) and its inbound gate. No Beast type appears here.

#include <actr/byte_budget.hpp>
#include <actr/framing.hpp>
#include <actr/hex.hpp>
#include <actr/identity.hpp>
#include <actr/types.hpp>
#include <actr/wire.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace actr {

/// An OpenSSL context for `wss://`: built by `make_tls_client_context` (dialing side) or
/// `make_tls_server_context` (the gate, the signaling server). Opaque; shared by every
/// connection that uses it.
class TlsContext;

struct TlsClientOptions {
  /// Trusted CA certificates (PEM text). Empty: the system's default trust store.
  std::string ca_pem;
  /// Verify the server's certificate chain and host name (RFC 6125). Turn off only for tests.
  bool verify_peer = true;
};
struct TlsServerOptions {
  std::string certificate_chain_pem;  ///< the server's certificate (and intermediates), PEM
  std::string private_key_pem;        ///< its private key, PEM
};
/// Errors: `ConfigurationError` for unreadable PEM or a key that does not match the certificate.
Result<std::shared_ptr<TlsContext>> make_tls_client_context(const TlsClientOptions& options);
Result<std::shared_ptr<TlsContext>> make_tls_server_context(const TlsServerOptions& options);
/// As above; on failure `why` says which part is wrong and OpenSSL's reason, e.g.
/// "certificate: no start line (PEM routines)" or "the private key does not match the certificate".
Result<std::shared_ptr<TlsContext>> make_tls_client_context(const TlsClientOptions& options, std::string& why);
Result<std::shared_ptr<TlsContext>> make_tls_server_context(const TlsServerOptions& options, std::string& why);

/// A wss:// dial whose TLS handshake failed. Dials report the typed code (`TlsCertificateUntrusted`,
/// `TlsHostnameMismatch`, `TlsHandshakeFailed`); this keeps OpenSSL's words for people.
struct TlsFailure {
  std::string url;
  Error error;         ///< the code the dial returned
  std::string reason;  ///< e.g. "certificate verify failed: self-signed certificate"
};
/// The most recent TLS failure of any wss:// dial in this process (WebSocket wires and signaling
/// alike), or nothing. For diagnostics: `actr call` prints it next to the typed error. Thread-safe.
std::optional<TlsFailure> last_tls_failure();

struct WebSocketConfig {
  /// Inbound and outbound payload cap. A send above it fails `MessageTooLarge` (its message names
  /// the size and the limit); a peer's message above it closes that connection (1009 to the peer,
  /// `MessageTooLarge` to the wire's death observer).
  std::size_t max_message_size = kDefaultMaxMessageSize;
  std::chrono::milliseconds connect_timeout{5000};        ///< TCP connect + upgrade handshake
  /// A ping goes out after one interval without inbound traffic; a peer silent for two intervals
  /// is declared dead (the wire reports closed, its pool reconnects). Any inbound frame counts.
  std::chrono::milliseconds keepalive_interval{5000};
  std::chrono::milliseconds close_timeout{500};  ///< bound on the closing handshake
  std::size_t write_buffer_bytes = 65536;        ///< Beast's write buffer (64 KiB: one send per frame)
  std::size_t send_queue_limit = 4096;           ///< queued messages before `send` waits for room
  /// Queued bytes (counting those being written) before `send` waits for room; one larger message
  /// goes through alone. While the queue is at either limit the connection is not read (its
  /// peer's requests would only add answers); a queue that does not move for two keepalive
  /// intervals ends the connection (`TimeoutError`).
  std::size_t send_queue_bytes = 8u << 20;
  /// Global caps shared by every connection given the same budget (a `Node` shares one set with
  /// all its wires). `reassembly_budget`: bytes of inbound messages being read or handled; a read
  /// past it closes that connection with 1013 (try again later). `send_budget`: outbound bytes
  /// queued; a send past it fails `ResourceExhausted` at once. Null on a `WebSocketServer`: it
  /// makes its own (`kDefaultReassemblyBudget`, `kDefaultSendBudget`); null on a client wire: none.
  std::shared_ptr<ByteBudget> reassembly_budget;
  std::shared_ptr<ByteBudget> send_budget;
  /// The single writer packs queued frames up to this size into one socket write (0: one write per
  /// frame). Larger frames go out on their own, without a copy.
  std::size_t coalesce_bytes = 64 * 1024;
  /// TLS. Client side: used for `wss://` URLs (null: a default context that verifies against the
  /// system trust store). Server side: when set, the gate accepts only TLS (`wss://`).
  std::shared_ptr<TlsContext> tls;

  /// Client side: asked at every dial for the `X-Actr-Credential` value (base64 of the protobuf
  /// `AIdCredential`, `Credential::to_base64`), so a renewed credential is used from the next
  /// dial on. Wins over a fixed credential given to `make_websocket_client`; nullopt: that one.
  std::function<std::optional<std::string>()> credential_source;

  /// Server side: the gate's identity check (actr HEAD's W12, done before the upgrade). When set,
  /// an upgrade is served only with an `X-Actr-Credential` that `identity_keys` verifies for the
  /// id in `X-Actr-Source-ID` (signature, trusted key, not expired, `claims.actor_id` equal to that
  /// id's string form); anything else gets HTTP 401 and no WebSocket. Null: no check — anyone may
  /// present any id (logged once per process as a warning).
  std::shared_ptr<KeyRing> identity_keys;
  /// Server side, with `identity_keys`: asked for a key id the ring does not know (e.g. the key
  /// the signaling server named at registration); a key returned is added to the ring. Called on
  /// the connection's strand; must not block.
  std::function<std::optional<VerifyingKey>(std::uint32_t key_id)> fetch_key;
};

/// Where a connection's inbound frames go: the wire that received it, the peer at its other end
/// (the dialed actor, or the id the peer presented to the gate), the frame's class, and the
/// payload (protobuf bytes, not yet decoded). Awaited on the connection's strand, in order: the
/// connection reads its next frame only when the handler completes, so a handler that waits for
/// queue room backpressures that peer (and only that peer). A handler that returns an error
/// (e.g. `DeserializationError` for bad protobuf) closes that connection only.
/// `payload` is a view of the wire's read buffer, valid until the returned awaitable completes
/// (nothing is copied on the way to the handler): copy what must outlive it.
using FrameHandler = std::function<boost::asio::awaitable<Result<void>>(
    const std::shared_ptr<WireHandle>& wire, const ActrId& peer, PayloadType pt, ConstBytes payload)>;

/// Client wire to actor `remote`: dials `url` (ws://host:port/path or wss://…) on `connect()`, sending
/// `X-Actr-Source-ID` (lowercase hex of `local_id`'s protobuf encoding) and, if given,
/// `X-Actr-Credential`.
std::shared_ptr<WireHandle> make_websocket_client(boost::asio::any_io_executor ex, std::string url, ActrId local_id,
                                                  ActrId remote, WebSocketConfig cfg, FrameHandler on_frame,
                                                  std::optional<std::string> credential = std::nullopt);

/// Accepts WebSocket upgrades on any path. A request without a valid `X-Actr-Source-ID` gets
/// HTTP 400 and is closed; with `identity_keys` configured, one without a valid credential for
/// that id gets HTTP 401 (see `WebSocketConfig`); nothing else is disturbed. Each accepted connection becomes a
/// connected `WireHandle` (WebSocket kind) handed to `on_peer` together with the peer's id, so
/// replies and traffic back to that peer can use it. Frames go to `on_frame`. An accepted
/// connection stays open until it ends or the server closes, whether or not `on_peer` keeps it.
class WebSocketServer {
 public:
  using PeerHandler = std::function<void(const ActrId& peer, const std::shared_ptr<WireHandle>& wire)>;

  WebSocketServer(boost::asio::any_io_executor ex, WebSocketConfig cfg, FrameHandler on_frame, PeerHandler on_peer);
  ~WebSocketServer();
  WebSocketServer(const WebSocketServer&) = delete;
  WebSocketServer& operator=(const WebSocketServer&) = delete;

  /// Binds and starts accepting. `port` 0 picks a free port. Returns the bound port.
  Result<std::uint16_t> listen(const std::string& host, std::uint16_t port);
  /// Stops accepting and closes every accepted connection (bounded). Idempotent.
  boost::asio::awaitable<void> close();
  /// Connections rejected so far (bad handshake headers or identity), for tests and metrics.
  std::uint64_t rejected() const noexcept;
  /// Of those, the ones refused for identity (HTTP 401).
  std::uint64_t unauthorized() const noexcept;

  /// What the accepted connections hold and how often they hit a limit (docs/limits.md).
  struct Limits {
    std::shared_ptr<const ByteBudget> reassembly;  ///< inbound message bytes being read or handled
    std::shared_ptr<const ByteBudget> send;        ///< outbound bytes queued
    std::uint64_t send_waits = 0;   ///< sends that waited for room in a connection's full outbound queue
    std::uint64_t stalls = 0;       ///< connections ended because their queue did not move for 2 keepalives
    std::uint64_t refused = 0;      ///< connections closed 1013 at a global budget
  };
  Limits limits() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace actr
