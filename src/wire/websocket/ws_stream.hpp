#pragma once
// Private: the Beast side of the WebSocket connection layer, shared by its two translation units
// (ws_conn.cpp: the live connection; ws_handshake.cpp: dial and accept). Include nowhere else.

#include "net_stream.hpp"
#include "ws_conn.hpp"

#include <boost/beast/websocket/stream.hpp>

namespace actr::ws {

using Stream = boost::beast::websocket::stream<NetStream>;

/// Options applied to every stream (handshake timeout, keepalive, message limit, binary).
void configure(Stream& s, const ConnConfig& cfg);

/// Wraps an upgraded stream (set-up over, `configure`d) into a connection on its executor.
std::shared_ptr<Connection> make_connection(Stream s, ConnConfig cfg);

/// Maps Beast/Asio errors of a live connection to NetworkError codes.
Error map_error(const Error& ec);

}  // namespace actr::ws
