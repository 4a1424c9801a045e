#pragma once
/// @file
/// `SignalingClient`: one actor's connection to the signaling server (register, heartbeat,
/// discovery, role negotiation, relay of `PeerSignal`s), with automatic reconnect.

#include <actr/backoff.hpp>
#include <actr/identity.hpp>
#include <actr/detail/async_queue.hpp>
#include <actr/detail/clock.hpp>
#include <actr/peer_signal.hpp>
#include <actr/result.hpp>
#include <actr/signaling.hpp>
#include <actr/types.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace actr {

/// The URLs of a list "URL[,URL...]" (the form `NodeConfig::signal_url` and `actr --signal`
/// take), in order, each trimmed of blanks; empty items are skipped. A URL that itself contains a
/// comma must write it percent-encoded (%2C).
std::vector<std::string> split_signal_urls(std::string_view list);

/// Reconnect delays (between rounds over the server list, see `SignalingClient`): 0, then 500 ms doubling to 10 s, ±20 % jitter, unlimited attempts.
inline BackoffConfig default_signaling_backoff() {
  BackoffConfig b;
  b.initial = std::chrono::milliseconds{500};
  b.max = std::chrono::milliseconds{10000};
  return b;
}

struct SignalingClientConfig {
  std::chrono::milliseconds connect_timeout{5000};  ///< TCP connect + upgrade, per attempt
  /// Deadline of every request (register, discovery, role negotiation, ping): actr's
  /// RESPONSE_TIMEOUT_SECS.
  std::chrono::milliseconds request_timeout{5000};
  /// Ping cadence. The server's suggestion (RegisterOk) wins when it is shorter.
  std::chrono::milliseconds heartbeat_interval{5000};
  /// WebSocket keepalive: a ping after one interval without inbound data; a server silent for two
  /// intervals is declared gone (and the client reconnects).
  std::chrono::milliseconds keepalive_interval{5000};
  std::chrono::milliseconds close_timeout{500};  ///< bound on `close()`
  bool reconnect = true;                          ///< reconnect (and re-register) when the link drops
  /// Delays between reconnect rounds (jittered; unlimited rounds unless `max_attempts`). A round
  /// dials every server URL once; with one URL a round is one attempt.
  BackoffConfig reconnect_backoff = default_signaling_backoff();
  std::size_t max_message_size = 64 * 1024;  ///< inbound envelope cap
  std::size_t send_queue_limit = 1024;       ///< queued outbound envelopes before sends fail (`QueueFull`)
  std::size_t inbox_capacity = 1024;         ///< per inbox; a full inbox drops the newest signal
  /// TLS for `wss://` URLs (`make_tls_client_context`); null: a context that verifies the server
  /// against the system trust store. Unused for `ws://`.
  std::shared_ptr<TlsContext> tls;
  /// Adds `webrtc_role=answer` to the URL: this actor asks never to be the WebRTC offerer (the
  /// server makes it answer unless its peer asked the same).
  bool webrtc_answer = false;
  /// actr PR #398's 401: asked for a new credential when the server refuses ours (HTTP 401 at the
  /// upgrade: expired while we were away, or signed by a key the server no longer has), e.g.
  /// `ais_renew` at the AIS that issued it; the dial is then repeated once with it (a 401 again
  /// is retried with backoff, as a failed dial). Null: the dial is repeated once without a
  /// credential (an open server serves us; one that requires identity refuses again).
  std::function<boost::asio::awaitable<Result<Credential>>()> reacquire;
};

/// Where an actor is: its id and, if it registered one, the ws:// address of its node.
struct ActorLocation {
  ActrId id;
  std::optional<std::string> ws_address;
};

/// A relayed signal and the peer that sent it.
struct InboundSignal {
  ActrId from;
  PeerSignal signal;
};

/// The server's decision for one pair. `peer` is the other party.
struct RoleAssignmentEvent {
  ActrId peer;
  bool is_offerer = false;
  bool remote_fixed = false;
};

/// An error envelope that answered no pending request (e.g. a relay to an unknown target).
struct SignalingErrorEvent {
  std::string reply_for;  ///< envelope id of the refused envelope ("" if the server had none)
  Error code;             ///< `signaling_error_category()`
  std::string message;
};

using SignalInbox = detail::AsyncQueue<InboundSignal>;

/// Connection states, in the order a healthy client goes through them.
enum class SignalingState : std::uint8_t {
  Disconnected,  ///< never connected, or reconnect gave up / is disabled
  Connected,     ///< link up (registered if `register_actor` succeeded before)
  Reconnecting,  ///< link lost; retrying with backoff
  Closed,        ///< `close()` called or destroyed
};

