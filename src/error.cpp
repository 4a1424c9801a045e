#include <actr/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>

namespace actr {
namespace {

namespace errc = boost::system::errc;
using boost::system::error_code;
using E = NetworkError;

// The switches below list every enumerator and have no `default:` on purpose: adding a
// NetworkError must trip -Wswitch here until someone decides how it is classified.

bool is_ours(const error_code& ec) noexcept { return ec.category() == network_error_category(); }

const char* message_of(E e) noexcept {
  switch (e) {
    case E::ConnectionError: return "connection error";
    case E::SignalingError: return "signaling error";
    case E::WebRtcError: return "WebRTC error";
    case E::ProtocolError: return "protocol error";
    case E::SerializationError: return "serialization error";
    case E::DeserializationError: return "deserialization error";
    case E::TimeoutError: return "timed out";
    case E::AuthenticationError: return "authentication failed";
    case E::PermissionError: return "permission denied";
    case E::ConfigurationError: return "configuration error";
    case E::ResourceExhausted: return "resource exhausted";
    case E::NetworkUnreachable: return "network unreachable";
    case E::ServiceDiscoveryError: return "service discovery error";
    case E::NatTraversalError: return "NAT traversal error";
    case E::DataChannelError: return "data channel error";
    case E::BroadcastError: return "broadcast error";
    case E::IceError: return "ICE error";
    case E::DtlsError: return "DTLS error";
    case E::StunTurnError: return "STUN/TURN error";
    case E::WebSocketError: return "WebSocket error";
    case E::ConnectionNotFound: return "connection not found";
    case E::ConnectionClosed: return "connection closed";
    case E::NotImplemented: return "not implemented";
    case E::ChannelClosed: return "channel closed";
    case E::SendError: return "send failed";
    case E::NoRoute: return "no route";
    case E::InvalidOperation: return "invalid operation";
    case E::InvalidArgument: return "invalid argument";
    case E::ChannelNotFound: return "channel not found";
    case E::CredentialExpired: return "credential expired";
    case E::DataChannelClosed: return "data channel closed";
    case E::DataChannelNotOpen: return "data channel not open";
    case E::WebSocketClosed: return "WebSocket closed";
    case E::PeerConnectionClosed: return "peer connection closed";
    case E::Cancelled: return "operation cancelled";
    case E::ShuttingDown: return "shutting down";
    case E::MessageTooLarge: return "message too large";
    case E::QueueFull: return "queue full";
    case E::MalformedFrame: return "malformed frame";
    case E::CredentialInvalid: return "credential invalid";
    case E::UnknownSigningKey: return "signing key not trusted";
    case E::IdentityMismatch: return "identity mismatch";
    case E::Unavailable: return "unavailable";
    case E::NotFound: return "not found";
    case E::UnknownRoute: return "no handler for the route";
    case E::DependencyNotFound: return "dependency not found";
    case E::Internal: return "internal error";
    case E::ConnectionNotReady: return "connection not ready";
    case E::TlsCertificateUntrusted: return "TLS certificate not trusted";
    case E::TlsHostnameMismatch: return "TLS certificate does not match the host name";
    case E::TlsHandshakeFailed: return "TLS handshake failed";
  }
  return nullptr;
}

bool ours_closed_like(E e) noexcept {
  switch (e) {
    case E::ConnectionClosed:
    case E::PeerConnectionClosed:
    case E::DataChannelClosed:
    case E::DataChannelNotOpen:
    case E::WebSocketClosed:
      return true;
    case E::ConnectionError: case E::SignalingError: case E::WebRtcError: case E::ProtocolError:
    case E::SerializationError: case E::DeserializationError: case E::TimeoutError:
    case E::AuthenticationError: case E::PermissionError: case E::ConfigurationError:
    case E::ResourceExhausted: case E::NetworkUnreachable: case E::ServiceDiscoveryError:
    case E::NatTraversalError: case E::DataChannelError: case E::BroadcastError: case E::IceError:
    case E::DtlsError: case E::StunTurnError: case E::WebSocketError: case E::ConnectionNotFound:
    case E::NotImplemented: case E::ChannelClosed: case E::SendError: case E::NoRoute:
    case E::InvalidOperation: case E::InvalidArgument: case E::ChannelNotFound:
    case E::CredentialExpired: case E::Cancelled: case E::ShuttingDown: case E::MessageTooLarge:
    case E::QueueFull: case E::MalformedFrame: case E::CredentialInvalid: case E::UnknownSigningKey:
    case E::IdentityMismatch: case E::Unavailable: case E::NotFound: case E::UnknownRoute:
    case E::DependencyNotFound: case E::Internal: case E::ConnectionNotReady: case E::TlsCertificateUntrusted:
    case E::TlsHostnameMismatch: case E::TlsHandshakeFailed:
      return false;
  }
  return false;
}

bool ours_transient(E e) noexcept {
  switch (e) {
    case E::ConnectionError: case E::ConnectionClosed: case E::PeerConnectionClosed:
    case E::ChannelClosed: case E::DataChannelClosed: case E::DataChannelNotOpen: case E::SendError:
    case E::NetworkUnreachable: case E::ResourceExhausted: case E::WebSocketError:
    case E::WebSocketClosed: case E::SignalingError: case E::WebRtcError: case E::NatTraversalError:
    case E::IceError: case E::TimeoutError: case E::QueueFull: case E::Unavailable:
    case E::ConnectionNotReady:
      return true;
    case E::CredentialInvalid: case E::UnknownSigningKey: case E::IdentityMismatch: case E::NotFound:
    case E::UnknownRoute: case E::DependencyNotFound: case E::Internal:
    case E::ProtocolError: case E::SerializationError: case E::DeserializationError:
    case E::AuthenticationError: case E::PermissionError: case E::ConfigurationError:
    case E::ServiceDiscoveryError: case E::DataChannelError: case E::BroadcastError:
    case E::DtlsError: case E::StunTurnError: case E::ConnectionNotFound: case E::NotImplemented:
    case E::NoRoute: case E::InvalidOperation: case E::InvalidArgument: case E::ChannelNotFound:
    case E::CredentialExpired: case E::Cancelled: case E::ShuttingDown: case E::MessageTooLarge:
    case E::MalformedFrame:
    // A TLS failure is a certificate or trust problem (or no TLS on the other side): retrying
    // the same dial cannot fix it, and a reconnect loop would only hide the cause.
    case E::TlsCertificateUntrusted: case E::TlsHostnameMismatch: case E::TlsHandshakeFailed:
      return false;
  }
  return false;
}

// Kind of a code of ours that is neither cancelled nor transient.
ErrorKind ours_kind(E e) noexcept {
  switch (e) {
    case E::ConnectionNotFound: case E::ChannelNotFound: case E::NoRoute: case E::InvalidArgument:
    case E::InvalidOperation: case E::ConfigurationError: case E::ServiceDiscoveryError:
    case E::AuthenticationError: case E::PermissionError: case E::CredentialExpired:
    case E::ShuttingDown: case E::MessageTooLarge: case E::CredentialInvalid:
    case E::UnknownSigningKey: case E::IdentityMismatch: case E::NotFound: case E::UnknownRoute:
    case E::DependencyNotFound: case E::TlsCertificateUntrusted: case E::TlsHostnameMismatch:
    case E::TlsHandshakeFailed:
      return ErrorKind::Client;
    case E::DeserializationError: case E::MalformedFrame:
      return ErrorKind::Corrupt;
    case E::ProtocolError: case E::SerializationError: case E::DataChannelError:
    case E::BroadcastError: case E::DtlsError: case E::StunTurnError: case E::NotImplemented:
    case E::Internal:
      return ErrorKind::Internal;
    case E::ConnectionError: case E::ConnectionClosed: case E::PeerConnectionClosed:
    case E::ChannelClosed: case E::DataChannelClosed: case E::DataChannelNotOpen: case E::SendError:
    case E::NetworkUnreachable: case E::ResourceExhausted: case E::WebSocketError:
    case E::WebSocketClosed: case E::SignalingError: case E::WebRtcError: case E::NatTraversalError:
    case E::IceError: case E::TimeoutError: case E::QueueFull: case E::Unavailable:
    case E::ConnectionNotReady:
      return ErrorKind::Transient;
    case E::Cancelled:
      return ErrorKind::Cancelled;
  }
  return ErrorKind::Internal;
}

// Foreign (Asio/system) codes are compared through generic errc conditions, so both the system
// category (what Asio's basic_errors are on POSIX) and the generic category match.
bool foreign_closed_like(const error_code& ec) noexcept {
  return ec == errc::connection_reset || ec == errc::broken_pipe || ec == errc::not_connected ||
         ec == errc::connection_aborted || ec == boost::asio::error::eof;
}

bool foreign_transient(const error_code& ec) noexcept {
  return foreign_closed_like(ec) || ec == errc::connection_refused || ec == errc::timed_out ||
         ec == errc::host_unreachable || ec == errc::network_unreachable ||
         ec == errc::network_down || ec == errc::network_reset ||
         ec == errc::resource_unavailable_try_again || ec == errc::operation_would_block ||
         ec == boost::asio::error::host_not_found_try_again;  // a DNS server did not answer in time
}

bool foreign_cancelled(const error_code& ec) noexcept {
  return ec == errc::operation_canceled || ec == boost::asio::error::operation_aborted;
}

bool closed_like_impl(const error_code& ec) noexcept {
  if (!ec.failed()) return false;
  return is_ours(ec) ? ours_closed_like(static_cast<E>(ec.value())) : foreign_closed_like(ec);
}

bool transient_impl(const error_code& ec) noexcept {
  if (!ec.failed()) return false;
  return is_ours(ec) ? ours_transient(static_cast<E>(ec.value())) : foreign_transient(ec);
}

bool cancelled_impl(const error_code& ec) noexcept {
  if (!ec.failed()) return false;
  return is_ours(ec) ? static_cast<E>(ec.value()) == E::Cancelled : foreign_cancelled(ec);
}

// error_category's destructor is protected and non-virtual by design (categories are singletons,
// never deleted through a base pointer); Boost silences the same warning for its own categories.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
// Both categories below carry this id: Boost compares categories with an id by the id, so a code
// of `sized_category` is equal to (and classified as) the plain `NetworkError` of the same value.
constexpr unsigned long long kNetworkCategoryId = 0xa3c7'2d5e'1f3b'9c41ULL;

class network_error_category_impl final : public boost::system::error_category {
 public:
  constexpr network_error_category_impl() noexcept : error_category(kNetworkCategoryId) {}
  const char* name() const noexcept override { return "actr.network"; }
  std::string message(int ev) const override {
    const char* m = message_of(static_cast<E>(ev));
    return m != nullptr ? m : "unknown actr.network error " + std::to_string(ev);
  }
};

// `MessageTooLarge` with its numbers: an error_code carries no text, so the numbers live in the
// category object (one per distinct pair, kept for the life of the process).
class sized_category final : public boost::system::error_category {
 public:
  sized_category(std::size_t size, std::size_t limit) noexcept
      : error_category(kNetworkCategoryId), size_(size), limit_(limit) {}
  const char* name() const noexcept override { return "actr.network"; }
  std::string message(int ev) const override {
    if (static_cast<E>(ev) != E::MessageTooLarge) return network_error_category().message(ev);
    const auto limit = std::to_string(limit_) + " bytes";
    if (size_ == 0) return "message too large: above the limit of " + limit;
    return "message too large: " + std::to_string(size_) + " bytes, above the limit of " + limit;
  }

