#pragma once
// Private: WebSocket helpers without Beast types, shared by the WebSocket wire and the signaling
// link (src/signaling/ws_link.cpp). Implemented in ws_wire.cpp.

#include <actr/result.hpp>

#include <string>

namespace actr::ws {

/// A ws:// or wss:// URL split for resolve + handshake: IPv6 brackets removed from `host`, the
/// port defaulting to 80 / 443.
struct Url {
  bool tls = false;
  std::string host, port, target;
};
/// Errors: `InvalidArgument`.
Result<Url> parse_url(const std::string& url);

/// Maps Beast/Asio errors of a live connection to NetworkError codes.
Error map_error(const Error& ec);

}  // namespace actr::ws
