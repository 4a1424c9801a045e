#pragma once
/// @file
/// The client side of the identity service (actr's AIS) that `actr signal` serves next to
/// signaling: `POST /ais/register` (a new identity: the server chooses the serial) and
/// `POST /ais/renew` (a fresh credential for the same id, in exchange for the renewal token).
/// Protobuf bodies with actr HEAD's field numbers (proto/ais.proto); docs/signaling.md, "AIS".

#include <actr/identity.hpp>
#include <actr/result.hpp>
#include <actr/types.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace actr {

class TlsContext;  // websocket.hpp

/// An identity issued by the AIS: who we are, the proof, the key that verifies it (and every
/// credential that server issues with it), and what renews it.
struct AisIdentity {
  ActrId id;
  Credential credential;
  VerifyingKey signing_key;
  Bytes renewal_token;              ///< opaque; `POST /ais/renew` takes it back (empty: cannot renew)
  std::uint64_t expires_at = 0;     ///< of `credential`, unix seconds
  std::uint32_t heartbeat_secs = 0; ///< the server's suggested signaling heartbeat
};

/// What to ask the AIS for.
struct AisRegistration {
  Realm realm;
  ActrType type;
  std::optional<std::string> ws_address;  ///< handed out by discovery once the actor connects
  std::optional<std::string> realm_secret; ///< sent as `x-actrix-realm-secret`
};

struct AisClientConfig {
  /// TLS for a wss:// (https://) server; null: verify against the system trust store.
  std::shared_ptr<TlsContext> tls;
  std::chrono::milliseconds timeout{5000};  ///< connect, TLS, request and answer together
};

/// The AIS base URL of a signaling URL: ws://H:P/… → http://H:P, wss://H:P/… → https://H:P (the
/// AIS routes are absolute paths on the same listener). Errors: `InvalidArgument`.
Result<std::string> ais_base_url(const std::string& signal_url);

/// `POST /ais/register` at the server of `signal_url` (ws://, wss://, http:// or https://), or,
/// for a comma-separated list of such URLs (`split_signal_urls`), at the first of them that
/// answers: one that cannot be reached (connection, TLS, timeout) or answers 429/503 passes the
/// request to the next; any other answer, a refusal included, is final. Every URL fails: the last
/// one's error. Errors, typed from the HTTP status as actr PR #398 has them: `AuthenticationError` (401),
/// `PermissionError` (403: registration closed, secret wrong, type not allowed), `NotFound` (404:
/// no AIS there), `ResourceExhausted` (429, 503: retry later), `InvalidArgument` (400, or a bad
/// URL), `ProtocolError` (another status, or a body that is not the expected protobuf, or a
/// credential the named key does not verify); connection errors, `TimeoutError`, and the TLS codes
/// (`is_tls_failure`) at once.
boost::asio::awaitable<Result<AisIdentity>> ais_register(std::string signal_url, AisRegistration request,
                                                         AisClientConfig cfg = {});

/// `POST /ais/renew` with `current.renewal_token`: the same id, a fresh credential (and token).
/// `signal_url` and errors as `ais_register` (a list: the first server that answers); `AuthenticationError` when the token is refused (expired, another
/// server's key): register anew.
boost::asio::awaitable<Result<AisIdentity>> ais_renew(std::string signal_url, const AisIdentity& current,
                                                      AisClientConfig cfg = {});

}  // namespace actr