 private:
  std::size_t size_, limit_;
};

class network_condition_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "actr.network_condition"; }
  std::string message(int ev) const override {
    switch (static_cast<NetworkCondition>(ev)) {
      case NetworkCondition::Transient: return "transient";
      case NetworkCondition::Permanent: return "permanent";
      case NetworkCondition::Cancelled: return "cancelled";
      case NetworkCondition::ClosedLike: return "closed-like";
    }
    return "unknown actr.network_condition " + std::to_string(ev);
  }
  // Called by `ec == NetworkCondition::X` for codes of any category, which is what lets Asio and
  // system codes take part in the classification.
  bool equivalent(const error_code& ec, int cond) const noexcept override {
    switch (static_cast<NetworkCondition>(cond)) {
      case NetworkCondition::Transient: return transient_impl(ec);
      case NetworkCondition::Cancelled: return cancelled_impl(ec);
      case NetworkCondition::ClosedLike: return closed_like_impl(ec);
      case NetworkCondition::Permanent:
        return ec.failed() && !transient_impl(ec) && !cancelled_impl(ec);
    }
    return false;
  }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& network_error_category() noexcept {
  static const network_error_category_impl instance;
  return instance;
}

const boost::system::error_category& network_condition_category() noexcept {
  static const network_condition_category_impl instance;
  return instance;
}

Error message_too_large(std::size_t size, std::size_t limit) {
  // Bounded: past this many distinct (size, limit) pairs the plain code is returned.
  constexpr std::size_t kMaxCategories = 4096;
  static std::mutex mu;
  static auto* table = new std::map<std::pair<std::size_t, std::size_t>, sized_category>();  // never freed
  std::lock_guard lk(mu);
  const auto key = std::make_pair(size, limit);
  auto it = table->find(key);
  if (it == table->end()) {
    if (table->size() >= kMaxCategories) return make_error_code(E::MessageTooLarge);
    it = table->emplace(std::piecewise_construct, std::forward_as_tuple(key), std::forward_as_tuple(size, limit)).first;
  }
  return {static_cast<int>(E::MessageTooLarge), it->second};
}

ErrorKind kind_of(const boost::system::error_code& ec) noexcept {
  if (cancelled_impl(ec)) return ErrorKind::Cancelled;
  if (transient_impl(ec)) return ErrorKind::Transient;
  // Success and unknown foreign codes land in Internal: nobody can say they are the caller's fault.
  if (!ec.failed() || !is_ours(ec)) return ErrorKind::Internal;
  return ours_kind(static_cast<E>(ec.value()));
}

bool is_transient(const boost::system::error_code& ec) noexcept { return transient_impl(ec); }
bool is_closed_like(const boost::system::error_code& ec) noexcept { return closed_like_impl(ec); }
bool is_cancelled(const boost::system::error_code& ec) noexcept { return cancelled_impl(ec); }
bool is_tls_failure(const boost::system::error_code& ec) noexcept {
  return ec == E::TlsCertificateUntrusted || ec == E::TlsHostnameMismatch || ec == E::TlsHandshakeFailed;
}

std::string_view to_string(NetworkError e) noexcept {
  switch (e) {
    case E::ConnectionError: return "connection_error";
    case E::SignalingError: return "signaling_error";
    case E::WebRtcError: return "webrtc_error";
    case E::ProtocolError: return "protocol_error";
    case E::SerializationError: return "serialization_error";
    case E::DeserializationError: return "deserialization_error";
    case E::TimeoutError: return "timeout_error";
    case E::AuthenticationError: return "authentication_error";
    case E::PermissionError: return "permission_error";
    case E::ConfigurationError: return "configuration_error";
    case E::ResourceExhausted: return "resource_exhausted";
    case E::NetworkUnreachable: return "network_unreachable";
    case E::ServiceDiscoveryError: return "service_discovery_error";
    case E::NatTraversalError: return "nat_traversal_error";
    case E::DataChannelError: return "data_channel_error";
    case E::BroadcastError: return "broadcast_error";
    case E::IceError: return "ice_error";
    case E::DtlsError: return "dtls_error";
    case E::StunTurnError: return "stun_turn_error";
    case E::WebSocketError: return "websocket_error";
    case E::ConnectionNotFound: return "connection_not_found";
    case E::ConnectionClosed: return "connection_closed";
    case E::NotImplemented: return "not_implemented";
    case E::ChannelClosed: return "channel_closed";
    case E::SendError: return "send_error";
    case E::NoRoute: return "no_route";
    case E::InvalidOperation: return "invalid_operation";
    case E::InvalidArgument: return "invalid_argument";
    case E::ChannelNotFound: return "channel_not_found";
    case E::CredentialExpired: return "credential_expired";
    case E::DataChannelClosed: return "data_channel_closed";
    case E::DataChannelNotOpen: return "data_channel_not_open";
    case E::WebSocketClosed: return "websocket_closed";
    case E::PeerConnectionClosed: return "peer_connection_closed";
    case E::Cancelled: return "cancelled";
    case E::ShuttingDown: return "shutting_down";
    case E::MessageTooLarge: return "message_too_large";
    case E::QueueFull: return "queue_full";
    case E::MalformedFrame: return "malformed_frame";
    case E::CredentialInvalid: return "credential_invalid";
    case E::UnknownSigningKey: return "unknown_signing_key";
    case E::IdentityMismatch: return "identity_mismatch";
    case E::Unavailable: return "unavailable";
    case E::NotFound: return "not_found";
    case E::UnknownRoute: return "unknown_route";
    case E::DependencyNotFound: return "dependency_not_found";
    case E::Internal: return "internal";
    case E::ConnectionNotReady: return "connection_not_ready";
    case E::TlsCertificateUntrusted: return "tls_certificate_untrusted";
    case E::TlsHostnameMismatch: return "tls_hostname_mismatch";
    case E::TlsHandshakeFailed: return "tls_handshake_failed";
  }
  return "unknown";
}

std::string error_name(const boost::system::error_code& ec) {
  if (!ec.failed()) return "ok";
  if (is_ours(ec)) return std::string(to_string(static_cast<E>(ec.value())));
  // The system's failures a dial or a send meets, by the POSIX name of their condition.
  static constexpr std::pair<errc::errc_t, std::string_view> kNamed[] = {
      {errc::connection_refused, "connection_refused"}, {errc::host_unreachable, "host_unreachable"},
      {errc::network_unreachable, "network_unreachable"}, {errc::network_down, "network_down"},
      {errc::connection_reset, "connection_reset"},     {errc::connection_aborted, "connection_aborted"},
      {errc::broken_pipe, "broken_pipe"},               {errc::timed_out, "timed_out"},
      {errc::operation_canceled, "operation_canceled"},
  };
  for (const auto& [cond, name] : kNamed)
    if (ec == cond) return std::string(name);
  // The resolver's (netdb category): a name that does not resolve is not a refused connection.
  if (ec == boost::asio::error::host_not_found) return "unknown_host";
  if (ec == boost::asio::error::host_not_found_try_again) return "dns_try_again";
  if (ec == boost::asio::error::no_data) return "no_address";
  return std::string(ec.category().name()) + ":" + std::to_string(ec.value());
}

}  // namespace actr
