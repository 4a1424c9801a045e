#include <actr/rpc_error_code.hpp>

namespace actr {

using E = NetworkError;
using C = RpcErrorCode;

// No `default:`: a new NetworkError must trip -Wswitch here until someone decides its code.
RpcErrorCode to_rpc_error_code(NetworkError e) noexcept {
  switch (e) {
    case E::Unavailable: case E::ConnectionError: case E::SignalingError: case E::WebRtcError:
    case E::ResourceExhausted: case E::NetworkUnreachable: case E::ServiceDiscoveryError:
    case E::NatTraversalError: case E::DataChannelError: case E::BroadcastError: case E::IceError:
    case E::DtlsError: case E::StunTurnError: case E::WebSocketError: case E::ConnectionClosed:
    case E::ChannelClosed: case E::SendError: case E::NoRoute: case E::DataChannelClosed:
    case E::DataChannelNotOpen: case E::WebSocketClosed: case E::PeerConnectionClosed:
    case E::ShuttingDown: case E::QueueFull: case E::Cancelled: case E::TlsCertificateUntrusted:
    case E::TlsHostnameMismatch: case E::TlsHandshakeFailed:
      return C::Unavailable;
    case E::TimeoutError:
      return C::TimedOut;
    case E::NotFound: case E::ConnectionNotFound: case E::ChannelNotFound:
      return C::NotFound;
    case E::PermissionError: case E::AuthenticationError: case E::CredentialExpired:
    case E::CredentialInvalid: case E::UnknownSigningKey: case E::IdentityMismatch:
      return C::PermissionDenied;
    case E::InvalidArgument: case E::InvalidOperation: case E::MessageTooLarge:
      return C::InvalidArgument;
    case E::UnknownRoute:
      return C::UnknownRoute;
    case E::DependencyNotFound:
      return C::DependencyNotFound;
    case E::DeserializationError: case E::MalformedFrame:
      return C::DecodeFailure;
    case E::NotImplemented:
      return C::NotImplemented;
    case E::Internal: case E::ProtocolError: case E::SerializationError: case E::ConfigurationError:
      return C::Internal;
    case E::ConnectionNotReady:
      return C::ConnectionNotReady;
  }
  return C::Internal;  // a value outside the enum
}

RpcErrorCode to_rpc_error_code(const Error& e) noexcept {
  if (e.category() == network_error_category()) return to_rpc_error_code(static_cast<NetworkError>(e.value()));
  if (is_cancelled(e) || is_transient(e)) return C::Unavailable;
  return C::Internal;
}

NetworkError from_rpc_error_code(std::uint32_t code) noexcept {
  switch (static_cast<C>(code)) {
    case C::Unavailable: return E::Unavailable;
    case C::TimedOut: return E::TimeoutError;
    case C::NotFound: return E::NotFound;
    case C::PermissionDenied: return E::PermissionError;
    case C::InvalidArgument: return E::InvalidArgument;
    case C::UnknownRoute: return E::UnknownRoute;
    case C::DependencyNotFound: return E::DependencyNotFound;
    case C::DecodeFailure: return E::DeserializationError;
    case C::NotImplemented: return E::NotImplemented;
    case C::Internal: return E::Internal;
    case C::ConnectionNotReady: return E::ConnectionNotReady;
  }
  // Legacy codes (our own 1…39 before HEAD's table) and future ones: as HEAD, Unavailable.
  return E::Unavailable;
}

}  // namespace actr
