#pragma once
/// @file
/// The signaling and discovery server (`actr signal`) and the error codes of the signaling
/// protocol. Protocol: one binary protobuf `SignalingEnvelope` (version 2) per WebSocket frame;
/// docs/signaling.md describes every message. No Beast or protobuf type appears here.

#include <actr/identity.hpp>
#include <actr/ip_limiter.hpp>
#include <actr/result.hpp>
#include <actr/types.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace actr {

/// An OpenSSL context (see websocket.hpp: `make_tls_client_context`, `make_tls_server_context`).
class TlsContext;

/// Errors the signaling server reports (`EnvelopeError.code` and `ErrorResponse.code` on the
/// wire carry these values). The client returns them as `Error`s of `signaling_error_category()`;
/// they classify as `NetworkCondition::Permanent` (retrying the same request fails the same way).
enum class SignalingErrc : int {
  Malformed = 1,           ///< not a valid envelope, a text frame, or a missing/unexpected payload
  UnsupportedVersion = 2,  ///< `envelope_version` is not 2
  NotRegistered = 3,       ///< the sending connection has no live registration
  SourceMismatch = 4,      ///< `source` is not the actor registered on this connection
  BadCredential = 5,       ///< the credential is invalid, expired, not this server's, or not the source's
  UnknownTarget = 6,       ///< the relay target is not registered (or was just dropped)
  NotFound = 7,            ///< discovery: no such actor is registered
  AlreadyRegistered = 8,   ///< the id is held by another live connection
  InvalidArgument = 9,     ///< well-formed but meaningless (relay to self, bad ws address, ...)
  Internal = 10,
};

const boost::system::error_category& signaling_error_category() noexcept;
inline boost::system::error_code make_error_code(SignalingErrc e) noexcept {
  return {static_cast<int>(e), signaling_error_category()};
}
/// The error of a wire code (any value; unknown codes keep their number).
inline Error signaling_error_from_wire(std::uint32_t code) noexcept {
  return {static_cast<int>(code), signaling_error_category()};
}

/// Who may obtain an identity from the identity service next to signaling (`POST /ais/register`;
/// docs/security.md). Nothing set: registration is closed (every request is refused, HTTP 403).
/// `open`: anyone, as any actor type, in any realm (the server logs a warning; for demos).
/// Otherwise every check that is set must pass. Renewal (`POST /ais/renew`) needs the renewal
/// token of an earlier registration and a type the allow-list (if any) still admits.
struct AisPolicy {
  bool open = false;
  /// The secret a registration must carry in the `x-actrix-realm-secret` header (actrix's header
  /// for the same purpose), compared in constant time. One secret for every realm. An empty
  /// secret admits nobody.
  std::optional<std::string> realm_secret;
  /// The actor types that may register; an empty `version` admits every version. Empty: any type.
  std::vector<ActrType> allowed_types;
};

struct SignalingServerConfig {
  std::size_t max_message_size = 64 * 1024;  ///< inbound envelope cap; larger frames close that client
  /// Outbound envelopes queued for one client. A client that lets its queue fill (it does not
  /// read) is disconnected and unregistered; nobody else waits for it.
  std::size_t client_queue_limit = 256;
  /// A registration expires after this long without any envelope from its connection (the
  /// client is told with an unsolicited `NOT_REGISTERED` error and may register again).
  std::chrono::milliseconds registration_ttl{15000};
  std::chrono::milliseconds heartbeat_interval{5000};  ///< Ping cadence suggested to clients
  /// WebSocket keepalive: a ping after one interval without inbound data; a client silent for
  /// two intervals is disconnected.
  std::chrono::milliseconds keepalive_interval{5000};
  std::chrono::milliseconds handshake_timeout{5000};  ///< TCP accept to upgraded WebSocket
  std::chrono::milliseconds close_timeout{500};       ///< bound on one connection's close
  /// TLS: when set (`make_tls_server_context`), the server accepts only `wss://` clients; a
  /// failed TLS handshake closes that connection and disturbs nobody else.
  std::shared_ptr<TlsContext> tls;
  /// Signs the credentials handed out at registration (e.g. `KeyDirectory::issuer`). Null: a key
  /// generated at start, valid for this process only (credentials die with it).
  std::shared_ptr<CredentialIssuer> issuer;
  /// Lifetime of the credentials of a generated key (an `issuer` has its own). Clients renew by
  /// registering again on the same connection before a quarter of it is left.
  std::chrono::seconds credential_lifetime{3600};
  /// Identity in the WebSocket URL (actr HEAD: `?actor_id=…&key_id=…&claims=…&signature=…`,
  /// docs/signaling.md "Identity in the URL"). Whenever a client presents one it is checked before
  /// the upgrade — HTTP 401 if a parameter is missing or malformed, the credential does not verify
  /// with this server's keys, has expired, or is for another actor than `actor_id` — and the
  /// connection is registered as that actor at once (a valid credential takes the id over from an
  /// older connection). `require_identity`: a client without one is refused too (HTTP 401), as
  /// actrix's production `require_url_auth`. Off (the default): such a client may register over
  /// the socket (`RegisterRequest`) any id that no live connection holds — the open mode of tests
  /// and demos.
  bool require_identity = false;
  /// The identity service (`POST /ais/register`, `POST /ais/renew`) on the same listener: who may
  /// register, and the largest request body read (a larger one is answered with HTTP 413).
  AisPolicy ais;
  std::size_t ais_max_body = 16 * 1024;
  /// New connections per peer address: actrix's defaults (5 a minute, bursts of 10, 100 open);
  /// loopback is exempt unless `ip_limits.limit_loopback`. A refused connection gets HTTP 429
  /// (503 when too many addresses are tracked) before any upgrade, and nobody else notices.
  IpLimitConfig ip_limits;
  /// How long the server remembers who negotiated with an id after the id's registration ended:
  /// the id's earlier peers are told (`PeerRestarted`) only if it registers anew within it.
  std::chrono::milliseconds contact_ttl{120000};
  /// Several servers, one engine: `redis://HOST[:PORT]` or `unix:///PATH` of a Redis server the
  /// servers share (docs/scale.md). Registrations, discovery, contacts and relays to an actor held
  /// by another server go through it; each server refreshes its own registrations there every
  /// `cluster_ttl / 3`, and a registration not refreshed for `cluster_ttl` (its server died) is
  /// nobody's. The servers must share their signing keys (`issuer`, e.g. one key directory) so
  /// that each verifies the others' credentials. Unset: a single server, no engine.
  std::optional<std::string> cluster;
  std::chrono::milliseconds cluster_ttl{15000};
};