/// One actor's signaling connection.
///
/// Requests carry an `envelope_id` ("env-<n>") and wait for the envelope whose `reply_for`
/// names it, with a deadline (`request_timeout`). When the link drops, every pending request
/// fails at once with `ConnectionClosed` (closed-like), not at its deadline. The client then
/// reconnects with jittered backoff and registers again under the same id before it reports
/// `Connected` (see `wait_registered`).
///
/// Several servers (`connect(std::vector<std::string>)`): the first connect tries the URLs in
/// order and keeps the first that connects. When that link drops, each reconnect round dials the
/// URLs once each, starting with the one after the current one and wrapping around (the server
/// that dropped us comes last), back to back; `reconnect_backoff` paces the rounds, not the
/// dials within one. Whichever server takes us, the client registers there exactly as after any
/// reconnect: the same id, ws address and latest credential (valid there only if that server
/// trusts its signer: give the servers one `issuer`), and the same `actr_instance` (one per
/// client object), so no server takes the move for a restarted process. Nothing else moves:
/// WebRTC connections set up through the old server stay up (they need signaling only to be set
/// up or ICE-restarted). `current_url()` names the server, `server_switches()` counts the moves.
///
/// Inbound relays are sorted by their source: a peer with an inbox (`open_inbox`) gets its own
/// bounded queue; other peers' signals go to the default inbox (`next_signal`). Role assignments
/// that answer no pending `negotiate_role` (the peer negotiated) go to `next_role_assignment`.
/// Full queues drop the newest item (counted); the link is never blocked by a slow consumer.
///
/// Threads: all members may be called from any thread; background tasks (supervisor,
/// heartbeat) run on strands of the executor and are owned by the client. Cancellation: every
/// awaitable honours per-operation cancellation and returns `Cancelled`.
class SignalingClient : public PeerSignalSink {
 public:
  /// Throws std::invalid_argument if `cfg.reconnect_backoff` is invalid (`Backoff::validate`).
  explicit SignalingClient(boost::asio::any_io_executor ex, SignalingClientConfig cfg = {});
  /// Stops every task and aborts the link without waiting. Prefer `close()`.
  ~SignalingClient() override;
  SignalingClient(const SignalingClient&) = delete;
  SignalingClient& operator=(const SignalingClient&) = delete;

  /// Connects to `url` (ws://host:port/path or wss://…; one URL: a comma in it is not a list),
  /// bounded by `connect_timeout`. On success the client keeps the connection up until `close()`
  /// (reconnecting if enabled). Errors: `InvalidArgument` (bad URL), `TimeoutError`, connection
  /// errors, `InvalidOperation` if already connected, `ShuttingDown` after close.
  boost::asio::awaitable<Result<void>> connect(std::string url);
  /// Connects to the first of `urls` that accepts, dialing them in order (each bounded by
  /// `connect_timeout`), and fails over among them from then on (see the class comment).
  /// `connect({url})` is `connect(url)`. Errors: `InvalidArgument` (empty list, or any URL
  /// malformed: checked before dialing), the failure of the round (every URL failed: a terminal
  /// one, TLS or HTTP 403, only if every URL failed so; else the last URL's), `InvalidOperation`
  /// if already connected, `ShuttingDown` after close.
  boost::asio::awaitable<Result<void>> connect(std::vector<std::string> urls);
  /// The server URL of the current link; while reconnecting, of the last link; empty before the
  /// first connect succeeded.
  std::string current_url() const;
  /// Links established to a server other than the previous link's (failovers), since creation.
  std::uint64_t server_switches() const noexcept;

  /// Registers `id` (and the ws:// address where its node listens, if any) and remembers both
  /// for re-registration after reconnects. Registering the same id again refreshes the address.
  /// Errors: `SignalingErrc` from the server (e.g. `AlreadyRegistered`), `ConnectionClosed`
  /// (link down), `TimeoutError`, `InvalidOperation` (a different id is registered on this
  /// client), `ShuttingDown` after close.
  boost::asio::awaitable<Result<void>> register_actor(ActrId id, std::optional<std::string> ws_address = std::nullopt);

  /// An identity obtained elsewhere (the AIS's `RegisterOk`, a credential file), presented in the
  /// URL of the next dials (`actor_id`, `key_id`, `claims`, `signature`: docs/signaling.md) so the
  /// server registers this connection as `id` before the upgrade completes; call it before
  /// `connect` for a server that requires identity. Every dial carries the latest credential the
  /// client holds (this one, then the ones registration renews); an expired one is left out, and
  /// one the server refuses (HTTP 401) is dropped and the dial repeated once without it. Errors:
  /// `InvalidOperation` (another id is registered on this client), `ShuttingDown` after close.
  /// `ws_address`: registered with it at once (as `register_actor` would); nullopt keeps the one
  /// held.
  Result<void> use_identity(ActrId id, Credential credential, std::optional<std::string> ws_address = std::nullopt);

  /// Sends `UnregisterRequest` (fire and forget) and forgets the identity. No re-registration
  /// afterwards.
  boost::asio::awaitable<Result<void>> unregister();

  /// Where is `target`? Errors: `SignalingErrc::NotFound`, `NotRegistered`, link errors.
  boost::asio::awaitable<Result<ActorLocation>> discover(const ActrId& target);

