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
/// `client`: the stream dialed (its data frames are masked).
std::shared_ptr<Connection> make_connection(Stream s, ConnConfig cfg, bool client);

/// Maps Beast/Asio errors of a live connection to NetworkError codes.
Error map_error(const Error& ec);

/// The bytes of the inbound message being read or handled, taken from the read budget (if any)
/// and given back by `reset()` or destruction.
struct ByteCharge {
  ByteBudget* budget = nullptr;
  std::size_t n = 0;
  bool take(std::size_t k) {
    if (budget == nullptr || k == 0) return true;
    if (!budget->try_acquire(k)) return false;
    n += k;
    return true;
  }
  void reset() {
    if (budget != nullptr && n > 0) budget->release(n);
    n = 0;
  }
  ~ByteCharge() { reset(); }
};

}  // namespace actr::ws
