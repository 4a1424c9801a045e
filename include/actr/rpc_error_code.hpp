#pragma once
/// @file
/// actr HEAD's RPC error codes: the `code` of the `ErrorResponse` in a RESPONSE envelope. HEAD
/// sends one of eleven fixed codes (10001–10011) and reads any other as "Unavailable"; this maps
/// them to and from `NetworkError` so a C++ caller and an actr caller read our errors alike.

#include <actr/error.hpp>
#include <actr/result.hpp>

#include <cstdint>

namespace actr {

/// The codes, as actr HEAD numbers them (`core/hyper/src/lifecycle/node.rs`,
/// `protocol_error_to_code`).
enum class RpcErrorCode : std::uint32_t {
  Unavailable = 10001,
  TimedOut = 10002,
  NotFound = 10003,
  PermissionDenied = 10004,
  InvalidArgument = 10005,
  UnknownRoute = 10006,
  DependencyNotFound = 10007,
  DecodeFailure = 10008,
  NotImplemented = 10009,
  Internal = 10010,
  ConnectionNotReady = 10011,
};

/// The code an answer carries for `e`. Many `NetworkError`s share a code (every transport
/// failure is `Unavailable`, every identity failure `PermissionDenied`); the mapping is total.
RpcErrorCode to_rpc_error_code(NetworkError e) noexcept;
/// The code for any error: ours through the table; cancellation and foreign transient codes are
/// `Unavailable`; anything else (a handler's own category) is `Internal`.
RpcErrorCode to_rpc_error_code(const Error& e) noexcept;
/// The `NetworkError` a caller reports for a wire code: each of the eleven maps to one value
/// (10001 `Unavailable`, 10002 `TimeoutError`, 10003 `NotFound`, 10004 `PermissionError`, 10005
/// `InvalidArgument`, 10006 `UnknownRoute`, 10007 `DependencyNotFound`, 10008
/// `DeserializationError`, 10009 `NotImplemented`, 10010 `Internal`, 10011
/// `ConnectionNotReady`); any other code, as at HEAD, is `Unavailable`.
NetworkError from_rpc_error_code(std::uint32_t code) noexcept;

}  // namespace actr