  /// HEAD's discovery by type (`RouteCandidatesRequest`): up to `count` registered actors of
  /// `type` (an empty `version` matches every version), this actor excluded, in id order, each
  /// with the ws:// address it registered (if any). Errors: `NotRegistered`, link errors.
  boost::asio::awaitable<Result<std::vector<ActorLocation>>> route_candidates(ActrType type, std::uint32_t count = 16);

  /// The server's verifying key `key_id` (HEAD's `GetSigningKeyRequest`), e.g. for a credential
  /// signed by a key the client has not seen. Errors: `SignalingErrc::NotFound` (no such key now),
  /// `InvalidArgument` (not an Ed25519 key), link errors.
  boost::asio::awaitable<Result<VerifyingKey>> signing_key(std::uint32_t key_id);

  /// Asks the server which side of the pair (self, `peer`) offers. Returns `is_offerer`; the
  /// peer is told the opposite by the server. Errors: `SignalingErrc::UnknownTarget`, link errors.
  boost::asio::awaitable<Result<bool>> negotiate_role(const ActrId& peer);

  /// Relays `signal` to `to` (ActrRelay). Completes when it is queued on the link; a refusal by
  /// the server arrives later as a `SignalingErrorEvent`. Errors: `ConnectionClosed` when the
  /// link is down (closed-like), `InvalidOperation` before registration, `QueueFull`.
  boost::asio::awaitable<Result<void>> send_signal(const ActrId& to, PeerSignal signal) override;

  /// Next signal from a peer without its own inbox. Errors: `TimeoutError`, `Cancelled`,
  /// `ChannelClosed` after close.
  boost::asio::awaitable<Result<InboundSignal>> next_signal(Deadline deadline);
  /// A bounded inbox for `peer`'s signals (created on first call; later calls return the same).
  std::shared_ptr<SignalInbox> open_inbox(const ActrId& peer);
  /// Closes and forgets `peer`'s inbox; later signals go to the default inbox.
  void close_inbox(const ActrId& peer);

  /// Next role assignment that answered no pending `negotiate_role` of ours.
  boost::asio::awaitable<Result<RoleAssignmentEvent>> next_role_assignment(Deadline deadline);
  /// Next error envelope that answered no pending request.
  boost::asio::awaitable<Result<SignalingErrorEvent>> next_error(Deadline deadline);

  /// Completes once the number of successful registrations exceeds `seen` (success), at
  /// `deadline` (`TimeoutError`), after close (`ShuttingDown`), or once the client has stopped on
  /// a terminal failure (that error, see `terminal_error`). Use with `registrations()` to wait for
  /// the re-registration that follows a reconnect.
  boost::asio::awaitable<Result<void>> wait_registered(std::uint64_t seen, Deadline deadline);
  /// The terminal failure of the latest dial (with several URLs: of the latest round, set only
  /// when every URL failed terminally), or empty: a TLS failure (`TlsCertificateUntrusted`,
  /// `TlsHostnameMismatch`, `TlsHandshakeFailed`; `last_tls_failure()` in websocket.hpp has
  /// OpenSSL's reason) or `PermissionError` (HTTP 403: the server will not have this actor, actr
  /// PR #398). A reconnect that fails this way is not retried (state `Disconnected`), and is
  /// logged once: neither goes away by waiting. HTTP 401 (`AuthenticationError`: see
  /// `reacquire`) and 503/429 (`ResourceExhausted`) are retried with backoff.
  Error terminal_error() const;
  /// Successful registrations so far (first one and every re-registration).
  std::uint64_t registrations() const noexcept;

  /// The credential the server issued at the latest registration (renewed by registering again
  /// on the same connection once three quarters of its life are gone), for `X-Actr-Credential`.
  std::optional<Credential> credential() const;
  /// The server's verifying key as its latest `RegisterOk` named it: it verifies the credentials
  /// the server issues to every actor (trust it only as far as you trust the server's URL).
  std::optional<VerifyingKey> server_signing_key() const;

  /// From now on a peer's relayed signal (SDP, ICE candidate, ICE restart, set-up refusal) is
  /// delivered only when the relay's credential is valid for its source under `keys` — or, with
  /// `trust_server_key`, under the key this server named at our registration (added to `keys`
  /// once used). Any other such relay is dropped, counted (`refused_relays`) and logged
  /// (rate-limited): no WebRTC connection is set up with a peer that did not prove who it is.
  /// Signals the server itself sends (role assignments, peer restarts) are not checked. Null
  /// `keys`: every relay is delivered again.
  void verify_relays(std::shared_ptr<KeyRing> keys, bool trust_server_key);
  /// Relayed signals dropped by `verify_relays`.
  std::uint64_t refused_relays() const noexcept;

  SignalingState state() const noexcept;
  /// Signals dropped because their inbox was full.
  std::uint64_t dropped_signals() const noexcept;
  /// Pongs received (heartbeats answered).
  std::uint64_t pongs() const noexcept;

  /// Stops reconnecting and heartbeats, fails pending requests (`ConnectionClosed`), closes the
  /// inboxes and the link; bounded by `close_timeout`. Idempotent.
  boost::asio::awaitable<void> close();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace actr
