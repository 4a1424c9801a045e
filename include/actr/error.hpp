#pragma once
/// @file
/// `NetworkError` codes and the conditions that classify them. Classification is structural: a code
/// belongs to a condition by its value (and, for Asio/system codes, by their value), never by the
/// text of a message.

#include <actr/result.hpp>

#include <boost/system/error_code.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

namespace actr {

/// Every failure the transport reports. Values start at 1: zero means success in `error_code`.
/// The first block mirrors the original's `NetworkError` variants (reference §8), the second the
/// HEAD additions, the third codes this implementation adds (the last block: TLS).
enum class NetworkError : int {
  ConnectionError = 1,
  SignalingError,
  WebRtcError,
  ProtocolError,
  SerializationError,
  DeserializationError,
  TimeoutError,
  AuthenticationError,
  PermissionError,
  ConfigurationError,
  ResourceExhausted,
  NetworkUnreachable,
  ServiceDiscoveryError,
  NatTraversalError,
  DataChannelError,
  BroadcastError,
  IceError,
  DtlsError,
  StunTurnError,
  WebSocketError,
  ConnectionNotFound,
  ConnectionClosed,
  NotImplemented,
  ChannelClosed,
  SendError,
  NoRoute,
  InvalidOperation,
  InvalidArgument,
  ChannelNotFound,
  // HEAD additions
  CredentialExpired,
  DataChannelClosed,
  DataChannelNotOpen,
  WebSocketClosed,
  PeerConnectionClosed,
  // this implementation
  Cancelled,         ///< the operation was cancelled (caller, close, or last waiter leaving)
  ShuttingDown,      ///< the owning manager is stopped; no new work is accepted
  MessageTooLarge,   ///< above the configured maximum message size
  QueueFull,         ///< a bounded queue refused the item (drop policy)
  MalformedFrame,    ///< bytes on a wire that violate the framing rules
  // identity (include/actr/identity.hpp)
  CredentialInvalid,   ///< not a credential, or its signature does not verify
  UnknownSigningKey,   ///< signed with a key id nobody trusts (never known, or retired and past its use)
  IdentityMismatch,    ///< a valid credential, but for another actor than the one presented
  // the RPC error codes of actr HEAD that no code above means (include/actr/rpc_error_code.hpp)
  Unavailable,         ///< the peer cannot serve now (HEAD 10001; also every unknown remote code)
  NotFound,            ///< HEAD 10003
  UnknownRoute,        ///< no handler for the route key (HEAD 10006)
  DependencyNotFound,  ///< HEAD 10007
  Internal,            ///< the peer failed internally (HEAD 10010)
  ConnectionNotReady,  ///< the peer's connection is not ready yet; retry later (HEAD 10011)
  // TLS (wss://). Permanent: the same dial fails the same way until someone changes a
  // certificate or a trust setting, so no layer retries them (docs/tls.md).
  TlsCertificateUntrusted,  ///< the peer's certificate chain did not verify (unknown CA, self-signed, expired)
  TlsHostnameMismatch,      ///< the certificate verified but names another host than the one dialed
  TlsHandshakeFailed,       ///< any other TLS handshake failure (no TLS on the other side, protocol, alert)
};
/// The highest `NetworkError` value (for iterating over all of them).
inline constexpr NetworkError kLastNetworkError = NetworkError::TlsHandshakeFailed;

/// The four questions callers ask of an error. Test with `ec == NetworkCondition::Transient`.
enum class NetworkCondition : int {
  Transient = 1,  ///< may succeed if retried later (network blips, closed wires, timeouts)
  Permanent,      ///< retrying the same request will fail the same way (bad input, config, auth)
  Cancelled,      ///< someone asked the operation to stop (ours or Asio's operation_aborted)
  ClosedLike,     ///< the wire that produced it is dead: evict it and pick another
};

/// Finer split of non-cancelled errors, as the original's HEAD `ErrorKind` (reference §8.2).
enum class ErrorKind { Transient, Client, Corrupt, Internal, Cancelled };

const boost::system::error_category& network_error_category() noexcept;
const boost::system::error_category& network_condition_category() noexcept;

inline boost::system::error_code make_error_code(NetworkError e) noexcept {
  return {static_cast<int>(e), network_error_category()};
}
inline boost::system::error_condition make_error_condition(NetworkCondition c) noexcept {
  return {static_cast<int>(c), network_condition_category()};
}

/// Classification of any error code (ours, Asio's, or the system's).
ErrorKind kind_of(const boost::system::error_code& ec) noexcept;
/// Shorthands for the conditions.
bool is_transient(const boost::system::error_code& ec) noexcept;
bool is_closed_like(const boost::system::error_code& ec) noexcept;
bool is_cancelled(const boost::system::error_code& ec) noexcept;
/// True for the TLS codes (`TlsCertificateUntrusted`, `TlsHostnameMismatch`, `TlsHandshakeFailed`):
/// the links that reconnect by themselves (signaling, the node's registration) stop on these.
bool is_tls_failure(const boost::system::error_code& ec) noexcept;

/// `MessageTooLarge` whose `message()` names the size and the limit ("message too large: 20971520
/// bytes, above the limit of 16777216 bytes"; a `size` of 0 means unknown, "above the limit of …").
/// Compares equal to `NetworkError::MessageTooLarge` and classifies as it does.
Error message_too_large(std::size_t size, std::size_t limit);

/// Stable lower-case name of a code ("no_route"), for logs and JSON output.
std::string_view to_string(NetworkError e) noexcept;
/// As `to_string`, for any code: ours by name, the system's usual network failures by their
/// POSIX condition ("connection_refused", "timed_out"), anything else as "category:value".
std::string error_name(const boost::system::error_code& ec);

}  // namespace actr

namespace boost::system {
template <>
struct is_error_code_enum<actr::NetworkError> : std::true_type {};
template <>
struct is_error_condition_enum<actr::NetworkCondition> : std::true_type {};
}  // namespace boost::system
