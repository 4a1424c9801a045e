#pragma once
// Private: the first steps of every client connection to a ws://, wss://, http:// or https://
// server (a WebSocket dial, an AIS request): the TLS context to use, and the TCP connection under
// a deadline. Beast translation units only (ws_handshake.cpp defines them).

#include <actr/result.hpp>

#include "wire/websocket/ws_conn.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <memory>

namespace actr::ws {

/// For a wss:// `u`: `configured`, else a context that verifies against the system trust store;
/// for ws://: null. Errors: `ConfigurationError` (no system context could be built).
Result<std::shared_ptr<TlsContext>> client_tls_for(const Url& u, const std::shared_ptr<TlsContext>& configured);

/// Resolves and connects to `u`'s host and port; the stream's timer is left running with
/// `timeout` from now (the caller's next steps share the deadline). Boxed: a `Result` of the
/// stream itself is ambiguous (the stream is constructible from anything). Errors: the
/// resolver's code, `TimeoutError`, connection errors.
boost::asio::awaitable<Result<std::unique_ptr<boost::beast::tcp_stream>>> connect_tcp(const Url& u,
                                                                                      std::chrono::milliseconds timeout);

}  // namespace actr::ws