/// True if `url` is a `SignalingServerConfig::cluster` address the server accepts.
bool signaling_cluster_url_valid(const std::string& url);

/// Counters, for tests, logs and `actr signal`.
struct SignalingServerStats {
  std::uint64_t connections = 0;     ///< open WebSocket connections
  std::uint64_t registered = 0;      ///< live registrations
  std::uint64_t registrations = 0;   ///< registrations accepted so far (re-registrations too)
  std::uint64_t relayed = 0;         ///< ActrRelay envelopes delivered to a target's queue
  std::uint64_t errors_sent = 0;     ///< error envelopes and error responses sent
  std::uint64_t slow_dropped = 0;    ///< clients disconnected because their queue was full
  std::uint64_t expired = 0;         ///< registrations expired by silence
  std::uint64_t ais_issued = 0;      ///< identities issued by POST /ais/register and /ais/renew
  std::uint64_t ais_refused = 0;     ///< AIS requests answered with an error status
  std::uint64_t ip_refused = 0;      ///< connections refused by the per-address limits
  std::uint64_t identity_refused = 0;  ///< upgrades refused with HTTP 401 (URL identity missing or invalid)
  std::uint64_t ip_tracked = 0;      ///< peer addresses the limits remember now
  /// Ids whose WebRTC negotiation partners are remembered now (to tell them of a restart);
  /// forgotten `contact_ttl` after the id's registration ended.
  std::uint64_t contacts = 0;
  /// Addresses given at /ais/register and remembered for the identity's first connection now
  /// (at most 65,536, oldest forgotten first).
  std::uint64_t ais_addresses = 0;
  // With `cluster`:
  bool cluster_up = false;               ///< connected to the engine now
  std::uint64_t cluster_connects = 0;    ///< times the engine connection was established
  std::uint64_t cluster_published = 0;   ///< messages published to other servers
  std::uint64_t cluster_received = 0;    ///< messages from other servers
  std::uint64_t cluster_refused = 0;     ///< registrations refused: another server's actor holds the id
};

/// The signaling and discovery server. Actors register their `ActrId` (and optionally the ws://
/// address their node listens on) and keep it alive with heartbeats; the server answers discovery
/// ("where is actor X"), decides WebRTC roles (actrix's rule: the greater id offers; both sides are
/// told), and relays session descriptions, ICE candidates and ICE-restart requests between
/// registered actors. A registration belongs to the connection that made it: envelopes that
/// claim another source are refused. Every refusal is a typed error envelope whose `reply_for`
/// names the refused envelope; it never affects other clients.
///
/// The same listener serves the identity service (actr's AIS): a plain HTTP request that is not
/// a WebSocket upgrade goes to `POST /ais/register` / `POST /ais/renew` (protobuf bodies with actr
/// HEAD's field numbers, `proto/ais.proto`; who may register: `SignalingServerConfig::ais`).
/// docs/signaling.md, "AIS", describes the routes and where they differ from HEAD.
///
/// Threads: each connection runs on its own strand of the executor; the registry is a leaf
/// mutex. All members may be called from any thread.
class SignalingServer {
 public:
  SignalingServer(boost::asio::any_io_executor ex, SignalingServerConfig cfg = {});
  /// Stops accepting and aborts every connection (no waiting). Prefer `close()`.
  ~SignalingServer();
  SignalingServer(const SignalingServer&) = delete;
  SignalingServer& operator=(const SignalingServer&) = delete;

  /// Binds `host:port` (port 0 picks a free port) and starts accepting. Returns the bound port.
  /// Errors: `InvalidArgument` (bad host, or a `cluster` URL that is not one), the bind/listen error,
  /// `InvalidOperation` if called twice. With `cluster`, the engine is connected in the background
  /// (the server serves its own clients until it is; `stats().cluster_up`).
  Result<std::uint16_t> listen(const std::string& host, std::uint16_t port);

  /// Stops accepting, closes every connection and waits for them, bounded by
  /// `close_timeout` (connections still open then are aborted). Idempotent.
  boost::asio::awaitable<void> close();

  SignalingServerStats stats() const;
  /// Whether `id` currently holds a live registration.
  bool is_registered(const ActrId& id) const;
  /// Who signs this server's credentials; `issuer()->key_ring()` verifies them.
  std::shared_ptr<CredentialIssuer> issuer() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace actr

namespace boost::system {
template <>
struct is_error_code_enum<actr::SignalingErrc> : std::true_type {};
}  // namespace boost::system
