#pragma once
// Signaling server and client settings for loopback tests: short heartbeats, timeouts and
// reconnect delays, so that failures show within a test's deadlines.

#include <actr/signaling.hpp>
#include <actr/signaling_client.hpp>

namespace actr::testing {

inline SignalingServerConfig fast_server() {
  using namespace std::chrono_literals;
  SignalingServerConfig c;
  c.heartbeat_interval = 100ms;
  c.keepalive_interval = 1000ms;
  c.handshake_timeout = 2000ms;
  c.close_timeout = 200ms;
  return c;
}

inline SignalingClientConfig fast_client() {
  using namespace std::chrono_literals;
  SignalingClientConfig c;
  c.connect_timeout = 2000ms;
  c.request_timeout = 3000ms;
  c.heartbeat_interval = 200ms;
  c.keepalive_interval = 1000ms;
  c.close_timeout = 200ms;
  c.reconnect_backoff.initial = 20ms;
  c.reconnect_backoff.max = 200ms;
  return c;
}

}  // namespace actr::testing
